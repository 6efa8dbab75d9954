#include "trust/keyset.hpp"

#include <cctype>
#include <cstdlib>
#include <random>

#include <openssl/rand.h>

#include "core/file.hpp"
#include "core/text.hpp"
#include "trust/certificate.hpp"
#include "trust/key_files.hpp"
#include "trust/names.hpp"
#include "trust/project.hpp"
#include "trust/staging.hpp"

namespace mos::trust {

namespace {

// How each key directory's certificate is made (the original's subjects and validity).
enum class Issuer { self, uefi_pk };
struct KeyDirSpec {
  std::string_view dir;
  std::string_view common_name;
  bool is_ca;
  bool code_signing;
  int years;  // validity; 0 = until sudi_not_after()
  Issuer issuer;
  bool guid;
};

// Order matters: issuers come before the certificates they sign.
constexpr KeyDirSpec kKeyDirs[] = {
    {"manifest-ca", "Manifest rootCA", true, false, 25, Issuer::self, false},
    {"sudi-ca", "SUDI rootCA", true, false, 0, Issuer::self, false},
    {"uefi-pk", "UEFI PK", true, false, 50, Issuer::self, true},
    {"uefi-kek", "UEFI KEK", false, false, 50, Issuer::uefi_pk, true},
    // The original self-signs db; we sign it with PK so the whole UEFI chain verifies from PK.
    // Firmware trusts db entries directly, so its use is the same.
    {"uefi-db", "UEFI DB", false, true, 25, Issuer::uefi_pk, true},
    {"uki-production", "UKI Production", false, true, 25, Issuer::self, true},
    {"uki-limited", "UKI Limited", false, true, 25, Issuer::self, true},
    {"uki-tpm", "UKI TPM", false, true, 25, Issuer::self, true},
    {"tpmpol-admin", "TPM EAPolicy Admin", false, true, 25, Issuer::self, false},
    {"tpmpol-luks", "TPM EAPolicy LUKS", false, true, 25, Issuer::self, false},
};
constexpr std::size_t kKeyDirCount = std::size(kKeyDirs);

Status write_keyset(const fs::path& dir, std::string_view name, const KeysetOptions& options) {
  std::vector<KeyAlgorithm> algorithms(kKeyDirCount, KeyAlgorithm::rsa2048);
  algorithms.push_back(options.manifest_algorithm);  // the default project
  MOS_TRY_ASSIGN(auto keys, generate_keys(algorithms, options.threads));

  auto now = std::chrono::time_point_cast<std::chrono::seconds>(Clock::now());
  std::vector<X509Ptr> certs;
  X509* pk_cert = nullptr;
  EVP_PKEY* pk_key = nullptr;
  for (std::size_t i = 0; i < kKeyDirCount; ++i) {
    const KeyDirSpec& spec = kKeyDirs[i];
    CertificateSpec cert_spec;
    cert_spec.organizations = options.organizations;
    cert_spec.organizational_unit = keyset_unit(name);
    cert_spec.common_name = std::string(spec.common_name);
    cert_spec.not_before = now;
    cert_spec.not_after = spec.years == 0 ? sudi_not_after() : add_years(now, spec.years);
    cert_spec.is_ca = spec.is_ca;
    cert_spec.digital_signature = !spec.is_ca;
    cert_spec.code_signing = spec.code_signing;
    bool by_pk = spec.issuer == Issuer::uefi_pk;
    auto cert = issue_certificate(cert_spec, keys[i].get(), by_pk ? pk_cert : nullptr,
                                  by_pk ? pk_key : nullptr);
    if (!cert) return context(fmt::format("issuing the {} certificate", spec.dir), cert.error());
    if (spec.dir == "uefi-pk") {
      pk_cert = cert->get();
      pk_key = keys[i].get();
    }
    fs::path key_dir = dir / spec.dir;
    MOS_TRY(make_private_dir(key_dir, kDirMode));
    MOS_TRY(write_key_and_cert(key_dir, keys[i].get(), cert->get()));
    if (spec.guid) MOS_TRY(write_new_file(key_dir / "guid", random_uuid(), kPublicFileMode));
    certs.push_back(std::move(*cert));
  }
  MOS_TRY(make_private_dir(dir / "manifest", kDirMode));
  MOS_TRY(make_private_dir(dir / "manifest" / "default", kDirMode));
  return write_project(dir / "manifest" / "default", keys.back().get(), certs[0].get(),
                       keys[0].get());
}

}  // namespace

Result<fs::path> keysets_root() {
  const char* data_home = std::getenv("XDG_DATA_HOME");
  if (data_home && *data_home == '/') return fs::path(data_home) / "machine" / "trust" / "keys";
  const char* home = std::getenv("HOME");
  if (!home || !*home)
    return fail("cannot find the keysets: neither XDG_DATA_HOME nor HOME is set");
  return fs::path(home) / ".local" / "share" / "machine" / "trust" / "keys";
}

Result<fs::path> find_keyset(std::string_view name) {
  MOS_TRY_ASSIGN(fs::path root, keysets_root());
  return find_keyset(name, root);
}

Result<fs::path> find_keyset(std::string_view name, const fs::path& root) {
  MOS_TRY(validate_name("keyset name", name));
  fs::path dir = root / name;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return fail("keyset {} not found (no directory {})", name, dir.string());
  return dir;
}

Result<std::vector<std::string>> list_keysets(const fs::path& root) {
  std::error_code ec;
  if (!fs::exists(root, ec)) return std::vector<std::string>{};
  return list_subdirectories(root);
}

bool is_development_keyset(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "development", ec);
}

Result<fs::path> create_keyset(std::string_view name, const KeysetOptions& options,
                               const fs::path& root) {
  MOS_TRY(validate_name("keyset name", name));
  for (const auto& org : options.organizations)
    if (org.empty() || org.find_first_of(std::string_view("\0\n\r", 3)) != std::string::npos)
      return fail("invalid organization '{}': it must be one non-empty line", org);
  std::string what = fmt::format("keyset {}", name);
  std::error_code ec;
  // Checked early so an existing keyset is reported before seconds of key generation; the
  // no-replace rename at the end is what guarantees it.
  if (fs::exists(root / name, ec))
    return fail("{} already exists ({})", what, (root / name).string());
  if (auto made = make_dirs(root, kDirMode); !made)
    return context(fmt::format("creating {}", what), made.error());
  MOS_TRY_ASSIGN(auto staging, StagingDir::create(root, name, what));
  if (auto written = write_keyset(staging.path(), name, options); !written)
    return context(fmt::format("creating {}", what), written.error());
  if (options.development) {
    if (auto marked = write_file_atomic(
            staging.path() / "development",
            "A development keyset: its machines accept a console login as root.\n", 0644);
        !marked)
      return context(fmt::format("creating {}", what), marked.error());
  }
  if (options.add_contents) {
    if (auto added = options.add_contents(staging.path()); !added)
      return context(fmt::format("creating {}", what), added.error());
  }
  MOS_TRY(staging.commit());
  return root / name;
}

Result<std::string> read_uuid_file(const fs::path& path) {
  auto text = read_file(path, 4096);
  if (!text) return context("reading a uuid", text.error());
  std::string_view value = *text;
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r' || value.back() == ' '))
    value.remove_suffix(1);
  if (!is_uuid(value))
    return fail("{} does not hold a UUID (found '{}')", path.string(), value.substr(0, 64));
  return std::string(value);
}

std::string random_uuid() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    // RAND_bytes only fails without an entropy source; fall back to the C++ one then.
    std::random_device device;
    for (auto& b : bytes) b = static_cast<unsigned char>(device());
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string hex;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) hex += '-';
    hex += fmt::format("{:02x}", bytes[i]);
  }
  return hex;
}

}  // namespace mos::trust
