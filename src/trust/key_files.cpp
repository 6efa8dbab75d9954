#include "trust/key_files.hpp"

#include <algorithm>

#include "core/file.hpp"
#include "trust/certificate.hpp"
#include "trust/keys.hpp"

namespace mos::trust {

namespace fs = std::filesystem;

std::string keyset_unit(std::string_view keyset) { return fmt::format("Project Machine Project {}", keyset); }

Status write_key_and_cert(const fs::path& dir, EVP_PKEY* key, X509* cert) {
  MOS_TRY_ASSIGN(std::string key_pem, private_key_pem(key));
  MOS_TRY_ASSIGN(std::string cert_pem, certificate_pem(cert));
  MOS_TRY(write_file_atomic(dir / "privkey.pem", key_pem, kPrivateKeyMode));
  MOS_TRY(write_file_atomic(dir / "cert.pem", cert_pem, kPublicFileMode));
  return {};
}

Result<KeyAndCert> load_key_and_cert(const fs::path& dir) {
  fs::path cert_path = dir / "cert.pem";
  auto cert_pem = read_file(cert_path, 1 << 20);
  if (!cert_pem) return context(fmt::format("reading certificate {}", cert_path.string()), cert_pem.error());
  MOS_TRY_ASSIGN(X509Ptr cert, parse_certificate_pem(*cert_pem, cert_path.string()));
  MOS_TRY_ASSIGN(PkeyPtr key, load_private_key(dir / "privkey.pem"));
  if (EVP_PKEY_eq(X509_get0_pubkey(cert.get()), key.get()) != 1)
    return fail("{} does not belong to the certificate {}", (dir / "privkey.pem").string(), cert_path.string());
  return KeyAndCert{std::move(cert), std::move(key)};
}

Result<std::vector<std::string>> list_subdirectories(const fs::path& dir) {
  std::error_code ec;
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code type_ec;
    if (it->is_directory(type_ec)) names.push_back(std::move(name));
  }
  if (ec) return fail("cannot list {}: {}", dir.string(), ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace mos::trust
