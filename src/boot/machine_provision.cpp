#include "boot/machine_provision.hpp"

#include <openssl/crypto.h>

#include "boot/disk_partitions.hpp"
#include "boot/factory_partitions.hpp"

namespace mos::boot {

Result<MachineProvisionReport> provision_machine(tpm::TpmConnection& tpm, const tpm::Pcr7Data& data,
                                                 MachineProvisionRequest request) {
  MachineProvisionReport report;
  MOS_TRY(tpm::check_provisionable(tpm, request.tpm.wipe));
  if (!request.disk.empty()) {
    std::filesystem::path device = request.disk;
    if (request.disk == kAnyDisk) {
      MOS_TRY_ASSIGN(device, choose_install_disk());
    }
    MOS_TRY_ASSIGN(request.tpm.sbf_passphrase, tpm::new_passphrase());
    auto made = make_factory_partitions({device, request.pcr7data, request.tpm.sbf_passphrase});
    if (!made) {
      OPENSSL_cleanse(request.tpm.sbf_passphrase.data(), request.tpm.sbf_passphrase.size());
      return std::unexpected(made.error());
    }
    report.disk_line = *made;
  }
  auto provisioned = tpm::provision_tpm(tpm, data, request.tpm);
  OPENSSL_cleanse(request.tpm.sbf_passphrase.data(), request.tpm.sbf_passphrase.size());
  MOS_TRY_ASSIGN(report.tpm, std::move(provisioned));
  return report;
}

}  // namespace mos::boot
