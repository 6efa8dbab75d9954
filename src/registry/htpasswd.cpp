#include "registry/htpasswd.hpp"

#include <crypt.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "core/file.hpp"
#include "oci/digest.hpp"

namespace mos::registry {

namespace {

// An htpasswd file of this size would hold some hundred thousand users; anything larger is a
// mistake (a wrong path), not a user table.
constexpr std::size_t kMaxFileBytes = 16 * 1024 * 1024;

bool is_crypt_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '/';
}
bool all_crypt_chars(std::string_view s) {
  return std::all_of(s.begin(), s.end(), is_crypt_char);
}

// "$2y$NN$" + 22 characters of salt + 31 of hash, cost 04..31.
bool is_bcrypt(std::string_view h) {
  if (h.size() != 60 || h[3] != '$' || h[6] != '$') return false;
  if (h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9') return false;
  int cost = (h[4] - '0') * 10 + (h[5] - '0');
  return cost >= 4 && cost <= 31 && all_crypt_chars(h.substr(7));
}

// "$5$[rounds=N$]salt$hash": salt at most 16 characters, hash 43 (SHA-256) or 86 (SHA-512).
bool is_sha_crypt(std::string_view h) {
  std::size_t hash_length = h[1] == '5' ? 43 : 86;
  std::string_view rest = h.substr(3);
  if (rest.starts_with("rounds=")) {
    auto end = rest.find('$');
    if (end == std::string_view::npos || end == 7) return false;
    std::string_view digits = rest.substr(7, end - 7);
    if (digits.size() > 9 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
    rest.remove_prefix(end + 1);
  }
  auto dollar = rest.find('$');
  if (dollar == std::string_view::npos || dollar == 0 || dollar > 16) return false;
  std::string_view salt = rest.substr(0, dollar), hash = rest.substr(dollar + 1);
  return salt.find_first_of(":\n") == std::string_view::npos && hash.size() == hash_length &&
         all_crypt_chars(hash);
}

// What a hash we do not accept is, for the warning; empty for one we accept.
std::string weak_scheme(std::string_view h) {
  if (h.starts_with("$2y$") || h.starts_with("$2b$") || h.starts_with("$2a$") ||
      h.starts_with("$5$") || h.starts_with("$6$"))
    return {};
  if (h.starts_with("{SHA}")) return "unsalted SHA-1 ({SHA}, htpasswd -s)";
  if (h.starts_with("$apr1$")) return "apr1 MD5 (htpasswd -m)";
  if (h.starts_with("$1$")) return "MD5-crypt ($1$)";
  if (h.size() == 13 && all_crypt_chars(h)) return "DES crypt (htpasswd -d)";
  if (h.starts_with("$"))
    return fmt::format("an unknown scheme ({})", h.substr(0, h.find('$', 1) + 1));
  return "no known scheme (plain text?)";
}

// What the cache keeps of a success: a hash of user and password, never the password.
std::string cache_key(std::string_view user, std::string_view password) {
  std::string material;
  material.reserve(user.size() + 1 + password.size());
  material.append(user).push_back('\0');
  material.append(password);
  std::string key = oci::digest_of(material).hex();
  OPENSSL_cleanse(material.data(), material.size());
  return key;
}

// crypt(3) of password with hash's settings, compared with hash in constant time.
bool crypt_matches(std::string_view password, const std::string& hash) {
  std::string secret(password);
  auto data = std::make_unique<crypt_data>();  // value-initialised: crypt_rn wants it zeroed
  const char* out = crypt_rn(secret.c_str(), hash.c_str(), data.get(), sizeof *data);
  bool match = out != nullptr && out[0] != '*' && std::strlen(out) == hash.size() &&
               CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
  OPENSSL_cleanse(secret.data(), secret.size());
  OPENSSL_cleanse(data.get(), sizeof *data);
  return match;
}

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<HtpasswdTable> parse_htpasswd(std::string_view text, std::string_view path) {
  HtpasswdTable table;
  std::map<std::string, std::size_t, std::less<>> first_line;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.remove_suffix(1);
    auto first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      return fail("{}:{}: expected \"user:hash\" (as written by htpasswd -B), found no colon", path,
                  number);
    std::string_view user = line.substr(0, colon), hash = line.substr(colon + 1);
    if (user.empty()) return fail("{}:{}: empty user name", path, number);
    if (hash.empty()) return fail("{}:{}: user \"{}\" has no password hash", path, number, user);
    if (auto seen = first_line.find(user); seen != first_line.end())
      return fail("{}:{}: user \"{}\" appears again (first on line {})", path, number, user,
                  seen->second);
    first_line.emplace(std::string(user), number);
    if (auto weak = weak_scheme(hash); !weak.empty()) {
      table.warnings.push_back(
          fmt::format("{}:{}: user \"{}\" has a password hash of {}, which is not supported (too "
                      "weak or unknown): "
                      "the user cannot log in; use bcrypt (htpasswd -B) or SHA-crypt ($5$, $6$)",
                      path, number, user, weak));
      continue;
    }
    bool bcrypt = hash.starts_with("$2");
    if (bcrypt ? !is_bcrypt(hash) : !is_sha_crypt(hash))
      return fail("{}:{}: user \"{}\" has a broken {} hash (expected {})", path, number, user,
                  bcrypt ? "bcrypt" : "SHA-crypt",
                  bcrypt ? "$2y$NN$ and 53 characters of [./A-Za-z0-9]"
                         : "$5$ or $6$, [rounds=N$], salt$, hash");
    table.hashes.emplace(std::string(user), std::string(hash));
  }
  return table;
}

Htpasswd::Htpasswd(std::filesystem::path path, HtpasswdOptions options)
    : path_(std::move(path)), options_(options) {}
Htpasswd::~Htpasswd() = default;

Result<Htpasswd::FileStamp> Htpasswd::stamp_of(const std::filesystem::path& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0)
    return fail("htpasswd file {}: {}", path.string(), std::generic_category().message(errno));
  if (!S_ISREG(st.st_mode)) return fail("htpasswd file {} is not a regular file", path.string());
  return FileStamp{
      static_cast<std::uint64_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino),
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

namespace {
// The stamp is taken before reading, so a change during the read is seen at the next check.
Result<HtpasswdTable> read_table(const std::filesystem::path& path) {
  auto text = read_file(path, kMaxFileBytes);
  if (!text) return context(fmt::format("htpasswd file {}", path.string()), text.error());
  auto table = parse_htpasswd(*text, path.string());
  OPENSSL_cleanse(text->data(), text->size());
  if (!table) return table;
  for (const auto& warning : table->warnings) spdlog::warn("{}", warning);
  if (table->hashes.empty())
    spdlog::warn(
        "htpasswd file {} has no user with a supported hash: every request will be refused",
        path.string());
  return table;
}
}  // namespace

Result<std::shared_ptr<Htpasswd>> Htpasswd::load(const std::filesystem::path& path,
                                                 HtpasswdOptions options) {
  std::shared_ptr<Htpasswd> self(new Htpasswd(path, options));
  MOS_TRY_ASSIGN(auto stamp, stamp_of(path));
  MOS_TRY_ASSIGN(auto table, read_table(path));
  self->last_seen_ = stamp;
  self->install(std::move(table));
  self->last_check_ns_ = steady_ns();
  return self;
}

void Htpasswd::install(HtpasswdTable table) const {
  auto shared = std::make_shared<const HtpasswdTable>(std::move(table));
  std::lock_guard lock(mutex_);
  table_ = std::move(shared);
  ++generation_;
  cache_.clear();
  cache_order_.clear();
}

Status Htpasswd::reload_if_changed() const {
  std::lock_guard reloading(reload_mutex_);
  auto stamp = stamp_of(path_);
  std::optional<FileStamp> now = stamp ? std::optional(*stamp) : std::nullopt;
  // One attempt (and so one warning) per change, not one per check.
  if (now == last_seen_) return {};
  last_seen_ = now;
  if (!stamp) return std::unexpected(stamp.error());
  MOS_TRY_ASSIGN(auto table, read_table(path_));
  spdlog::info("htpasswd file {} reloaded: {} users", path_.string(), table.hashes.size());
  install(std::move(table));
  return {};
}

void Htpasswd::maybe_reload() const {
  auto now = steady_ns();
  auto last = last_check_ns_.load();
  if (now - last < std::chrono::nanoseconds(options_.reload_interval).count()) return;
  if (!last_check_ns_.compare_exchange_strong(last, now)) return;  // another thread is checking
  if (auto reloaded = reload_if_changed(); !reloaded)
    spdlog::warn("{}; still using the users loaded before", reloaded.error().message);
}

bool Htpasswd::remembers(std::string_view user, std::string_view password) const {
  maybe_reload();
  std::string key = cache_key(user, password);
  std::lock_guard lock(mutex_);
  return cache_.contains(key);
}

bool Htpasswd::verify(std::string_view user, std::string_view password) const {
  maybe_reload();
  // crypt(3) takes C strings: a NUL would cut the password short.
  if (password.find('\0') != std::string_view::npos) return false;
  std::string key = cache_key(user, password);

  std::shared_ptr<const HtpasswdTable> table;
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mutex_);
    if (cache_.contains(key)) return true;
    table = table_;
    generation = generation_;
  }
  auto found = table->hashes.find(user);
  if (found == table->hashes.end()) {
    // The same work as for a known user, so the answer's timing does not tell which users exist.
    if (!table->hashes.empty()) {
      ++hash_computations_;
      (void)crypt_matches(password, table->hashes.begin()->second);
    }
    return false;
  }
  ++hash_computations_;
  if (!crypt_matches(password, found->second)) return false;
  std::lock_guard lock(mutex_);
  // A reload during the check replaced the table: this success is not remembered for the new one.
  if (generation == generation_ && options_.cache_entries > 0 && cache_.insert(key).second) {
    cache_order_.push_back(key);
    if (cache_order_.size() > options_.cache_entries) {
      cache_.erase(cache_order_.front());
      cache_order_.pop_front();
    }
  }
  return true;
}

std::size_t Htpasswd::users() const {
  std::lock_guard lock(mutex_);
  return table_->hashes.size();
}

std::vector<std::string> Htpasswd::warnings() const {
  std::lock_guard lock(mutex_);
  return table_->warnings;
}

}  // namespace mos::registry
