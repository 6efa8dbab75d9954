#pragma once
// pcr7data: what a keyset gives its machines so that their initrd can find, by the PCR7 value
// it reads from the TPM, the signed policies that unlock its TPM secrets (original-trust.md §5).
// Kept in the original's layout, which the original's initrd and provisioning read as is:
//
//   KEYSET/pcr7data/policy-2/
//     pubkeys/tpmpass-<KS>.pem   public key of tpmpol-admin (PUBLIC KEY PEM)
//     pubkeys/luks-<KS>.pem      public key of tpmpol-luks
//     <idx[0:2]>/<idx[2:]>/      one directory per PCR7 value, idx = pcr7_index(value):
//       info.json                {"key":"<KS>","key_type":"limited|tpm|production",
//                                 "est_date":"YYYYMMDD","comment":"mos <KS>"}
//       (limited)    pcr_limited.bin pcr_tpm.bin pcr_prod.bin   the three raw PCR7 values
//       (tpm)        tpm_passwd.policy.signed   tpmpol-admin's signature of the passwd digest
//       (production) tpm_luks.policy.signed     tpmpol-luks's signature of the luks digest
//   KEYSET/pcr7data.cpio           newc archive of pcr7data/ ("pcr7data/policy-2/..."), which the
//                                  bootkit appends to the UKI's initrd
//
// This header is the layout and the strict reader the device side uses; pcr7data_writer.hpp
// writes it.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "tpm/digest.hpp"

namespace mos::tpm {

inline constexpr std::string_view kPcr7DataDir = "pcr7data";
inline constexpr std::string_view kPcr7DataCpio = "pcr7data.cpio";
// The layout version the original writes and its initrd reads (it picks the highest policy-N).
inline constexpr unsigned kPcr7DataPolicyVersion = 2;
inline constexpr std::string_view kPubkeysDir = "pubkeys";
inline constexpr std::string_view kInfoFile = "info.json";
inline constexpr std::string_view kPcrLimitedFile = "pcr_limited.bin";
inline constexpr std::string_view kPcrTpmFile = "pcr_tpm.bin";
inline constexpr std::string_view kPcrProdFile = "pcr_prod.bin";
inline constexpr std::string_view kPasswdPolicySignedFile = "tpm_passwd.policy.signed";
inline constexpr std::string_view kLuksPolicySignedFile = "tpm_luks.policy.signed";

// Which UKI key booted: limited (no secrets), tpm (the TPM admin password), production (the
// SUDI and LUKS secrets).
enum class Pcr7KeyType { limited, tpm, production };
std::string_view key_type_name(Pcr7KeyType type);

// "policy-2".
std::string policy_dir_name(unsigned version = kPcr7DataPolicyVersion);

// The hex of the value with each adjacent byte pair swapped (the original's createPCR7Index, and
// what its initrd computes from a PCR7 read on a little-endian machine): e5 93 6c 3e … →
// "93e53e6c…".
std::string pcr7_index(const Sha256& pcr7);
// "93/e53e6c…": the index directory below policy-N.
std::string pcr7_index_path(const Sha256& pcr7);
// The PCR7 value of an index (64 lowercase hex digits); the inverse of pcr7_index.
Result<Sha256> pcr7_from_index(std::string_view index);

// pubkeys/ file names.
std::string tpmpass_pubkey_name(std::string_view keyset);  // "tpmpass-<KS>.pem"
std::string luks_pubkey_name(std::string_view keyset);     // "luks-<KS>.pem"

struct Pcr7Info {
  std::string key;  // the keyset whose pubkeys/ keys verify this entry
  Pcr7KeyType key_type = Pcr7KeyType::limited;
  bool legacy_key_type = false;  // "password", the original's older name for tpm
  std::string est_date;          // YYYYMMDD
  std::string comment;
};

// Compact JSON in the original's field order, with a final newline (as the snakeoil files).
std::string encode_pcr7_info(const Pcr7Info& info);
// Exactly the four string fields, nothing else; `what` names the file in messages.
Result<Pcr7Info> parse_pcr7_info(std::string_view text, std::string_view what);

struct Pcr7IndexEntry {
  Sha256 pcr7{};      // from the directory's name
  std::string index;  // "93e53e6c…"
  Pcr7Info info;
  // limited entries: the three values the original measured
  std::optional<Sha256> pcr_limited, pcr_tpm, pcr_prod;
  std::optional<std::string> passwd_policy_signature;  // tpm entries
  std::optional<std::string> luks_policy_signature;    // production entries
};

struct Pcr7Policy {
  unsigned version = 0;                        // N of policy-N
  std::map<std::string, std::string> pubkeys;  // pubkeys/ file name → PEM
  std::vector<Pcr7IndexEntry> entries;         // sorted by index

  const Pcr7IndexEntry* find(const Sha256& pcr7) const;
};

struct Pcr7Data {
  std::vector<Pcr7Policy> policies;  // ascending version, at least one

  // The newest layout, the one the original's initrd uses.
  const Pcr7Policy& newest() const { return policies.back(); }
};

// The files of a pcr7data tree: path below pcr7data/ ("policy-2/pubkeys/luks-KS.pem") → bytes.
using Pcr7DataFiles = std::map<std::string, std::string>;

// Strict: every path is a pubkey or an index entry's known file; info.json parses; values are
// 32 bytes; a limited entry holds all three values and its own equals its index; a tpm entry
// has its signature and its keyset's tpmpass key, a production entry likewise with luks;
// signatures are 1-1024 bytes; public keys parse. `what` names the tree in messages.
Result<Pcr7Data> parse_pcr7data(const Pcr7DataFiles& files, std::string_view what);

// Reads a pcr7data directory (the device's /pcr7data) into files: regular files and
// directories only, at most 4096 files of at most 64 KiB each.
Result<Pcr7DataFiles> read_pcr7data_files(const std::filesystem::path& dir);
Result<Pcr7Data> read_pcr7data(const std::filesystem::path& dir);

// Checks every tpm and production signature of a policy against its keyset's public key over
// the digest that entry's PCR7 gives (ea_policy.hpp; luks with `policy_version`). Returns how
// many signatures it checked.
Result<std::size_t> verify_pcr7data_signatures(const Pcr7Policy& policy,
                                               std::string_view policy_version = "0001");

}  // namespace mos::tpm
