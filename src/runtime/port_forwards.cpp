#include "runtime/port_forwards.hpp"

#include <map>
#include <memory>

#include <nftables/libnftables.h>

namespace mos::runtime {

Status check_forwards(const std::vector<PortForward>& forwards) {
  std::map<std::uint16_t, const PortForward*> by_port;
  for (const auto& f : forwards) {
    if (f.host_port == 0 || f.container_port == 0)
      return fail("service {}: port {}:{} is outside 1-65535", f.service, f.host_port,
                  f.container_port);
    if (auto [it, fresh] = by_port.emplace(f.host_port, &f); !fresh)
      return fail("host port {} is forwarded to both {} and {}", f.host_port, it->second->service,
                  f.service);
  }
  return {};
}

namespace {

// One family's table: the forwards in prerouting (other hosts) and output (the machine itself),
// then the masquerade rules.
std::string table_script(std::string_view family, const std::string& forwards,
                         const std::string& masquerades) {
  return fmt::format(
      "table {0} {1} {{\n"
      "  chain prerouting {{\n"
      "    type nat hook prerouting priority dstnat; policy accept;\n"
      "{2}"
      "  }}\n"
      "  chain output {{\n"
      "    type nat hook output priority -100; policy accept;\n"
      "{2}"
      "  }}\n"
      "  chain postrouting {{\n"
      "    type nat hook postrouting priority srcnat; policy accept;\n"
      "{3}"
      "  }}\n"
      "}}\n",
      family, kNftTable, forwards, masquerades);
}

}  // namespace

std::string nft_ruleset(const NetworkRules& rules) {
  std::string forwards, forwards6;
  for (const auto& f : rules.forwards) {
    // Service names are [A-Za-z0-9._-]: safe inside a quoted comment.
    forwards += fmt::format("    fib daddr type local tcp dport {} dnat to {}:{} comment \"{}\"\n",
                            f.host_port, format_ipv4(f.address), f.container_port, f.service);
    if (f.address6 && rules.subnet6)
      forwards6 +=
          fmt::format("    fib daddr type local tcp dport {} dnat to [{}]:{} comment \"{}\"\n",
                      f.host_port, format_ipv6(*f.address6), f.container_port, f.service);
  }
  // Each table is declared before its delete, so that the delete never fails on a machine
  // without it: the script is one transaction either way.
  std::string script = fmt::format(
      "table ip {0}\ndelete table ip {0}\n"
      "table ip6 {0}\ndelete table ip6 {0}\n",
      kNftTable);
  const std::string subnet = rules.subnet.str();
  script += table_script("ip", forwards,
                         fmt::format("    ip saddr {0} ip daddr != {0} masquerade\n"
                                     "    ip saddr 127.0.0.0/8 ip daddr {0} masquerade\n",
                                     subnet));
  if (rules.subnet6) {
    const std::string subnet6 = rules.subnet6->str();
    script += table_script("ip6", forwards6,
                           fmt::format("    ip6 saddr {0} ip6 daddr != {0} masquerade\n", subnet6));
  }
  return script;
}

Result<std::string> run_nft(std::string_view script) {
  std::unique_ptr<nft_ctx, decltype(&nft_ctx_free)> ctx(nft_ctx_new(NFT_CTX_DEFAULT), nft_ctx_free);
  if (!ctx) return fail("nftables: cannot create a context");
  nft_ctx_buffer_output(ctx.get());
  nft_ctx_buffer_error(ctx.get());
  std::string text(script);
  if (nft_run_cmd_from_buffer(ctx.get(), text.c_str()) != 0) {
    std::string error = nft_ctx_get_error_buffer(ctx.get());
    while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
    auto first = error.find('\n');
    return fail("nftables refused the rules: {}",
                error.empty() ? "no reason given" : error.substr(0, first));
  }
  return std::string(nft_ctx_get_output_buffer(ctx.get()));
}

Result<std::string> list_rules() {
  MOS_TRY_ASSIGN(auto rules, run_nft(fmt::format("list table ip {}", kNftTable)));
  if (auto rules6 = run_nft(fmt::format("list table ip6 {}", kNftTable))) rules += *rules6;
  return rules;
}

Status install_rules(const NetworkRules& rules) {
  MOS_TRY(check_forwards(rules.forwards));
  MOS_TRY(run_nft(nft_ruleset(rules)));
  return {};
}

Status remove_rules() {
  MOS_TRY(run_nft(fmt::format(
      "table ip {0}\ndelete table ip {0}\ntable ip6 {0}\ndelete table ip6 {0}\n", kNftTable)));
  return {};
}

}  // namespace mos::runtime
