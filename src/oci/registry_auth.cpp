#include "oci/registry_auth.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "core/file.hpp"
#include "core/json.hpp"
#include "core/process.hpp"

namespace mos::oci {
namespace {

// An auth file key as a host: "HOST", "https://HOST" or "http://HOST/v2/" (Docker's older
// spellings) all name HOST.
std::string_view registry_key(std::string_view key) {
  if (key.starts_with("https://"))
    key.remove_prefix(8);
  else if (key.starts_with("http://"))
    key.remove_prefix(7);
  if (auto slash = key.find('/'); slash != std::string_view::npos) key = key.substr(0, slash);
  return key;
}

// Helper names become part of a program name looked up in $PATH: no slashes, no spaces.
bool valid_helper_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

struct HelperRun {
  std::string program;
  int exit_status = 0;  // 128 + signal when killed by one
  std::string out;
  std::string err;
};

// Runs docker-credential-NAME VERB (no shell) with input on its stdin, collecting stdout and
// stderr (up to 1 MiB each) until it exits; killed after timeout.
Result<HelperRun> run_helper(std::string_view name, std::string_view verb, std::string_view input,
                             std::chrono::milliseconds timeout) {
  if (!valid_helper_name(name))
    return fail(
        "credential helper name \"{}\" is not a plain name (letters, digits, '.', '_', '-')", name);
  HelperRun run;
  run.program = fmt::format("docker-credential-{}", name);
  // A helper always has a time limit (run_process reads 0 as none).
  timeout = std::max(timeout, std::chrono::milliseconds(1));
  MOS_TRY_ASSIGN(
      auto done,
      run_process(
          {.argv = {run.program, std::string(verb)},
           .input = std::string(input),
           .timeout = timeout,
           .max_output = 1024 * 1024,
           .what = fmt::format("credential helper {}", run.program),
           .timeout_message = fmt::format(
               "credential helper {} {} did not answer within {} s: stopped it", run.program, verb,
               std::chrono::duration_cast<std::chrono::seconds>(timeout).count())}));
  run.exit_status = done.exit_code;
  run.out = std::move(done.out);
  run.err = std::move(done.err);
  return run;
}

// What a helper said when it failed: its first line of output (stdout, else stderr).
std::string helper_message(const HelperRun& run) {
  std::string_view text =
      run.out.find_first_not_of(" \t\r\n") != std::string::npos ? run.out : run.err;
  auto start = text.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return "";
  text = text.substr(start);
  text = text.substr(0, std::min<std::size_t>(text.find_first_of("\r\n"), 300));
  return fmt::format(": {}", text);
}

bool helper_has_none(const HelperRun& run) {
  return run.out.find("credentials not found") != std::string::npos ||
         run.err.find("credentials not found") != std::string::npos;
}

Error helper_failed(const HelperRun& run, std::string_view verb, std::string_view host) {
  return Error{fmt::format("credential helper {} {} for {} failed (exit status {}){}", run.program,
                           verb, host, run.exit_status, helper_message(run))};
}

}  // namespace

Result<std::optional<Credentials>> credential_helper_get(std::string_view name,
                                                         std::string_view host,
                                                         std::chrono::milliseconds timeout) {
  MOS_TRY_ASSIGN(auto run, run_helper(name, "get", host, timeout));
  if (run.exit_status != 0) {
    if (helper_has_none(run)) return std::nullopt;
    return std::unexpected(helper_failed(run, "get", host));
  }
  auto what = fmt::format("the answer of {} get for {}", run.program, host);
  auto json = parse_json_strict(run.out, what, {.max_bytes = 1024 * 1024, .max_depth = 8});
  if (!json) return std::unexpected(json.error());
  if (!json->is_object()) return fail("{} is not a JSON object", what);
  MOS_TRY_ASSIGN(auto username, json_string(*json, "Username", what));
  MOS_TRY_ASSIGN(auto secret, json_string(*json, "Secret", what));
  if (username == "<token>")
    return fail(
        "{} holds an identity token for {}, which mos cannot use: log in with a user name and "
        "password (mosb login {} -u USER)",
        run.program, host, host);
  if (username.empty() && secret.empty()) return std::nullopt;
  return Credentials{std::move(username), std::move(secret)};
}

Status credential_helper_store(std::string_view name, std::string_view host,
                               const Credentials& credentials, std::chrono::milliseconds timeout) {
  std::string input;
  try {
    OrderedJson j = {{"ServerURL", std::string(host)},
                     {"Username", credentials.username},
                     {"Secret", credentials.password}};
    input = j.dump();
  } catch (const nlohmann::json::exception&) {
    return fail("the user name or password is not valid UTF-8, which credential helpers take");
  }
  MOS_TRY_ASSIGN(auto run, run_helper(name, "store", input, timeout));
  if (run.exit_status != 0) return std::unexpected(helper_failed(run, "store", host));
  return {};
}

Result<bool> credential_helper_erase(std::string_view name, std::string_view host,
                                     std::chrono::milliseconds timeout) {
  MOS_TRY_ASSIGN(auto run, run_helper(name, "erase", host, timeout));
  if (run.exit_status == 0) return true;
  if (helper_has_none(run)) return false;
  return std::unexpected(helper_failed(run, "erase", host));
}

std::string basic_authorization(const Credentials& c) {
  return "Basic " + base64_encode(c.username + ":" + c.password);
}

Result<std::optional<Credentials>> credentials_from_auth_file(
    const std::filesystem::path& file, std::string_view host,
    std::chrono::milliseconds helper_timeout) {
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
  auto from_helper = [&](const std::string& name,
                         std::string_view key) -> Result<std::optional<Credentials>> {
    spdlog::debug("asking credential helper docker-credential-{} for {} ({} of {})", name, host,
                  key, file.string());
    auto got = credential_helper_get(name, host, helper_timeout);
    if (!got)
      return where(
          Error{fmt::format("{} names helper \"{}\": {} (install it, or remove it from "
                            "the file)",
                            key, name, got.error().message)});
    return got;
  };
  // 1. A helper for this host.
  if (auto helpers = json->find("credHelpers"); helpers != json->end() && !helpers->is_null()) {
    if (!helpers->is_object()) return where(Error{"\"credHelpers\" is not an object"});
    for (const auto& [key, name] : helpers->items()) {
      if (registry_key(key) != host) continue;
      if (!name.is_string())
        return where(Error{fmt::format("\"credHelpers\" entry {} is not a string", key)});
      MOS_TRY_ASSIGN(auto found, from_helper(name.get<std::string>(), "\"credHelpers\""));
      if (found) return found;
      break;  // the helper has none: the file's entry or store may
    }
  }
  // 2. The file's own entry.
  auto entry_of_file = [&]() -> Result<std::optional<Credentials>> {
    auto auths = json->find("auths");
    if (auths == json->end() || !auths->is_object()) return std::nullopt;
    for (const auto& [key, entry] : auths->items()) {
      if (registry_key(key) != host || !entry.is_object()) continue;
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
  };
  MOS_TRY_ASSIGN(auto inline_entry, entry_of_file());
  if (inline_entry) return inline_entry;
  // 3. The store for every host (Docker's "credsStore", e.g. "desktop", "pass").
  if (auto store = json->find("credsStore"); store != json->end() && !store->is_null()) {
    if (!store->is_string()) return where(Error{"\"credsStore\" is not a string"});
    if (!store->get<std::string>().empty())
      return from_helper(store->get<std::string>(), "\"credsStore\"");
  }
  return std::nullopt;
}

std::vector<std::filesystem::path> auth_file_candidates() {
  std::vector<std::filesystem::path> candidates;
  if (const char* f = std::getenv("REGISTRY_AUTH_FILE"); f && *f) candidates.emplace_back(f);
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x)
    candidates.push_back(std::filesystem::path(x) / "containers/auth.json");
  if (const char* h = std::getenv("HOME"); h && *h) {
    candidates.push_back(std::filesystem::path(h) / ".config/containers/auth.json");
    candidates.push_back(std::filesystem::path(h) / ".docker/config.json");
  }
  return candidates;
}

Result<std::optional<Credentials>> find_credentials(
    std::string_view host, const std::optional<std::filesystem::path>& authfile) {
  if (authfile) {
    std::error_code ec;
    if (!std::filesystem::exists(*authfile, ec))
      return fail("auth file {} does not exist", authfile->string());
    return credentials_from_auth_file(*authfile, host);
  }
  for (const auto& file : auth_file_candidates()) {
    MOS_TRY_ASSIGN(auto found, credentials_from_auth_file(file, host));
    if (found) return found;
  }
  return std::nullopt;
}

Result<std::filesystem::path> default_auth_file() {
  if (const char* f = std::getenv("REGISTRY_AUTH_FILE"); f && *f) return std::filesystem::path(f);
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x)
    return std::filesystem::path(x) / "containers/auth.json";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::filesystem::path(h) / ".config/containers/auth.json";
  return fail(
      "no auth file to use: $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR and $HOME are all unset (give "
      "--authfile FILE)");
}

namespace {

// An auth file as an editable document (key order kept); a missing file is an empty one.
Result<OrderedJson> read_auth_document(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return OrderedJson::object();
  auto where = [&](const Error& e) {
    return context(fmt::format("reading auth file {}", file.string()), e);
  };
  auto text = read_file(file, 1024 * 1024);
  if (!text) return where(text.error());
  // The strict parse refuses duplicate keys and deep nesting; the ordered one keeps key order.
  if (auto strict = parse_json_strict(*text, file.string()); !strict) return where(strict.error());
  OrderedJson doc = OrderedJson::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return where(Error{"not a JSON object (fix or remove the file)"});
  for (const char* key : {"auths", "credHelpers"})
    if (doc.contains(key) && !doc[key].is_null() && !doc[key].is_object())
      return where(Error{fmt::format("\"{}\" is not an object (fix or remove it)", key)});
  return doc;
}

Status write_auth_document(const std::filesystem::path& file, const OrderedJson& doc) {
  auto where = [&](const Error& e) {
    return context(fmt::format("writing auth file {}", file.string()), e);
  };
  if (file.has_parent_path())
    if (auto made = make_dirs(file.parent_path(), 0700); !made) return where(made.error());
  std::string text;
  try {
    text = doc.dump(1, '\t') + "\n";
  } catch (const nlohmann::json::exception&) {
    return where(Error{"a name or value is not valid UTF-8"});
  }
  if (auto written = write_file_atomic(file, text, 0600); !written) return where(written.error());
  return {};
}

// The helper credHelpers names for host, if any.
Result<std::optional<std::string>> helper_for(const OrderedJson& doc,
                                              const std::filesystem::path& file,
                                              std::string_view host) {
  auto helpers = doc.find("credHelpers");
  if (helpers == doc.end() || !helpers->is_object()) return std::nullopt;
  for (const auto& [key, name] : helpers->items()) {
    if (registry_key(key) != host) continue;
    if (!name.is_string())
      return fail("auth file {}: \"credHelpers\" entry {} is not a string", file.string(), key);
    return name.get<std::string>();
  }
  return std::nullopt;
}

// Removes every key of "auths" that names host; whether there was one.
bool erase_auth_entries(OrderedJson& doc, std::string_view host) {
  auto auths = doc.find("auths");
  if (auths == doc.end() || !auths->is_object()) return false;
  std::vector<std::string> keys;
  for (const auto& [key, entry] : auths->items())
    if (registry_key(key) == host) keys.push_back(key);
  for (const auto& key : keys) auths->erase(key);
  return !keys.empty();
}

}  // namespace

Result<StoredCredentials> store_credentials(const std::filesystem::path& file,
                                            std::string_view host, const Credentials& credentials,
                                            std::chrono::milliseconds helper_timeout) {
  MOS_TRY_ASSIGN(auto doc, read_auth_document(file));
  MOS_TRY_ASSIGN(auto helper, helper_for(doc, file, host));
  if (helper) {
    auto stored = credential_helper_store(*helper, host, credentials, helper_timeout);
    if (!stored)
      return context(fmt::format("auth file {}: \"credHelpers\" names helper \"{}\" for {}",
                                 file.string(), *helper, host),
                     stored.error());
    // An entry of the file would be found after the helper's: drop it rather than keep it stale.
    if (erase_auth_entries(doc, host)) MOS_TRY(write_auth_document(file, doc));
    return StoredCredentials{file, fmt::format("docker-credential-{}", *helper)};
  }
  // Other spellings of the host ("https://HOST") are replaced by the one entry.
  erase_auth_entries(doc, host);
  if (!doc.contains("auths") || !doc["auths"].is_object()) doc["auths"] = OrderedJson::object();
  doc["auths"][std::string(host)] = {
      {"auth", base64_encode(credentials.username + ":" + credentials.password)}};
  MOS_TRY(write_auth_document(file, doc));
  return StoredCredentials{file, std::nullopt};
}

Result<bool> erase_credentials(const std::filesystem::path& file, std::string_view host,
                               std::chrono::milliseconds helper_timeout) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return false;
  MOS_TRY_ASSIGN(auto doc, read_auth_document(file));
  MOS_TRY_ASSIGN(auto helper, helper_for(doc, file, host));
  bool removed = false;
  if (helper) {
    auto erased = credential_helper_erase(*helper, host, helper_timeout);
    if (!erased)
      return context(fmt::format("auth file {}: \"credHelpers\" names helper \"{}\" for {}",
                                 file.string(), *helper, host),
                     erased.error());
    removed = *erased;
  }
  if (erase_auth_entries(doc, host)) {
    removed = true;
    MOS_TRY(write_auth_document(file, doc));
  }
  return removed;
}

Result<std::size_t> erase_all_credentials(const std::filesystem::path& file,
                                          std::chrono::milliseconds helper_timeout) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return 0;
  MOS_TRY_ASSIGN(auto doc, read_auth_document(file));
  std::size_t removed = 0;
  if (auto helpers = doc.find("credHelpers"); helpers != doc.end() && helpers->is_object()) {
    for (const auto& [key, name] : helpers->items()) {
      if (!name.is_string()) continue;
      auto erased =
          credential_helper_erase(name.get<std::string>(), registry_key(key), helper_timeout);
      if (!erased)
        return context(fmt::format("auth file {}: \"credHelpers\" entry {}", file.string(), key),
                       erased.error());
      removed += *erased ? 1 : 0;
    }
  }
  if (auto auths = doc.find("auths"); auths != doc.end() && auths->is_object() && !auths->empty()) {
    removed += auths->size();
    *auths = OrderedJson::object();
    MOS_TRY(write_auth_document(file, doc));
  }
  return removed;
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
