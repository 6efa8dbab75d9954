#include "tpm/tpm_connection.hpp"

#include <cstdlib>
#include <cstring>
#include <utility>

#include <openssl/rand.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "tpm/ea_policy.hpp"

namespace mos::tpm {

Error tss2_error(std::string_view what, TSS2_RC rc) {
  return Error{fmt::format("{}: {} (0x{:x})", what, Tss2_RC_Decode(rc), rc)};
}

FlushedHandle& FlushedHandle::operator=(FlushedHandle&& other) noexcept {
  if (this != &other) {
    if (esys_ != nullptr && handle_ != ESYS_TR_NONE) Esys_FlushContext(esys_, handle_);
    esys_ = other.esys_;
    handle_ = std::exchange(other.handle_, ESYS_TR_NONE);
  }
  return *this;
}

FlushedHandle::~FlushedHandle() {
  if (esys_ != nullptr && handle_ != ESYS_TR_NONE) Esys_FlushContext(esys_, handle_);
}

void TpmConnection::TctiDeleter::operator()(TSS2_TCTI_CONTEXT* tcti) const {
  Tss2_TctiLdr_Finalize(&tcti);
}

void TpmConnection::EsysDeleter::operator()(ESYS_CONTEXT* esys) const {
  Esys_Finalize(&esys);
}

TpmConnection::~TpmConnection() {
  salt_key_ = FlushedHandle();  // flushed while the context still exists
}

Result<TpmConnection> TpmConnection::open(std::string_view tcti) {
  // tpm2-tss logs every TPM error on stderr itself; our messages carry them decoded, so its log
  // stays off unless the user asked for it.
  ::setenv("TSS2_LOG", "all+NONE", 0);
  TpmConnection connection;
  connection.tcti_ = std::string(tcti);
  TSS2_TCTI_CONTEXT* tcti_context = nullptr;
  TSS2_RC rc = Tss2_TctiLdr_Initialize(connection.tcti_.c_str(), &tcti_context);
  if (rc != TSS2_RC_SUCCESS)
    return std::unexpected(tss2_error(fmt::format("opening the TPM at {}", tcti), rc));
  connection.tcti_context_.reset(tcti_context);
  ESYS_CONTEXT* esys = nullptr;
  rc = Esys_Initialize(&esys, tcti_context, nullptr);
  if (rc != TSS2_RC_SUCCESS)
    return std::unexpected(tss2_error(fmt::format("starting ESAPI on {}", tcti), rc));
  connection.esys_.reset(esys);
  return connection;
}

namespace {

TPML_PCR_SELECTION pcr7_selection_list() {
  TPML_PCR_SELECTION selection{};
  selection.count = 1;
  selection.pcrSelections[0].hash = TPM2_ALG_SHA256;
  selection.pcrSelections[0].sizeofSelect = 3;
  selection.pcrSelections[0].pcrSelect[kPcr7 / 8] = 1u << (kPcr7 % 8);
  return selection;
}

}  // namespace

Result<Sha256> TpmConnection::read_pcr7() {
  TPML_PCR_SELECTION selection = pcr7_selection_list();
  UINT32 update_counter = 0;
  TPML_PCR_SELECTION* selected = nullptr;
  TPML_DIGEST* values = nullptr;
  TSS2_RC rc = Esys_PCR_Read(esys(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &selection,
                             &update_counter, &selected, &values);
  if (rc != TSS2_RC_SUCCESS) return std::unexpected(tss2_error("reading PCR7 (sha256)", rc));
  std::unique_ptr<TPML_PCR_SELECTION, decltype(&Esys_Free)> selected_owner(selected, Esys_Free);
  std::unique_ptr<TPML_DIGEST, decltype(&Esys_Free)> values_owner(values, Esys_Free);
  if (values->count != 1 || values->digests[0].size != kSha256Size)
    return fail("reading PCR7: the TPM has no SHA-256 bank with PCR7 (got {} values)",
                values->count);
  Sha256 pcr{};
  std::memcpy(pcr.data(), values->digests[0].buffer, kSha256Size);
  return pcr;
}

Status TpmConnection::extend_pcr7(const Sha256& digest) {
  TPML_DIGEST_VALUES values{};
  values.count = 1;
  values.digests[0].hashAlg = TPM2_ALG_SHA256;
  std::memcpy(values.digests[0].digest.sha256, digest.data(), kSha256Size);
  TSS2_RC rc = Esys_PCR_Extend(esys(), ESYS_TR_PCR0 + kPcr7, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE, &values);
  if (rc != TSS2_RC_SUCCESS) return std::unexpected(tss2_error("extending PCR7 (sha256)", rc));
  return {};
}

Result<std::uint16_t> TpmConnection::nv_buffer_max() {
  TPMI_YES_NO more = TPM2_NO;
  TPMS_CAPABILITY_DATA* data = nullptr;
  TSS2_RC rc = Esys_GetCapability(esys(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                  TPM2_CAP_TPM_PROPERTIES, TPM2_PT_NV_BUFFER_MAX, 1, &more, &data);
  if (rc != TSS2_RC_SUCCESS)
    return std::unexpected(tss2_error("reading TPM2_PT_NV_BUFFER_MAX", rc));
  std::unique_ptr<TPMS_CAPABILITY_DATA, decltype(&Esys_Free)> owner(data, Esys_Free);
  const auto& properties = data->data.tpmProperties;
  if (properties.count < 1 || properties.tpmProperty[0].property != TPM2_PT_NV_BUFFER_MAX ||
      properties.tpmProperty[0].value == 0)
    return fail("reading TPM2_PT_NV_BUFFER_MAX: the TPM did not report it");
  // Reads and writes are bounded by the command buffer too; 1024 is what every TPM takes.
  return static_cast<std::uint16_t>(std::min<UINT32>(properties.tpmProperty[0].value, 1024));
}

Result<ESYS_TR> TpmConnection::salt_key() {
  if (salt_key_.get() != ESYS_TR_NONE) return salt_key_.get();
  // An ECC P-256 storage key in the null hierarchy: fast to make (no RSA prime search), and
  // the null hierarchy needs no password, even after provisioning.
  TPM2B_PUBLIC in_public{};
  TPMT_PUBLIC& area = in_public.publicArea;
  area.type = TPM2_ALG_ECC;
  area.nameAlg = TPM2_ALG_SHA256;
  area.objectAttributes = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |
                          TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                          TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_NODA;
  area.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
  area.parameters.eccDetail.symmetric.keyBits.aes = 128;
  area.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  area.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  area.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  area.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  TPM2B_SENSITIVE_CREATE in_sensitive{};
  TPM2B_DATA outside_info{};
  TPML_PCR_SELECTION creation_pcr{};
  ESYS_TR key = ESYS_TR_NONE;
  TSS2_RC rc = Esys_CreatePrimary(esys(), ESYS_TR_RH_NULL, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                  ESYS_TR_NONE, &in_sensitive, &in_public, &outside_info,
                                  &creation_pcr, &key, nullptr, nullptr, nullptr, nullptr);
  if (rc != TSS2_RC_SUCCESS)
    return std::unexpected(tss2_error("creating the session salt key (null hierarchy)", rc));
  salt_key_ = FlushedHandle(esys(), key);
  return key;
}

Result<FlushedHandle> TpmConnection::start_salted_session(TPM2_SE type) {
  MOS_TRY_ASSIGN(ESYS_TR key, salt_key());
  TPMT_SYM_DEF symmetric{};
  symmetric.algorithm = TPM2_ALG_AES;
  symmetric.keyBits.aes = 128;
  symmetric.mode.aes = TPM2_ALG_CFB;
  ESYS_TR session = ESYS_TR_NONE;
  TSS2_RC rc =
      Esys_StartAuthSession(esys(), key, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                            nullptr, type, &symmetric, TPM2_ALG_SHA256, &session);
  if (rc != TSS2_RC_SUCCESS)
    return std::unexpected(tss2_error(
        type == TPM2_SE_POLICY ? "starting a policy session" : "starting an HMAC session", rc));
  FlushedHandle owned(esys(), session);
  rc = Esys_TRSess_SetAttributes(
      esys(), session, TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT,
      0xff);
  if (rc != TSS2_RC_SUCCESS)
    return std::unexpected(tss2_error("setting the session's encryption", rc));
  return owned;
}

Result<ESYS_TR> TpmConnection::nv_handle(std::uint32_t index) {
  ESYS_TR handle = ESYS_TR_NONE;
  TSS2_RC rc =
      Esys_TR_FromTPMPublic(esys(), index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &handle);
  // TPM_RC_HANDLE (whichever handle number the TPM names) from the TPM itself: the index does
  // not exist, which on a machine means its TPM was never provisioned.
  if ((rc & 0xffff00bfu) == TPM2_RC_HANDLE)
    return fail(
        "NV index 0x{:08x} is not defined in this TPM: it was not provisioned (mosctl "
        "provision)",
        index);
  if (rc != TSS2_RC_SUCCESS)
    return std::unexpected(tss2_error(fmt::format("NV index 0x{:08x}", index), rc));
  return handle;
}

Result<bool> TpmConnection::nv_defined(std::uint32_t index) {
  TPMI_YES_NO more = TPM2_NO;
  TPMS_CAPABILITY_DATA* data = nullptr;
  TSS2_RC rc = Esys_GetCapability(esys(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                  TPM2_CAP_HANDLES, index, 1, &more, &data);
  if (rc != TSS2_RC_SUCCESS)
    return std::unexpected(tss2_error(fmt::format("listing NV index 0x{:08x}", index), rc));
  std::unique_ptr<TPMS_CAPABILITY_DATA, decltype(&Esys_Free)> owner(data, Esys_Free);
  return data->data.handles.count >= 1 && data->data.handles.handle[0] == index;
}

Result<std::string> random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
    return fail("the random generator (OpenSSL RAND_bytes) failed");
  std::string hex;
  hex.reserve(bytes * 2);
  for (unsigned char byte : raw) hex += fmt::format("{:02x}", byte);
  OPENSSL_cleanse(raw.data(), raw.size());
  return hex;
}

}  // namespace mos::tpm
