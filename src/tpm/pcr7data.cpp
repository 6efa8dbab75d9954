#include "tpm/pcr7data.hpp"

#include <sys/stat.h>

#include <algorithm>

#include "core/file.hpp"
#include "core/json.hpp"
#include "core/text.hpp"
#include "tpm/ea_policy.hpp"
#include "trust/keys.hpp"
#include "trust/names.hpp"
#include "trust/signing.hpp"

namespace mos::tpm {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxFiles = 4096;
constexpr std::size_t kMaxFileSize = 64 * 1024;
constexpr std::size_t kMaxInfoSize = 4096;
constexpr std::size_t kMaxSignature = 1024;  // RSA-4096 signs in 512 bytes
constexpr std::size_t kMaxComment = 256;
constexpr std::size_t kMaxDepth = 4;  // policy-N/XX/INDEX/FILE

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (true) {
    auto slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

bool is_lower_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// "policy-N" with N written without leading zeros.
std::optional<unsigned> policy_version_of(std::string_view name) {
  if (!name.starts_with("policy-")) return std::nullopt;
  std::string_view digits = name.substr(7);
  auto value = parse_unsigned(digits, 1'000'000);
  if (!value || *value == 0 || fmt::format("{}", *value) != digits) return std::nullopt;
  return static_cast<unsigned>(*value);
}

Result<Pcr7KeyType> key_type_of(std::string_view text, bool& legacy, std::string_view what) {
  legacy = false;
  if (text == "limited") return Pcr7KeyType::limited;
  if (text == "tpm") return Pcr7KeyType::tpm;
  if (text == "production") return Pcr7KeyType::production;
  if (text == "password") {
    legacy = true;
    return Pcr7KeyType::tpm;
  }
  return fail("{}: key_type '{}' is not limited, tpm, password or production", what,
              text.substr(0, 64));
}

// A pubkeys/ file name: tpmpass-<KS>.pem or luks-<KS>.pem with a valid keyset name.
Status check_pubkey_name(std::string_view name, std::string_view what) {
  std::string_view keyset;
  if (name.starts_with("tpmpass-"))
    keyset = name.substr(8);
  else if (name.starts_with("luks-"))
    keyset = name.substr(5);
  if (keyset.empty() || !keyset.ends_with(".pem"))
    return fail("{}: pubkeys/{} is not tpmpass-KEYSET.pem or luks-KEYSET.pem", what, name);
  keyset.remove_suffix(4);
  if (auto valid = trust::validate_name("keyset name", keyset); !valid)
    return fail("{}: pubkeys/{}: {}", what, name, valid.error().message);
  return {};
}

struct EntryFiles {
  std::string index;
  std::map<std::string, const std::string*> files;  // file name → bytes
};

Result<Sha256> value_file(const EntryFiles& entry, std::string_view name, std::string_view where) {
  auto found = entry.files.find(std::string(name));
  if (found == entry.files.end()) return fail("{}: {} is missing", where, name);
  return sha256_from_bytes(*found->second, fmt::format("{}/{}", where, name));
}

Result<std::string> signature_file(const EntryFiles& entry, std::string_view name,
                                   std::string_view where) {
  auto found = entry.files.find(std::string(name));
  if (found == entry.files.end()) return fail("{}: {} is missing", where, name);
  const std::string& bytes = *found->second;
  if (bytes.empty() || bytes.size() > kMaxSignature)
    return fail("{}/{} is {} bytes: a signature is 1 to {} bytes", where, name, bytes.size(),
                kMaxSignature);
  return bytes;
}

Result<const std::string*> pubkey_of(const Pcr7Policy& policy, const std::string& name,
                                     std::string_view where) {
  auto found = policy.pubkeys.find(name);
  if (found == policy.pubkeys.end())
    return fail("{}: its key has no public key pubkeys/{} to verify it with", where, name);
  return &found->second;
}

Result<Pcr7IndexEntry> parse_entry(const EntryFiles& files, const Pcr7Policy& policy,
                                   std::string_view where) {
  static constexpr std::string_view kKnown[] = {
      kInfoFile, kPcrLimitedFile, kPcrTpmFile, kPcrProdFile, kPasswdPolicySignedFile,
      kLuksPolicySignedFile,
      // Unsigned digests that some of the original's older signdata kept beside the signature.
      "tpm_luks.policy", "tpm_passwd.policy"};
  for (const auto& [name, bytes] : files.files) {
    if (std::find(std::begin(kKnown), std::end(kKnown), name) == std::end(kKnown))
      return fail(
          "{}: unexpected file {} (an index directory holds info.json, pcr_*.bin and "
          "tpm_*.policy.signed)",
          where, name);
    if (name.ends_with(".policy") && bytes->size() != kSha256Size)
      return fail("{}/{} is {} bytes, not a 32-byte policy digest", where, name, bytes->size());
  }
  Pcr7IndexEntry entry;
  entry.index = files.index;
  MOS_TRY_ASSIGN(entry.pcr7, pcr7_from_index(files.index));
  auto info = files.files.find(std::string(kInfoFile));
  if (info == files.files.end()) return fail("{}: {} is missing", where, kInfoFile);
  MOS_TRY_ASSIGN(entry.info,
                 parse_pcr7_info(*info->second, fmt::format("{}/{}", where, kInfoFile)));
  switch (entry.info.key_type) {
    case Pcr7KeyType::limited: {
      MOS_TRY_ASSIGN(entry.pcr_limited, value_file(files, kPcrLimitedFile, where));
      MOS_TRY_ASSIGN(entry.pcr_tpm, value_file(files, kPcrTpmFile, where));
      MOS_TRY_ASSIGN(entry.pcr_prod, value_file(files, kPcrProdFile, where));
      if (*entry.pcr_limited != entry.pcr7)
        return fail("{}: {} holds {}, not the PCR7 value its directory names ({})", where,
                    kPcrLimitedFile, to_hex(*entry.pcr_limited), to_hex(entry.pcr7));
      break;
    }
    case Pcr7KeyType::tpm: {
      MOS_TRY_ASSIGN(entry.passwd_policy_signature,
                     signature_file(files, kPasswdPolicySignedFile, where));
      MOS_TRY(pubkey_of(policy, tpmpass_pubkey_name(entry.info.key), where));
      break;
    }
    case Pcr7KeyType::production: {
      MOS_TRY_ASSIGN(entry.luks_policy_signature,
                     signature_file(files, kLuksPolicySignedFile, where));
      MOS_TRY(pubkey_of(policy, luks_pubkey_name(entry.info.key), where));
      break;
    }
  }
  return entry;
}

Status collect_files(const fs::path& root, const fs::path& dir, std::size_t depth,
                     Pcr7DataFiles& files) {
  if (depth > kMaxDepth) return fail("{} is nested deeper than pcr7data's layout", dir.string());
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& path = it->path();
    std::error_code type_ec;
    auto type = it->symlink_status(type_ec).type();
    if (type == fs::file_type::directory) {
      MOS_TRY(collect_files(root, path, depth + 1, files));
    } else if (type == fs::file_type::regular) {
      if (files.size() >= kMaxFiles)
        return fail("{} holds more than {} files", root.string(), kMaxFiles);
      auto bytes = read_file(path, kMaxFileSize);
      if (!bytes) return context("reading pcr7data", bytes.error());
      files.emplace(path.lexically_relative(root).generic_string(), std::move(*bytes));
    } else {
      return fail("{} is neither a directory nor a regular file", path.string());
    }
  }
  if (ec) return fail("cannot list {}: {}", dir.string(), ec.message());
  return {};
}

}  // namespace

std::string_view key_type_name(Pcr7KeyType type) {
  switch (type) {
    case Pcr7KeyType::limited:
      return "limited";
    case Pcr7KeyType::tpm:
      return "tpm";
    case Pcr7KeyType::production:
      return "production";
  }
  return "limited";
}

std::string policy_dir_name(unsigned version) {
  return fmt::format("policy-{}", version);
}

std::string pcr7_index(const Sha256& pcr7) {
  Sha256 swapped = pcr7;
  for (std::size_t i = 0; i + 1 < swapped.size(); i += 2) std::swap(swapped[i], swapped[i + 1]);
  return to_hex(swapped);
}

std::string pcr7_index_path(const Sha256& pcr7) {
  std::string index = pcr7_index(pcr7);
  return fmt::format("{}/{}", index.substr(0, 2), index.substr(2));
}

Result<Sha256> pcr7_from_index(std::string_view index) {
  if (index.size() != kSha256Size * 2 || !is_lower_hex(index))
    return fail("'{}' is not a PCR7 index (64 lowercase hex digits)", index.substr(0, 80));
  MOS_TRY_ASSIGN(Sha256 swapped, parse_sha256_hex(index, "PCR7 index"));
  for (std::size_t i = 0; i + 1 < swapped.size(); i += 2) std::swap(swapped[i], swapped[i + 1]);
  return swapped;
}

std::string tpmpass_pubkey_name(std::string_view keyset) {
  return fmt::format("tpmpass-{}.pem", keyset);
}

std::string luks_pubkey_name(std::string_view keyset) {
  return fmt::format("luks-{}.pem", keyset);
}

std::string encode_pcr7_info(const Pcr7Info& info) {
  OrderedJson json;
  json["key"] = info.key;
  json["key_type"] = info.legacy_key_type && info.key_type == Pcr7KeyType::tpm
                         ? "password"
                         : std::string(key_type_name(info.key_type));
  json["est_date"] = info.est_date;
  json["comment"] = info.comment;
  return fmt::format("{}\n", json.dump());
}

Result<Pcr7Info> parse_pcr7_info(std::string_view text, std::string_view what) {
  MOS_TRY_ASSIGN(Json json, parse_json_strict(text, what, JsonLimits{kMaxInfoSize, 4}));
  if (!json.is_object())
    return fail("{}: expected a JSON object, found {}", what, json_type_name(json));
  for (const auto& [key, value] : json.items())
    if (key != "key" && key != "key_type" && key != "est_date" && key != "comment")
      return fail("{}: unexpected field \"{}\" (expected key, key_type, est_date, comment)", what,
                  key.substr(0, 64));
  Pcr7Info info;
  MOS_TRY_ASSIGN(info.key, json_string(json, "key", what));
  if (auto valid = trust::validate_name("keyset name", info.key); !valid)
    return fail("{}: key: {}", what, valid.error().message);
  MOS_TRY_ASSIGN(std::string type, json_string(json, "key_type", what));
  MOS_TRY_ASSIGN(info.key_type, key_type_of(type, info.legacy_key_type, what));
  MOS_TRY_ASSIGN(info.est_date, json_string(json, "est_date", what));
  bool date = info.est_date.size() == 8 && std::all_of(info.est_date.begin(), info.est_date.end(),
                                                       [](char c) { return c >= '0' && c <= '9'; });
  if (!date)
    return fail("{}: est_date '{}' is not a date YYYYMMDD", what, info.est_date.substr(0, 64));
  MOS_TRY_ASSIGN(info.comment, json_string(json, "comment", what));
  bool printable = std::all_of(info.comment.begin(), info.comment.end(),
                               [](char c) { return static_cast<unsigned char>(c) >= 0x20; });
  if (info.comment.size() > kMaxComment || !printable)
    return fail("{}: comment must be one line of at most {} bytes", what, kMaxComment);
  return info;
}

const Pcr7IndexEntry* Pcr7Policy::find(const Sha256& pcr7) const {
  for (const auto& entry : entries)
    if (entry.pcr7 == pcr7) return &entry;
  return nullptr;
}

Result<Pcr7Data> parse_pcr7data(const Pcr7DataFiles& files, std::string_view what) {
  if (files.size() > kMaxFiles) return fail("{} holds more than {} files", what, kMaxFiles);
  std::map<unsigned, Pcr7Policy> policies;
  std::map<unsigned, std::map<std::string, EntryFiles>> entries;  // by index path
  for (const auto& [path, bytes] : files) {
    if (bytes.size() > kMaxFileSize)
      return fail("{}/{} is {} bytes, more than any pcr7data file ({})", what, path, bytes.size(),
                  kMaxFileSize);
    auto parts = split_path(path);
    std::optional<unsigned> version = policy_version_of(parts.front());
    if (!version) return fail("{}: unexpected {} (everything lies below policy-N/)", what, path);
    Pcr7Policy& policy = policies[*version];
    policy.version = *version;
    if (parts.size() == 3 && parts[1] == kPubkeysDir) {
      std::string name(parts[2]);
      MOS_TRY(check_pubkey_name(name, what));
      if (auto key = trust::parse_public_key_pem(bytes, fmt::format("{}/{}", what, path)); !key)
        return std::unexpected(key.error());
      policy.pubkeys.emplace(std::move(name), bytes);
    } else if (parts.size() == 4 && parts[1].size() == 2 && parts[2].size() == 62) {
      std::string index = fmt::format("{}{}", parts[1], parts[2]);
      EntryFiles& entry = entries[*version][std::string(index)];
      entry.index = index;
      entry.files.emplace(std::string(parts[3]), &bytes);
    } else {
      return fail(
          "{}: unexpected {} (expected policy-N/pubkeys/NAME.pem or policy-N/XX/INDEX/FILE with "
          "a 64-digit index)",
          what, path);
    }
  }
  if (policies.empty()) return fail("{} holds no policy-N directory", what);
  Pcr7Data data;
  for (auto& [version, policy] : policies) {
    for (const auto& [index, files_of_entry] : entries[version]) {
      std::string where = fmt::format("{}/{}/{}/{}", what, policy_dir_name(version),
                                      index.substr(0, 2), index.substr(2));
      MOS_TRY_ASSIGN(auto entry, parse_entry(files_of_entry, policy, where));
      policy.entries.push_back(std::move(entry));
    }
    data.policies.push_back(std::move(policy));
  }
  return data;
}

Result<Pcr7DataFiles> read_pcr7data_files(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec)))
    return fail("{} is not a pcr7data directory", dir.string());
  Pcr7DataFiles files;
  MOS_TRY(collect_files(dir, dir, 0, files));
  return files;
}

Result<Pcr7Data> read_pcr7data(const fs::path& dir) {
  MOS_TRY_ASSIGN(Pcr7DataFiles files, read_pcr7data_files(dir));
  return parse_pcr7data(files, dir.string());
}

Result<std::size_t> verify_pcr7data_signatures(const Pcr7Policy& policy,
                                               std::string_view policy_version) {
  std::size_t checked = 0;
  for (const auto& entry : policy.entries) {
    std::string where = fmt::format("{}/{}", policy_dir_name(policy.version), entry.index);
    if (entry.passwd_policy_signature) {
      MOS_TRY_ASSIGN(const std::string* key,
                     pubkey_of(policy, tpmpass_pubkey_name(entry.info.key), where));
      Sha256 digest = passwd_policy_digest(entry.pcr7);
      if (auto ok = trust::verify_signature(*key, *entry.passwd_policy_signature, bytes_of(digest));
          !ok)
        return context(fmt::format("{}: {}", where, kPasswdPolicySignedFile), ok.error());
      ++checked;
    }
    if (entry.luks_policy_signature) {
      MOS_TRY_ASSIGN(const std::string* key,
                     pubkey_of(policy, luks_pubkey_name(entry.info.key), where));
      MOS_TRY_ASSIGN(Sha256 digest, luks_policy_digest(entry.pcr7, policy_version));
      if (auto ok = trust::verify_signature(*key, *entry.luks_policy_signature, bytes_of(digest));
          !ok)
        return context(fmt::format("{}: {}", where, kLuksPolicySignedFile), ok.error());
      ++checked;
    }
  }
  return checked;
}

}  // namespace mos::tpm
