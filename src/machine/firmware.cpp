#include "machine/firmware.hpp"

#include "core/file.hpp"

namespace mos::machine {
namespace {

constexpr std::uintmax_t kMiB = 1024 * 1024;

Result<std::uintmax_t> size_of(const fs::path& path, std::string_view what) {
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::is_regular_file(status))
    return fail("{} {} does not exist or is not a file", what, path.string());
  auto size = fs::file_size(path, ec);
  if (ec) return fail("{} {}: {}", what, path.string(), ec.message());
  return size;
}

Result<fs::path> find_default(const std::vector<fs::path>& dirs, std::string_view file) {
  std::error_code ec;
  for (const auto& dir : dirs)
    if (fs::is_regular_file(dir / file, ec)) return dir / file;
  std::string searched;
  for (const auto& dir : dirs)
    searched += fmt::format("{}{}", searched.empty() ? "" : ", ", dir.string());
  return fail("no {} in {} (install Debian's ovmf, or set uefi-code and uefi-vars)", file,
              searched);
}

fs::path resolve(const std::string& path, const fs::path& base) {
  fs::path p(path);
  return p.is_absolute() ? p : base / p;
}

}  // namespace

std::vector<fs::path> default_firmware_dirs() {
  return {"/usr/share/OVMF", "/usr/share/ovmf", "/usr/share/edk2/ovmf", "/usr/share/edk2/x64"};
}

bool firmware_pair_matches(std::uintmax_t code_size, std::uintmax_t vars_size) {
  auto total = code_size + vars_size;
  return code_size > 0 && vars_size > 0 && (total == 2 * kMiB || total == 4 * kMiB);
}

Result<Firmware> select_firmware(const MachineConfig& config, const fs::path& base,
                                 const std::vector<fs::path>& dirs) {
  Firmware firmware;
  firmware.secure_boot = config.secure_boot;
  if (!config.uefi_code.empty()) {
    firmware.code = resolve(config.uefi_code, base);
  } else {
    MOS_TRY_ASSIGN(firmware.code, find_default(dirs, config.secure_boot ? "OVMF_CODE_4M.secboot.fd"
                                                                        : "OVMF_CODE_4M.fd"));
  }
  if (!config.uefi_vars.empty()) {
    firmware.vars_template = resolve(config.uefi_vars, base);
  } else {
    MOS_TRY_ASSIGN(
        firmware.vars_template,
        find_default(dirs, config.secure_boot ? "OVMF_VARS_4M.ms.fd" : "OVMF_VARS_4M.fd"));
  }
  MOS_TRY_ASSIGN(auto code_size, size_of(firmware.code, "uefi-code"));
  MOS_TRY_ASSIGN(auto vars_size, size_of(firmware.vars_template, "uefi-vars"));
  if (!firmware_pair_matches(code_size, vars_size))
    return fail(
        "uefi-code {} ({} bytes) and uefi-vars {} ({} bytes) are not a matched pair: OVMF's code "
        "and vars must come from one build (e.g. OVMF_CODE_4M.fd with OVMF_VARS_4M.fd)",
        firmware.code.string(), code_size, firmware.vars_template.string(), vars_size);
  return firmware;
}

Status prepare_nvram(const Firmware& firmware, const fs::path& nvram) {
  MOS_TRY_ASSIGN(auto code_size, size_of(firmware.code, "uefi-code"));
  std::error_code ec;
  if (fs::exists(nvram, ec)) {
    MOS_TRY_ASSIGN(auto nvram_size, size_of(nvram, "NVRAM"));
    if (!firmware_pair_matches(code_size, nvram_size))
      return fail(
          "the VM's NVRAM {} ({} bytes) does not match uefi-code {} ({} bytes): it was made for "
          "other firmware; `machine edit NAME --reset-nvram` starts it again from uefi-vars",
          nvram.string(), nvram_size, firmware.code.string(), code_size);
    return {};
  }
  MOS_TRY_ASSIGN(auto data, read_file(firmware.vars_template, 64 * kMiB));
  return with_context(
      write_file_atomic(nvram, data, 0600),
      fmt::format("copying {} to {}", firmware.vars_template.string(), nvram.string()));
}

}  // namespace mos::machine
