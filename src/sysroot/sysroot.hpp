#pragma once
// The installed system's root directory (--root, "/" on a machine) and what mosctl finds there:
//
//   config/manifest.lock            flock: writers exclusive, readers shared
//   config/manifest.git/            the system history (system_history.hpp)
//   atomfs-store/mos/               OCI layout holding every target image, tagged <hex digest>
//   scratch-writes/                 per-boot scratch space (created, not used by install)
//   factory/secure/manifestCA.pem   the manifest CA (--ca FILE wins)
//   factory/secure/product-uuid     the product this machine runs (--product-uuid wins); one
//                                   line; when neither exists, the product of the first install
//                                   is kept and enforced on every later change
#include <filesystem>
#include <optional>
#include <string>

#include "core/lock.hpp"
#include "core/result.hpp"
#include "manifest/verify.hpp"
#include "oci/open.hpp"

namespace mos::sysroot {

struct SysrootOptions {
  std::filesystem::path root = "/";
  bool root_given = false;                       // --root was on the command line
  std::optional<std::filesystem::path> ca_file;  // --ca
  std::optional<std::string> product_uuid;       // --product-uuid
  bool allow_downgrade = false;                  // --allow-downgrade
  bool no_wait = false;                          // --no-wait: fail at once when the lock is busy
  oci::OpenOptions source;                       // how to reach the registry of an install URL
};

struct SysrootPaths {
  explicit SysrootPaths(const std::filesystem::path& root);
  std::filesystem::path root;
  std::filesystem::path config;           // R/config
  std::filesystem::path lock;             // R/config/manifest.lock
  std::filesystem::path history;          // R/config/manifest.git
  std::filesystem::path store_root;       // R/atomfs-store
  std::filesystem::path store;            // R/atomfs-store/mos
  std::filesystem::path scratch;          // R/scratch-writes
  std::filesystem::path factory_ca;       // R/factory/secure/manifestCA.pem
  std::filesystem::path factory_product;  // R/factory/secure/product-uuid
  std::filesystem::path factory_sudi;     // R/factory/secure/server.crt (initrd-setup writes it)
};

inline constexpr std::size_t kMaxCaBytes = 1024 * 1024;

// A root that is "/" only by default is this host: fine on a mos machine (its factory CA or an
// installed system is there), refused on any other host, where install would write into its
// /config and /atomfs-store; `--root /` says it is meant.
Status check_root_choice(const SysrootPaths& paths, const SysrootOptions& options);

// The CA (flag, else the factory file) and the product (machine_product_uuid).
Result<manifest::TrustPolicy> load_trust_policy(const SysrootPaths& paths,
                                                const SysrootOptions& options);

// The product this machine names: the flag, else the factory file, else the one its SUDI names
// (factory/secure/server.crt, as initrd-setup read it from the TPM), else none.
Result<std::optional<std::string>> machine_product_uuid(const SysrootPaths& paths,
                                                        const SysrootOptions& options);

// The manifest lock: exclusive for writers (creating config/ when missing), shared for readers.
// A busy lock is reported with the pid holding it; then the call waits, or with no_wait fails.
Result<FileLock> lock_for_writing(const SysrootPaths& paths, bool no_wait);
Result<FileLock> lock_for_reading(const SysrootPaths& paths, bool no_wait);

}  // namespace mos::sysroot
