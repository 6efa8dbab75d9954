#pragma once
// Registry credentials: user/password from options or the usual auth files (containers'
// auth.json, Docker's config.json), Basic authorization values, and Bearer token answers.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mos::oci {

struct Credentials {
  std::string username;
  std::string password;
};

// Credentials for host ("HOST[:PORT]") from one auth file ({"auths":{"HOST":{"auth":base64}}}),
// nullopt when the file has no entry for host. A missing file is no error.
Result<std::optional<Credentials>> credentials_from_auth_file(const std::filesystem::path& file,
                                                              std::string_view host);

// Looks in `authfile` when given (it must exist), else in $REGISTRY_AUTH_FILE,
// $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, ~/.docker/config.json.
Result<std::optional<Credentials>> find_credentials(
    std::string_view host, const std::optional<std::filesystem::path>& authfile);

std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);
// "Basic <base64(user:password)>"
std::string basic_authorization(const Credentials& credentials);

struct BearerToken {
  std::string token;
  std::chrono::steady_clock::time_point expires;
};

// A token endpoint's JSON answer: {"token"|"access_token", "expires_in" (seconds, default 60)}.
Result<BearerToken> parse_token_response(std::string_view body,
                                         std::chrono::steady_clock::time_point now);

}  // namespace mos::oci
