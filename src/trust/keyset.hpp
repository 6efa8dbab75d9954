#pragma once
// Keysets on disk, in the original's layout so its users' keysets work unchanged:
//   $XDG_DATA_HOME/machine/trust/keys/<KEYSET>/
//     manifest-ca/ sudi-ca/ tpmpol-admin/ tpmpol-luks/           cert.pem privkey.pem
//     uefi-pk/ uefi-kek/ uefi-db/ uki-production/ uki-limited/ uki-tpm/   + guid
//     manifest/<PROJECT>/{uuid,cert.pem,privkey.pem,sudi/<SERIAL>/{cert.pem,privkey.pem}}
#include <array>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "trust/keys.hpp"

namespace mos::trust {

namespace fs = std::filesystem;

// The key directories `keyset show` accepts (the original's KeysetKeyDirs; `manifest` needs a
// project: `manifest:PROJECT`). pcr7data is filled by a later command.
inline constexpr std::array<std::string_view, 12> kKeysetKeyDirs = {
    "manifest", "manifest-ca", "pcr7data", "sudi-ca",     "tpmpol-admin",   "tpmpol-luks",
    "uefi-db",  "uefi-kek",    "uefi-pk",  "uki-limited", "uki-production", "uki-tpm"};

// A keyset's bootkit images (built by boot/ with the bootkit, read by publish): an OCI layout
// under the keyset, tagged as the original tagged its bootkit layer.
inline constexpr std::string_view kBootkitLayoutDir = "bootkit/oci";
inline constexpr std::string_view kBootkitImageTag =
    "bootkit-squashfs";  // /bootkit/{shim,kernel}.efi
inline constexpr std::string_view kHostfsImageTag = "hostfs-squashfs";  // the machine's root

// $XDG_DATA_HOME/machine/trust/keys, or $HOME/.local/share/machine/trust/keys.
Result<fs::path> keysets_root();

// The directory of an existing keyset ("keyset X not found in ROOT" otherwise).
Result<fs::path> find_keyset(std::string_view name);
Result<fs::path> find_keyset(std::string_view name, const fs::path& root);

// Names of the keysets (directories not starting with '.'), sorted.
Result<std::vector<std::string>> list_keysets(const fs::path& root);

struct KeysetOptions {
  std::vector<std::string> organizations;                   // X.509 O of every keyset certificate
  KeyAlgorithm manifest_algorithm = KeyAlgorithm::rsa2048;  // the default project's key
  unsigned threads = 0;                                     // key generation threads, 0 = cores
  // A development keyset (`--dev`; snakeoil by default): its machines get a console login
  // (root, kDevelopmentPassword). Recorded as the file KEYSET/development.
  bool development = false;
  // Called with the staging directory once every key is written and before it is renamed into
  // place, so that what later modules derive from the keys (tpm/: pcr7data) is part of the new
  // keyset from its first moment; an error abandons the keyset.
  std::function<Status(const fs::path& staging_dir)> add_contents = {};
};

// Creates ROOT/NAME with every CA and key and the project `default`, atomically: it appears
// complete or not at all, and an existing keyset is never touched. Returns its directory.
Result<fs::path> create_keyset(std::string_view name, const KeysetOptions& options,
                               const fs::path& root);

// The console password of a development keyset's machines (the walkthrough's).
inline constexpr std::string_view kDevelopmentPassword = "passw0rd";
// Whether the keyset at `dir` was made as a development keyset.
bool is_development_keyset(const fs::path& dir);

// Reads a guid/uuid file: a UUID, possibly followed by a newline (some snakeoil files).
Result<std::string> read_uuid_file(const fs::path& path);
// A random lowercase UUIDv4.
std::string random_uuid();

}  // namespace mos::trust
