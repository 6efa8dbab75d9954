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
  // True when password is user's. Called from several server threads at once; may be slow
  // (bcrypt), so the server calls it off its I/O threads.
  virtual bool verify(std::string_view user, std::string_view password) const = 0;
  // True when verify() would answer true at once (a remembered success): cheap enough for an
  // I/O thread.
  virtual bool remembers(std::string_view user, std::string_view password) const {
    (void)user;
    (void)password;
    return false;
  }
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
