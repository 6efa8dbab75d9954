#pragma once
// Shifting the owners of a read-only layer for an unprivileged container in O(1): the layer's
// mount is replaced by an idmapped mount (mount_setattr MOUNT_ATTR_IDMAP, Linux 5.12+) through a
// user namespace that maps 0..count-1 to host_base.., so that files owned by 0 in the image are
// owned by the container's root (host_base) as the container sees them, with nothing written.
// overlayfs accepts idmapped lower layers since Linux 5.19.
//
// The filesystem must allow idmapped mounts: squashfs does since Linux 6.6 (FS_ALLOW_IDMAP);
// Debian 12's 6.1 does not, and mount_setattr fails with EINVAL there. IdShiftSupport says which
// (see docs/services.md for what mosctl boot does then).
#include <cstdint>
#include <filesystem>

#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace mos::atomfs {

struct IdShift {
  std::uint64_t host_base = 0;  // what uid/gid 0 of the image becomes on the host
  std::uint64_t count = 65536;
  friend bool operator==(const IdShift&, const IdShift&) = default;
};

// A user namespace whose uid and gid maps are "0 host_base count"; the fd keeps it alive.
Result<UniqueFd> user_namespace_for(const IdShift& shift);

// Replaces the mount at mount_point (which must be a mount point of ours) by an idmapped copy of
// it. Fails with `unsupported` set when the filesystem or kernel cannot idmap it.
struct IdmapError {
  Error error;
  bool unsupported = false;
};
std::expected<void, IdmapError> idmap_mount(const std::filesystem::path& mount_point,
                                            int userns_fd);

}  // namespace mos::atomfs
