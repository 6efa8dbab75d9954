#pragma once
// The system the initramfs verified for this boot, handed to the hostfs's service manager:
//
//   /run/mos/booted-system.json   {"commit": "<hex>", "files": {"<name>": "<base64>", ...}}
//
// create-boot-fs --hand-over writes it (0600, in the tmpfs that the initramfs moves into the
// hostfs: it lasts one boot, and only root writes there) once it has verified the system from
// the history (every signature up to the manifest CA, the store's content), mounted its hostfs,
// and found it is for the product the machine's identity names. mosctl boot --booted-system
// takes it (reads it, then removes it) when it first plans the services: it starts exactly the
// system that was verified and booted, without reading the history and checking the same
// signatures a second time, which under emulation was a third of its time to "up"
// (bench/RESULTS.md). Every later plan (an update, rollback, a restart of mosctl boot) reads
// the history again. A record that cannot be read is said, and the history is read instead.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "sysroot/installed_system.hpp"

namespace mos::sysroot {

struct BootedSystem {
  std::string commit;
  FileSet files;  // the commit's: manifest.json and the triples it uses
};

// The system a mounted InstalledSystem was made from.
BootedSystem booted_system_of(const InstalledSystem& system);

Status write_booted_system(const std::filesystem::path& file, const BootedSystem& system);
// nullopt when there is none. The file is removed once read, whatever it held: it is for one
// plan only.
Result<std::optional<BootedSystem>> take_booted_system(const std::filesystem::path& file);
Result<BootedSystem> parse_booted_system(std::string_view text);

// The system of a record: each install manifest parsed as the initramfs verified it (its
// signature and certificate are not checked again, the certificate's fields are left empty) and
// the store not checked again; manifest.json must still agree with them (system_from_files).
Result<InstalledSystem> load_booted_system(const BootedSystem& booted);

}  // namespace mos::sysroot
