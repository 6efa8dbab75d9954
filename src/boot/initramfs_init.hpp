#pragma once
// The /init of the bootkit's initramfs (a busybox sh script, kept in the library so that an
// installed `trust` builds bootkits without the source tree).
#include <string_view>

namespace mos::boot {

// What the init prints on the console starts with this, one line per step.
inline constexpr std::string_view kInitramfsLinePrefix = "mos-initramfs: ";

std::string_view initramfs_init_script();

}  // namespace mos::boot
