#pragma once
// The state every writing command works in: the exclusive manifest lock, the history repaired
// after any killed run, its HEAD, and the store. Also the "previous system" rule shared by
// rollback and gc.
#include <memory>
#include <optional>
#include <string>

#include "core/lock.hpp"
#include "core/result.hpp"
#include "oci/layout_store.hpp"
#include "sysroot/sysroot.hpp"
#include "sysroot/system_history.hpp"

namespace mos::sysroot {

struct ChangeSession {
  FileLock lock;
  SystemHistory history;
  std::optional<std::string> head;
  std::unique_ptr<oci::LayoutStore> store;
};

// Locks (exclusive), opens the history (creating it when create_history), runs recovery and
// opens the store (created with the scratch directory when missing).
Result<ChangeSession> open_change_session(const SysrootPaths& paths, const SysrootOptions& options,
                                          bool create_history);

// The policy for a system already installed: when the machine names no product (flag or
// factory file), the product the installed system runs (its certificates' product uuid) is
// required.
manifest::TrustPolicy policy_for_installed(manifest::TrustPolicy policy,
                                           const std::string& installed_product_uuid);

// The commit rollback returns to: the newest commit of the first-parent history whose tree
// differs from HEAD's; nullopt when there is none.
Result<std::optional<std::string>> previous_system(const SystemHistory& history);

}  // namespace mos::sysroot
