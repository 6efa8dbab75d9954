#pragma once
// Secure Unique Device Identities: one certificate per device, signed by the keyset's sudi-ca,
// subject "CN=<serial>, serialNumber=PID:<product uuid> SN:<serial>", TLS server and client use.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace mos::trust {

namespace fs = std::filesystem;

// Creates KEYSET/manifest/PROJECT/sudi/SERIAL/{cert.pem,privkey.pem} atomically (a random
// UUID when serial is empty); an existing entry is never touched. Returns its directory.
Result<fs::path> create_sudi(const fs::path& keyset_dir, std::string_view project,
                             std::optional<std::string> serial = std::nullopt);

// Serials of a project's SUDI entries, sorted.
Result<std::vector<std::string>> list_sudi(const fs::path& keyset_dir, std::string_view project);

}  // namespace mos::trust
