#pragma once
// Mounting the targets of an installed system (mosctl mount, create-boot-fs, umount): the
// system is loaded and re-verified from the history (signatures, store content) under the
// shared lock, then the target's image is mounted from the machine's store with atomfs.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "atomfs/mount_image.hpp"
#include "core/result.hpp"
#include "sysroot/sysroot.hpp"

namespace mos::atomfs {

struct TargetMountOptions {
  bool read_only = false;
  std::optional<std::filesystem::path> dest;  // default ROOT/mnt/mos/<target>
  bool allow_missing_verity = false;
  std::filesystem::path run_dir{kDefaultRunDir};
};

// Mounts the installed target `name` (for create-boot-fs: the hostfs target, found by type
// when name is empty). A writable mount keeps its upper layer in ROOT/scratch-writes/roots/<name>,
// so what a service writes survives remounts until an update replaces the target.
Result<MountedImage> mount_target(const sysroot::SysrootOptions& options, std::string_view name,
                                  const TargetMountOptions& mount);

// Where mount_target puts a target by default.
std::filesystem::path default_target_dest(const sysroot::SysrootOptions& options,
                                          std::string_view name);

}  // namespace mos::atomfs
