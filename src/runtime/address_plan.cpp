#include "runtime/address_plan.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <set>

#include "oci/digest.hpp"

namespace mos::runtime {

namespace {

std::uint32_t mask_of(int prefix) {
  return prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
}

Result<std::uint32_t> parse_dotted(std::string_view text) {
  std::string copy(text);
  in_addr address{};
  if (::inet_pton(AF_INET, copy.c_str(), &address) != 1)
    return fail("\"{}\" is not an IPv4 address", text);
  return ntohl(address.s_addr);
}

// A stable pick in [first, first + count) from the service name.
std::uint32_t hashed_slot(std::string_view service, std::uint32_t count) {
  auto digest = oci::digest_of(service).hex();
  std::uint32_t value = static_cast<std::uint32_t>(std::stoul(digest.substr(0, 8), nullptr, 16));
  return value % count;
}

// The prefix length after the '/' of `text` within [low, high], or an error naming `text`.
Result<int> prefix_length(std::string_view text, std::string_view digits, int low, int high) {
  int prefix = -1;
  if (digits.empty() || digits.size() > 3 ||
      digits.find_first_not_of("0123456789") != std::string_view::npos ||
      (prefix = std::stoi(std::string(digits))) < low || prefix > high)
    return fail("subnet \"{}\": the prefix length must be {}-{}", text, low, high);
  return prefix;
}

bool same_prefix(const Ipv6Address& a, const Ipv6Address& b, int prefix) {
  for (int bit = 0; bit < prefix; ++bit) {
    int mask = 0x80 >> (bit % 8);
    if ((a.bytes[bit / 8] & mask) != (b.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

// An address the manifest gives a service: parsed, with no prefix but the subnet's, inside the
// subnet, not one of its reserved addresses (reserved_name says which, "" for none), and not
// another service's (owner records it). `family` ("ipv4", "ipv6") and `hint` go into the errors.
template <class Address, class Subnet, class Parse, class Format, class Reserved>
Result<Address> claim_manifest_address(std::string_view family, const std::string& service,
                                       const std::string& text, const Subnet& subnet, Parse parse,
                                       Format format, Reserved reserved_name,
                                       std::map<Address, std::string>& owner,
                                       std::string_view hint) {
  MOS_TRY_ASSIGN(Address address, parse(text));
  if (auto slash = text.find('/');
      slash != std::string::npos && text.substr(slash + 1) != std::to_string(subnet.prefix))
    return fail("service {}: {} {} has another prefix than the machine's network {}", service,
                family, text, subnet.str());
  if (!subnet.contains(address))
    return fail("service {}: {} {} is outside the machine's network {}{}", service, family, text,
                subnet.str(), hint);
  if (auto name = reserved_name(address); !name.empty())
    return fail("service {}: {} {} is the network's {} address", service, family, text, name);
  if (auto [it, fresh] = owner.emplace(address, service); !fresh)
    return fail("{} {} is given to both {} and {}", family, format(address), it->second, service);
  return address;
}

}  // namespace

Result<Ipv4Subnet> Ipv4Subnet::parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos)
    return fail("subnet \"{}\" needs a prefix length, such as 10.0.3.0/24", text);
  MOS_TRY_ASSIGN(auto network, parse_dotted(text.substr(0, slash)));
  MOS_TRY_ASSIGN(int prefix, prefix_length(text, text.substr(slash + 1), 8, 30));
  if ((network & ~mask_of(prefix)) != 0)
    return fail("subnet \"{}\" has host bits set (did you mean {}/{}?)", text,
                format_ipv4(network & mask_of(prefix)), prefix);
  return Ipv4Subnet{network, prefix};
}

bool Ipv4Subnet::contains(std::uint32_t address) const {
  return (address & mask_of(prefix)) == network;
}

std::uint32_t Ipv4Subnet::broadcast() const {
  return network | ~mask_of(prefix);
}

std::string Ipv4Subnet::str() const {
  return fmt::format("{}/{}", format_ipv4(network), prefix);
}

std::string format_ipv4(std::uint32_t address) {
  return fmt::format("{}.{}.{}.{}", address >> 24, (address >> 16) & 0xff, (address >> 8) & 0xff,
                     address & 0xff);
}

Result<std::uint32_t> parse_ipv4(std::string_view text) {
  return parse_dotted(text.substr(0, text.find('/')));
}

Result<std::map<std::string, std::uint32_t>> assign_addresses(
    const Ipv4Subnet& subnet, const std::vector<AddressRequest>& requests,
    const std::map<std::string, std::uint32_t>& remembered) {
  std::map<std::string, std::uint32_t> assigned;
  std::map<std::uint32_t, std::string> owner;
  auto reserved_name = [&](std::uint32_t a) -> std::string_view {
    return a == subnet.gateway()     ? "gateway"
           : a == subnet.network     ? "network"
           : a == subnet.broadcast() ? "broadcast"
                                     : "";
  };
  auto reserved = [&](std::uint32_t a) { return !reserved_name(a).empty(); };
  // The manifest's own addresses first: they are what the signed system asks for.
  for (const auto& r : requests) {
    if (r.ipv4.empty()) continue;
    MOS_TRY_ASSIGN(assigned[r.service],
                   claim_manifest_address("ipv4", r.service, r.ipv4, subnet, parse_ipv4,
                                          format_ipv4, reserved_name, owner, ""));
  }
  // Then what each of the others had before, while it is still theirs to have.
  std::vector<const AddressRequest*> rest;
  for (const auto& r : requests) {
    if (!r.ipv4.empty()) continue;
    auto it = remembered.find(r.service);
    if (it != remembered.end() && subnet.contains(it->second) && !reserved(it->second) &&
        owner.emplace(it->second, r.service).second) {
      assigned[r.service] = it->second;
      continue;
    }
    rest.push_back(&r);
  }
  // The others from their names, in name order so the result does not depend on manifest order.
  std::sort(rest.begin(), rest.end(),
            [](const auto* a, const auto* b) { return a->service < b->service; });
  std::uint32_t hosts = subnet.broadcast() - subnet.network - 1;  // without network, broadcast
  for (const auto* r : rest) {
    std::uint32_t start = hashed_slot(r->service, hosts);
    bool found = false;
    for (std::uint32_t i = 0; i < hosts && !found; ++i) {
      std::uint32_t address = subnet.network + 1 + (start + i) % hosts;
      if (reserved(address) || owner.contains(address)) continue;
      owner.emplace(address, r->service);
      assigned[r->service] = address;
      found = true;
    }
    if (!found)
      return fail("the machine's network {} has no address left for service {}", subnet.str(),
                  r->service);
  }
  return assigned;
}

Result<Ipv6Subnet> Ipv6Subnet::parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos)
    return fail("subnet \"{}\" needs a prefix length, such as fd6d:6f73:3::/64", text);
  MOS_TRY_ASSIGN(auto network, parse_ipv6(text.substr(0, slash)));
  MOS_TRY_ASSIGN(int prefix, prefix_length(text, text.substr(slash + 1), 48, 120));
  Ipv6Subnet subnet{network, prefix};
  Ipv6Address masked = network;
  for (int bit = prefix; bit < 128; ++bit)
    masked.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  if (masked != network)
    return fail("subnet \"{}\" has host bits set (did you mean {}/{}?)", text, format_ipv6(masked),
                prefix);
  return subnet;
}

bool Ipv6Subnet::contains(const Ipv6Address& address) const {
  return same_prefix(address, network, prefix);
}

Ipv6Address Ipv6Subnet::gateway() const {
  Ipv6Address gateway = network;
  gateway.bytes[15] |= 1;
  return gateway;
}

std::string Ipv6Subnet::str() const {
  return fmt::format("{}/{}", format_ipv6(network), prefix);
}

std::string format_ipv6(const Ipv6Address& address) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET6, address.bytes.data(), text, sizeof text);
  return text;
}

Result<Ipv6Address> parse_ipv6(std::string_view text) {
  std::string copy(text.substr(0, text.find('/')));
  Ipv6Address address;
  if (::inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) != 1)
    return fail("\"{}\" is not an IPv6 address", text);
  return address;
}

Result<std::map<std::string, Ipv6Address>> assign_ipv6_addresses(
    const Ipv6Subnet& subnet, const std::vector<AddressRequest>& requests) {
  std::map<std::string, Ipv6Address> assigned;
  std::map<Ipv6Address, std::string> owner;
  auto reserved_name = [&](const Ipv6Address& a) -> std::string_view {
    return a == subnet.network ? "network" : a == subnet.gateway() ? "gateway" : "";
  };
  for (const auto& r : requests) {
    if (r.ipv6.empty()) continue;
    MOS_TRY_ASSIGN(
        assigned[r.service],
        claim_manifest_address("ipv6", r.service, r.ipv6, subnet, parse_ipv6, format_ipv6,
                               reserved_name, owner, " (mosctl boot --subnet6)"));
  }
  return assigned;
}

}  // namespace mos::runtime
