#include "trust/sudi.hpp"

#include "trust/certificate.hpp"
#include "trust/key_files.hpp"
#include "trust/keys.hpp"
#include "trust/keyset.hpp"
#include "trust/names.hpp"
#include "trust/staging.hpp"

namespace mos::trust {

Result<fs::path> create_sudi(const fs::path& keyset_dir, std::string_view project,
                             std::optional<std::string> serial) {
  MOS_TRY(validate_name("project name", project));
  std::string sn = serial && !serial->empty() ? *serial : random_uuid();
  MOS_TRY(validate_name("SUDI serial", sn));
  fs::path project_dir = keyset_dir / "manifest" / project;
  std::string keyset = keyset_dir.filename().string();
  std::string what = fmt::format("SUDI {} of project {} in keyset {}", sn, project, keyset);
  std::error_code ec;
  if (!fs::is_directory(project_dir, ec))
    return fail("project {} not found in keyset {} (no directory {})", project, keyset,
                project_dir.string());
  fs::path sudi_dir = project_dir / "sudi";
  if (fs::exists(sudi_dir / sn, ec))
    return fail("{} already exists ({})", what, (sudi_dir / sn).string());
  MOS_TRY_ASSIGN(std::string product, read_uuid_file(project_dir / "uuid"));
  auto ca = load_key_and_cert(keyset_dir / "sudi-ca");
  if (!ca) return context(fmt::format("creating {}: loading the SUDI CA", what), ca.error());
  if (!fs::is_directory(sudi_dir, ec)) {
    if (auto made = make_private_dir(sudi_dir, kDirMode); !made)
      return context(fmt::format("creating {}", what), made.error());
  }
  // RSA-2048: the key goes into a TPM NV index as PEM and serves TLS on the device.
  MOS_TRY_ASSIGN(auto key, generate_key(KeyAlgorithm::rsa2048));
  CertificateSpec spec;
  spec.common_name = sn;
  spec.serial_number_attribute = fmt::format("PID:{} SN:{}", product, sn);
  spec.not_before = std::chrono::time_point_cast<std::chrono::seconds>(Clock::now());
  spec.not_after = sudi_not_after();
  spec.digital_signature = spec.key_encipherment = spec.data_encipherment = true;
  spec.server_auth = spec.client_auth = true;
  auto cert = issue_certificate(spec, key.get(), ca->cert.get(), ca->key.get());
  if (!cert) return context(fmt::format("issuing the certificate of {}", what), cert.error());
  MOS_TRY_ASSIGN(auto staging, StagingDir::create(sudi_dir, sn, what));
  if (auto written = write_key_and_cert(staging.path(), key.get(), cert->get()); !written)
    return context(fmt::format("creating {}", what), written.error());
  MOS_TRY(staging.commit());
  return sudi_dir / sn;
}

Result<std::vector<std::string>> list_sudi(const fs::path& keyset_dir, std::string_view project) {
  MOS_TRY(validate_name("project name", project));
  fs::path project_dir = keyset_dir / "manifest" / project;
  std::error_code ec;
  if (!fs::is_directory(project_dir, ec))
    return fail("project {} not found in keyset {} (no directory {})", project,
                keyset_dir.filename().string(), project_dir.string());
  if (!fs::is_directory(project_dir / "sudi", ec)) return std::vector<std::string>{};
  return list_subdirectories(project_dir / "sudi");
}

}  // namespace mos::trust
