#pragma once
// The live system of a boot medium (docs/boot.md, "Boot media"). The initramfs mounts the
// medium's verified livecd target as the root and leaves in kLiveDir what the medium's action
// needs: boot.json (boot_media.hpp), the keyset's pcr7data, and for provisioning the machine's
// SUDI certificate and key (sudi/cert.pem, sudi/privkey.pem) from the disk labelled
// kSudiDiskLabel, which `trust launch` attaches, and the manifest CA for an install. The live
// system's mosctl then runs the action once (mosctl live-action) and the machine powers off.
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mos::boot {

inline constexpr std::string_view kLiveDir = "/run/mos-livecd";
inline constexpr std::string_view kSudiDiskLabel = "trust-data";
// In kLiveDir: PCR7 as it was before the initramfs extended it (mosctl extend-pcr7
// --save-before), by which a provisioning live system chooses the keyset.
inline constexpr std::string_view kBootPcr7File = "pcr7.bin";
// The line a successful provisioning prints (trust launch waits for it, as the original's did).
inline constexpr std::string_view kProvisionedLine = "provisioned successfully";
inline constexpr std::string_view kInstalledLine = "installed successfully";
// Where an install medium's live system mounts the machine's new disk.
inline constexpr std::string_view kInstallRoot = "/run/mos-install";

struct LiveActionReport {
  std::string action;
  std::string line;  // what to print on the console when it succeeded (the success line last)
};

// Runs the action of the medium whose files lie in `dir`, with the TPM at `tcti`.
Result<LiveActionReport> run_live_action(const std::filesystem::path& dir, std::string_view tcti);

}  // namespace mos::boot
