#include "atomfs/luks_volume.hpp"

#include "atomfs/cryptsetup_session.hpp"
#include "atomfs/verity_device.hpp"

namespace mos::atomfs {

namespace {

// The passphrases here are random secrets of at least 128 bits that a TPM hands out, never typed
// by a person: a memory-hard KDF tuned to take seconds protects nothing more and costs a
// machine's boot (seconds more under emulation, and a gigabyte of memory in a live system).
// PBKDF2 at libcryptsetup's minimum iterations is enough for them.
crypt_pbkdf_type secret_pbkdf() {
  crypt_pbkdf_type pbkdf{};
  pbkdf.type = CRYPT_KDF_PBKDF2;
  pbkdf.hash = "sha256";
  pbkdf.iterations = 1000;
  pbkdf.flags = CRYPT_PBKDF_NO_BENCHMARK;
  return pbkdf;
}

Result<CryptHandle> init_device(const std::string& device, CryptLog& log) {
  quiet_default_crypt_log();
  crypt_device* raw = nullptr;
  if (int rc = crypt_init(&raw, device.c_str()); rc < 0)
    return fail("opening {} for LUKS: {}", device, crypt_failure(rc, log));
  CryptHandle cd(raw);
  crypt_set_log_callback(cd.get(), log_to_crypt_log, &log);
  return cd;
}

Result<CryptHandle> load_luks2(const std::string& device, CryptLog& log) {
  MOS_TRY_ASSIGN(auto cd, init_device(device, log));
  if (int rc = crypt_load(cd.get(), CRYPT_LUKS2, nullptr); rc < 0)
    return fail("{} holds no LUKS2 volume: {}", device, crypt_failure(rc, log));
  return cd;
}

}  // namespace

Status format_luks2(const std::string& device, std::string_view passphrase,
                    std::string_view label) {
  CryptLog log;
  MOS_TRY_ASSIGN(auto cd, init_device(device, log));
  auto pbkdf = secret_pbkdf();
  if (int rc = crypt_set_pbkdf_type(cd.get(), &pbkdf); rc < 0)
    return fail("choosing PBKDF2 for {}: {}", device, crypt_failure(rc, log));
  std::string label_text(label);
  crypt_params_luks2 params{};
  params.sector_size = 512;
  params.label = label_text.c_str();
  params.pbkdf = &pbkdf;
  if (int rc =
          crypt_format(cd.get(), CRYPT_LUKS2, "aes", "xts-plain64", nullptr, nullptr, 64, &params);
      rc < 0)
    return fail("formatting {} as LUKS2: {}", device, crypt_failure(rc, log));
  if (int rc = crypt_keyslot_add_by_volume_key(cd.get(), CRYPT_ANY_SLOT, nullptr, 0,
                                               passphrase.data(), passphrase.size());
      rc < 0)
    return fail("adding the passphrase's keyslot to {}: {}", device, crypt_failure(rc, log));
  return {};
}

Status check_luks_passphrase(const std::string& device, std::string_view passphrase) {
  CryptLog log;
  MOS_TRY_ASSIGN(auto cd, load_luks2(device, log));
  // No name: libcryptsetup only checks that a keyslot opens.
  if (int rc = crypt_activate_by_passphrase(cd.get(), nullptr, CRYPT_ANY_SLOT, passphrase.data(),
                                            passphrase.size(), 0);
      rc < 0)
    return fail("the passphrase opens no keyslot of the LUKS volume on {}: {}", device,
                crypt_failure(rc, log));
  return {};
}

Result<LuksDevice> LuksDevice::open(const std::string& device, std::string_view passphrase,
                                    std::string name) {
  if (!device_mapper_available())
    return fail(
        "opening the LUKS volume on {} needs device-mapper (dm-crypt), which this "
        "kernel does not offer (/dev/mapper/control does not open)",
        device);
  CryptLog log;
  MOS_TRY_ASSIGN(auto cd, load_luks2(device, log));
  if (int rc = crypt_activate_by_passphrase(cd.get(), name.c_str(), CRYPT_ANY_SLOT,
                                            passphrase.data(), passphrase.size(), 0);
      rc < 0)
    return fail("opening the LUKS volume on {}: {}", device, crypt_failure(rc, log));
  return LuksDevice(name, "/dev/mapper/" + name);
}

LuksDevice::LuksDevice(LuksDevice&& other) noexcept
    : name_(std::move(other.name_)), path_(std::move(other.path_)) {
  other.name_.clear();
}

LuksDevice::~LuksDevice() {
  if (!name_.empty()) crypt_deactivate_by_name(nullptr, name_.c_str(), 0);
}

Status LuksDevice::close() {
  if (name_.empty()) return {};
  if (int rc = crypt_deactivate_by_name(nullptr, name_.c_str(), 0); rc < 0)
    return fail("closing {}: {}", path_, crypt_failure(rc, CryptLog{}));
  name_.clear();
  return {};
}

}  // namespace mos::atomfs
