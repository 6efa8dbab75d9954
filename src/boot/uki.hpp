#pragma once
// Unified kernel images: systemd-boot's EFI stub (Debian's systemd-boot-efi, linuxx64.efi.stub)
// with the kernel, initramfs, command line and os-release as PE sections, each placed after the
// stub's last section at addresses computed from its section table (the original fixed them,
// capping the kernel at 16 MiB). The result is unsigned; the same inputs give the same bytes.
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mos::boot {

struct UkiParts {
  std::string stub;        // linuxx64.efi.stub's bytes
  std::string kernel;      // vmlinuz (bzImage)
  std::string initramfs;   // cpio, possibly compressed
  std::string cmdline;     // the only command line under secure boot (systemd-stub ignores others)
  std::string os_release;  // /etc/os-release text for .osrel
};

// Sections in the order systemd's ukify writes them: .osrel, .cmdline, .linux, .initrd, each on
// the first 4 KiB page after the previous one (as systemd 252's ukify and tests/vm/make-guest.sh
// place them with objcopy). Empty parts other than the kernel are left out, as ukify does; a
// stub that already has one of these sections (or no .sdmagic) is refused.
Result<std::string> assemble_uki(const UkiParts& parts);

}  // namespace mos::boot
