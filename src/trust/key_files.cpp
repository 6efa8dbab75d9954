#include "trust/key_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/file.hpp"
#include "trust/certificate.hpp"
#include "trust/keys.hpp"

namespace mos::trust {

namespace fs = std::filesystem;

std::string keyset_unit(std::string_view keyset) {
  return fmt::format("Project Machine Project {}", keyset);
}

Status write_new_file(const fs::path& path, std::string_view data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return fail("cannot create {}: {}", path.string(), errno_message(errno));
  Status status;
  // The umask must neither widen nor narrow the mode asked for.
  if (::fchmod(fd, mode) != 0)
    status = fail("cannot set the mode of {}: {}", path.string(), errno_message(errno));
  const char* p = data.data();
  std::size_t left = data.size();
  while (status && left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = fail("cannot write {}: {}", path.string(), errno_message(errno));
      break;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (status && ::fsync(fd) != 0)
    status = fail("cannot sync {}: {}", path.string(), errno_message(errno));
  ::close(fd);
  return status;
}

Status write_key_and_cert(const fs::path& dir, EVP_PKEY* key, X509* cert) {
  MOS_TRY_ASSIGN(std::string key_pem, private_key_pem(key));
  MOS_TRY_ASSIGN(std::string cert_pem, certificate_pem(cert));
  MOS_TRY(write_new_file(dir / "privkey.pem", key_pem, kPrivateKeyMode));
  MOS_TRY(write_new_file(dir / "cert.pem", cert_pem, kPublicFileMode));
  return {};
}

Result<KeyAndCert> load_key_and_cert(const fs::path& dir) {
  fs::path cert_path = dir / "cert.pem";
  auto cert_pem = read_file(cert_path, 1 << 20);
  if (!cert_pem)
    return context(fmt::format("reading certificate {}", cert_path.string()), cert_pem.error());
  MOS_TRY_ASSIGN(X509Ptr cert, parse_certificate_pem(*cert_pem, cert_path.string()));
  MOS_TRY_ASSIGN(PkeyPtr key, load_private_key(dir / "privkey.pem"));
  if (EVP_PKEY_eq(X509_get0_pubkey(cert.get()), key.get()) != 1)
    return fail("{} does not belong to the certificate {}", (dir / "privkey.pem").string(),
                cert_path.string());
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
