#pragma once
// A Debian kernel as the boot chain takes it: its image and its modules, from a root that holds
// boot/vmlinuz-RELEASE and lib/modules/RELEASE/ (the host's / when linux-image-amd64 is
// installed, or a directory a linux-image package was unpacked into).
#include <filesystem>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace mos::boot {

struct KernelFiles {
  std::string release;                // "6.1.0-41-amd64"
  std::filesystem::path image;        // ROOT/boot/vmlinuz-RELEASE
  std::filesystem::path modules_dir;  // ROOT/lib/modules/RELEASE (or ROOT/usr/lib/modules/...)
};

// The newest release under `root` (Debian version order) that has both its image and its
// modules directory; `release` picks one by name instead.
Result<KernelFiles> find_kernel(const std::filesystem::path& root, const std::string& release = {});

// Debian's order of kernel releases (dpkg --compare-versions on the release strings: numeric
// runs compared as numbers, "6.1.0-41-amd64" after "6.1.0-9-amd64"): <0, 0 or >0.
int compare_kernel_releases(const std::string& a, const std::string& b);

// "dm-verity" and "dm_verity" are the same module, as for modprobe.
std::string canonical_module_name(std::string_view name);

// The module files (paths relative to modules_dir, as modules.dep names them) that loading
// `names` needs, dependencies first, each once: the closure over modules.dep. A name is a module
// name with '-' and '_' alike ("dm-verity" = "dm_verity"); one that is built into the kernel
// (modules.builtin) is skipped, one that is neither is an error naming it.
// A tree without modules.dep (an unpacked linux-image package: its postinst runs depmod) is
// read from its files instead: each needed module's "depends=" in its .modinfo section
// (uncompressed modules only). Soft dependencies (modinfo's "softdep=", such as ext4's
// "pre: crc32c") are not followed: name such modules explicitly.
Result<std::vector<std::string>> module_load_order(const KernelFiles& kernel,
                                                   const std::vector<std::string>& names);

}  // namespace mos::boot
