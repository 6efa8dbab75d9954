// mosctl rollback, in a file of its own: create-boot-fs (in mosctl-initrd) rolls a failed boot
// trial back, and linking it must not bring install's and update's registry client (libcurl)
// into the initramfs.
#include <spdlog/spdlog.h>

#include "sysroot/boot_trial.hpp"
#include "sysroot/change_session.hpp"
#include "sysroot/crash_point.hpp"
#include "sysroot/system_operations.hpp"

namespace mos::sysroot {

Result<ChangeReport> rollback(const SysrootOptions& options, const std::optional<std::string>& to) {
  SysrootPaths paths(options.root);
  MOS_TRY_ASSIGN(auto policy, load_trust_policy(paths, options));
  if (!SystemHistory::exists(paths.history))
    return fail("no system is installed in {}", paths.root.string());
  MOS_TRY_ASSIGN(auto session, open_change_session(paths, options, false));
  if (!session.head) return fail("no system is installed in {}", paths.root.string());
  MOS_TRY_ASSIGN(auto current, load_system(session.history, *session.head, policy, nullptr));
  std::optional<std::string> previous = to;
  if (!previous) {
    MOS_TRY_ASSIGN(previous, previous_system(session.history));
    if (!previous) return fail("there is no earlier system to roll back to");
  }
  MOS_TRY_ASSIGN(auto product, installed_product_uuid(current));
  auto target_policy = policy_for_installed(policy, product);
  auto verified = load_system(session.history, *previous, target_policy, session.store.get());
  if (!verified)
    return context(fmt::format("cannot roll back to {}", previous->substr(0, 12)),
                   verified.error());
  crash_point("rollback-verified");
  MOS_TRY_ASSIGN(auto files, session.history.read(*previous, kMaxSystemManifestBytes * 4));
  std::vector<manifest::Target> targets;
  for (const auto& t : verified->targets) targets.push_back(t.target);
  auto message =
      fmt::format("Rollback to {}: {}", previous->substr(0, 12), describe_targets(targets));
  ChangeReport report;
  MOS_TRY_ASSIGN(report.commit, session.history.commit(files, message));
  crash_point("committed");
  MOS_TRY(remove_boot_trial(paths));
  report.summary = message;
  return report;
}

}  // namespace mos::sysroot
