#include "oci/registry_auth.hpp"

#include <cstdlib>

#include <openssl/evp.h>

#include "core/file.hpp"
#include "core/json.hpp"

namespace mos::oci {

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0)
    return fail("invalid base64 (length {} is not a multiple of 4)", text.size());
  std::string out(3 * (text.size() / 4) + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return fail("invalid base64");
  // EVP_DecodeBlock counts padding as zero bytes.
  std::size_t size = static_cast<std::size_t>(n);
  if (text.ends_with("=="))
    size -= 2;
  else if (text.ends_with("="))
    size -= 1;
  out.resize(size);
  return out;
}

std::string basic_authorization(const Credentials& c) {
  return "Basic " + base64_encode(c.username + ":" + c.password);
}

Result<std::optional<Credentials>> credentials_from_auth_file(const std::filesystem::path& file,
                                                              std::string_view host) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return std::nullopt;
  auto where = [&](const Error& e) {
    return context(fmt::format("reading credentials from {}", file.string()), e);
  };
  auto text = read_file(file, 1024 * 1024);
  if (!text) return where(text.error());
  auto json = parse_json_strict(*text, file.string());
  if (!json) return where(json.error());
  if (!json->is_object()) return where(Error{"not a JSON object"});
  auto auths = json->find("auths");
  if (auths == json->end() || !auths->is_object()) return std::nullopt;
  // Entries may be "HOST", "https://HOST" or "http://HOST/v2/" (Docker's older spellings).
  for (const auto& [key, entry] : auths->items()) {
    std::string_view k(key);
    if (k.starts_with("https://"))
      k.remove_prefix(8);
    else if (k.starts_with("http://"))
      k.remove_prefix(7);
    if (auto slash = k.find('/'); slash != std::string_view::npos) k = k.substr(0, slash);
    if (k != host || !entry.is_object()) continue;
    auto auth = entry.find("auth");
    if (auth == entry.end() || !auth->is_string()) continue;
    auto decoded = base64_decode(auth->get<std::string>());
    if (!decoded)
      return where(Error{fmt::format("entry for {}: {}", host, decoded.error().message)});
    auto colon = decoded->find(':');
    if (colon == std::string::npos)
      return where(Error{fmt::format("entry for {} is not base64 of USER:PASSWORD", host)});
    return Credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
  }
  return std::nullopt;
}

Result<std::optional<Credentials>> find_credentials(
    std::string_view host, const std::optional<std::filesystem::path>& authfile) {
  if (authfile) {
    std::error_code ec;
    if (!std::filesystem::exists(*authfile, ec))
      return fail("auth file {} does not exist", authfile->string());
    return credentials_from_auth_file(*authfile, host);
  }
  std::vector<std::filesystem::path> candidates;
  if (const char* f = std::getenv("REGISTRY_AUTH_FILE"); f && *f) candidates.emplace_back(f);
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x)
    candidates.push_back(std::filesystem::path(x) / "containers/auth.json");
  if (const char* h = std::getenv("HOME"); h && *h) {
    candidates.push_back(std::filesystem::path(h) / ".config/containers/auth.json");
    candidates.push_back(std::filesystem::path(h) / ".docker/config.json");
  }
  for (const auto& file : candidates) {
    MOS_TRY_ASSIGN(auto found, credentials_from_auth_file(file, host));
    if (found) return found;
  }
  return std::nullopt;
}

Result<BearerToken> parse_token_response(std::string_view body,
                                         std::chrono::steady_clock::time_point now) {
  MOS_TRY_ASSIGN(auto json, parse_json_strict(body, "token answer",
                                              {.max_bytes = 1024 * 1024, .max_depth = 16}));
  if (!json.is_object()) return fail("token answer is not a JSON object");
  BearerToken out;
  for (const char* key : {"token", "access_token"}) {
    auto it = json.find(key);
    if (it != json.end() && it->is_string() && !it->get<std::string>().empty()) {
      out.token = it->get<std::string>();
      break;
    }
  }
  if (out.token.empty()) return fail("token answer has no \"token\" or \"access_token\"");
  for (char c : out.token)
    if (c < 0x21 || c > 0x7e) return fail("token answer holds a token with invalid characters");
  std::int64_t expires_in = 60;
  if (auto it = json.find("expires_in");
      it != json.end() && it->is_number_integer() && it->get<std::int64_t>() > 0)
    expires_in = std::min<std::int64_t>(it->get<std::int64_t>(), 24 * 3600);
  // Renew a little early so a token does not expire between check and use.
  out.expires = now + std::chrono::seconds(std::max<std::int64_t>(expires_in - 10, 1));
  return out;
}

}  // namespace mos::oci
