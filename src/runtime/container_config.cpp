#include "runtime/container_config.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/file.hpp"
#include "core/text.hpp"

namespace mos::runtime {
namespace {

namespace fs = std::filesystem;

struct IdEntry {
  std::string_view name;
  std::uint32_t id = 0;
  std::uint32_t group = 0;  // passwd: the primary group; group: unused
};

// The entries of an /etc/passwd or /etc/group text ("name:x:id:gid:..."); malformed lines are
// skipped, as libc does.
std::vector<IdEntry> parse_id_file(std::string_view text) {
  std::vector<IdEntry> entries;
  for_each_line(text, [&](std::string_view line) {
    auto fields = split_fields(line, ':');
    if (fields.size() < 3) return;
    auto id = parse_unsigned(fields[2]);
    if (!id || *id > 0xffffffffULL) return;
    IdEntry entry{fields[0], static_cast<std::uint32_t>(*id), 0};
    if (fields.size() >= 4)
      if (auto gid = parse_unsigned(fields[3]); gid && *gid <= 0xffffffffULL)
        entry.group = static_cast<std::uint32_t>(*gid);
    entries.push_back(entry);
  });
  return entries;
}

std::optional<std::uint32_t> as_id(std::string_view text) {
  auto number = parse_unsigned(text);
  if (!number || *number > 0xffffffffULL) return std::nullopt;
  return static_cast<std::uint32_t>(*number);
}

Result<std::string> read_rootfs_file(const fs::path& rootfs, std::string_view name) {
  // The image may make etc/passwd a symlink; follow nothing outside it: plain files only.
  fs::path path = rootfs / "etc" / std::string(name);
  std::error_code ec;
  if (fs::is_symlink(path, ec)) return fail("{} is a symbolic link", path.string());
  if (!fs::exists(path, ec)) return std::string();
  return read_file(path, 4 << 20);
}

Status plain_value(std::string_view what, std::string_view value) {
  if (value.find_first_of("\n\r") != std::string_view::npos || value.find('\0') != value.npos)
    return fail("{} contains a line break: {:?}", what, std::string(value));
  return {};
}

}  // namespace

ContainerCgroupNames container_cgroup_names(std::string_view run_id, std::string_view service) {
  return {fmt::format("mos.payload.{}.{}", run_id, service),
          fmt::format("mos.monitor.{}.{}", run_id, service)};
}

std::string host_veth_name(std::uint32_t address) {
  return fmt::format("mosv{:06x}", address & 0xffffff);
}

Result<UserIds> lookup_user(std::string_view user, std::string_view passwd_text,
                            std::string_view group_text) {
  if (user.empty()) return UserIds{};
  auto colon = user.find(':');
  std::string_view name = user.substr(0, colon);
  auto passwd = parse_id_file(passwd_text);
  UserIds ids;
  if (auto uid = as_id(name)) {
    // A numeric user takes its primary group when the image knows it (as runc does).
    ids = {*uid, *uid};
    for (const auto& entry : passwd)
      if (entry.id == *uid) ids.gid = entry.group;
  } else {
    auto entry = std::ranges::find(passwd, name, &IdEntry::name);
    if (entry == passwd.end())
      return fail("the image's user \"{}\" is not in its /etc/passwd", std::string(name));
    ids = {entry->id, entry->group};
  }
  if (colon == std::string_view::npos) return ids;
  std::string_view group = user.substr(colon + 1);
  if (auto gid = as_id(group)) {
    ids.gid = *gid;
    return ids;
  }
  auto groups = parse_id_file(group_text);
  auto entry = std::ranges::find(groups, group, &IdEntry::name);
  if (entry == groups.end())
    return fail("the image's group \"{}\" is not in its /etc/group", std::string(group));
  ids.gid = entry->id;
  return ids;
}

Result<UserIds> resolve_user(std::string_view user, const fs::path& rootfs) {
  if (user.empty()) return UserIds{};
  MOS_TRY_ASSIGN(auto passwd, read_rootfs_file(rootfs, "passwd"));
  std::string group;
  if (user.find(':') != std::string_view::npos) {
    MOS_TRY_ASSIGN(group, read_rootfs_file(rootfs, "group"));
  }
  return lookup_user(user, passwd, group);
}

Result<ContainerLaunch> container_launch(const ServiceSpec& service, const ContainerPlace& place,
                                         const UserIds& user) {
  ContainerLaunch launch;
  launch.argv = image::command_of(service.config);
  if (launch.argv.empty())
    return fail("service {}: its image has neither Entrypoint nor Cmd", service.name);
  std::string out;
  auto line = [&](std::string_view key, std::string_view value) -> Status {
    MOS_TRY(plain_value(fmt::format("service {}: {}", service.name, key), value));
    out += fmt::format("{} = {}\n", key, value);
    return {};
  };
  MOS_TRY(line("lxc.uts.name", service.name));
  MOS_TRY(line("lxc.rootfs.path", fmt::format("dir:{}", place.rootfs.string())));
  if (service.ids) {
    auto map = fmt::format("0 {} {}", service.ids->hostid, service.ids->size);
    MOS_TRY(line("lxc.idmap", fmt::format("u {}", map)));
    MOS_TRY(line("lxc.idmap", fmt::format("g {}", map)));
  }
  switch (service.network) {
    case manifest::NetworkType::host:
      MOS_TRY(line("lxc.net.0.type", "none"));  // LXC's "none": the host's namespace
      break;
    case manifest::NetworkType::none:
      MOS_TRY(line("lxc.net.0.type", "empty"));  // loopback only
      break;
    case manifest::NetworkType::simple: {
      if (!service.address)
        return fail("service {}: no address on the simple network", service.name);
      MOS_TRY(line("lxc.net.0.type", "veth"));
      MOS_TRY(line("lxc.net.0.link", place.bridge));
      MOS_TRY(line("lxc.net.0.flags", "up"));
      MOS_TRY(line("lxc.net.0.name", "eth0"));
      MOS_TRY(line("lxc.net.0.veth.pair", host_veth_name(*service.address)));
      // A MAC that follows the address (locally administered, 02:6d:73 + its low 24 bits):
      // a restarted service keeps it, so the host's and the other services' neighbour entries
      // stay right instead of pointing at the last start's random MAC until they expire (a
      // client of a service just restarted by an update waited for that, seconds to a minute).
      MOS_TRY(line("lxc.net.0.hwaddr",
                   fmt::format("02:6d:73:{:02x}:{:02x}:{:02x}", (*service.address >> 16) & 0xff,
                               (*service.address >> 8) & 0xff, *service.address & 0xff)));
      MOS_TRY(line("lxc.net.0.ipv4.address",
                   fmt::format("{}/{}", format_ipv4(*service.address), place.subnet.prefix)));
      MOS_TRY(line("lxc.net.0.ipv4.gateway", format_ipv4(place.subnet.gateway())));
      if (service.address6) {
        MOS_TRY(line("lxc.net.0.ipv6.address",
                     fmt::format("{}/{}", format_ipv6(*service.address6), place.subnet6.prefix)));
        MOS_TRY(line("lxc.net.0.ipv6.gateway", format_ipv6(place.subnet6.gateway())));
      }
      break;
    }
  }
  auto cgroups = container_cgroup_names(place.run_id, service.name);
  MOS_TRY(line("lxc.cgroup.dir.container", cgroups.payload));
  MOS_TRY(line("lxc.cgroup.dir.monitor", cgroups.monitor));
  MOS_TRY(line("lxc.mount.auto", "proc:mixed sys:mixed cgroup:mixed"));
  MOS_TRY(line("lxc.autodev", "1"));
  MOS_TRY(line("lxc.tty.max", "0"));
  MOS_TRY(line("lxc.pty.max", "16"));
  MOS_TRY(line("lxc.console.path", "none"));
  MOS_TRY(line("lxc.signal.halt", "SIGTERM"));
  MOS_TRY(line("lxc.cap.drop", "mac_admin mac_override sys_time sys_module sys_rawio"));
  MOS_TRY(line("lxc.seccomp.profile", place.seccomp.string()));
  if (!place.apparmor_profile.empty())
    MOS_TRY(line("lxc.apparmor.profile", place.apparmor_profile));
  if (!service.ids) {
    // A privileged container gets LXC's common device allow list, not the host's devices.
    MOS_TRY(line("lxc.cgroup2.devices.deny", "a"));
    for (const char* allowed :
         {"c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
          "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:229 rwm"})
      MOS_TRY(line("lxc.cgroup2.devices.allow", allowed));
  }
  for (const auto& storage : service.storage) {
    auto mounted = place.volumes.find(storage.label);
    if (mounted == place.volumes.end())
      return fail("service {}: storage \"{}\" is not mounted", service.name, storage.label);
    fs::path dest(storage.dest);
    if (!dest.is_absolute() || dest.lexically_normal() != dest ||
        storage.dest.find("..") != std::string::npos)
      return fail("service {}: storage destination \"{}\" must be an absolute, normal path",
                  service.name, storage.dest);
    if (storage.dest.find_first_of(" \t") != std::string::npos ||
        mounted->second.string().find_first_of(" \t") != std::string::npos)
      return fail("service {}: storage paths cannot contain spaces ({} on {})", service.name,
                  storage.dest, mounted->second.string());
    // lxc.mount.entry targets are relative to the rootfs; create=dir makes the mount point.
    MOS_TRY(line("lxc.mount.entry",
                 fmt::format("{} {} none bind,create=dir 0 0", mounted->second.string(),
                             dest.relative_path().string())));
  }
  MOS_TRY(line("lxc.init.uid", std::to_string(user.uid)));
  MOS_TRY(line("lxc.init.gid", std::to_string(user.gid)));
  MOS_TRY(line("lxc.init.cwd", service.config.workdir.value_or("/")));
  for (const auto& variable : service.config.env) {
    if (variable.find('=') == std::string::npos)
      return fail("service {}: environment entry \"{}\" has no '='", service.name, variable);
    MOS_TRY(line("lxc.environment", variable));
  }
  MOS_TRY(line("lxc.log.file", place.lxc_log.string()));
  MOS_TRY(line("lxc.log.level", "WARN"));
  for (const auto& arg : launch.argv)
    if (arg.find('\0') != std::string::npos)
      return fail("service {}: an argument contains a NUL byte", service.name);
  launch.config = std::move(out);
  return launch;
}

std::string_view default_seccomp_policy() {
  return "2\n"
         "denylist\n"
         "reject_force_umount\n"
         "[all]\n"
         "kexec_load errno 1\n"
         "open_by_handle_at errno 1\n"
         "init_module errno 1\n"
         "finit_module errno 1\n"
         "delete_module errno 1\n";
}

}  // namespace mos::runtime
