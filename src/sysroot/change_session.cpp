#include "sysroot/change_session.hpp"

#include "core/file.hpp"
#include "sysroot/crash_point.hpp"

namespace mos::sysroot {

Result<ChangeSession> open_change_session(const SysrootPaths& paths, const SysrootOptions& options,
                                          bool create_history) {
  MOS_TRY_ASSIGN(auto lock, lock_for_writing(paths, options.no_wait));
  crash_point("lock-acquired");
  MOS_TRY_ASSIGN(auto history, SystemHistory::open(paths.history, create_history));
  MOS_TRY(history.recover());
  crash_point("recovered");
  MOS_TRY_ASSIGN(auto head, history.head());
  MOS_TRY(make_dirs(paths.scratch));
  MOS_TRY_ASSIGN(auto store, oci::LayoutStore::open(paths.store, true));
  store->defer_blob_sync();  // a target's blobs become durable together, before its index entry
  return ChangeSession{std::move(lock), std::move(history), std::move(head), std::move(store)};
}

manifest::TrustPolicy policy_for_installed(manifest::TrustPolicy policy,
                                           const std::string& installed_product_uuid) {
  if (!policy.product_uuid) policy.product_uuid = installed_product_uuid;
  return policy;
}

Result<std::optional<std::string>> previous_system(const SystemHistory& history) {
  MOS_TRY_ASSIGN(auto log, history.log());
  if (log.empty()) return std::optional<std::string>{};
  for (std::size_t i = 1; i < log.size(); ++i)
    if (log[i].tree != log[0].tree) return std::optional<std::string>{log[i].commit};
  return std::optional<std::string>{};
}

}  // namespace mos::sysroot
