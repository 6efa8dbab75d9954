#include "trust/project.hpp"

#include "core/file.hpp"
#include "trust/certificate.hpp"
#include "trust/key_files.hpp"
#include "trust/keyset.hpp"
#include "trust/names.hpp"
#include "trust/staging.hpp"

namespace mos::trust {

namespace {

constexpr std::size_t kMaxPem = 1 << 20;

Result<std::string> read_pem(const fs::path& path, std::string_view what) {
  auto text = read_file(path, kMaxPem);
  if (!text) return context(fmt::format("reading {} {}", what, path.string()), text.error());
  return text;
}

}  // namespace

Result<ProjectRef> ProjectRef::parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos)
    return fail("invalid project reference '{}': expected KEYSET:PROJECT", text);
  ProjectRef ref{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
  if (auto ok = validate_name("keyset name", ref.keyset); !ok)
    return context(fmt::format("invalid project reference '{}'", text), ok.error());
  if (auto ok = validate_name("project name", ref.project); !ok)
    return context(fmt::format("invalid project reference '{}'", text), ok.error());
  return ref;
}

Result<ProjectKey> load_project(const fs::path& keyset_dir, std::string_view project) {
  MOS_TRY(validate_name("project name", project));
  ProjectKey key;
  key.keyset = keyset_dir.filename().string();
  key.project = std::string(project);
  key.keyset_dir = keyset_dir;
  key.dir = keyset_dir / "manifest" / project;
  std::error_code ec;
  if (!fs::is_directory(key.dir, ec))
    return fail("project {} not found in keyset {} (no directory {})", project, key.keyset,
                key.dir.string());
  MOS_TRY_ASSIGN(key.uuid, read_uuid_file(key.dir / "uuid"));
  MOS_TRY_ASSIGN(key.cert_pem, read_pem(key.dir / "cert.pem", "project certificate"));
  key.private_key_path = key.dir / "privkey.pem";
  MOS_TRY_ASSIGN(key.private_key_pem, read_pem(key.private_key_path, "project private key"));
  MOS_TRY_ASSIGN(key.manifest_ca_pem,
                 read_pem(keyset_dir / "manifest-ca" / "cert.pem", "manifest CA"));
  MOS_TRY_ASSIGN(auto cert, parse_certificate_pem(key.cert_pem, (key.dir / "cert.pem").string()));
  MOS_TRY_ASSIGN(auto private_key,
                 parse_private_key_pem(key.private_key_pem, key.private_key_path.string()));
  if (EVP_PKEY_eq(X509_get0_pubkey(cert.get()), private_key.get()) != 1)
    return fail("{} does not belong to the certificate {}", key.private_key_path.string(),
                (key.dir / "cert.pem").string());
  return key;
}

Result<ProjectKey> load_project(const ProjectRef& ref) {
  MOS_TRY_ASSIGN(fs::path root, keysets_root());
  return load_project(ref, root);
}

Result<ProjectKey> load_project(const ProjectRef& ref, const fs::path& root) {
  MOS_TRY_ASSIGN(fs::path keyset_dir, find_keyset(ref.keyset, root));
  return load_project(keyset_dir, ref.project);
}

Result<std::vector<std::string>> list_projects(const fs::path& keyset_dir) {
  fs::path dir = keyset_dir / "manifest";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return std::vector<std::string>{};
  return list_subdirectories(dir);
}

Status write_project(const fs::path& dir, EVP_PKEY* key, X509* manifest_ca,
                     EVP_PKEY* manifest_ca_key) {
  std::string uuid = random_uuid();
  auto now = std::chrono::time_point_cast<std::chrono::seconds>(Clock::now());
  CertificateSpec spec;
  spec.common_name = "manifest PRODUCT:" + uuid;  // no O or OU, as the original
  spec.not_before = now;
  spec.not_after = add_years(now, 20);
  spec.digital_signature = true;
  spec.code_signing = true;
  auto cert = issue_certificate(spec, key, manifest_ca, manifest_ca_key);
  if (!cert) return context("issuing the project certificate", cert.error());
  MOS_TRY(write_new_file(dir / "uuid", uuid, kPublicFileMode));
  MOS_TRY(write_key_and_cert(dir, key, cert->get()));
  return make_private_dir(dir / "sudi", kDirMode);
}

Result<fs::path> create_project(const fs::path& keyset_dir, std::string_view project,
                                KeyAlgorithm algorithm) {
  MOS_TRY(validate_name("project name", project));
  std::string what =
      fmt::format("project {} of keyset {}", project, keyset_dir.filename().string());
  fs::path manifest_dir = keyset_dir / "manifest";
  std::error_code ec;
  if (fs::exists(manifest_dir / project, ec))
    return fail("{} already exists ({})", what, (manifest_dir / project).string());
  // Load the CA before generating anything: a keyset with an unreadable CA fails fast.
  auto ca = load_key_and_cert(keyset_dir / "manifest-ca");
  if (!ca) return context(fmt::format("creating {}: loading the manifest CA", what), ca.error());
  if (!fs::is_directory(manifest_dir, ec)) {
    if (auto made = make_private_dir(manifest_dir, kDirMode); !made)
      return context(fmt::format("creating {}", what), made.error());
  }
  MOS_TRY_ASSIGN(auto key, generate_key(algorithm));
  MOS_TRY_ASSIGN(auto staging, StagingDir::create(manifest_dir, project, what));
  if (auto written = write_project(staging.path(), key.get(), ca->cert.get(), ca->key.get());
      !written)
    return context(fmt::format("creating {}", what), written.error());
  MOS_TRY(staging.commit());
  return manifest_dir / project;
}

}  // namespace mos::trust
