#pragma once
// New keysets, projects and SUDI entries appear all at once or not at all: they are built in a
// hidden staging directory beside their final place, synced, and renamed into place without
// replacing anything that exists. A creator killed midway leaves only a hidden staging
// directory named after its pid, which the next creation in that directory removes.
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mos::trust {

class StagingDir {
 public:
  // Creates PARENT/.NAME.tmp-<pid>-<random> (mode 0700) for the entry PARENT/NAME; `what`
  // names it in messages ("keyset snakeoil").
  static Result<StagingDir> create(const std::filesystem::path& parent, std::string_view name,
                                   std::string what);
  StagingDir(StagingDir&& other) noexcept;
  StagingDir& operator=(StagingDir&&) = delete;
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;
  ~StagingDir();

  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& final_path() const { return final_; }

  // Syncs every directory below path() (files are synced as they are written), then renames it to
  // final_path() unless that exists ("WHAT already exists"), then syncs the parent.
  Status commit();

  // For entries that are rebuilt rather than created (a keyset's pcr7data): syncs like
  // commit(), then swaps path() and final_path() in one rename (RENAME_EXCHANGE) when the final
  // entry exists, so readers see the old tree or the new one, never a mix or a gap; the old tree
  // is left at path() and removed with this object. Without a final entry it is commit().
  Status commit_replacing();

 private:
  StagingDir(std::filesystem::path path, std::filesystem::path final_path, std::string what)
      : path_(std::move(path)), final_(std::move(final_path)), what_(std::move(what)) {}
  std::filesystem::path path_;
  std::filesystem::path final_;
  std::string what_;
};

// mkdir with exactly `mode` (the umask is not applied); fails if it exists.
Status make_private_dir(const std::filesystem::path& path, mode_t mode = 0700);

// Removes staging directories in parent left by processes that no longer run.
void remove_stale_staging(const std::filesystem::path& parent);

}  // namespace mos::trust
