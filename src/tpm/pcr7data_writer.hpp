#pragma once
// Writes a keyset's pcr7data (layout: pcr7data.hpp) and rebuilds its pcr7data.cpio.
//
// Crash-safe and rerunnable: the whole new pcr7data/ is built in a hidden staging directory
// beside it (index directories from earlier runs copied over, the three of this run written
// anew), checked with the strict reader, and swapped in with one rename; pcr7data.cpio is
// built from the same tree and replaced atomically right after. Files are 0644 and directories
// 0755 (public data, read-only for nobody), so a rerun replaces them; runs on one keyset are
// serialized by a lock on its directory. A crash between the two renames leaves the new tree
// beside the old archive; the next run rebuilds it.
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "tpm/digest.hpp"
#include "tpm/ea_policy.hpp"
#include "tpm/pcr7_prediction.hpp"

namespace mos::tpm {

// The PCR7 value of a boot with each UKI key.
struct Pcr7Values {
  Sha256 limited{};
  Sha256 tpm{};
  Sha256 production{};
};

// The unsigned EA policy digests (ea_policy.hpp) that pcr7data carries signed.
struct PolicyDigests {
  Sha256 passwd{};  // of the tpm value
  Sha256 luks{};    // of the production value
};

struct Pcr7DataRequest {
  std::string keyset_name;  // names pubkeys/ files and info.json's key
  Pcr7Values pcr7;
  PolicyDigests policies;
  std::string est_date = {};  // YYYYMMDD; empty: today (UTC)
};

// Adds the request's three index directories and the keyset's public keys to
// KEYSET/pcr7data/policy-2, signing the passwd digest with tpmpol-admin's key and the luks
// digest with tpmpol-luks's, then rebuilds KEYSET/pcr7data.cpio.
Status write_pcr7data(const std::filesystem::path& keyset_dir, const Pcr7DataRequest& request);

// The pcr7data of a keyset whose PCR7 values are predicted from its own certificates (and the
// rest of `base`), with the policies of `policy_version`: what `trust keyset add` makes.
// Returns the values it wrote.
Result<Pcr7Values> write_predicted_pcr7data(
    const std::filesystem::path& keyset_dir, std::string_view keyset_name,
    const Pcr7Inputs& base = {}, std::string_view policy_version = kDefaultPolicyVersion);

// The policies of a set of values (passwd of tpm, luks of production).
Result<PolicyDigests> policy_digests(const Pcr7Values& values,
                                     std::string_view policy_version = kDefaultPolicyVersion);

// Rebuilds KEYSET/pcr7data.cpio from KEYSET/pcr7data (atomically replaced).
Status write_pcr7data_cpio(const std::filesystem::path& keyset_dir);

}  // namespace mos::tpm
