#include "tpm/initrd_setup.hpp"

#include <linux/keyctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "core/file.hpp"
#include "tpm/ea_policy.hpp"
#include "tpm/tpm_secret.hpp"

namespace mos::tpm {

namespace fs = std::filesystem;

Sha256 final_extend_digest() {
  return sha256("atomix\n");
}

Status extend_pcr7_final(TpmConnection& tpm, const std::filesystem::path& save_before) {
  if (!save_before.empty()) {
    // Saved even if the extend then fails: the caller stops the boot in that case anyway.
    MOS_TRY_ASSIGN(Sha256 pcr7, tpm.read_pcr7());
    MOS_TRY(write_file_atomic(
        save_before, std::string(reinterpret_cast<const char*>(pcr7.data()), pcr7.size()), 0644));
  }
  return tpm.extend_pcr7(final_extend_digest());
}

Result<std::int32_t> add_user_key(std::string_view description, std::string_view payload) {
  std::string name(description);
  long serial = ::syscall(SYS_add_key, "user", name.c_str(), payload.data(), payload.size(),
                          KEY_SPEC_USER_KEYRING);
  if (serial < 0)
    return fail("adding the key {} to the user keyring: {}", description, std::strerror(errno));
  return static_cast<std::int32_t>(serial);
}

namespace {

Result<long> find_user_key(std::string_view description) {
  std::string name(description);
  long serial =
      ::syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "user", name.c_str(), 0);
  if (serial < 0)
    return fail("the user keyring has no key {}: {}", description, std::strerror(errno));
  return serial;
}

// Private key files: written 0600 from the start (no chmod window, unlike the original).
Status write_private(const fs::path& path, std::string_view bytes) {
  return write_file_atomic(path, bytes, 0600);
}

Status mount_private_tmpfs(const fs::path& secure_dir) {
  fs::path factory = secure_dir.parent_path();  // /priv/factory
  fs::path priv = factory.parent_path();        // /priv
  MOS_TRY(make_dirs(factory, 0755));
  // /priv becomes its own mount and a slave: what is mounted below it stays out of the shared
  // peer groups, so the secrets do not show in other namespaces.
  if (::mount(priv.c_str(), priv.c_str(), nullptr, MS_BIND, nullptr) != 0)
    return fail("bind-mounting {}: {}", priv.string(), std::strerror(errno));
  if (::mount(nullptr, priv.c_str(), nullptr, MS_SLAVE, nullptr) != 0)
    return fail("making {} a slave mount: {}", priv.string(), std::strerror(errno));
  if (::mount("tmpfs", factory.c_str(), "tmpfs", MS_NODEV | MS_NOSUID | MS_NOEXEC,
              "size=1G,mode=0755") != 0)
    return fail("mounting a tmpfs on {}: {}", factory.string(), std::strerror(errno));
  return {};
}

struct Secrets {
  std::string cert, key, passphrase;
  ~Secrets() {
    OPENSSL_cleanse(key.data(), key.size());
    OPENSSL_cleanse(passphrase.data(), passphrase.size());
  }
};

Result<InitrdSetupReport> read_and_store(TpmConnection& tpm, const Pcr7Data& data,
                                         const InitrdSetupOptions& options) {
  MOS_TRY_ASSIGN(Sha256 pcr7, tpm.read_pcr7());
  MOS_TRY_ASSIGN(SignedPolicy policy, choose_signed_policy(data, pcr7, SecretPolicy::luks));
  Secrets secrets;
  PolicySecrets guarded(tpm, SecretPolicy::luks, std::move(policy));
  MOS_TRY_ASSIGN(secrets.cert, guarded.read(kNvSudiCert));
  MOS_TRY_ASSIGN(secrets.key, guarded.read(kNvSudiKey));
  MOS_TRY_ASSIGN(secrets.passphrase, guarded.read(kNvOsPassphrase));

  if (options.mount_tmpfs) MOS_TRY(mount_private_tmpfs(options.dest));
  MOS_TRY(make_dirs(options.dest, 0700));
  if (::chmod(options.dest.c_str(), 0700) != 0)
    return fail("chmod 0700 {}: {}", options.dest.string(), std::strerror(errno));
  InitrdSetupReport report;
  report.cert = options.dest / kSudiCertFile;
  report.key = options.dest / kSudiKeyFile;
  MOS_TRY(write_private(report.cert, secrets.cert));
  MOS_TRY(write_private(report.key, secrets.key));
  MOS_TRY_ASSIGN(report.passphrase_key_serial,
                 add_user_key(options.keyring_description, secrets.passphrase));
  return report;
}

}  // namespace

Result<std::string> read_user_key(std::string_view description) {
  MOS_TRY_ASSIGN(long serial, find_user_key(description));
  std::string payload(4096, '\0');
  long size = ::syscall(SYS_keyctl, KEYCTL_READ, serial, payload.data(), payload.size());
  if (size < 0) return fail("reading the key {}: {}", description, std::strerror(errno));
  payload.resize(static_cast<std::size_t>(size));
  return payload;
}

Status remove_user_key(std::string_view description) {
  MOS_TRY_ASSIGN(long serial, find_user_key(description));
  if (::syscall(SYS_keyctl, KEYCTL_UNLINK, serial, KEY_SPEC_USER_KEYRING) != 0)
    return fail("unlinking the key {}: {}", description, std::strerror(errno));
  return {};
}

namespace {

// Extends PCR7 whatever `done` holds: a failed step must not leave the policy satisfiable for
// what runs next. If the extend fails, the caller must not go on booting.
template <class T>
Result<T> then_extend(TpmConnection& tpm, Result<T> done) {
  auto extended = extend_pcr7_final(tpm);
  if (!extended) {
    if (!done)
      return fail("{}; then extending PCR7 failed too: {}", done.error().message,
                  extended.error().message);
    return fail("the secrets were read but extending PCR7 failed (do not continue the boot): {}",
                extended.error().message);
  }
  if (done) {
    MOS_TRY_ASSIGN(done->pcr7_after, tpm.read_pcr7());
  }
  return done;
}

Result<PreinstallReport> write_new_passphrase(TpmConnection& tpm, const Pcr7Data& data,
                                              std::string_view keyring_description) {
  MOS_TRY_ASSIGN(Sha256 pcr7, tpm.read_pcr7());
  MOS_TRY_ASSIGN(SignedPolicy policy, choose_signed_policy(data, pcr7, SecretPolicy::luks));
  Secrets secrets;
  MOS_TRY_ASSIGN(secrets.passphrase, random_hex(20));
  MOS_TRY(write_secret(tpm, kNvOsPassphrase, SecretPolicy::luks, policy, secrets.passphrase));
  PreinstallReport report;
  MOS_TRY_ASSIGN(report.passphrase_key_serial,
                 add_user_key(keyring_description, secrets.passphrase));
  return report;
}

}  // namespace

Result<InitrdSetupReport> initrd_setup(TpmConnection& tpm, const Pcr7Data& data,
                                       const InitrdSetupOptions& options) {
  return then_extend(tpm, read_and_store(tpm, data, options));
}

Result<PreinstallReport> preinstall(TpmConnection& tpm, const Pcr7Data& data,
                                    std::string_view keyring_description) {
  return then_extend(tpm, write_new_passphrase(tpm, data, keyring_description));
}

}  // namespace mos::tpm
