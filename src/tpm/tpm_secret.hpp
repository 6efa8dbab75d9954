#pragma once
// Reading a provisioned machine's NV secrets through the keyset's signed policies
// (original-trust.md §5 ReadSecret), on ESAPI:
//   policy session (salted, encrypted) ─ PolicyPCR(PCR7, the TPM's current value)
//   [luks] PolicyNV(0x01500020 == its current contents, "0001")
//   VerifySignature(keyset's public key loaded as external in the owner hierarchy, signature
//     from pcr7data over the session's digest) ─► ticket ─ PolicyAuthorize(digest, key, ticket)
//   NV_Read in TPM2_PT_NV_BUFFER_MAX chunks, the policy replayed for each
// The signed policy comes from the pcr7data entry of the current PCR7 (pcr7data.hpp's index),
// so a PCR7 the keyset did not sign, a signature by another key, or a changed NV version make
// the TPM refuse the read.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "tpm/digest.hpp"
#include "tpm/pcr7data.hpp"
#include "tpm/tpm_connection.hpp"

namespace mos::tpm {

// Which signed policy guards an index: passwd (0x01500001, the admin password; a uki-tpm boot)
// or luks (the SUDI and passphrases; a uki-production boot).
enum class SecretPolicy { passwd, luks };

// The TPMT_PUBLIC of an RSA public key (PEM) as the TPM loads it for VerifySignature: SHA-256
// name, userWithAuth|decrypt|sign, no scheme (any RSA scheme verifies), as tpm2_loadexternal
// --key-algorithm=rsa makes it.
Result<TPM2B_PUBLIC> rsa_public_area(std::string_view pem, std::string_view what);
// Its TPM name: 000b || SHA256(marshalled TPMT_PUBLIC).
Result<std::string> public_area_name(const TPM2B_PUBLIC& area);
// TPM2_PolicyAuthorize(key, empty policyRef) from a zero digest: the authPolicy of every
// secret index.
Result<Sha256> policy_authorize_digest(std::string_view pem, std::string_view what);

// The signed policy and public key that apply for a PCR7 value: the entry at its index in the
// newest policy-N, of key_type tpm (passwd) or production (luks), and its keyset's
// tpmpass/luks key. Errors name the PCR7 value and what pcr7data lacks.
struct SignedPolicy {
  std::string signature;   // RSA PKCS#1 v1.5 SHA-256 over the policy digest
  std::string public_pem;  // the keyset's key that made it
  std::string keyset;      // info.json's key
};
Result<SignedPolicy> choose_signed_policy(const Pcr7Data& data, const Sha256& pcr7,
                                          SecretPolicy policy);

// The indices one signed policy guards, read and written through one policy session. The key is
// loaded and its signature over the policy verified once (the TPM's ticket stays valid while the
// TPM runs); each NV command then replays PolicyPCR [PolicyNV] PolicyAuthorize with that ticket.
// Every TPM command costs 10-50 ms on a discrete TPM or under emulation: the initramfs's three
// reads (SUDI certificate and key, OS passphrase) take ~40 commands so, ~77 with a session, a key
// load and a signature check per chunk. Opened on first use; the session and key are flushed at
// the end of its scope.
class PolicySecrets {
 public:
  PolicySecrets(TpmConnection& tpm, SecretPolicy policy, SignedPolicy signed_policy);
  ~PolicySecrets();
  PolicySecrets(const PolicySecrets&) = delete;
  PolicySecrets& operator=(const PolicySecrets&) = delete;

  // The whole index.
  Result<std::string> read(std::uint32_t index);
  // The whole of a policywrite index (0x01500040), from offset 0: the bytes must fill it.
  Status write(std::uint32_t index, std::string_view bytes);

 private:
  Result<std::string> access(std::uint32_t index, const std::string_view* write);
  Status open();
  Status replay();
  void restart_session();

  TpmConnection& tpm_;
  SecretPolicy policy_;
  SignedPolicy signed_policy_;
  bool opened_ = false;
  FlushedHandle key_;
  TPM2B_NAME key_name_{};
  TPMT_SIGNATURE signature_{};
  FlushedHandle session_;
  std::uint16_t chunk_max_ = 0;
  ESYS_TR version_index_ = ESYS_TR_NONE;  // luks: 0x01500020, whose contents PolicyNV compares
  TPM2B_OPERAND version_{};
  bool verified_ = false;  // approved_ and ticket_ hold the TPM's answer to the signature
  TPM2B_DIGEST approved_{};
  TPMT_TK_VERIFIED ticket_{};
};

// Reads a whole NV index through its policy; `signed_policy` as chosen above. One PolicySecrets
// for several indices saves the TPM commands of a session each.
Result<std::string> read_secret(TpmConnection& tpm, std::uint32_t index, SecretPolicy policy,
                                const SignedPolicy& signed_policy);

// Writes a whole policywrite index (0x01500040) through its policy, from offset 0; the bytes
// must fill the index exactly.
Status write_secret(TpmConnection& tpm, std::uint32_t index, SecretPolicy policy,
                    const SignedPolicy& signed_policy, std::string_view bytes);

// Reads an index that anyone may read (authread, empty password): 0x01500002, 0x01500020.
Result<std::string> read_public_nv(TpmConnection& tpm, std::uint32_t index);

}  // namespace mos::tpm
