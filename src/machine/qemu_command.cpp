#include "machine/qemu_command.hpp"

#include <algorithm>
#include <set>

#include "oci/digest.hpp"

namespace mos::machine {
namespace {

constexpr const char* kUserNetHost = "10.0.2.2";
constexpr const char* kUserNetGatewayAside = "10.0.2.254";

// qemu's option parser splits on ',' and takes ",," as a literal comma.
std::string escape_option(const std::string& value) {
  std::string out;
  for (char c : value) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

std::string drive_format(const Disk& disk) {
  return disk.format.empty() ? "qcow2" : disk.format;
}
std::string disk_attach(const Disk& disk) {
  return disk.attach.empty() ? "virtio" : disk.attach;
}

std::string nic_driver(const std::string& device) {
  if (device.empty() || device == "virtio-net") return "virtio-net-pci";
  return device;
}

std::string host_forward(const PortForward& forward) {
  auto protocol = forward.protocol.empty() ? std::string("tcp") : forward.protocol;
  auto host_address =
      forward.host.address.empty() ? std::string("127.0.0.1") : forward.host.address;
  return fmt::format("hostfwd={}:{}:{}-{}:{}", protocol, host_address, forward.host.port,
                     forward.guest.address, forward.guest.port);
}

std::string guest_forward(const PortForward& forward, const std::string& relay) {
  auto guest_address =
      forward.guest.address.empty() ? std::string("10.0.2.2") : forward.guest.address;
  auto host_address =
      forward.host.address.empty() ? std::string("127.0.0.1") : forward.host.address;
  // A command per guest connection: qemu's chardev form connects once, at start, and serves one
  // connection for the VM's lifetime.
  return fmt::format("guestfwd=tcp:{}:{}-cmd:{} - tcp:{}:{}", guest_address, forward.guest.port,
                     relay, host_address, forward.host.port);
}

void add(std::vector<std::string>& argv, std::initializer_list<std::string> items) {
  argv.insert(argv.end(), items);
}

}  // namespace

std::filesystem::path disk_path(const Disk& disk, const std::filesystem::path& run_dir) {
  if (disk.file.find('/') != std::string::npos) return disk.file;
  return run_dir / disk.file;
}

Result<BootOrder> assign_boot_indices(const MachineConfig& config) {
  BootOrder order;
  std::set<int> taken;
  auto claim = [&](const std::string& bootindex,
                   std::string_view what) -> Result<std::optional<int>> {
    if (bootindex.empty() || bootindex == "off") return std::optional<int>();
    int index = 0;
    try {
      index = std::stoi(bootindex);
    } catch (...) {
      return fail("{}: bootindex '{}' is not a number or 'off'", what, bootindex);
    }
    if (!taken.insert(index).second) return fail("{}: bootindex {} is used twice", what, index);
    return std::optional<int>(index);
  };
  for (std::size_t i = 0; i < config.disks.size(); ++i) {
    MOS_TRY_ASSIGN(auto index, claim(config.disks[i].bootindex, fmt::format("disks[{}]", i)));
    order.disks.push_back(index);
  }
  for (std::size_t i = 0; i < config.nics.size(); ++i) {
    MOS_TRY_ASSIGN(auto index, claim(config.nics[i].bootindex, fmt::format("nics[{}]", i)));
    order.nics.push_back(index);
  }
  bool cdrom_first = config.boot == "cdrom" && !config.cdrom.empty();
  if (cdrom_first) {
    // The cdrom goes before everything: shift the explicit indices up by one.
    std::set<int> shifted;
    for (int index : taken) shifted.insert(index + 1);
    taken = shifted;
    for (auto& index : order.disks)
      if (index) ++*index;
    for (auto& index : order.nics)
      if (index) ++*index;
    order.cdrom = 0;
    taken.insert(0);
  }
  int next = taken.empty() ? 0 : *taken.rbegin() + 1;
  for (std::size_t i = 0; i < config.disks.size(); ++i)
    if (!order.disks[i] && config.disks[i].bootindex != "off") order.disks[i] = next++;
  if (!config.cdrom.empty() && !cdrom_first) order.cdrom = next++;
  for (std::size_t i = 0; i < config.nics.size(); ++i)
    if (!order.nics[i] && config.nics[i].bootindex != "off") order.nics[i] = next++;
  return order;
}

std::string nic_mac(const std::string& machine_name, const Nic& nic) {
  if (!nic.mac.empty()) return nic.mac;
  auto hex = oci::digest_of(fmt::format("{}/{}", machine_name, nic.id)).hex();
  return fmt::format("52:54:00:{}:{}:{}", hex.substr(0, 2), hex.substr(2, 2), hex.substr(4, 2));
}

std::string disk_serial(const Disk& disk) {
  auto stem = std::filesystem::path(disk.file).stem().string();
  std::string serial;
  for (char c : stem)
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') serial += c;
  bool ssd = disk.type.empty() || disk.type == "ssd";
  if (ssd && !serial.starts_with("ssd-")) serial.insert(0, "ssd-");
  if (serial.size() > 20) serial.resize(20);
  return serial;
}

Result<std::vector<std::string>> qemu_argv(const MachineDefinition& definition,
                                           const QemuLaunch& launch) {
  const auto& config = definition.config;
  MOS_TRY_ASSIGN(auto boot, assign_boot_indices(config));
  auto index_suffix = [](const std::optional<int>& index) {
    return index ? fmt::format(",bootindex={}", *index) : std::string();
  };
  auto addr_suffix = [](const std::optional<int>& addr) {
    return addr ? fmt::format(",addr={:#x}", *addr) : std::string();
  };

  std::vector<std::string> argv{launch.qemu};
  bool kvm = launch.accel == Accel::kvm;
  add(argv, {"-name", fmt::format("{},process=machine-{}", config.name, config.name)});
  add(argv, {"-machine", fmt::format("q35,smm=on,accel={}", kvm ? "kvm" : "tcg")});
  add(argv, {"-cpu", kvm ? "host" : "max"});
  add(argv, {"-m", fmt::format("{}m", config.memory ? config.memory : 4096)});
  add(argv, {"-smp", std::to_string(config.cpus ? config.cpus : 4)});
  // Nothing qemu would add by itself (a default NIC reaching out, a VGA, a parallel port).
  add(argv, {"-nodefaults", "-no-user-config"});
  add(argv, {"-pidfile", launch.pidfile.string()});
  add(argv, {"-qmp", fmt::format("unix:{},server=on,wait=off", escape_option(launch.qmp_socket))});
  add(argv, {"-chardev",
             fmt::format("socket,id=console0,path={},server=on,wait=off,logfile={},logappend=on",
                         escape_option(launch.console_socket), escape_option(launch.console_log))});
  add(argv, {"-serial", "chardev:console0"});
  if (config.gui)
    add(argv, {"-vga", "std", "-vnc", "127.0.0.1:0,to=99"});
  else
    add(argv, {"-display", "none"});

  add(argv, {"-global", "ICH9-LPC.disable_s3=1"});
  if (config.secure_boot) add(argv, {"-global", "driver=cfi.pflash01,property=secure,value=on"});
  add(argv, {"-drive", fmt::format("if=pflash,format=raw,unit=0,readonly=on,file={}",
                                   escape_option(launch.uefi_code))});
  add(argv, {"-drive",
             fmt::format("if=pflash,format=raw,unit=1,file={}", escape_option(launch.uefi_vars))});

  if (config.tpm) {
    add(argv,
        {"-chardev", fmt::format("socket,id=chrtpm0,path={}", escape_option(launch.tpm_socket))});
    add(argv, {"-tpmdev", "emulator,id=tpm0,chardev=chrtpm0"});
    add(argv, {"-device", "tpm-tis,tpmdev=tpm0"});
  }
  add(argv, {"-object", "rng-random,id=rng0,filename=/dev/urandom"});
  add(argv, {"-device", "virtio-rng-pci,rng=rng0"});

  bool have_scsi = false, have_usb = false;
  int ide_port = 0;
  for (std::size_t i = 0; i < config.disks.size(); ++i) {
    const auto& disk = config.disks[i];
    auto id = fmt::format("disk{}", i);
    bool cdrom = disk.type == "cdrom";
    auto drive =
        fmt::format("file={},if=none,id={},format={},aio=threads,discard=unmap{}{}",
                    escape_option(disk_path(disk, launch.run_dir)), id, drive_format(disk),
                    disk.read_only || cdrom ? ",readonly=on" : "", cdrom ? ",media=cdrom" : "");
    add(argv, {"-drive", drive});
    auto attach = disk_attach(disk);
    auto blocks = disk.blocksize ? fmt::format(",logical_block_size={0},physical_block_size={0}",
                                               disk.blocksize)
                                 : std::string();
    auto rotation = disk.type == "hdd" ? std::string() : std::string(",rotation_rate=1");
    auto serial = fmt::format(",serial={}", disk_serial(disk));
    auto index = index_suffix(boot.disks[i]);
    std::string device;
    if (attach == "virtio") {
      device = fmt::format("virtio-blk-pci,drive={}{}{}{}{}", id, serial, index,
                           addr_suffix(disk.addr), blocks);
    } else if (attach == "scsi") {
      if (!have_scsi) add(argv, {"-device", "virtio-scsi-pci,id=scsi0"});
      have_scsi = true;
      device = fmt::format("{},drive={},bus=scsi0.0{}{}{}{}", cdrom ? "scsi-cd" : "scsi-hd", id,
                           cdrom ? "" : serial, index, cdrom ? "" : rotation, blocks);
    } else if (attach == "nvme") {
      device =
          fmt::format("nvme,drive={}{}{}{}{}", id, serial, index, addr_suffix(disk.addr), blocks);
    } else if (attach == "ide") {
      device = fmt::format("{},drive={},bus=ide.{}{}{}{}", cdrom ? "ide-cd" : "ide-hd", id,
                           ide_port++, cdrom ? "" : serial, index, cdrom ? "" : rotation);
    } else if (attach == "usb") {
      if (!have_usb) add(argv, {"-device", "qemu-xhci,id=xhci0"});
      have_usb = true;
      device = fmt::format("usb-storage,drive={},bus=xhci0.0{}{}", id, serial, index);
    } else {
      return fail("disks[{}]: unknown attach '{}' (virtio, scsi, nvme, ide or usb)", i, attach);
    }
    add(argv, {"-device", device});
  }
  if (!config.cdrom.empty()) {
    add(argv, {"-drive", fmt::format("file={},if=none,id=cdrom0,format=raw,readonly=on,media=cdrom",
                                     escape_option(config.cdrom))});
    add(argv, {"-device", fmt::format("ide-cd,drive=cdrom0,bus=ide.{}{}", ide_port++,
                                      index_suffix(boot.cdrom))});
  }
  if (!config.cloud_init.empty()) {
    add(argv, {"-drive", fmt::format("file=fat:16:{},if=none,id=cidata,format=vvfat,readonly=on,"
                                     "label=cidata",
                                     escape_option(launch.cloud_init_dir))});
    add(argv, {"-device", "virtio-blk-pci,drive=cidata"});
  }

  for (std::size_t i = 0; i < config.nics.size(); ++i) {
    const auto& nic = config.nics[i];
    // restrict=on: the guest reaches no address at all, only the guestfwds it is given.
    std::string netdev = fmt::format("user,id={},ipv4=on,restrict=on", nic.id);
    // slirp refuses a guestfwd on its own address (10.0.2.2 by default), which is where guests
    // expect the host (the walkthrough installs from 10.0.2.2:5000): the gateway moves aside.
    bool forwards_host_address = std::any_of(
        nic.guestfwds.begin(), nic.guestfwds.end(),
        [](const auto& f) { return f.guest.address.empty() || f.guest.address == kUserNetHost; });
    if (forwards_host_address) netdev += fmt::format(",host={}", kUserNetGatewayAside);
    for (const auto& port : nic.ports)
      netdev += fmt::format(",{}", escape_option(host_forward(port)));
    for (const auto& forward : nic.guestfwds)
      netdev += fmt::format(",{}", escape_option(guest_forward(forward, launch.guestfwd_relay)));
    add(argv, {"-netdev", netdev});
    std::string romfile;
    if (nic.romfile == "off")
      romfile = ",romfile=";
    else if (!nic.romfile.empty())
      romfile = fmt::format(",romfile={}", escape_option(nic.romfile));
    add(argv, {"-device", fmt::format("{},netdev={},mac={}{}{}{}", nic_driver(nic.device), nic.id,
                                      nic_mac(config.name, nic), index_suffix(boot.nics[i]),
                                      addr_suffix(nic.addr), romfile)});
  }
  return argv;
}

}  // namespace mos::machine
