#pragma once
// A layer as a directory in overlayfs's own format, which is what a build container stacks and
// what mksquashfs packs: whiteouts are 0/0 character devices and opaque directories carry
// trusted.overlay.opaque=y (stacker's squashfs layers hold exactly that). Tar layers, whose
// whiteouts are .wh. files, are converted when unpacked; the unpacked trees are kept by digest so
// that a layer is unpacked once.
//
// Inside a user namespace (a build by an ordinary user) trusted.* cannot be written: overlayfs is
// mounted with `userxattr` and its marks are user.overlay.*; the upper's opaque directories are
// turned into whiteouts of what the layers below hold there before packing, so that the layer
// means the same to every reader.
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "oci/descriptor.hpp"
#include "oci/layout_store.hpp"

namespace mos::stacker {

// overlayfs's marks in a layer tree: a 0/0 character device is a whiteout (the entry is deleted),
// trusted.overlay.opaque=y on a directory hides what the layers below hold there.
bool is_whiteout(const struct stat& entry);
bool is_opaque_dir(const std::filesystem::path& dir);

// Whether overlayfs's marks are user.overlay.* here (this process runs in a user namespace), as
// the build container's overlay then must be told (`userxattr`). Asked once per process.
bool overlay_marks_in_user_xattrs();

// The directory holding the unpacked layer `layer` of `store`, under `cache_dir`: made on first
// use (unpacked beside it, then renamed into place).
Result<std::filesystem::path> unpacked_layer(oci::LayoutStore& store, const oci::Descriptor& layer,
                                             const std::filesystem::path& cache_dir);

// Unpacks a tar archive (plain, gzip or zstd) into `dest` (which must exist), keeping owners,
// modes and extended attributes, and turning its whiteouts into overlayfs's.
Status unpack_tar_layer(const std::filesystem::path& archive, const std::filesystem::path& dest);

// Turns .wh.NAME files into 0/0 character devices and .wh..wh..opq into the opaque attribute.
Status convert_tar_whiteouts(const std::filesystem::path& dir);

// After a build container ran: removes the mount points it created (`created`, innermost last)
// where they are still empty, and directories that overlayfs only copied up (empty, not opaque,
// and a directory of the same owner and mode in `lowers`); drops overlayfs's own attributes
// other than opaque (in a user namespace, opaque directories become whiteouts, see above).
// Returns whether anything is left (a change to pack as a layer).
Result<bool> tidy_upper(const std::filesystem::path& upper,
                        const std::vector<std::filesystem::path>& lowers,
                        const std::vector<std::string>& created);

}  // namespace mos::stacker
