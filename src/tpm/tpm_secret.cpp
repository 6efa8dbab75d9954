#include "tpm/tpm_secret.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>

#include "tpm/ea_policy.hpp"

namespace mos::tpm {

namespace {

inline constexpr std::uint32_t kTpmCcPolicyAuthorize = 0x0000016a;

template <class T>
using EsysOwned = std::unique_ptr<T, decltype(&Esys_Free)>;
template <class T>
EsysOwned<T> esys_owned(T* pointer) {
  return EsysOwned<T>(pointer, Esys_Free);
}

// Forgets an ESAPI object (an NV index's metadata) at scope end; the TPM keeps the index.
struct ClosedOnExit {
  ESYS_CONTEXT* esys;
  ESYS_TR handle;
  ~ClosedOnExit() { Esys_TR_Close(esys, &handle); }
};

}  // namespace

Result<TPM2B_PUBLIC> rsa_public_area(std::string_view pem, std::string_view what) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), int(pem.size())),
                                                BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr, EVP_PKEY_free);
  if (!key) return fail("{}: not a PEM public key", what);
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) return fail("{}: not an RSA key", what);
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N, &n);
  EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E, &e);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> n_owned(n, BN_free), e_owned(e, BN_free);
  if (n == nullptr || e == nullptr) return fail("{}: cannot read the RSA modulus", what);
  int bits = BN_num_bits(n);
  int bytes = BN_num_bytes(n);
  if (bits != 2048 && bits != 3072 && bits != 4096)
    return fail("{}: RSA-{} key, expected 2048, 3072 or 4096 bits", what, bits);
  if (BN_num_bits(e) > 32) return fail("{}: RSA exponent larger than 32 bits", what);
  TPM2B_PUBLIC area{};
  TPMT_PUBLIC& pub = area.publicArea;
  pub.type = TPM2_ALG_RSA;
  pub.nameAlg = TPM2_ALG_SHA256;
  pub.objectAttributes = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_SIGN_ENCRYPT;
  pub.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
  pub.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
  pub.parameters.rsaDetail.keyBits = static_cast<TPMI_RSA_KEY_BITS>(bits);
  BN_ULONG exponent = BN_get_word(e);
  // The exponent spelled out even when it is the default 65537 (which 0 also means): that is
  // what tpm2_loadexternal does, and the name, hence every authPolicy of the original's
  // provisioning, depends on it.
  pub.parameters.rsaDetail.exponent = static_cast<UINT32>(exponent);
  pub.unique.rsa.size = static_cast<UINT16>(bytes);
  BN_bn2binpad(n, pub.unique.rsa.buffer, bytes);
  return area;
}

Result<std::string> public_area_name(const TPM2B_PUBLIC& area) {
  std::array<std::uint8_t, sizeof(TPMT_PUBLIC)> buffer{};
  std::size_t offset = 0;
  TSS2_RC rc = Tss2_MU_TPMT_PUBLIC_Marshal(&area.publicArea, buffer.data(), buffer.size(), &offset);
  if (rc != TSS2_RC_SUCCESS) return std::unexpected(tss2_error("marshalling a public key", rc));
  Sha256 digest = sha256(std::string_view(reinterpret_cast<const char*>(buffer.data()), offset));
  return std::string("\x00\x0b", 2) + std::string(bytes_of(digest));
}

Result<Sha256> policy_authorize_digest(std::string_view pem, std::string_view what) {
  MOS_TRY_ASSIGN(TPM2B_PUBLIC area, rsa_public_area(pem, what));
  MOS_TRY_ASSIGN(std::string name, public_area_name(area));
  const char code[4] = {0x00, 0x00, 0x01, 0x6a};
  static_assert(kTpmCcPolicyAuthorize == 0x16a);
  Sha256 zero{};
  // PolicyAuthorize: policy = H(H(0 || CC || keyName) || policyRef), policyRef empty.
  Sha256 step = sha256_of_parts({bytes_of(zero), std::string_view(code, 4), name});
  return sha256(bytes_of(step));
}

Result<SignedPolicy> choose_signed_policy(const Pcr7Data& data, const Sha256& pcr7,
                                          SecretPolicy policy) {
  const Pcr7Policy& newest = data.newest();
  const Pcr7IndexEntry* entry = newest.find(pcr7);
  if (entry == nullptr)
    return fail(
        "pcr7data {} has no entry for the current PCR7 {} (index {}): this boot's UKI "
        "key is not one the keyset signed policies for",
        policy_dir_name(newest.version), to_hex(pcr7), pcr7_index_path(pcr7));
  Pcr7KeyType wanted = policy == SecretPolicy::luks ? Pcr7KeyType::production : Pcr7KeyType::tpm;
  if (entry->info.key_type != wanted)
    return fail("pcr7data entry {} is of key_type {}, expected {} for this secret",
                pcr7_index_path(pcr7), key_type_name(entry->info.key_type), key_type_name(wanted));
  const auto& signature =
      policy == SecretPolicy::luks ? entry->luks_policy_signature : entry->passwd_policy_signature;
  if (!signature) return fail("pcr7data entry {} has no signed policy", pcr7_index_path(pcr7));
  std::string key_name = policy == SecretPolicy::luks ? luks_pubkey_name(entry->info.key)
                                                      : tpmpass_pubkey_name(entry->info.key);
  auto key = newest.pubkeys.find(key_name);
  if (key == newest.pubkeys.end())
    return fail("pcr7data {} has no pubkeys/{}", policy_dir_name(newest.version), key_name);
  return SignedPolicy{*signature, key->second, entry->info.key};
}

namespace {

// How often a chunk is tried when PCRs change under its policy session (each module the
// initramfs loads meanwhile changes one): a few modules load at a time, a few hundred ms each.
constexpr int kPcrChangedAttempts = 50;

}  // namespace

PolicySecrets::PolicySecrets(TpmConnection& tpm, SecretPolicy policy, SignedPolicy signed_policy)
    : tpm_(tpm), policy_(policy), signed_policy_(std::move(signed_policy)) {}

PolicySecrets::~PolicySecrets() {
  if (version_index_ != ESYS_TR_NONE) Esys_TR_Close(tpm_.esys(), &version_index_);
}

Result<std::string> PolicySecrets::read(std::uint32_t index) {
  return access(index, nullptr);
}

Status PolicySecrets::write(std::uint32_t index, std::string_view bytes) {
  MOS_TRY(access(index, &bytes));
  return {};
}

// The key (owner hierarchy: a key loaded in the null hierarchy gives only null tickets, which
// PolicyAuthorize refuses; loading a public key needs no hierarchy password), the salted policy
// session and, for the luks policy, the NV version that PolicyNV compares.
Status PolicySecrets::open() {
  ESYS_CONTEXT* esys = tpm_.esys();
  MOS_TRY_ASSIGN(TPM2B_PUBLIC public_area,
                 rsa_public_area(signed_policy_.public_pem, "the keyset's policy key"));
  if (signed_policy_.signature.size() > sizeof(TPMT_SIGNATURE::signature.rsassa.sig.buffer))
    return fail("signature larger than the TPM takes");
  signature_ = TPMT_SIGNATURE{};
  signature_.sigAlg = TPM2_ALG_RSASSA;
  signature_.signature.rsassa.hash = TPM2_ALG_SHA256;
  signature_.signature.rsassa.sig.size = static_cast<UINT16>(signed_policy_.signature.size());
  std::memcpy(signature_.signature.rsassa.sig.buffer, signed_policy_.signature.data(),
              signed_policy_.signature.size());
  ESYS_TR key = ESYS_TR_NONE;
  TSS2_RC rc = Esys_LoadExternal(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nullptr,
                                 &public_area, ESYS_TR_RH_OWNER, &key);
  if (rc != TSS2_RC_SUCCESS) return std::unexpected(tss2_error("TPM2_LoadExternal", rc));
  key_ = FlushedHandle(esys, key);
  TPM2B_NAME* key_name = nullptr;
  rc = Esys_TR_GetName(esys, key, &key_name);
  if (rc != TSS2_RC_SUCCESS) return std::unexpected(tss2_error("key name", rc));
  key_name_ = *esys_owned(key_name);
  MOS_TRY_ASSIGN(chunk_max_, tpm_.nv_buffer_max());
  if (policy_ == SecretPolicy::luks) {
    // The operand is the index's own contents, as the original's initrd did: a version other
    // than the one the keyset signed passes PolicyNV but gives a digest the signature does not
    // cover.
    MOS_TRY_ASSIGN(std::string version, read_public_nv(tpm_, kNvEaPolicyVersion));
    if (version_index_ != ESYS_TR_NONE) Esys_TR_Close(esys, &version_index_);
    MOS_TRY_ASSIGN(version_index_, tpm_.nv_handle(kNvEaPolicyVersion));
    version_ = TPM2B_OPERAND{};
    version_.size = static_cast<UINT16>(std::min(version.size(), sizeof(version_.buffer)));
    std::memcpy(version_.buffer, version.data(), version_.size);
  }
  MOS_TRY_ASSIGN(session_, tpm_.start_salted_session(TPM2_SE_POLICY));
  verified_ = false;
  opened_ = true;
  return {};
}

// Replays the policy in the session and authorizes it with the key's ticket; the first replay
// asks the TPM to verify the keyset's signature over the session's digest for that ticket.
Status PolicySecrets::replay() {
  ESYS_CONTEXT* esys = tpm_.esys();
  ESYS_TR session = session_.get();
  TPM2B_DIGEST empty_digest{};
  TPML_PCR_SELECTION selection{};
  selection.count = 1;
  selection.pcrSelections[0].hash = TPM2_ALG_SHA256;
  selection.pcrSelections[0].sizeofSelect = 3;
  selection.pcrSelections[0].pcrSelect[kPcr7 / 8] = 1u << (kPcr7 % 8);
  TSS2_RC rc = Esys_PolicyPCR(esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              &empty_digest, &selection);
  if (rc != TSS2_RC_SUCCESS) return std::unexpected(tss2_error("TPM2_PolicyPCR(PCR7)", rc));
  if (policy_ == SecretPolicy::luks) {
    rc = Esys_PolicyNV(esys, version_index_, version_index_, session, ESYS_TR_PASSWORD,
                       ESYS_TR_NONE, ESYS_TR_NONE, &version_, 0, TPM2_EO_EQ);
    if (rc != TSS2_RC_SUCCESS)
      return std::unexpected(tss2_error("TPM2_PolicyNV(0x01500020 == its contents)", rc));
  }
  if (!verified_) {
    TPM2B_DIGEST* digest = nullptr;
    rc = Esys_PolicyGetDigest(esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &digest);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(tss2_error("TPM2_PolicyGetDigest", rc));
    approved_ = *esys_owned(digest);
    // aHash = H(approvedPolicy || policyRef), policyRef empty: what the keyset's signature, made
    // over the 32 digest bytes with SHA-256, signs.
    Sha256 approved_hash =
        sha256(std::string_view(reinterpret_cast<const char*>(approved_.buffer), approved_.size));
    TPM2B_DIGEST a_hash{};
    a_hash.size = kSha256Size;
    std::memcpy(a_hash.buffer, approved_hash.data(), kSha256Size);
    TPMT_TK_VERIFIED* ticket = nullptr;
    rc = Esys_VerifySignature(esys, key_.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &a_hash,
                              &signature_, &ticket);
    if (rc != TSS2_RC_SUCCESS)
      return std::unexpected(tss2_error(
          "TPM2_VerifySignature of the signed policy (the keyset did not sign this PCR7 and NV "
          "version)",
          rc));
    ticket_ = *esys_owned(ticket);
    verified_ = true;
  }
  // The TPM compares the session's digest with the approved one: a PCR7 changed since the
  // signature was verified fails here.
  TPM2B_NONCE policy_ref{};
  rc = Esys_PolicyAuthorize(esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &approved_,
                            &policy_ref, &key_name_, &ticket_);
  if (rc != TSS2_RC_SUCCESS) return std::unexpected(tss2_error("TPM2_PolicyAuthorize", rc));
  return {};
}

// A failed replay or NV command leaves the session's digest as far as the replay got: the next
// access starts from a clean one.
void PolicySecrets::restart_session() {
  Esys_PolicyRestart(tpm_.esys(), session_.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE);
}

// Reads (write == nullptr) or writes a whole index through the policy, chunk by chunk.
Result<std::string> PolicySecrets::access(std::uint32_t index, const std::string_view* write) {
  ESYS_CONTEXT* esys = tpm_.esys();
  auto what = [&](std::string_view step) {
    return fmt::format("{} NV 0x{:08x} through the keyset {} policy: {}",
                       write ? "writing" : "reading", index, signed_policy_.keyset, step);
  };
  auto in_context = [&](Error error) { return std::unexpected(Error{what(error.message)}); };
  if (!opened_) {
    if (auto opened = open(); !opened) return in_context(opened.error());
  }

  auto nv = tpm_.nv_handle(index);
  if (!nv) return in_context(nv.error());
  ClosedOnExit nv_closed{esys, *nv};
  TPM2B_NV_PUBLIC* nv_public = nullptr;
  TSS2_RC rc =
      Esys_NV_ReadPublic(esys, *nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv_public, nullptr);
  if (rc != TSS2_RC_SUCCESS) return std::unexpected(tss2_error(what("TPM2_NV_ReadPublic"), rc));
  std::uint16_t size = nv_public->nvPublic.dataSize;
  Esys_Free(nv_public);
  if (write != nullptr && write->size() != size)
    return fail("{}", what(fmt::format("{} bytes given, the index holds {}", write->size(), size)));

  std::string secret;
  if (write == nullptr) secret.reserve(size);
  for (std::uint16_t offset = 0; offset < size;) {
    auto chunk = static_cast<std::uint16_t>(std::min<int>(chunk_max_, size - offset));
    for (int attempt = 1;; ++attempt) {
      // A policy session's digest is reset by every use, so each chunk replays the policy.
      if (auto replayed = replay(); !replayed) {
        restart_session();
        return in_context(replayed.error());
      }
      if (tpm_.after_policy_replay) tpm_.after_policy_replay();
      TPM2B_MAX_NV_BUFFER* data = nullptr;
      if (write != nullptr) {
        TPM2B_MAX_NV_BUFFER in{};
        in.size = chunk;
        std::memcpy(in.buffer, write->data() + offset, chunk);
        rc = Esys_NV_Write(esys, *nv, *nv, session_.get(), ESYS_TR_NONE, ESYS_TR_NONE, &in, offset);
        OPENSSL_cleanse(&in, sizeof in);
      } else {
        rc = Esys_NV_Read(esys, *nv, *nv, session_.get(), ESYS_TR_NONE, ESYS_TR_NONE, chunk, offset,
                          &data);
      }
      // Any PCR extended since PolicyPCR fails the command, whichever PCR it was: under secure
      // boot the kernel measures every module it loads into PCR10 (IMA's arch policy), and the
      // initramfs loads modules beside this. PCR7 itself is checked again by the replay.
      if (rc == TPM2_RC_PCR_CHANGED && attempt < kPcrChangedAttempts) {
        rc = Esys_PolicyRestart(esys, session_.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE);
        if (rc != TSS2_RC_SUCCESS)
          return std::unexpected(tss2_error(what("TPM2_PolicyRestart"), rc));
        continue;
      }
      if (rc != TSS2_RC_SUCCESS) {
        restart_session();
        return std::unexpected(
            tss2_error(what(write != nullptr ? "TPM2_NV_Write" : "TPM2_NV_Read"), rc));
      }
      if (data != nullptr) {
        secret.append(reinterpret_cast<const char*>(data->buffer), data->size);
        OPENSSL_cleanse(data->buffer, data->size);
        Esys_Free(data);
      }
      break;
    }
    offset = static_cast<std::uint16_t>(offset + chunk);
  }
  return secret;
}

Result<std::string> read_secret(TpmConnection& tpm, std::uint32_t index, SecretPolicy policy,
                                const SignedPolicy& signed_policy) {
  return PolicySecrets(tpm, policy, signed_policy).read(index);
}

Status write_secret(TpmConnection& tpm, std::uint32_t index, SecretPolicy policy,
                    const SignedPolicy& signed_policy, std::string_view bytes) {
  return PolicySecrets(tpm, policy, signed_policy).write(index, bytes);
}

Result<std::string> read_public_nv(TpmConnection& tpm, std::uint32_t index) {
  ESYS_CONTEXT* esys = tpm.esys();
  MOS_TRY_ASSIGN(ESYS_TR nv, tpm.nv_handle(index));
  ClosedOnExit nv_closed{esys, nv};
  TPM2B_NV_PUBLIC* nv_public = nullptr;
  TSS2_RC rc =
      Esys_NV_ReadPublic(esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv_public, nullptr);
  if (rc != TSS2_RC_SUCCESS)
    return std::unexpected(tss2_error(fmt::format("TPM2_NV_ReadPublic(0x{:08x})", index), rc));
  std::uint16_t size = nv_public->nvPublic.dataSize;
  Esys_Free(nv_public);
  if (size > 1024) return fail("NV 0x{:08x}: {} bytes, expected a short value", index, size);
  TPM2B_MAX_NV_BUFFER* data = nullptr;
  rc = Esys_NV_Read(esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, size, 0, &data);
  if (rc != TSS2_RC_SUCCESS)
    return std::unexpected(tss2_error(fmt::format("TPM2_NV_Read(0x{:08x})", index), rc));
  std::string value(reinterpret_cast<const char*>(data->buffer), data->size);
  Esys_Free(data);
  return value;
}

}  // namespace mos::tpm
