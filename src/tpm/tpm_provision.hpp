#pragma once
// The TPM part of `mosctl provision` (original-trust.md §5): clear the TPM, set its
// dictionary-attack parameters, store the SUDI and fresh secrets in NV indices that only the
// keyset's signed policies open, and lock the hierarchies with a random admin password that
// only the TPM keeps (NV 0x01500001, readable by a uki-tpm boot). The partitions (PBF/SBF) are
// made by the caller (boot/machine_provision.hpp), before this.
//
// Order, so that an interrupted run can be rerun: the hierarchies keep their empty passwords
// until every secret index is written; then owner and endorsement get the admin password, the
// layout version 0x01500002 is written (the mark of a complete provisioning, checked first by
// the next run), and the lockout password is set last. A run stopped before that mark leaves
// the lockout password empty, so the next run clears the TPM again without --wipe.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "tpm/ea_policy.hpp"
#include "tpm/pcr7data.hpp"
#include "tpm/tpm_connection.hpp"

namespace mos::tpm {

inline constexpr std::string_view kNvLayoutVersionValue = "00000003";

// Dictionary-attack protection (the original set max-tries to 2^32-1, which turns it off).
// The hierarchies' and indices' passwords are random 128-bit values that no person types, so
// failures come from attacks or bugs only: 32 failures lock password authorization out, one
// failure is forgotten every 10 minutes (an attacker gets 144 guesses a day), and a failed
// lockout authorization blocks the lockout hierarchy for a day.
inline constexpr std::uint32_t kDaMaxTries = 32;
inline constexpr std::uint32_t kDaRecoverySeconds = 600;
inline constexpr std::uint32_t kDaLockoutRecoverySeconds = 86400;

struct ProvisionRequest {
  std::string sudi_cert_pem;
  std::string sudi_key_pem;
  bool wipe = false;  // provision a TPM that is already provisioned
  // What 0x01500020 holds, which the keyset's luks policy names (PolicyNV ==).
  std::string policy_version = std::string(kDefaultPolicyVersion);
  // What 0x01500030 holds: the SBF's LUKS passphrase when the caller made the SBF with it
  // (boot/machine_provision.hpp), else a fresh one (new_passphrase()).
  std::string sbf_passphrase;
  // This boot's PCR7 before the initramfs extended it (the original's /pcr7.bin): how the
  // keyset is chosen once PCR7 no longer shows the boot chain. None: read from the TPM.
  std::optional<Sha256> boot_pcr7;
};

// The original's /pcr7.bin: 32 raw bytes. nullopt when `file` does not exist.
Result<std::optional<Sha256>> read_boot_pcr7(const std::filesystem::path& file);

// A fresh LUKS passphrase as the TPM keeps them: 160 random bits, 40 hex characters (the
// original's length).
Result<std::string> new_passphrase();

struct ProvisionReport {
  std::string keyset;           // whose policies guard the secrets
  std::string cleared_through;  // "platform" or "lockout"
};

// The keyset whose keys guard the secrets: the one of the production entry for the current
// PCR7, else the only keyset with both pubkeys in the newest policy-N.
Result<std::string> provisioning_keyset(const Pcr7Data& data, const Sha256& current_pcr7);

// Whether NV 0x01500002 (the layout version, written last) exists.
Result<bool> tpm_is_provisioned(TpmConnection& tpm);
// An error unless the TPM is not provisioned yet or `wipe` allows provisioning it again;
// otherwise whether it is provisioned (and so is to be wiped).
Result<bool> check_provisionable(TpmConnection& tpm, bool wipe);

Result<ProvisionReport> provision_tpm(TpmConnection& tpm, const Pcr7Data& data,
                                      const ProvisionRequest& request);

}  // namespace mos::tpm
