// Authenticode signing through sbsigntool (see efi_signing.hpp).
#include "boot/efi_signing.hpp"

#include <chrono>

#include "core/file.hpp"
#include "core/process.hpp"

namespace mos::boot {

namespace fs = std::filesystem;

Status sign_efi_image(std::string_view image, const SigningKey& signer, const fs::path& out,
                      std::string_view what) {
  // sbsign reads and writes files: the unsigned image goes to a private temporary directory,
  // the signed one is then moved into place atomically.
  MOS_TRY_ASSIGN(auto temp, TempDir::create({}, "mos-sign-"));
  auto unsigned_path = temp.path() / "unsigned.efi";
  auto signed_path = temp.path() / "signed.efi";
  MOS_TRY(write_file_atomic(unsigned_path, image, 0600));
  ProcessRun run;
  run.argv = {"sbsign",
              "--key",
              signer.key.string(),
              "--cert",
              signer.cert.string(),
              "--output",
              signed_path.string(),
              unsigned_path.string()};
  run.merge_stderr = true;
  run.timeout = std::chrono::minutes(2);
  run.what = fmt::format("sbsign (signing {} with {})", what, signer.cert.string());
  MOS_TRY(run_checked(run));
  MOS_TRY_ASSIGN(auto signed_image, read_file(signed_path));
  return write_file_atomic(out, signed_image, 0644);
}

Status verify_efi_image(const fs::path& path, const fs::path& cert) {
  ProcessRun run;
  run.argv = {"sbverify", "--cert", cert.string(), path.string()};
  run.merge_stderr = true;
  run.timeout = std::chrono::minutes(1);
  MOS_TRY_ASSIGN(auto result, run_process(run));
  if (result.exit_code != 0)
    return fail("{} is not signed by {}: sbverify says: {}", path.string(), cert.string(),
                result.out.empty() ? std::string("verification failed") : result.out);
  return {};
}

}  // namespace mos::boot
