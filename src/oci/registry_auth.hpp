#pragma once
// Registry credentials: user/password from options or the usual auth files (containers'
// auth.json, Docker's config.json) and the credential helpers they name (credHelpers,
// credsStore: docker-credential-NAME get|store|erase, Docker's protocol), writing and removing
// them for mosb login/logout, Basic authorization values, and Bearer token answers.
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "oci/base64.hpp"

namespace mos::oci {

struct Credentials {
  std::string username;
  std::string password;
};

// How long a credential helper may take before it is killed (it may wait for a keyring).
inline constexpr std::chrono::milliseconds kCredentialHelperTimeout{30000};

// Credentials for host ("HOST[:PORT]") from one auth file, nullopt when the file has none for
// host. In the file, in this order: "credHelpers": {"HOST": "NAME"} (docker-credential-NAME
// get), "auths": {"HOST": {"auth": base64(user:password)}} (keys may also be spelled
// "https://HOST" or "http://HOST/v2/"), "credsStore": "NAME" (a helper for every host). A
// missing file is no error; a helper that is missing, fails or hangs is, naming it.
Result<std::optional<Credentials>> credentials_from_auth_file(
    const std::filesystem::path& file, std::string_view host,
    std::chrono::milliseconds helper_timeout = kCredentialHelperTimeout);

// The auth files looked in, in order: $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
// ~/.config/containers/auth.json, ~/.docker/config.json (those whose variables are set).
std::vector<std::filesystem::path> auth_file_candidates();

// Looks in `authfile` when given (it must exist), else in auth_file_candidates(); the first file
// with credentials for host wins.
Result<std::optional<Credentials>> find_credentials(
    std::string_view host, const std::optional<std::filesystem::path>& authfile);

// The credential helper protocol (docker-credential-helpers), run without a shell:
// `docker-credential-NAME get` reads the server (HOST) on stdin and prints
// {"ServerURL","Username","Secret"}; "credentials not found" (exit status 1) means none.
Result<std::optional<Credentials>> credential_helper_get(
    std::string_view name, std::string_view host,
    std::chrono::milliseconds timeout = kCredentialHelperTimeout);
// `store` reads {"ServerURL","Username","Secret"} on stdin.
Status credential_helper_store(std::string_view name, std::string_view host,
                               const Credentials& credentials,
                               std::chrono::milliseconds timeout = kCredentialHelperTimeout);
// `erase` reads the server on stdin; false when the helper had nothing for it.
Result<bool> credential_helper_erase(std::string_view name, std::string_view host,
                                     std::chrono::milliseconds timeout = kCredentialHelperTimeout);

// The file mosb login writes and mosb logout edits when none is given: $REGISTRY_AUTH_FILE,
// else $XDG_RUNTIME_DIR/containers/auth.json, else ~/.config/containers/auth.json (the first of
// auth_file_candidates() that can be named, so lookups find what login wrote first).
Result<std::filesystem::path> default_auth_file();

// Where stored credentials went: the file, or a helper named by the file's credHelpers.
struct StoredCredentials {
  std::filesystem::path file;
  std::optional<std::string> helper;  // "docker-credential-NAME"
};

// Stores credentials for host: with "credHelpers": {"HOST": "NAME"} in the file through that
// helper (and any "auth" of the host's entry dropped), else as "auths": {"HOST": {"auth":
// base64(user:password)}}. Other entries and keys are kept; the file is replaced atomically,
// mode 0600 (its directory created 0700). A file that is not a JSON object is an error.
Result<StoredCredentials> store_credentials(
    const std::filesystem::path& file, std::string_view host, const Credentials& credentials,
    std::chrono::milliseconds helper_timeout = kCredentialHelperTimeout);

// Removes host's credentials from the file (every spelling of its key in "auths") and from the
// helper its credHelpers names; false when there were none. A missing file has none.
Result<bool> erase_credentials(const std::filesystem::path& file, std::string_view host,
                               std::chrono::milliseconds helper_timeout = kCredentialHelperTimeout);
// Removes every "auths" entry and erases the hosts of "credHelpers" at their helpers (credsStore
// is left alone: it holds credentials of other programs too); how many were removed.
Result<std::size_t> erase_all_credentials(
    const std::filesystem::path& file,
    std::chrono::milliseconds helper_timeout = kCredentialHelperTimeout);

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
