#include "runtime/service_bridge.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <system_error>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/file.hpp"
#include "core/json.hpp"
#include "core/process.hpp"
#include "core/unique_fd.hpp"

// The bridge is made with iproute2's `ip` rather than rtnetlink messages of our own: creating a
// link takes nested IFLA_LINKINFO attributes, flushing addresses a dump and a delete per address,
// and each answer's error must be matched to its request; `ip` does all of that, is already a
// dependency of boot (scripts/deps.txt), and run_checked bounds it in time and returns its own
// complaint. What a boot needs is one process (configure: `ip -batch`).
namespace mos::runtime {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kIpForward = "/proc/sys/net/ipv4/ip_forward";
constexpr std::string_view kIpv6Forwarding = "/proc/sys/net/ipv6/conf/all/forwarding";

// `input`: ip's standard input (the commands of `ip -batch -`).
Result<std::string> run_ip(std::vector<std::string> args, std::string_view what,
                           std::optional<std::string> input = std::nullopt) {
  ProcessRun run;
  run.argv = {"ip"};
  run.argv.insert(run.argv.end(), args.begin(), args.end());
  run.input = std::move(input);
  run.timeout = std::chrono::seconds(30);
  run.what = "ip";
  return with_context(run_checked(run), what);
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// /proc/sys/net is resolved in the network namespace of the process that opens it, which is the
// one `ip` (our child) works in too.
Result<std::string> read_sysctl(const fs::path& path) {
  MOS_TRY_ASSIGN(auto text, read_file(path, 64));
  return trimmed(std::move(text));
}

Status write_sysctl(const fs::path& path, std::string_view value) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return fail("cannot open {}: {}", path.string(), errno_message(errno));
  std::string line = fmt::format("{}\n", value);
  if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    return fail("cannot write {} to {}: {}", value, path.string(), errno_message(errno));
  return {};
}

fs::path route_localnet(std::string_view bridge) {
  return fs::path("/proc/sys/net/ipv4/conf") / bridge / "route_localnet";
}

// Asks the kernel directly, in our network namespace (/sys/class/net shows the namespace that
// mounted sysfs), for the list of its interfaces over netlink (glibc's if_nameindex), not by name
// with an ioctl (if_nametoindex): for a name that does not exist, the ioctl makes the kernel start
// modprobe twice ("netdev-NAME", then "NAME") and wait for it, ~0.1 s of a boot under emulation.
Result<bool> link_exists(const std::string& name) {
  struct if_nameindex* list = ::if_nameindex();
  if (list == nullptr)
    return fail("cannot list the network interfaces (looking for {}): {}", name,
                errno_message(errno));
  bool found = false;
  for (auto* entry = list; entry->if_index != 0 && !found; ++entry) found = name == entry->if_name;
  ::if_freenameindex(list);
  return found;
}

// An interface of our name that is not a bridge belongs to somebody else: never touched.
Status check_is_bridge(const std::string& name) {
  MOS_TRY_ASSIGN(auto out, run_ip({"-j", "-d", "link", "show", "dev", name},
                                  fmt::format("looking at interface {}", name)));
  MOS_TRY_ASSIGN(auto links, parse_json_strict(out, fmt::format("ip's listing of {}", name)));
  std::string kind;
  if (links.is_array() && links.size() == 1 && links[0].is_object()) {
    const auto& info = links[0].value("linkinfo", Json::object());
    if (info.is_object() && info.contains("info_kind") && info["info_kind"].is_string())
      kind = info["info_kind"].get<std::string>();
  }
  if (kind != "bridge")
    return fail("interface {} exists and is not a bridge ({}): refusing to use or delete it", name,
                kind.empty() ? "a plain device" : kind);
  return {};
}

// What a boot saved in `path` ("0" or "1"); "" when nothing usable is there.
Result<std::string> read_saved(const fs::path& path) {
  std::error_code ec;
  if (path.empty() || !fs::exists(path, ec)) return std::string();
  MOS_TRY_ASSIGN(auto saved, read_file(path, 64));
  saved = trimmed(std::move(saved));
  if (saved == "0" || saved == "1") return saved;
  spdlog::warn("{} holds \"{}\", not 0 or 1: ignoring it", path.string(), saved);
  return std::string();
}

// The value of `sysctl` to restore: the one a crashed boot saved in `saved`, else the current one
// (saved first, before we change it).
Result<std::string> value_before(std::string_view sysctl, const fs::path& saved_path) {
  MOS_TRY_ASSIGN(auto saved, read_saved(saved_path));
  if (!saved.empty()) return saved;
  MOS_TRY_ASSIGN(auto current, read_sysctl(sysctl));
  if (!saved_path.empty()) {
    MOS_TRY(make_dirs(saved_path.parent_path()));
    MOS_TRY(write_file_atomic(saved_path, current + "\n", 0600));
  }
  return current;
}

Status delete_bridge(const std::string& name) {
  MOS_TRY_ASSIGN(bool exists, link_exists(name));
  if (!exists) return {};
  MOS_TRY(check_is_bridge(name));
  MOS_TRY(run_ip({"link", "del", "dev", name}, fmt::format("deleting bridge {}", name)));
  return {};
}

// Puts `sysctl` back to `before`, or (a cleanup after a crash has no BridgeUp) to what the
// crashed boot saved, and removes the saved value.
Status restore_value(std::string_view sysctl, const fs::path& saved_path, std::string before) {
  if (before.empty()) {
    MOS_TRY_ASSIGN(before, read_saved(saved_path));
  }
  if (!before.empty()) MOS_TRY(write_sysctl(sysctl, before));
  if (!saved_path.empty()) {
    std::error_code ec;
    fs::remove(saved_path, ec);
    if (ec) return fail("cannot remove {}: {}", saved_path.string(), ec.message());
  }
  return {};
}

Status restore_ip_forward(const BridgeSpec& spec, const BridgeUp& up) {
  MOS_TRY(restore_value(kIpForward, spec.saved_ip_forward, up.ip_forward_before));
  // IPv6 forwarding only when this boot (or a crashed one, which saved it) turned it on.
  std::error_code ec;
  if (!up.ipv6_forwarding_before.empty() ||
      (!spec.saved_ipv6_forwarding.empty() && fs::exists(spec.saved_ipv6_forwarding, ec)))
    MOS_TRY(restore_value(kIpv6Forwarding, spec.saved_ipv6_forwarding, up.ipv6_forwarding_before));
  return {};
}

// One `ip -batch` for the whole bridge: each `ip` started costs ~0.1 s of a boot under emulation.
// The name is checked (check_interface_name) and the addresses are ours: safe as batch words.
Status configure(const BridgeSpec& spec, bool exists) {
  const std::string& name = spec.name;
  std::string gateway =
      fmt::format("{}/{}", format_ipv4(spec.subnet.gateway()), spec.subnet.prefix);
  std::string batch;
  if (exists) {
    spdlog::info("adopting bridge {} left by an earlier boot", name);
    batch = fmt::format(
        "link set dev {0} type bridge stp_state 0 forward_delay 0\naddr flush dev {0}\n", name);
  } else {
    batch = fmt::format("link add name {} type bridge stp_state 0 forward_delay 0\n", name);
  }
  batch += fmt::format("addr add {} broadcast {} dev {}\nlink set dev {} up\n", gateway,
                       format_ipv4(spec.subnet.broadcast()), name, name);
  MOS_TRY(run_ip({"-batch", "-"},
                 fmt::format("{} bridge {} with the address {}", exists ? "resetting" : "creating",
                             name, gateway),
                 std::move(batch)));
  MOS_TRY(write_sysctl(route_localnet(name), "1"));
  return {};
}

}  // namespace

Status check_interface_name(std::string_view name) {
  if (name.empty()) return fail("the bridge name is empty");
  if (name.size() > IFNAMSIZ - 1)
    return fail("bridge name \"{}\" has {} characters; Linux interface names have at most {}", name,
                name.size(), IFNAMSIZ - 1);
  for (char c : name) {
    bool fine = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-';
    if (!fine)
      return fail("bridge name \"{}\" may hold only letters, digits, '.', '_' and '-'", name);
  }
  if (name == "." || name == ".." || name.front() == '-')
    return fail("bridge name \"{}\" is not a usable interface name", name);
  return {};
}

Result<BridgeUp> bring_up_bridge(const BridgeSpec& spec) {
  MOS_TRY(check_interface_name(spec.name));
  MOS_TRY_ASSIGN(bool exists, link_exists(spec.name));
  if (exists) MOS_TRY(check_is_bridge(spec.name));
  BridgeUp up;
  MOS_TRY_ASSIGN(up.ip_forward_before, value_before(kIpForward, spec.saved_ip_forward));
  // Forwarding first: writing ip_forward resets per-interface forwarding, never route_localnet,
  // and a failure here leaves nothing to undo.
  MOS_TRY(write_sysctl(kIpForward, "1"));
  if (auto done = configure(spec, exists); !done) {
    // A half-made bridge must not keep the machine routing for nobody.
    if (auto undone = delete_bridge(spec.name); !undone)
      spdlog::warn("undoing bridge {}: {}", spec.name, undone.error().message);
    if (auto undone = restore_ip_forward(spec, up); !undone)
      spdlog::warn("undoing bridge {}: {}", spec.name, undone.error().message);
    return std::unexpected(std::move(done).error());
  }
  return up;
}

Status enable_bridge_ipv6(const BridgeSpec& spec, const Ipv6Subnet& subnet6, BridgeUp& up) {
  MOS_TRY_ASSIGN(auto before, value_before(kIpv6Forwarding, spec.saved_ipv6_forwarding));
  up.ipv6_forwarding_before = before;
  MOS_TRY(write_sysctl(kIpv6Forwarding, "1"));
  // nodad: the gateway is ours alone on a bridge we made, and a tentative address would refuse
  // the services' first packets for the second duplicate detection takes.
  std::string gateway = fmt::format("{}/{}", format_ipv6(subnet6.gateway()), subnet6.prefix);
  MOS_TRY(run_ip({"-6", "addr", "add", gateway, "dev", spec.name, "nodad"},
                 fmt::format("giving bridge {} the address {}", spec.name, gateway)));
  return {};
}

Status delete_interface(const std::string& name) {
  MOS_TRY(check_interface_name(name));
  MOS_TRY_ASSIGN(bool exists, link_exists(name));
  if (!exists) return {};
  MOS_TRY(run_ip({"link", "del", "dev", name}, fmt::format("deleting interface {}", name)));
  return {};
}

Status tear_down_bridge(const BridgeSpec& spec, const BridgeUp& up) {
  MOS_TRY(check_interface_name(spec.name));
  MOS_TRY(delete_bridge(spec.name));
  MOS_TRY(restore_ip_forward(spec, up));
  return {};
}

}  // namespace mos::runtime
