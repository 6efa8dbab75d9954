#include "sysroot/sysroot.hpp"

#include "core/file.hpp"
#include "trust/certificate.hpp"

namespace mos::sysroot {

SysrootPaths::SysrootPaths(const std::filesystem::path& r)
    : root(r),
      config(r / "config"),
      lock(r / "config/manifest.lock"),
      history(r / "config/manifest.git"),
      store_root(r / "atomfs-store"),
      store(r / "atomfs-store/mos"),
      scratch(r / "scratch-writes"),
      factory_ca(r / "factory/secure/manifestCA.pem"),
      factory_product(r / "factory/secure/product-uuid"),
      factory_sudi(r / "factory/secure/server.crt") {}

Status check_root_choice(const SysrootPaths& paths, const SysrootOptions& options) {
  if (options.root_given || paths.root != "/") return {};
  std::error_code ec;
  if (std::filesystem::exists(paths.factory_ca, ec) || std::filesystem::exists(paths.history, ec))
    return {};
  return fail(
      "no --root given, and / is not a mos machine ({} and {} are missing): give --root DIR for "
      "a system under DIR, or --root / to use this host's /",
      paths.factory_ca.string(), paths.history.string());
}

Result<manifest::TrustPolicy> load_trust_policy(const SysrootPaths& paths,
                                                const SysrootOptions& options) {
  manifest::TrustPolicy policy;
  MOS_TRY(check_root_choice(paths, options));
  if (options.ca_file && !std::filesystem::exists(*options.ca_file))
    return fail("--ca {}: no such file", options.ca_file->string());
  auto ca_path = options.ca_file.value_or(paths.factory_ca);
  if (!std::filesystem::exists(ca_path))
    return fail("no manifest CA: {} does not exist (give one with --ca FILE)", ca_path.string());
  auto ca = read_file(ca_path, kMaxCaBytes);
  if (!ca) return context(fmt::format("reading the manifest CA {}", ca_path.string()), ca.error());
  policy.ca_pem = std::move(*ca);
  MOS_TRY_ASSIGN(policy.product_uuid, machine_product_uuid(paths, options));
  return policy;
}

Result<std::optional<std::string>> machine_product_uuid(const SysrootPaths& paths,
                                                        const SysrootOptions& options) {
  if (options.product_uuid) {
    if (options.product_uuid->empty()) return fail("--product-uuid is empty");
    return options.product_uuid;
  }
  if (std::filesystem::exists(paths.factory_product)) {
    MOS_TRY_ASSIGN(auto text, read_file(paths.factory_product, 4096));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
      text.pop_back();
    if (text.empty() || text.find_first_of(" \t\n") != std::string::npos)
      return fail("{}: expected one product uuid on one line", paths.factory_product.string());
    return text;
  }
  if (std::filesystem::exists(paths.factory_sudi)) {
    MOS_TRY_ASSIGN(auto pem, read_file(paths.factory_sudi, kMaxCaBytes));
    auto info = trust::certificate_info(pem);
    if (!info) return context(paths.factory_sudi.string(), info.error());
    if (!info->sudi_product_uuid)
      return fail("{}: the SUDI certificate names no product (serialNumber \"PID:<uuid> SN:...\")",
                  paths.factory_sudi.string());
    return info->sudi_product_uuid;
  }
  return std::optional<std::string>();
}

Result<FileLock> lock_for_writing(const SysrootPaths& paths, bool no_wait) {
  MOS_TRY(make_dirs(paths.config));
  return FileLock::acquire(paths.lock, FileLock::Mode::exclusive,
                           no_wait ? FileLock::Wait::no_wait : FileLock::Wait::block);
}

Result<FileLock> lock_for_reading(const SysrootPaths& paths, bool no_wait) {
  if (!std::filesystem::exists(paths.config))
    return fail("no system is installed in {} ({} does not exist)", paths.root.string(),
                paths.config.string());
  return FileLock::acquire(paths.lock, FileLock::Mode::shared,
                           no_wait ? FileLock::Wait::no_wait : FileLock::Wait::block);
}

}  // namespace mos::sysroot
