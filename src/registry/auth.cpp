#include "registry/auth.hpp"

#include <algorithm>
#include <cctype>

#include "core/text.hpp"
#include "oci/registry_auth.hpp"

namespace mos::registry {

namespace {
// Far above any real header (docker sends user:password, tens of bytes); keeps a hostile client
// from making us decode megabytes per request.
constexpr std::size_t kMaxAuthorization = 4096;

bool is_space(char c) {
  return c == ' ' || c == '\t';
}
}  // namespace

std::optional<BasicCredentials> parse_basic_authorization(std::string_view value) {
  if (value.size() > kMaxAuthorization) return std::nullopt;
  while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
  while (!value.empty() && is_space(value.back())) value.remove_suffix(1);
  constexpr std::string_view scheme = "basic";
  if (value.size() <= scheme.size() || !is_space(value[scheme.size()])) return std::nullopt;
  if (!equals_ignoring_case(value.substr(0, scheme.size()), scheme)) return std::nullopt;
  value.remove_prefix(scheme.size());
  while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
  // EVP_DecodeBlock (under base64_decode) tolerates some whitespace; a token has none.
  bool token = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=';
  });
  if (!token) return std::nullopt;
  auto decoded = oci::base64_decode(value);
  if (!decoded) return std::nullopt;
  // The user name ends at the first colon; the password may contain colons (RFC 7617 2). An
  // empty user name is kept: skopeo sends "Basic Og==" (":") when it has no credentials.
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return BasicCredentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

}  // namespace mos::registry
