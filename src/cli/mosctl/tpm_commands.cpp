// mosctl provision, initrd-setup, preinstall and extend-pcr7: the device side of the TPM (boot/
// machine_provision.hpp, tpm/initrd_setup.hpp). The TPM is reached through a TCTI string, the
// kernel's resource manager by default.
#include <cstdio>
#include <string>

#include "boot/machine_provision.hpp"
#include "cli/mosctl/commands.hpp"
#include "core/file.hpp"
#include "tpm/initrd_setup.hpp"
#include "tpm/pcr7data.hpp"
#include "tpm/tpm_connection.hpp"
#include "tpm/tpm_provision.hpp"

namespace mos::cli {

namespace {

// Where the original's initrd finds pcr7data (bind-mounted from the PBF partition, or in the
// UKI's initrd).
constexpr std::string_view kDefaultPcr7Data = "/pcr7data";
// The original's file of the PCR7 saved before the initramfs's extend.
constexpr std::string_view kDefaultBootPcr7 = "/pcr7.bin";
// A PEM certificate or key is a few KiB; an NV index holds at most 2 KiB.
constexpr std::size_t kMaxPemSize = 64 * 1024;

struct TpmFlags {
  std::string tcti = std::string(tpm::kDefaultTcti);
  std::string pcr7data = std::string(kDefaultPcr7Data);
};

void add_tpm_option(CLI::App* command, TpmFlags& flags) {
  command->add_option("--tpm", flags.tcti, "TPM to use, as a tpm2-tss TCTI string")
      ->type_name("TCTI")
      ->capture_default_str();
}

void add_pcr7data_option(CLI::App* command, TpmFlags& flags) {
  command->add_option("--pcr7data", flags.pcr7data, "The keyset's pcr7data directory")
      ->type_name("DIR")
      ->capture_default_str();
}

}  // namespace

void add_tpm_commands(Program& program) {
  auto& app = program.app();
  static TpmFlags flags;

  static std::string cert_path, key_path, disk;
  static std::string boot_pcr7 = std::string(kDefaultBootPcr7);
  static bool wipe = false;
  auto* provision = app.add_subcommand(
      "provision",
      "Make the factory partitions and store the SUDI in the TPM under the keyset's policies");
  provision->add_option("CERT", cert_path, "SUDI certificate (PEM)")->required();
  provision->add_option("KEY", key_path, "SUDI private key (PEM)")->required();
  provision
      ->add_option("--disk", disk,
                   "Disk for the factory partitions (PBF, SBF); what it holds is lost. 'any': "
                   "the machine's only disk of 2 GiB or more")
      ->type_name("DEV|any");
  provision->add_flag("--wipe", wipe, "Provision a machine that is already provisioned");
  provision
      ->add_option("--boot-pcr7", boot_pcr7,
                   "This boot's PCR7 before the initramfs extended it (32 bytes), if the file "
                   "exists; else PCR7 is read from the TPM")
      ->type_name("FILE")
      ->capture_default_str();
  add_tpm_option(provision, flags);
  add_pcr7data_option(provision, flags);
  program.examples(provision, {{"Provision this machine's TPM with its SUDI",
                                "mosctl provision /media/cert.pem /media/privkey.pem"},
                               {"With its factory partitions on the machine's disk",
                                "mosctl provision --disk any /media/cert.pem /media/privkey.pem"},
                               {"A test swtpm, with a keyset's pcr7data",
                                "mosctl provision --tpm swtpm:host=127.0.0.1,port=2321 "
                                "--pcr7data KEYSET/pcr7data cert.pem privkey.pem"}});
  program.on_run(provision, []() -> Status {
    MOS_TRY_ASSIGN(auto data, tpm::read_pcr7data(flags.pcr7data));
    boot::MachineProvisionRequest request;
    MOS_TRY_ASSIGN(request.tpm.sudi_cert_pem, read_file(cert_path, kMaxPemSize));
    MOS_TRY_ASSIGN(request.tpm.sudi_key_pem, read_file(key_path, kMaxPemSize));
    request.tpm.wipe = wipe;
    request.pcr7data = flags.pcr7data;
    request.disk = disk;
    MOS_TRY_ASSIGN(request.tpm.boot_pcr7, tpm::read_boot_pcr7(boot_pcr7));
    MOS_TRY_ASSIGN(auto tpm, tpm::TpmConnection::open(flags.tcti));
    MOS_TRY_ASSIGN(auto report, boot::provision_machine(tpm, data, std::move(request)));
    if (!report.disk_line.empty()) std::printf("%s\n", report.disk_line.c_str());
    std::printf("provisioned the TPM at %s for keyset %s (cleared through the %s hierarchy)\n",
                flags.tcti.c_str(), report.tpm.keyset.c_str(), report.tpm.cleared_through.c_str());
    return {};
  });

  static std::string dest;
  static std::string key_description = std::string(tpm::kOsPassphraseKey);
  auto* initrd = app.add_subcommand(
      "initrd-setup",
      "Read the SUDI and the OS passphrase from the TPM, then extend PCR7 so they stay closed");
  add_tpm_option(initrd, flags);
  add_pcr7data_option(initrd, flags);
  initrd
      ->add_option("--dest", dest,
                   fmt::format("Write server.crt and server.key here instead of a new tmpfs at {}",
                               tpm::kDefaultSecureDir))
      ->type_name("DIR");
  initrd
      ->add_option("--key-description", key_description,
                   "Name of the user keyring's key that receives the OS passphrase")
      ->type_name("NAME")
      ->capture_default_str();
  program.examples(initrd, {{"What the initrd runs", "mosctl initrd-setup"},
                            {"Against a test swtpm, into a directory",
                             "mosctl initrd-setup --tpm swtpm:host=127.0.0.1,port=2321 "
                             "--pcr7data KEYSET/pcr7data --dest /tmp/secure"}});
  program.on_run(initrd, []() -> Status {
    tpm::InitrdSetupOptions options;
    options.keyring_description = key_description;
    if (!dest.empty()) {
      options.dest = dest;
      options.mount_tmpfs = false;
    }
    MOS_TRY_ASSIGN(auto tpm, tpm::TpmConnection::open(flags.tcti));
    auto data = tpm::read_pcr7data(flags.pcr7data);
    if (!data) {
      // Extend anyway: whatever fails, the secrets must be closed for what boots next.
      auto extended = tpm::extend_pcr7_final(tpm);
      if (!extended)
        return fail("{}; then extending PCR7 failed too: {}", data.error().message,
                    extended.error().message);
      return std::unexpected(data.error());
    }
    MOS_TRY_ASSIGN(auto report, tpm::initrd_setup(tpm, *data, options));
    std::printf("wrote %s and %s, OS passphrase in the user keyring as %s; PCR7 extended\n",
                report.cert.c_str(), report.key.c_str(), options.keyring_description.c_str());
    return {};
  });

  auto* preinstall = app.add_subcommand(
      "preinstall",
      "Write a new OS passphrase to the TPM and the keyring for the installer, then extend PCR7");
  add_tpm_option(preinstall, flags);
  add_pcr7data_option(preinstall, flags);
  preinstall
      ->add_option("--key-description", key_description,
                   "Name of the user keyring's key that receives the OS passphrase")
      ->type_name("NAME")
      ->capture_default_str();
  program.examples(preinstall, {{"What the install media's initrd runs", "mosctl preinstall"}});
  program.on_run(preinstall, []() -> Status {
    MOS_TRY_ASSIGN(auto tpm, tpm::TpmConnection::open(flags.tcti));
    auto data = tpm::read_pcr7data(flags.pcr7data);
    if (!data) {
      auto extended = tpm::extend_pcr7_final(tpm);
      if (!extended)
        return fail("{}; then extending PCR7 failed too: {}", data.error().message,
                    extended.error().message);
      return std::unexpected(data.error());
    }
    MOS_TRY(tpm::preinstall(tpm, *data, key_description));
    std::printf("new OS passphrase in the TPM and in the user keyring as %s; PCR7 extended\n",
                key_description.c_str());
    return {};
  });

  static std::string save_before;
  auto* extend = app.add_subcommand(
      "extend-pcr7",
      "Extend PCR7 with sha256(\"atomix\\n\"), closing the TPM's secrets until reboot");
  add_tpm_option(extend, flags);
  extend
      ->add_option("--save-before", save_before,
                   "Write PCR7 here first (32 bytes), for a provisioning live system")
      ->type_name("FILE");
  program.examples(extend, {{"Close the secrets", "mosctl extend-pcr7"},
                            {"What a provisioning medium's initramfs runs",
                             "mosctl extend-pcr7 --save-before /run/mos-livecd/pcr7.bin"}});
  program.on_run(extend, []() -> Status {
    MOS_TRY_ASSIGN(auto tpm, tpm::TpmConnection::open(flags.tcti));
    MOS_TRY(tpm::extend_pcr7_final(tpm, save_before));
    MOS_TRY_ASSIGN(auto pcr7, tpm.read_pcr7());
    std::printf("PCR7 is now %s\n", tpm::to_hex(pcr7).c_str());
    return {};
  });
}

}  // namespace mos::cli
