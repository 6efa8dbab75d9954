#pragma once
// What the initrd of a provisioned machine does with its TPM (original-trust.md §5
// `initrd-setup`): read the SUDI certificate and key and the OS LUKS passphrase through the
// keyset's luks policy, put the SUDI in a private tmpfs and the passphrase in the kernel
// keyring, then extend PCR7 with sha256("atomix\n") so that nothing started later can satisfy
// the policy again. The extend happens on every path out, errors included.
#include <cstdint>
#include <filesystem>
#include <string>

#include "core/result.hpp"
#include "tpm/digest.hpp"
#include "tpm/pcr7data.hpp"
#include "tpm/tpm_connection.hpp"

namespace mos::tpm {

// sha256("atomix\n") = b7135cbb…e0a7, the original's final PCR7 extend.
Sha256 final_extend_digest();

// Extends PCR7 with final_extend_digest(): `mosctl extend-pcr7` (no pcr7data needed, unlike
// the original's). With `save_before`, PCR7 is first written there as 32 raw bytes (the
// original's /pcr7.bin, which a provisioning live system chooses the keyset by).
Status extend_pcr7_final(TpmConnection& tpm, const std::filesystem::path& save_before = {});

inline constexpr std::string_view kDefaultSecureDir = "/priv/factory/secure";
inline constexpr std::string_view kSudiCertFile = "server.crt";
inline constexpr std::string_view kSudiKeyFile = "server.key";
inline constexpr std::string_view kOsPassphraseKey = "machine:luks";

struct InitrdSetupOptions {
  // Where server.crt and server.key (0600) go; the directory is made 0700.
  std::filesystem::path dest = std::string(kDefaultSecureDir);
  // Mount a private tmpfs on dest's parent first (/priv/factory; /priv made a bind mount and a
  // slave, so the secrets do not propagate to other mount namespaces). Off for tests (--dest).
  bool mount_tmpfs = true;
  // The user-type key of the kernel's user keyring that receives the OS passphrase.
  std::string keyring_description = std::string(kOsPassphraseKey);
};

struct InitrdSetupReport {
  std::filesystem::path cert;
  std::filesystem::path key;
  std::int32_t passphrase_key_serial = 0;
  Sha256 pcr7_after{};  // the final value, after the extend
};

// Reads, then writes (nothing is written when any read fails), then extends.
Result<InitrdSetupReport> initrd_setup(TpmConnection& tpm, const Pcr7Data& data,
                                       const InitrdSetupOptions& options);

// `mosctl preinstall` (the boot of the install media): a new OS passphrase, written to
// 0x01500040 through the luks policy (policywrite) and then put in the kernel keyring, for the
// installer's LUKS volume; PCR7 is extended on every path out, as in initrd_setup. The TPM is
// written before the keyring, so a passphrase in the keyring is always the TPM's.
struct PreinstallReport {
  std::int32_t passphrase_key_serial = 0;
  Sha256 pcr7_after{};
};
Result<PreinstallReport> preinstall(TpmConnection& tpm, const Pcr7Data& data,
                                    std::string_view keyring_description = kOsPassphraseKey);

// The kernel keyring (add_key/keyctl system calls; no libkeyutils needed).
Result<std::int32_t> add_user_key(std::string_view description, std::string_view payload);
Result<std::string> read_user_key(std::string_view description);
Status remove_user_key(std::string_view description);

}  // namespace mos::tpm
