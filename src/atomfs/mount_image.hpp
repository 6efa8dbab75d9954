#pragma once
// atomfs mounts: an OCI image whose layers are squashfs+verity, mounted read-only layer by
// layer and stacked with overlayfs, with a writable upper unless read-only (spec:
// squashfs-verity-atomfs.md §5, §6; docs/image.md).
//
// Where the kernel has device-mapper (a booted machine), each layer is mounted through
// dm-verity (verity_device.hpp): the kernel checks every block it reads against the root hash
// in the manifest, and nothing is hashed up front. Without it (these build hosts), each layer
// is verified in userspace (the whole layer, before mounting: data, superblock and hash tree)
// and then mounted from a read-only loop device limited to the squashfs area, bound to the same
// open file that was verified. Caveat (as the spec says): blocks are read lazily after that
// check, so the blobs must stay root-owned and read-only.
//
// State of a mount lives in RUN_DIR/<hash of dest>/ (the metadir): layers/<n>-<hex> mount
// points, workaround/, upper/ and work/ (unless a scratch dir holds them) and mount.json, so
// that unmount_image (mosb image umount, later mosctl umount) can undo exactly what was done.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atomfs/id_shift.hpp"
#include "core/result.hpp"
#include "image/verity.hpp"
#include "oci/descriptor.hpp"
#include "oci/layout_store.hpp"

namespace mos::atomfs {

inline constexpr std::string_view kDefaultRunDir = "/run/mos/atomfs";

// Who verifies the layers: the kernel where device-mapper exists (automatic), or as asked.
enum class VerityCheck { automatic, kernel, userspace };

struct MountOptions {
  bool read_only = false;
  VerityCheck verity = VerityCheck::automatic;
  // Holds upper/ and work/ of a writable mount, kept after unmount (atomfs --persist). Default:
  // inside the metadir, removed by unmount.
  std::optional<std::filesystem::path> scratch;
  bool allow_missing_verity = false;
  std::filesystem::path run_dir{kDefaultRunDir};
  unsigned threads = 0;  // verification threads (0: one per core)
  // For an unprivileged container: every layer is idmapped (see id_shift.hpp) and a writable
  // upper's root directory is owned by host_base, so the container's root owns its tree.
  std::optional<IdShift> id_shift;
  // Where a copy of the image with shifted owners is kept when the kernel cannot idmap its
  // layers (see shifted_copy.hpp); without it, such a kernel fails the mount. force: copy even
  // when idmapping would work (for old kernels' path on a new one, and for tests).
  std::optional<std::filesystem::path> shifted_copy_dir;
  bool force_shifted_copy = false;
};

struct MountedImage {
  std::filesystem::path dest;
  std::filesystem::path metadir;
  std::string manifest_digest;
  std::vector<std::filesystem::path> layer_mounts;  // bottom layer first
  std::vector<bool> layer_verified;                 // verity checked (false: allowed without)
  bool kernel_verity = false;  // the verified layers are under dm-verity (checked as read)
};

// Checks one layer blob, open as fd, against its descriptor before it is mounted. Returns the
// size of the squashfs area (the verity hash offset). With verity data and a root hash, the
// whole file is verified, or, with for_kernel, left to dm-verity (kernel_root set); a layer
// without either is refused unless allow_missing_verity, in which case its sha256 is checked
// against the descriptor digest instead.
struct LayerCheck {
  std::uint64_t squashfs_size = 0;
  bool verity_verified = false;
  std::optional<image::Sha256Bytes> kernel_root;  // for_kernel: what dm-verity is to check
};
Result<LayerCheck> check_layer(int fd, const oci::Descriptor& layer, bool allow_missing_verity,
                               unsigned threads = 0, bool for_kernel = false);

// Mounts the image `reference` (tag or digest) of store at dest (an existing directory).
Result<MountedImage> mount_image(oci::LayoutStore& store, std::string_view reference,
                                 const std::filesystem::path& dest, const MountOptions& options);

// Unmounts what mount_image mounted at dest: the overlay, every layer (their loop devices go
// with them) and the metadir. A scratch dir given at mount time is left in place.
Status unmount_image(const std::filesystem::path& dest,
                     const std::filesystem::path& run_dir = std::filesystem::path(kDefaultRunDir));

// Mount points of this mount namespace (/proc/self/mountinfo, escapes decoded).
Result<std::vector<std::filesystem::path>> mount_points();
Result<bool> is_mount_point(const std::filesystem::path& path);

}  // namespace mos::atomfs
