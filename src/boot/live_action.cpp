// The live system's action (see live_action.hpp).
#include "boot/live_action.hpp"

#include "boot/boot_media.hpp"
#include "boot/machine_disk.hpp"
#include "boot/machine_provision.hpp"
#include "core/file.hpp"
#include "tpm/pcr7data.hpp"
#include "tpm/tpm_connection.hpp"

namespace mos::boot {

namespace {

constexpr std::size_t kMaxActionFile = 64 * 1024;
constexpr std::size_t kMaxPemSize = 64 * 1024;

// Provisioning: the factory partitions on the machine's disk, the SUDI into the TPM under the
// keyset's policies (machine_provision.hpp).
Result<std::string> provision(const std::filesystem::path& dir, std::string_view tcti) {
  auto sudi = dir / "sudi";
  std::error_code ec;
  if (!std::filesystem::exists(sudi / "cert.pem", ec))
    return fail("no SUDI: no disk labelled {} with cert.pem and privkey.pem was attached",
                kSudiDiskLabel);
  MOS_TRY_ASSIGN(auto data, tpm::read_pcr7data(dir / "pcr7data"));
  MachineProvisionRequest request;
  MOS_TRY_ASSIGN(request.tpm.sudi_cert_pem, read_file(sudi / "cert.pem", kMaxPemSize));
  MOS_TRY_ASSIGN(request.tpm.sudi_key_pem, read_file(sudi / "privkey.pem", kMaxPemSize));
  // As the original's provisioning medium: the machine is made anew, whatever it held.
  request.tpm.wipe = true;
  request.pcr7data = dir / "pcr7data";
  request.disk = std::string(kAnyDisk);
  // The initramfs extended PCR7 before the live system started; it saved the value before.
  MOS_TRY_ASSIGN(request.tpm.boot_pcr7, tpm::read_boot_pcr7(dir / kBootPcr7File));
  MOS_TRY_ASSIGN(auto tpm, tpm::TpmConnection::open(tcti));
  MOS_TRY_ASSIGN(auto report, provision_machine(tpm, data, std::move(request)));
  return fmt::format("{}\n{}", report.disk_line, kProvisionedLine);
}

// Installing: the machine's disk made and the system at the medium's URL installed into it,
// verified with the keyset's manifest CA (machine_disk.hpp).
Result<std::string> install(const std::filesystem::path& dir, const BootAction& action) {
  sysroot::SysrootOptions options;
  options.root = std::string(kInstallRoot);
  options.ca_file = dir / "manifestCA.pem";
  options.source.registry.plain_http = action.plain_http;
  MOS_TRY_ASSIGN(auto report, install_to_disk(options, action.install_url, {}));
  return fmt::format("{} on {}{}\n{}", action.install_url, report.device.string(),
                     report.factory_kept ? ", its factory partitions kept" : "", kInstalledLine);
}

}  // namespace

Result<LiveActionReport> run_live_action(const std::filesystem::path& dir, std::string_view tcti) {
  auto file = dir / "boot.json";
  MOS_TRY_ASSIGN(auto text, read_file(file, kMaxActionFile));
  MOS_TRY_ASSIGN(auto action, parse_boot_action(text, file.string()));
  LiveActionReport report;
  report.action = action.action;
  // parse_boot_action accepts only the actions handled here.
  if (action.action == kBootActionInstall) {
    MOS_TRY_ASSIGN(report.line, install(dir, action));
  } else {
    MOS_TRY_ASSIGN(report.line, provision(dir, tcti));
  }
  return report;
}

}  // namespace mos::boot
