#pragma once
// Who may use the registry: an Authenticator checks the user name and password of an HTTP Basic
// Authorization header. The Registry asks it on every request when one is configured; tests
// give it a fake, mos-registry an Htpasswd (htpasswd.hpp).
#include <optional>
#include <string>
#include <string_view>

namespace mos::registry {

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // True when password is user's. Called from several server threads at once.
  virtual bool verify(std::string_view user, std::string_view password) const = 0;
};

struct BasicCredentials {
  std::string user;
  std::string password;
};

// The credentials of an Authorization header value "Basic <base64(user:password)>" (scheme
// case-insensitive, RFC 7617). nullopt for any other scheme or a malformed value: the caller
// answers 401 either way, so the reason does not matter. The user may be empty (no credentials).
std::optional<BasicCredentials> parse_basic_authorization(std::string_view value);

}  // namespace mos::registry
