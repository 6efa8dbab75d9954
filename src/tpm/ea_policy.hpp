#pragma once
// The TPM enhanced-authorization policy digests that guard a provisioned machine's NV secrets,
// computed as a TPM trial session would (TPM 2.0 Part 3, TPM2_PolicyPCR and TPM2_PolicyNV):
//   passwd = PolicyPCR(PCR7 = the uki-tpm value)
//            guards the TPM admin password (NV 0x01500001), through PolicyAuthorize by the
//            keyset's tpmpol-admin key
//   luks   = PolicyPCR(PCR7 = the uki-production value), then PolicyNV(NV 0x01500020 == "0001")
//            guards the SUDI and the LUKS passphrases (NV 0x01500021.. 0x01500040), through
//            PolicyAuthorize by tpmpol-luks
// The device reads a secret by replaying the policy in a session and showing the TPM the
// keyset's signature over the same digest; pcr7data carries those signatures (pcr7data.hpp).
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "tpm/digest.hpp"

namespace mos::tpm {

inline constexpr std::uint16_t kTpmAlgSha256 = 0x000b;
inline constexpr std::uint32_t kTpmCcPolicyPcr = 0x0000017f;
inline constexpr std::uint32_t kTpmCcPolicyNv = 0x00000149;
inline constexpr std::uint16_t kTpmEoEq = 0x0000;  // TPM_EO_EQ: operand equals the NV bytes
inline constexpr unsigned kPcr7 = 7;

// NV indices of the original's provisioning (original-trust.md §5).
inline constexpr std::uint32_t kNvAdminPassword = 0x01500001;
inline constexpr std::uint32_t kNvLayoutVersion = 0x01500002;
inline constexpr std::uint32_t kNvEaPolicyVersion = 0x01500020;  // holds "0001"
inline constexpr std::uint32_t kNvSudiCert = 0x01500021;
inline constexpr std::uint32_t kNvSudiKey = 0x01500022;
inline constexpr std::uint32_t kNvSbfPassphrase = 0x01500030;
inline constexpr std::uint32_t kNvOsPassphrase = 0x01500040;

// TPMA_NV bits.
inline constexpr std::uint32_t kTpmaNvOwnerWrite = 1u << 1;
inline constexpr std::uint32_t kTpmaNvPolicyWrite = 1u << 3;
inline constexpr std::uint32_t kTpmaNvOwnerRead = 1u << 17;
inline constexpr std::uint32_t kTpmaNvAuthRead = 1u << 18;
inline constexpr std::uint32_t kTpmaNvPolicyRead = 1u << 19;
inline constexpr std::uint32_t kTpmaNvWritten = 1u << 29;

// The EA policy version index as the luks policy names it: written once at provisioning, so
// TPMA_NV_WRITTEN is part of its name (0x20060002).
inline constexpr std::uint32_t kEaPolicyVersionAttributes =
    kTpmaNvOwnerWrite | kTpmaNvOwnerRead | kTpmaNvAuthRead | kTpmaNvWritten;
inline constexpr std::uint16_t kEaPolicyVersionSize = 4;
inline constexpr std::string_view kDefaultPolicyVersion = "0001";

// The TPM2B_NAME of an NV index: nameAlg (SHA-256) || SHA256(TPMS_NV_PUBLIC{index, nameAlg,
// attributes, empty authPolicy, data size}), 34 bytes.
std::string nv_index_name(std::uint32_t index, std::uint32_t attributes, std::uint16_t data_size);

// TPML_PCR_SELECTION of PCR7 in the SHA-256 bank: count 1, alg, sizeofSelect 3, 80 00 00.
std::string pcr7_selection();

// policy' = H(policy || TPM_CC_PolicyPCR || selection || H(PCR7 value)).
Sha256 policy_pcr7(const Sha256& policy, const Sha256& pcr7);

// policy' = H(policy || TPM_CC_PolicyNV || H(operand || u16 offset || u16 operation) || name).
Sha256 policy_nv(const Sha256& policy, std::string_view operand, std::uint16_t offset,
                 std::uint16_t operation, std::string_view nv_name);

// Exactly four decimal digits, as the original's --policy-version.
Status check_policy_version(std::string_view version);

// The passwd policy of a uki-tpm PCR7 value.
Sha256 passwd_policy_digest(const Sha256& pcr7_tpm);

// The luks policy of a uki-production PCR7 value and policy version ("0001").
Result<Sha256> luks_policy_digest(const Sha256& pcr7_production,
                                  std::string_view policy_version = kDefaultPolicyVersion);

}  // namespace mos::tpm
