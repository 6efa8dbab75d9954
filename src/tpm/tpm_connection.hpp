#pragma once
// A connection to a TPM 2.0 through tpm2-tss's ESAPI (the device side of original-trust.md §5,
// which ran tpm2-tools commands instead). The TCTI string picks the transport: "device:/dev/
// tpmrm0" on a machine (the kernel's resource manager), "swtpm:host=127.0.0.1,port=P" in tests.
//
// Secrets cross the bus inside salted sessions only: every command that carries one (a new
// hierarchy password, an NV write or read of a secret) runs with a session salted to an ECC key
// made in the null hierarchy, with AES-128-CFB parameter encryption, so a bus sniffer sees
// neither the admin password nor the SUDI key (the original ran tpm2-tools with passwords in
// argv and unencrypted sessions).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <tss2/tss2_esys.h>

#include "core/result.hpp"
#include "tpm/digest.hpp"

namespace mos::tpm {

inline constexpr std::string_view kDefaultTcti = "device:/dev/tpmrm0";

// "what: TPM error text (0x...)" from Tss2_RC_Decode.
Error tss2_error(std::string_view what, TSS2_RC rc);

class TpmConnection;

// A transient object or session that is flushed when it goes out of scope.
class FlushedHandle {
 public:
  FlushedHandle() = default;
  FlushedHandle(ESYS_CONTEXT* esys, ESYS_TR handle) : esys_(esys), handle_(handle) {}
  FlushedHandle(FlushedHandle&& other) noexcept
      : esys_(other.esys_), handle_(std::exchange(other.handle_, ESYS_TR_NONE)) {}
  FlushedHandle& operator=(FlushedHandle&& other) noexcept;
  FlushedHandle(const FlushedHandle&) = delete;
  FlushedHandle& operator=(const FlushedHandle&) = delete;
  ~FlushedHandle();

  ESYS_TR get() const { return handle_; }

 private:
  ESYS_CONTEXT* esys_ = nullptr;
  ESYS_TR handle_ = ESYS_TR_NONE;
};

class TpmConnection {
 public:
  // Opens the TCTI and the ESAPI context; the TPM is expected to be started (firmware, or swtpm
  // with startup-clear).
  static Result<TpmConnection> open(std::string_view tcti = kDefaultTcti);

  TpmConnection(TpmConnection&&) noexcept = default;
  TpmConnection& operator=(TpmConnection&&) noexcept = default;
  ~TpmConnection();

  ESYS_CONTEXT* esys() const { return esys_.get(); }
  const std::string& tcti() const { return tcti_; }

  Result<Sha256> read_pcr7();
  // TPM2_PCR_Extend of PCR7 in the SHA-256 bank (the other banks are left alone, as
  // tpm2_pcrextend 7:sha256=... does).
  Status extend_pcr7(const Sha256& digest);

  // TPM2_PT_NV_BUFFER_MAX: the largest NV read or write in one command.
  Result<std::uint16_t> nv_buffer_max();

  // A session salted to a null-hierarchy ECC key (made once per connection and kept), with
  // AES-128-CFB parameter encryption both ways: TPM2_SE_HMAC to authorize with a password,
  // TPM2_SE_POLICY to replay a policy.
  Result<FlushedHandle> start_salted_session(TPM2_SE type);

  // The ESAPI handle of an NV index (its public area read from the TPM; Esys_TR_Close it when
  // done); an error naming the index when it is not defined.
  Result<ESYS_TR> nv_handle(std::uint32_t index);
  // Whether the index is defined.
  Result<bool> nv_defined(std::uint32_t index);

  // For tests: runs between a policy's replay and the NV command it authorizes, to extend a PCR
  // there as a module that the kernel measures while the initramfs reads its secrets does.
  std::function<void()> after_policy_replay;

 private:
  struct TctiDeleter {
    void operator()(TSS2_TCTI_CONTEXT* tcti) const;
  };
  struct EsysDeleter {
    void operator()(ESYS_CONTEXT* esys) const;
  };
  TpmConnection() = default;
  Result<ESYS_TR> salt_key();

  std::string tcti_;
  std::unique_ptr<TSS2_TCTI_CONTEXT, TctiDeleter> tcti_context_;
  std::unique_ptr<ESYS_CONTEXT, EsysDeleter> esys_;  // declared after tcti: freed first
  FlushedHandle salt_key_;
};

// hex of n random bytes from OpenSSL's RAND_bytes (which the kernel's RNG seeds; /dev/hwrng is
// not required, unlike the original).
Result<std::string> random_hex(std::size_t bytes);

}  // namespace mos::tpm
