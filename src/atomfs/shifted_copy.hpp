#pragma once
// The fallback of id_shift.hpp for kernels that cannot idmap squashfs (before Linux 6.6, e.g.
// Debian 12's 6.1): a copy of the image's merged, verified tree with every owner moved up by
// host_base, made once per image and uid range and kept, so that each start stays O(1). The
// copy is made under a temporary name and renamed into place, so an interrupted copy is never
// used. Its cost is the image's size in disk space and one copy per update; the verified layers
// themselves are never written.
#include <filesystem>
#include <string_view>

#include "atomfs/id_shift.hpp"
#include "core/result.hpp"

namespace mos::atomfs {

// Returns cache_dir/tree, a copy of source with owners shifted, reusing the one there when it
// was made for the same key (e.g. the image digest) and shift.
Result<std::filesystem::path> shifted_copy(const std::filesystem::path& source,
                                           const std::filesystem::path& cache_dir,
                                           std::string_view key, const IdShift& shift);

}  // namespace mos::atomfs
