#pragma once
// A VM's definition: the original machine's `machine.yaml` schema (docs/machine.md), parsed
// strictly (an unknown or misspelt key is an error naming file:line:column, not silently dropped
// as yaml.v2 did), and printed back as `machine info` shows it.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace mos::machine {

struct Endpoint {
  std::string address{};  // "" = the default (127.0.0.1 for host ports, any for guest ports)
  std::uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
};

// A port forward of a user-mode NIC: host address:port → guest address:port.
struct PortForward {
  std::string protocol = "tcp";  // tcp | udp
  Endpoint host{};
  Endpoint guest{};
  bool operator==(const PortForward&) const = default;
};

struct Nic {
  std::string id{};                      // qemu netdev id, e.g. nic0
  std::string device = "virtio-net";     // qemu driver: virtio-net, e1000, ...
  std::string mac{};                     // "" = derived from the machine and nic names
  std::string network = "user";          // only user-mode networking (restrict=on) exists
  std::optional<int> addr{};             // PCI slot
  std::string bootindex{};               // "" (assigned), "N" or "off"
  std::string romfile{};                 // "" (qemu's), a path, or "off"
  std::vector<PortForward> ports{};      // host → guest
  std::vector<PortForward> guestfwds{};  // guest → host service (host.address defaults 127.0.0.1)
  bool operator==(const Nic&) const = default;
};

struct Disk {
  std::string file{};         // no '/': inside the machine's run directory
  std::string format{};       // qcow2 | raw ("" = qcow2)
  std::uint64_t size = 0;     // bytes; > 0 creates a missing file of this size
  std::string attach{};       // virtio | scsi | nvme | ide | usb ("" = virtio)
  std::string type{};         // ssd | hdd | cdrom ("" = ssd)
  std::string bootindex{};    // "" (assigned), "N" or "off"
  std::optional<int> addr{};  // PCI slot
  std::uint32_t blocksize = 0;
  bool read_only = false;
  bool operator==(const Disk&) const = default;
};

struct CloudInit {
  std::string user_data{};
  std::string meta_data{};
  std::string network_config{};
  bool empty() const { return user_data.empty() && meta_data.empty() && network_config.empty(); }
  bool operator==(const CloudInit&) const = default;
};

struct MachineConfig {
  std::string name{};
  std::uint32_t cpus = 0;    // 0 = 4, as the original
  std::uint32_t memory = 0;  // MiB; 0 = 4096
  std::string serial{};      // kept for compatibility; the serial console always exists
  std::vector<Nic> nics{};
  std::vector<Disk> disks{};
  std::string boot{};  // "" | hdd | cdrom
  std::string cdrom{};
  std::string uefi_code{};
  std::string uefi_vars{};
  bool tpm = false;
  std::string tpm_version{};  // "2.0" (or "1.2")
  bool secure_boot = false;
  bool gui = false;
  CloudInit cloud_init{};
  bool operator==(const MachineConfig&) const = default;
};

struct MachineDefinition {
  std::string type = "kvm";
  MachineConfig config{};
  std::string description{};
  bool ephemeral = false;
  std::string name{};
  bool operator==(const MachineDefinition&) const = default;
};

// The original's machine types, which `machine init -m` starts from: "1.0" (secure boot, TPM
// 2.0, a 50 GiB rootdisk.qcow2) and "1.0-insecure" (no secure boot, one user NIC).
Result<MachineDefinition> machine_type_template(std::string_view type, std::string_view name);

// Parses machine.yaml text on top of `base` (keys present in the text replace base's values, as
// the original's unmarshal over its template; a list replaces the whole list, an empty value is
// the zero value, and a top-level `name` or `config.name` given alone sets both). `file` names the
// text in messages. The values are not checked here: validate_definition does that.
Result<MachineDefinition> parse_machine_yaml(std::string_view text, std::string_view file,
                                             MachineDefinition base = {});

// The definition as YAML, in the layout `machine info` prints (the walkthrough's), ending with
// `status: STATUS`; an empty status omits that line (what is stored in machine.yaml).
std::string machine_yaml(const MachineDefinition& definition, std::string_view status = {});

// "50GiB", "100G", "120000000000", "512MiB" → bytes (go-humanize's units: k/M/G/T are powers of
// 1000, Ki/Mi/Gi/Ti of 1024, an optional trailing B).
Result<std::uint64_t> parse_size(std::string_view text);

// Checks what parsing alone cannot: names (a safe file name, ≤ 32 characters so socket paths stay
// short), unique NIC ids, ports 1..65535, known devices/formats/attachments, boot indices that
// are "off" or a number and are not claimed twice.
Status validate_definition(const MachineDefinition& definition);

}  // namespace mos::machine
