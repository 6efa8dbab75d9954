#pragma once
// The SbatLevel a shim measures into PCR7, read from the shim binary itself instead of assumed.
//
// Since shim 15.7 the `.sbatlevel` PE section holds two levels (shim's sbat_var.S):
//   u32 format version (0)
//   u32 offset of the "automatic" level, u32 offset of the "latest" level, both counted from
//       the first offset field (byte 4)
//   each level: the SbatLevel text ("sbat,1,2025021800\nshim,4\ngrub,5\n"), NUL-terminated.
// (shim 15.8 and Debian call the first one "previous"; shim 16 renamed it "automatic".)
//
// Which one shim writes, and so measures, is decided in set_sbat_uefi_variable() (shim 16.1,
// sbat.c): with no SbatPolicy variable and Secure Boot on, the automatic level; on every later
// boot the stored variable is kept unless the candidate is newer, so the automatic level of the
// same shim again. Only SbatPolicy=latest (set from the OS with mokutil) selects the latest
// level. Without Secure Boot shim writes the original "sbat,1,2021030218\n" instead. shim then
// measures the variable's bytes (no NUL) into PCR7 as "SbatLevel" (mok.c, MOK_VARIABLE_MEASURE).
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mos::tpm {

// What the original's prediction assumed: the level of shims before 15.7 (and of any shim
// booted without Secure Boot).
inline constexpr std::string_view kOriginalSbatLevel = "sbat,1,2021030218\n";

struct ShimSbatLevels {
  std::string automatic;  // measured on a first boot with Secure Boot on (the default policy)
  std::string latest;     // measured only after SbatPolicy is set to latest
};

enum class SbatLevelChoice { automatic, latest };

// The raw bytes of the PE/COFF section `name` of an EFI image, long names ("/4" pointing into
// the COFF string table, as GNU ld writes ".sbatlevel") included. Every offset is checked
// against the image's size; `what` names the file in messages.
Result<std::string> pe_section(std::string_view image, std::string_view name,
                               std::string_view what);

// The two levels of a `.sbatlevel` section (format version 0).
Result<ShimSbatLevels> parse_sbatlevel_section(std::string_view section, std::string_view what);

// Both levels of the shim binary at `path` (at most 64 MiB).
Result<ShimSbatLevels> read_shim_sbat_levels(const std::filesystem::path& path);

// "automatic" / "latest".
Result<SbatLevelChoice> parse_sbat_level_choice(std::string_view text);

}  // namespace mos::tpm
