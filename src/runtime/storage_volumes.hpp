#pragma once
// The storage volumes of a booted system (the manifest's `storage`). Each is an ext4 image of
// its own, so that its size is enforced by its filesystem rather than by quotas the host may not
// have, mounted read-write through a loop device at one place per volume (RUN/volumes/<label>),
// from where every target naming it binds it at its `dest`: targets of one nsgroup share it. Its
// root directory belongs to the base of the nsgroup's uid range, the containers' root.
//
// Persistent volumes keep their image across boots, updates and rollbacks (it lives outside
// manifest.git, which is all a rollback moves); non-persistent ones are made anew, empty, at
// every mount. A persistent image is only ever grown: a smaller size in the manifest is logged
// and ignored, since shrinking could destroy data.
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "runtime/boot_paths.hpp"
#include "runtime/service_plan.hpp"

namespace mos::runtime {

struct VolumeDirs {
  std::filesystem::path images;  // <label>.ext4 (ROOT/scratch-writes/volumes): outlives boots
  std::filesystem::path mounts;  // <label>, each volume's mount point (RUN/volumes)
};
VolumeDirs volume_dirs(const BootPaths& paths);

// Labels become file names: one path component, not "." or "..". The manifest is stricter
// (lowercase letters, digits, '-', '_'); this guards every other way in.
Status check_volume_label(std::string_view label);

std::filesystem::path volume_image(const VolumeDirs& dirs, std::string_view label);

// Creates, grows and checks the volume's image as its spec says (mkfs.ext4, resize2fs, e2fsck
// from e2fsprogs), mounts it (nodev, nosuid) and returns its mount point. Refused while the
// volume is mounted, or its image attached to a loop device elsewhere (a service's mount
// namespace may hold it after the host unmounted it): ext4 mounted twice is corrupted.
Result<std::filesystem::path> mount_volume(const VolumeSpec& volume, const VolumeDirs& dirs);

// Unmounts the volume and removes its mount point; the loop device goes with the last user of
// the filesystem. A volume that is not mounted is no error, so a boot can clean up after a crash.
Status unmount_volume(const std::string& label, const VolumeDirs& dirs);

}  // namespace mos::runtime
