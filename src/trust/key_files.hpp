#pragma once
// The files every key directory of a keyset holds, written the same way by keysets, projects
// and SUDI entries: privkey.pem (0600), cert.pem and guid/uuid (0640), each synced in place.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "trust/openssl.hpp"

namespace mos::trust {

// Private keys are never readable by anyone else; certificates by the group, as the original.
inline constexpr mode_t kPrivateKeyMode = 0600;
inline constexpr mode_t kPublicFileMode = 0640;
inline constexpr mode_t kDirMode = 0700;

// The OU of every keyset certificate but the manifest and SUDI leaves.
std::string keyset_unit(std::string_view keyset);

// Creates a new file inside a staging directory with exactly `mode` from the start, writes and
// fsyncs it. No temp file and rename: the whole staging directory is renamed into place later.
Status write_new_file(const std::filesystem::path& path, std::string_view data, mode_t mode);

// Writes dir/privkey.pem and dir/cert.pem (new files, see write_new_file).
Status write_key_and_cert(const std::filesystem::path& dir, EVP_PKEY* key, X509* cert);

// Loads dir/cert.pem and dir/privkey.pem, checking that they belong together.
struct KeyAndCert {
  X509Ptr cert;
  PkeyPtr key;
};
Result<KeyAndCert> load_key_and_cert(const std::filesystem::path& dir);

// Subdirectory names of dir that are not hidden (staging directories are), sorted.
Result<std::vector<std::string>> list_subdirectories(const std::filesystem::path& dir);

}  // namespace mos::trust
