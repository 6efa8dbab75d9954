#pragma once
// The initramfs compressed for the UKI. zstd: Debian's kernel unpacks it (CONFIG_RD_ZSTD), it is
// about a third of the cpio's size, and it decompresses fast even under TCG — the whole UKI is read
// from the ESP and hashed by shim before the kernel runs, so its size is boot time. Written with
// libarchive's zstd filter (the "raw" format: one stream, no container), single-threaded at a fixed
// level, so the same cpio gives the same bytes.
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mos::boot {

Result<std::string> zstd_compress(std::string_view data);

}  // namespace mos::boot
