#include "tpm/tpm_provision.hpp"

#include <algorithm>
#include <cstring>
#include <set>

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <tss2/tss2_rc.h>

#include "core/file.hpp"
#include "tpm/ea_policy.hpp"
#include "tpm/tpm_secret.hpp"

namespace mos::tpm {

namespace {

// Random secrets: the admin password (128 bits, 32 hex characters: a hierarchy password may
// not be longer than a SHA-256 digest) and the LUKS passphrases (160 bits, the original's 40
// characters).
inline constexpr std::size_t kAdminPasswordBytes = 16;
inline constexpr std::size_t kPassphraseBytes = 20;

inline constexpr std::uint32_t kSecretAttributes =
    kTpmaNvOwnerWrite | kTpmaNvOwnerRead | kTpmaNvPolicyRead;
inline constexpr std::uint32_t kPublicAttributes =
    kTpmaNvOwnerWrite | kTpmaNvOwnerRead | kTpmaNvAuthRead;

// A string whose bytes are wiped when it goes.
struct Secret {
  std::string value;
  Secret() = default;
  explicit Secret(std::string v) : value(std::move(v)) {}
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret() { OPENSSL_cleanse(value.data(), value.size()); }
};

TPM2B_AUTH auth_of(std::string_view password) {
  TPM2B_AUTH auth{};
  auth.size = static_cast<UINT16>(std::min(password.size(), sizeof(auth.buffer)));
  std::memcpy(auth.buffer, password.data(), auth.size);
  return auth;
}

// Clears the TPM: through the platform hierarchy when the firmware left it open (swtpm, some
// boards), else through lockout with `lockout_password` (empty on a fresh TPM).
Result<std::string> clear_tpm(TpmConnection& tpm, std::string_view lockout_password) {
  ESYS_CONTEXT* esys = tpm.esys();
  TSS2_RC rc = Esys_Clear(esys, ESYS_TR_RH_PLATFORM, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
  if (rc == TSS2_RC_SUCCESS) return std::string("platform");
  spdlog::debug("TPM2_Clear through the platform hierarchy: {}", Tss2_RC_Decode(rc));
  TPM2B_AUTH auth = auth_of(lockout_password);
  Esys_TR_SetAuth(esys, ESYS_TR_RH_LOCKOUT, &auth);
  rc = Esys_Clear(esys, ESYS_TR_RH_LOCKOUT, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
  OPENSSL_cleanse(&auth, sizeof auth);
  TPM2B_AUTH empty{};
  Esys_TR_SetAuth(esys, ESYS_TR_RH_LOCKOUT, &empty);
  if (rc != TSS2_RC_SUCCESS)
    return std::unexpected(tss2_error(
        "TPM2_Clear (the platform hierarchy is closed and the lockout password is not empty; "
        "clear the TPM from the firmware, or boot the uki-tpm kernel so the admin password can "
        "be read)",
        rc));
  return std::string("lockout");
}

Result<ESYS_TR> define_index(TpmConnection& tpm, ESYS_TR session, std::uint32_t index,
                             std::uint32_t attributes, const Sha256* auth_policy,
                             std::size_t size) {
  if (size == 0 || size > 2048)
    return fail("NV 0x{:08x}: {} bytes, expected 1 to 2048", index, size);
  TPM2B_NV_PUBLIC info{};
  info.nvPublic.nvIndex = index;
  info.nvPublic.nameAlg = TPM2_ALG_SHA256;
  info.nvPublic.attributes = attributes;
  if (auth_policy != nullptr) {
    info.nvPublic.authPolicy.size = kSha256Size;
    std::memcpy(info.nvPublic.authPolicy.buffer, auth_policy->data(), kSha256Size);
  }
  info.nvPublic.dataSize = static_cast<UINT16>(size);
  TPM2B_AUTH empty{};
  ESYS_TR handle = ESYS_TR_NONE;
  TSS2_RC rc = Esys_NV_DefineSpace(tpm.esys(), ESYS_TR_RH_OWNER, session, ESYS_TR_NONE,
                                   ESYS_TR_NONE, &empty, &info, &handle);
  if (rc != TSS2_RC_SUCCESS)
    return std::unexpected(tss2_error(fmt::format("defining NV 0x{:08x}", index), rc));
  return handle;
}

Status write_index(TpmConnection& tpm, ESYS_TR session, ESYS_TR handle, std::uint32_t index,
                   std::string_view bytes, std::uint16_t chunk_max) {
  for (std::size_t offset = 0; offset < bytes.size();) {
    std::size_t chunk = std::min<std::size_t>(chunk_max, bytes.size() - offset);
    TPM2B_MAX_NV_BUFFER data{};
    data.size = static_cast<UINT16>(chunk);
    std::memcpy(data.buffer, bytes.data() + offset, chunk);
    TSS2_RC rc = Esys_NV_Write(tpm.esys(), ESYS_TR_RH_OWNER, handle, session, ESYS_TR_NONE,
                               ESYS_TR_NONE, &data, static_cast<UINT16>(offset));
    OPENSSL_cleanse(&data, sizeof data);
    if (rc != TSS2_RC_SUCCESS)
      return std::unexpected(
          tss2_error(fmt::format("writing NV 0x{:08x} at offset {}", index, offset), rc));
    offset += chunk;
  }
  return {};
}

Status store(TpmConnection& tpm, ESYS_TR session, std::uint32_t index, std::uint32_t attributes,
             const Sha256* auth_policy, std::string_view bytes, std::uint16_t chunk_max) {
  MOS_TRY_ASSIGN(ESYS_TR handle,
                 define_index(tpm, session, index, attributes, auth_policy, bytes.size()));
  return write_index(tpm, session, handle, index, bytes, chunk_max);
}

Status change_hierarchy_auth(TpmConnection& tpm, ESYS_TR session, ESYS_TR hierarchy,
                             std::string_view name, std::string_view password) {
  TPM2B_AUTH auth = auth_of(password);
  TSS2_RC rc =
      Esys_HierarchyChangeAuth(tpm.esys(), hierarchy, session, ESYS_TR_NONE, ESYS_TR_NONE, &auth);
  if (rc == TSS2_RC_SUCCESS) rc = Esys_TR_SetAuth(tpm.esys(), hierarchy, &auth);
  OPENSSL_cleanse(&auth, sizeof auth);
  if (rc != TSS2_RC_SUCCESS)
    return std::unexpected(tss2_error(fmt::format("setting the {} password", name), rc));
  return {};
}

}  // namespace

Result<std::string> provisioning_keyset(const Pcr7Data& data, const Sha256& current_pcr7) {
  const Pcr7Policy& newest = data.newest();
  if (const Pcr7IndexEntry* entry = newest.find(current_pcr7);
      entry != nullptr && entry->info.key_type == Pcr7KeyType::production)
    return entry->info.key;
  std::set<std::string> keysets;
  for (const auto& entry : newest.entries)
    if (newest.pubkeys.contains(luks_pubkey_name(entry.info.key)) &&
        newest.pubkeys.contains(tpmpass_pubkey_name(entry.info.key)))
      keysets.insert(entry.info.key);
  if (keysets.size() != 1)
    return fail(
        "pcr7data {} names {} keysets with both policy keys and none for the current "
        "PCR7 {}; expected exactly one",
        policy_dir_name(newest.version), keysets.size(), to_hex(current_pcr7));
  return *keysets.begin();
}

Result<bool> tpm_is_provisioned(TpmConnection& tpm) {
  return tpm.nv_defined(kNvLayoutVersion);
}

Result<std::optional<Sha256>> read_boot_pcr7(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return std::optional<Sha256>{};
  MOS_TRY_ASSIGN(auto bytes, read_file(file, 1024));
  if (bytes.size() != kSha256Size)
    return fail("{}: {} bytes, expected a PCR7 value of {}", file.string(), bytes.size(),
                kSha256Size);
  Sha256 pcr7{};
  std::copy(bytes.begin(), bytes.end(), pcr7.begin());
  return std::optional<Sha256>{pcr7};
}

Result<std::string> new_passphrase() {
  return random_hex(kPassphraseBytes);
}

Result<bool> check_provisionable(TpmConnection& tpm, bool wipe) {
  MOS_TRY_ASSIGN(bool provisioned, tpm_is_provisioned(tpm));
  if (provisioned && !wipe)
    return fail(
        "the TPM at {} is already provisioned (NV 0x{:08x} exists); give --wipe to erase it",
        tpm.tcti(), kNvLayoutVersion);
  return provisioned;
}

Result<ProvisionReport> provision_tpm(TpmConnection& tpm, const Pcr7Data& data,
                                      const ProvisionRequest& request) {
  if (request.sudi_cert_pem.empty() || request.sudi_key_pem.empty())
    return fail("provisioning needs the SUDI certificate and key");
  MOS_TRY(check_policy_version(request.policy_version));
  Sha256 pcr7{};
  if (request.boot_pcr7) {
    pcr7 = *request.boot_pcr7;
  } else {
    MOS_TRY_ASSIGN(pcr7, tpm.read_pcr7());
  }
  MOS_TRY_ASSIGN(std::string keyset, provisioning_keyset(data, pcr7));
  const Pcr7Policy& newest = data.newest();
  const std::string& tpmpass_pem = newest.pubkeys.at(tpmpass_pubkey_name(keyset));
  const std::string& luks_pem = newest.pubkeys.at(luks_pubkey_name(keyset));
  MOS_TRY_ASSIGN(Sha256 tpmpass_policy,
                 policy_authorize_digest(tpmpass_pem, tpmpass_pubkey_name(keyset)));
  MOS_TRY_ASSIGN(Sha256 luks_policy, policy_authorize_digest(luks_pem, luks_pubkey_name(keyset)));

  ProvisionReport report;
  report.keyset = keyset;
  MOS_TRY_ASSIGN(bool provisioned, check_provisionable(tpm, request.wipe));
  Secret old_admin;
  if (provisioned) {
    // Without the platform hierarchy, clearing needs the lockout password, which a uki-tpm
    // boot can read from 0x01500001.
    if (auto chosen = choose_signed_policy(data, pcr7, SecretPolicy::passwd); chosen) {
      if (auto admin = read_secret(tpm, kNvAdminPassword, SecretPolicy::passwd, *chosen); admin)
        old_admin.value = std::move(*admin);
    }
  }
  MOS_TRY_ASSIGN(report.cleared_through, clear_tpm(tpm, old_admin.value));

  ESYS_CONTEXT* esys = tpm.esys();
  TSS2_RC rc = Esys_DictionaryAttackParameters(esys, ESYS_TR_RH_LOCKOUT, ESYS_TR_PASSWORD,
                                               ESYS_TR_NONE, ESYS_TR_NONE, kDaMaxTries,
                                               kDaRecoverySeconds, kDaLockoutRecoverySeconds);
  if (rc != TSS2_RC_SUCCESS)
    return std::unexpected(tss2_error("setting the dictionary-attack parameters", rc));
  rc = Esys_DictionaryAttackLockReset(esys, ESYS_TR_RH_LOCKOUT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                      ESYS_TR_NONE);
  if (rc != TSS2_RC_SUCCESS)
    return std::unexpected(tss2_error("resetting the dictionary-attack lockout", rc));

  Secret admin, sbf, os;
  MOS_TRY_ASSIGN(admin.value, random_hex(kAdminPasswordBytes));
  if (request.sbf_passphrase.empty()) {
    MOS_TRY_ASSIGN(sbf.value, new_passphrase());
  } else {
    sbf.value = request.sbf_passphrase;
  }
  MOS_TRY_ASSIGN(os.value, new_passphrase());
  MOS_TRY_ASSIGN(std::uint16_t chunk_max, tpm.nv_buffer_max());
  // One salted HMAC session authorizes every owner command, so the secrets cross the bus
  // encrypted.
  MOS_TRY_ASSIGN(FlushedHandle session, tpm.start_salted_session(TPM2_SE_HMAC));
  ESYS_TR s = session.get();

  MOS_TRY(store(tpm, s, kNvEaPolicyVersion, kPublicAttributes, nullptr, request.policy_version,
                chunk_max));
  MOS_TRY(store(tpm, s, kNvSudiCert, kSecretAttributes, &luks_policy, request.sudi_cert_pem,
                chunk_max));
  MOS_TRY(
      store(tpm, s, kNvSudiKey, kSecretAttributes, &luks_policy, request.sudi_key_pem, chunk_max));
  MOS_TRY(store(tpm, s, kNvSbfPassphrase, kSecretAttributes, &luks_policy, sbf.value, chunk_max));
  MOS_TRY(store(tpm, s, kNvOsPassphrase, kSecretAttributes | kTpmaNvPolicyWrite, &luks_policy,
                os.value, chunk_max));
  MOS_TRY(
      store(tpm, s, kNvAdminPassword, kSecretAttributes, &tpmpass_policy, admin.value, chunk_max));

  MOS_TRY(change_hierarchy_auth(tpm, s, ESYS_TR_RH_OWNER, "owner", admin.value));
  MOS_TRY(change_hierarchy_auth(tpm, s, ESYS_TR_RH_ENDORSEMENT, "endorsement", admin.value));
  MOS_TRY(store(tpm, s, kNvLayoutVersion, kPublicAttributes, nullptr, kNvLayoutVersionValue,
                chunk_max));
  MOS_TRY(change_hierarchy_auth(tpm, s, ESYS_TR_RH_LOCKOUT, "lockout", admin.value));
  // The context forgets the password it now knows.
  TPM2B_AUTH empty{};
  for (ESYS_TR hierarchy : {ESYS_TR_RH_OWNER, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_RH_LOCKOUT})
    Esys_TR_SetAuth(esys, hierarchy, &empty);
  return report;
}

}  // namespace mos::tpm
