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
#include "manifest/verify.hpp"
#include "sysroot/booted_system.hpp"
#include "sysroot/sysroot.hpp"

namespace mos::atomfs {

struct TargetMountOptions {
  bool read_only = false;
  std::optional<std::filesystem::path> dest;  // default ROOT/mnt/mos/<target>
  bool allow_missing_verity = false;
  std::filesystem::path run_dir{kDefaultRunDir};
};

struct MountedTarget {
  MountedImage image;
  std::string product_uuid;      // the product the verified system is for
  sysroot::BootedSystem system;  // the verified system's commit and files
};

// Mounts the installed target `name` (for create-boot-fs: the hostfs target, found by type
// when name is empty). A writable mount keeps its upper layer in ROOT/scratch-writes/roots/<name>,
// so what a service writes survives remounts until an update replaces the target.
Result<MountedTarget> mount_target(const sysroot::SysrootOptions& options, std::string_view name,
                                   const TargetMountOptions& mount);

// Mounts the target `name` of the install manifest at `reference`, an OCI layout (oci:DIR:TAG,
// its images in the layout `mos` beside it, as publish writes them), without installing it: the
// live system of a boot medium. The install manifest is verified first (its signature, up to
// the policy's CA) and the image is mounted from the layout as it lies (read-only media are
// fine); a writable mount keeps its upper layer in the mount's run state (tmpfs at boot).
Result<MountedImage> mount_published_target(std::string_view reference,
                                            const manifest::TrustPolicy& policy,
                                            std::string_view name, const TargetMountOptions& mount);

// Where mount_target puts a target by default.
std::filesystem::path default_target_dest(const sysroot::SysrootOptions& options,
                                          std::string_view name);

}  // namespace mos::atomfs
