#pragma once
// The qemu-system-x86_64 command line of a VM, built from its definition and where its files
// are. Pure (no I/O), so every rule has a golden-string unit test, as the original's qcli had.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "machine/machine_definition.hpp"

namespace mos::machine {

enum class Accel { kvm, tcg };

struct QemuLaunch {
  std::string qemu = "qemu-system-x86_64";
  Accel accel = Accel::tcg;
  std::filesystem::path run_dir;  // where disk files without a '/' live
  std::filesystem::path qmp_socket;
  std::filesystem::path console_socket;
  std::filesystem::path console_log;
  std::filesystem::path pidfile;
  std::filesystem::path uefi_code;
  std::filesystem::path uefi_vars;       // the VM's NVRAM
  std::filesystem::path tpm_socket;      // used when the definition has a TPM
  std::filesystem::path cloud_init_dir;  // used when the definition has cloud-init data
  std::string guestfwd_relay = "socat";  // run by qemu for each guest connection to a guestfwd
};

// Boot indices after the original's rules: explicit numbers are kept; then disks without one,
// then the cdrom, then NICs without one get the next free numbers, in order ("off": none).
// `boot: cdrom` puts the cdrom first (index 0, the others after it).
struct BootOrder {
  std::vector<std::optional<int>> disks;
  std::vector<std::optional<int>> nics;
  std::optional<int> cdrom;
};
Result<BootOrder> assign_boot_indices(const MachineConfig& config);

// A NIC's MAC: its own, or 52:54:00 (qemu's prefix) and three bytes of a hash of the machine
// and NIC names, so it is stable across starts and differs between VMs.
std::string nic_mac(const std::string& machine_name, const Nic& nic);

// A disk's serial (what the guest sees in /dev/disk/by-id): the file's base name without its
// extension, prefixed "ssd-" for SSDs unless it already is, at most 20 bytes (virtio-blk's limit).
std::string disk_serial(const Disk& disk);

// The whole argv, argv[0] being the qemu binary.
Result<std::vector<std::string>> qemu_argv(const MachineDefinition& definition,
                                           const QemuLaunch& launch);

// Where a disk's file is: as written when it has a '/', else inside the run directory.
std::filesystem::path disk_path(const Disk& disk, const std::filesystem::path& run_dir);

}  // namespace mos::machine
