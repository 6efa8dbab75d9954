// trust launch (see launch.hpp).
#include "machine/launch.hpp"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "boot/boot_media.hpp"
#include "boot/bootkit.hpp"
#include "boot/live_action.hpp"
#include "core/file.hpp"
#include "core/lock.hpp"
#include "core/process.hpp"
#include "core/text.hpp"
#include "machine/console_session.hpp"
#include "machine/machine_store.hpp"
#include "machine/vm_instance.hpp"
#include "manifest/verify.hpp"
#include "oci/reference.hpp"
#include "sysroot/install_source.hpp"
#include "trust/project.hpp"
#include "trust/sudi.hpp"

namespace mos::machine {

namespace {

namespace fs = std::filesystem;

// The walkthrough's `machine info` of a launched VM shows this description.
constexpr std::string_view kDescription =
    "A fresh VM booting trust LiveCD in SecureBoot mode with TPM";
constexpr std::string_view kSudiDisk = "sudi.vfat";
constexpr std::uint64_t kSystemDiskBytes = 120000000000;  // as the walkthrough's vm1
constexpr auto kPoll = std::chrono::milliseconds(200);

// The install manifest as this host reaches it: the VM's 10.0.2.2 is the host's 127.0.0.1.
Result<oci::Reference> host_side_reference(std::string_view url, int& port) {
  MOS_TRY_ASSIGN(auto ref, oci::Reference::parse(url));
  auto prefix = fmt::format("{}:", kGuestHostAddress);
  if (ref.is_layout() || !ref.registry.starts_with(prefix))
    return fail(
        "{}: the machine reaches only this host, as {}:PORT (its network is restricted to "
        "the host's loopback)",
        url, kGuestHostAddress);
  try {
    port = std::stoi(ref.registry.substr(prefix.size()));
  } catch (const std::exception&) {
    return fail("{}: no port after {}", url, kGuestHostAddress);
  }
  if (port < 1 || port > 65535) return fail("{}: port {} is out of range", url, port);
  ref.registry = fmt::format("127.0.0.1:{}", port);
  return ref;
}

// Verified as the machine will verify it, before anything is made: the signature up to the
// keyset's manifest CA, the project's product, every target present. Returns the host ports the
// services publish.
Result<std::vector<int>> verify_from_host(const oci::Reference& ref,
                                          const trust::ProjectKey& project) {
  oci::OpenOptions open;
  open.registry.plain_http = true;  // the host's loopback, as the medium says to the machine
  MOS_TRY_ASSIGN(auto source, sysroot::open_install_source(ref.str(), open));
  manifest::TrustPolicy policy{project.manifest_ca_pem, project.uuid};
  auto verified =
      manifest::verify_install(*source.install, source.tag_or_digest, policy, source.targets.get());
  if (!verified) return context(ref.str(), verified.error());
  if (!verified->manifest.find_target("bootkit"))
    return fail("{} has no bootkit target: a machine installed from it could not boot", ref.str());
  std::vector<int> ports;
  for (const auto& target : verified->manifest.targets)
    for (const auto& p : target.network.ports) ports.push_back(p.host);
  return ports;
}

// The FAT disk labelled trust-data with the SUDI, which the provisioning boot reads.
Status write_sudi_disk(const fs::path& image, const fs::path& sudi_dir) {
  std::error_code ec;
  fs::remove(image, ec);
  MOS_TRY(run_checked(
      {.argv = {"mkfs.fat", "-n", std::string(boot::kSudiDiskLabel), "-C", image.string(), "4096"},
       .what = "mkfs.fat"}));
  for (const char* file : {"cert.pem", "privkey.pem"})
    MOS_TRY(run_checked({.argv = {"mtools", "-c", "mcopy", "-i", image.string(),
                                  (sudi_dir / file).string(), fmt::format("::{}", file)},
                         .what = "mcopy"}));
  return {};
}

// The keyset's media at the walkthrough's paths: provision.iso kept while the bootkit is
// unchanged, install.iso written for this URL.
Result<std::pair<fs::path, fs::path>> keyset_media(const trust::ProjectKey& project,
                                                   const std::string& url) {
  fs::path artifacts = project.keyset_dir / "artifacts";
  MOS_TRY(make_dirs(artifacts));
  boot::BootMediaRequest request;
  request.keyset_dir = project.keyset_dir;
  request.keyset = project.keyset;
  request.project = project.project;
  MOS_TRY_ASSIGN(request.epoch, boot::media_epoch(project.keyset_dir));
  fs::path provision = artifacts / "provision.iso";
  std::error_code ec;
  auto uki = boot::BootkitPaths::of_keyset(project.keyset_dir).uki;
  if (!fs::exists(provision, ec) ||
      fs::last_write_time(provision, ec) < fs::last_write_time(uki, ec)) {
    request.action = std::string(boot::kBootActionProvision);
    request.output = provision;
    MOS_TRY(boot::build_boot_media(request));
  }
  fs::path install = artifacts / "install.iso";
  request.action = std::string(boot::kBootActionInstall);
  request.install_url = url;
  request.plain_http = true;
  request.output = install;
  MOS_TRY(boot::build_boot_media(request));
  return std::pair{provision, install};
}

// The console's last lines (console_session's tail), indented under an error message.
std::string console_lines(const MachinePaths& paths) {
  std::string out;
  std::string tail = console_tail(paths, 2048);
  for_each_line(tail, [&](std::string_view line) {
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) out += fmt::format("\n  {}", line);
  });
  return out.empty() ? std::string(" (no console output)") : out;
}

// What a medium's live system said on the console ("mos-livecd: ..." lines, without the prefix).
std::vector<std::string> live_system_lines(std::string_view console) {
  constexpr std::string_view kPrefix = "mos-livecd: ";
  std::vector<std::string> lines;
  for (std::size_t at = console.find(kPrefix); at != std::string_view::npos;
       at = console.find(kPrefix, at + 1)) {
    auto end = console.find_first_of("\r\n", at);
    lines.emplace_back(console.substr(at + kPrefix.size(), end == std::string_view::npos
                                                               ? std::string_view::npos
                                                               : end - at - kPrefix.size()));
  }
  return lines;
}

// One boot of a medium: started, watched on the console until its success line, then waited for
// until the live system has powered the machine off. Returns what the live system said.
Result<std::vector<std::string>> run_medium_boot(const MachineHome& home,
                                                 const MachineDefinition& definition,
                                                 const MachinePaths& paths, std::string_view what,
                                                 std::string_view success,
                                                 std::chrono::seconds timeout) {
  MOS_TRY(start_vm(home, definition, paths, StartOptions{}));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto failed = [&](std::string_view why) {
    (void)stop_vm(paths, StopOptions{.force = true});
    return fail("the {} boot of {} {}; its console's last lines:{}", what, paths.name, why,
                console_lines(paths));
  };
  std::string text;
  for (;;) {
    text = read_file(paths.console_log, 64 << 20).value_or("");
    if (text.find(fmt::format("mos-livecd: {}", success)) != std::string::npos) break;
    for (std::string_view marker : {"mos-livecd: FAILED", "mos-initramfs: FAILED"})
      if (text.find(marker) != std::string::npos) return failed("failed");
    if (vm_status(paths).state != VmState::running) return failed("ended before it succeeded");
    if (std::chrono::steady_clock::now() > deadline)
      return failed(fmt::format("did not succeed within {} s", timeout.count()));
    std::this_thread::sleep_for(kPoll);
  }
  // The live system powers off once its line is out.
  auto off = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (vm_status(paths).state == VmState::running && std::chrono::steady_clock::now() < off)
    std::this_thread::sleep_for(kPoll);
  if (vm_status(paths).state == VmState::running)
    MOS_TRY(stop_vm(paths, StopOptions{.force = true}));
  return live_system_lines(text);
}

}  // namespace

std::vector<PublishedPort> launch_port_forwards(const std::vector<int>& manifest_ports,
                                                const std::vector<PublishedPort>& publish,
                                                int offset) {
  std::vector<PublishedPort> out;
  for (int port : manifest_ports) {
    auto given = std::find_if(publish.begin(), publish.end(),
                              [&](const PublishedPort& p) { return p.guest == port; });
    out.push_back(given != publish.end() ? *given : PublishedPort{offset + port, port});
  }
  // --publish may also name a guest port no service of the manifest declares.
  for (const auto& p : publish)
    if (std::none_of(out.begin(), out.end(), [&](const auto& o) { return o.guest == p.guest; }))
      out.push_back(p);
  return out;
}

Result<LaunchReport> launch_machine(const LaunchRequest& request) {
  // Checks first: nothing is made unless all of them pass.
  MOS_TRY_ASSIGN(auto home, MachineHome::from_environment());
  MachineDefinition probe;
  probe.name = probe.config.name = request.name;
  MOS_TRY(validate_definition(probe));
  MachinePaths paths(home, request.name);
  MOS_TRY(make_dirs(paths.lock.parent_path(), 0700));
  MOS_TRY_ASSIGN(auto lock, FileLock::acquire(paths.lock, FileLock::Mode::exclusive));
  std::error_code ec;
  if (fs::exists(paths.definition, ec))
    return fail("machine {} already exists ({}): delete it first, or choose another name",
                request.name, paths.definition.string());
  MOS_TRY_ASSIGN(auto project,
                 trust::load_project(trust::ProjectRef{request.keyset, request.project}));
  int registry_port = 0;
  MOS_TRY_ASSIGN(auto host_ref, host_side_reference(request.url, registry_port));
  request.say(fmt::format("verifying {} (from this host: {})", request.url, host_ref.str()));
  MOS_TRY_ASSIGN(auto service_ports, verify_from_host(host_ref, project));
  LaunchReport report;
  report.ports = launch_port_forwards(service_ports, request.publish, request.port_offset);

  // From here, what is made goes again on failure unless `keep`.
  fs::path sudi_dir;
  bool defined = false;
  auto undo = [&](Error e) -> Error {
    if (request.keep) {
      e.message += fmt::format(" (kept: machine {}, SUDI {})", request.name, report.sudi_serial);
      return e;
    }
    if (defined) {
      (void)stop_vm(paths, StopOptions{.force = true});
      if (auto s = remove_machine(home, paths); !s)
        e.message +=
            fmt::format("; removing machine {} also failed: {}", request.name, s.error().message);
    }
    if (!sudi_dir.empty()) fs::remove_all(sudi_dir, ec);
    return e;
  };
  auto medium = keyset_media(project, request.url);
  if (!medium) return std::unexpected(undo(medium.error()));
  auto [provision_iso, install_iso] = *medium;
  request.say(fmt::format("media: {} and {}", provision_iso.string(), install_iso.string()));

  auto sudi = trust::create_sudi(project.keyset_dir, project.project);
  if (!sudi) return std::unexpected(undo(sudi.error()));
  sudi_dir = *sudi;
  report.sudi_serial = sudi_dir.filename().string();
  request.say(fmt::format("SUDI {} of {}:{}", report.sudi_serial, request.keyset, request.project));

  auto kit = boot::BootkitPaths::of_keyset(project.keyset_dir);
  MachineDefinition definition;
  definition.name = request.name;
  definition.description = std::string(kDescription);
  auto& config = definition.config;
  config.name = request.name;
  config.cpus = 2;
  config.memory = 2048;
  config.serial = "true";
  Nic nic;
  nic.id = "nic0";
  nic.bootindex = "off";
  nic.romfile = "off";
  for (const auto& p : report.ports)
    nic.ports.push_back({"tcp",
                         {"", static_cast<std::uint16_t>(p.host)},
                         {"", static_cast<std::uint16_t>(p.guest)}});
  nic.guestfwds.push_back(
      {"tcp",
       {"127.0.0.1", static_cast<std::uint16_t>(registry_port)},
       {std::string(kGuestHostAddress), static_cast<std::uint16_t>(registry_port)}});
  config.nics.push_back(nic);
  Disk system;
  system.file = (paths.run_dir / (request.name + ".qcow2")).string();
  system.size = kSystemDiskBytes;
  system.type = "ssd";
  config.disks.push_back(system);
  Disk sudi_disk;
  sudi_disk.file = (paths.run_dir / kSudiDisk).string();
  sudi_disk.format = "raw";
  config.disks.push_back(sudi_disk);
  config.boot = "cdrom";
  config.cdrom = provision_iso.string();
  config.uefi_code = kit.ovmf_code.string();
  config.uefi_vars = kit.ovmf_vars.string();
  config.tpm = true;
  config.tpm_version = "2.0";
  config.secure_boot = true;
  auto made = [&]() -> Status {
    MOS_TRY(make_dirs(paths.run_dir, 0700));
    MOS_TRY(write_sudi_disk(paths.run_dir / kSudiDisk, sudi_dir));
    MOS_TRY(save_definition(paths, definition));
    defined = true;
    request.say(fmt::format("provisioning {} (booting {})", request.name, provision_iso.string()));
    MOS_TRY_ASSIGN(auto provisioned, run_medium_boot(home, definition, paths, "provisioning",
                                                     boot::kProvisionedLine, request.boot_timeout));
    for (const auto& line : provisioned) request.say(fmt::format("{}: {}", request.name, line));
    // The install boot: its medium, no SUDI disk (the TPM holds the identity now).
    config.cdrom = install_iso.string();
    config.disks.pop_back();
    MOS_TRY(save_definition(paths, definition));
    request.say(fmt::format("installing {} from {}", request.name, request.url));
    MOS_TRY_ASSIGN(auto installed, run_medium_boot(home, definition, paths, "install",
                                                   boot::kInstalledLine, request.boot_timeout));
    for (const auto& line : installed) request.say(fmt::format("{}: {}", request.name, line));
    config.boot = "hdd";
    config.cdrom.clear();
    MOS_TRY(save_definition(paths, definition));
    fs::remove(paths.run_dir / kSudiDisk, ec);
    if (request.start) {
      request.say(fmt::format("starting {}", request.name));
      MOS_TRY(start_vm(home, definition, paths, StartOptions{}));
    }
    return {};
  }();
  if (!made) return std::unexpected(undo(made.error()));
  return report;
}

}  // namespace mos::machine
