#pragma once
// Which accelerator qemu uses on this host: KVM when it really runs firmware, TCG otherwise.
// Opening /dev/kvm is not enough: on some nested hosts OVMF under KVM dies at once with
// "KVM internal error. Suberror: 1". So the probe boots the firmware for a few seconds, once per
// host and kernel; the answer is cached.
#include <filesystem>

#include "machine/qemu_command.hpp"

namespace mos::machine {

struct AcceleratorProbe {
  std::filesystem::path cache_dir;  // the answer is kept in cache_dir/accelerator
  std::filesystem::path uefi_code;  // firmware to boot (with a scratch copy of its vars)
  std::filesystem::path uefi_vars;
  std::string qemu = "qemu-system-x86_64";
};

// KVM or TCG (never fails: anything that goes wrong with KVM means TCG).
Accel probe_accelerator(const AcceleratorProbe& probe);

const char* accel_name(Accel accel);

}  // namespace mos::machine
