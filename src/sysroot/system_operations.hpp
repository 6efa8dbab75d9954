#pragma once
// mosctl's commands on a target root: install, update, rollback, status, gc.
//
// Every change follows the same order, so a kill at any point leaves the old or the new system:
//   1. verify the install manifest (signature, chain, product, targets present with exact
//      sizes) before anything on the target is written or any target content fetched;
//   2. take the exclusive manifest lock (the message names the pid holding it), repair what a
//      killed run left (stale git locks, the work tree), load and re-verify the current system;
//   3. plan the new system (merge, product, anti-rollback, uid ranges; system_plan.hpp);
//   4. copy the target images into atomfs-store/mos (content-addressed, verified, idempotent);
//   5. commit: write the system's files into git and move master (the single commit point).
// Reading commands take the lock shared and re-verify what they show.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"
#include "sysroot/installed_system.hpp"
#include "sysroot/sysroot.hpp"

namespace mos::sysroot {

struct ChangeReport {
  std::string commit;               // the new system's commit ("" when nothing changed)
  std::string summary;              // one line for people
  std::vector<std::string> copied;  // targets whose images were copied
  std::int64_t bytes_copied = 0;
  std::vector<std::string> downgrades;  // what --allow-downgrade let through
};

Result<ChangeReport> install(const SysrootOptions& options, std::string_view url);
Result<ChangeReport> update(const SysrootOptions& options, std::string_view url);
// Back to the system before the current one (the newest older commit with a different tree), or
// to the commit `to` of the history (a failed boot trial's), verified again from its files in the
// history and the store. Ends any boot trial (boot_trial.hpp).
Result<ChangeReport> rollback(const SysrootOptions& options,
                              const std::optional<std::string>& to = std::nullopt);

struct GcReport {
  std::vector<std::string> kept_systems;  // commits whose content is kept
  std::size_t manifests_removed = 0;
  std::size_t blobs_removed = 0;
  std::size_t staging_files_removed = 0;
  std::uint64_t bytes_freed = 0;
};
// Removes store content that neither the current system nor the one rollback returns to uses.
Result<GcReport> gc(const SysrootOptions& options);

// The installed system (verified) and its history, as status --json prints it.
Result<Json> status(const SysrootOptions& options);
// The same for people.
std::string format_status(const Json& status);

}  // namespace mos::sysroot
