#include "sysroot/system_operations.hpp"

#include <spdlog/spdlog.h>

#include "manifest/verify.hpp"
#include "oci/media_types.hpp"
#include "sysroot/boot_trial.hpp"
#include "sysroot/change_session.hpp"
#include "sysroot/crash_point.hpp"
#include "sysroot/install_source.hpp"
#include "sysroot/system_plan.hpp"

namespace mos::sysroot {
namespace {

enum class ChangeKind { install, update };

// Step 1: everything about the incoming install manifest that needs no write on the target.
Result<IncomingInstall> verify_incoming(InstallSource& source, std::string_view url,
                                        const manifest::TrustPolicy& policy) {
  MOS_TRY_ASSIGN(auto verified, manifest::verify_install(*source.install, source.tag_or_digest,
                                                         policy, source.targets.get()));
  // The triple is checked once more exactly as the history will hold it, so what is committed is
  // what every later command can verify offline (this also binds install.json's product to the
  // certificate's).
  SignedTriple files{verified.install_json, verified.signature, verified.certificate_pem};
  auto triple = verify_triple(source_name(verified.install_json), files, policy);
  if (!triple) return context(std::string(url), triple.error());
  IncomingInstall incoming{std::move(*triple), std::string(url), std::nullopt};
  MOS_TRY_ASSIGN(auto oci_manifest, oci::parse_image_manifest(verified.install_manifest.bytes));
  if (auto it = oci_manifest.annotations.find(std::string(oci::annotation::kCreated));
      it != oci_manifest.annotations.end())
    incoming.created = it->second;
  return incoming;
}

// Steps 4 and 5: copy what the plan needs, check the whole system is in the store, commit.
Result<ChangeReport> apply_plan(ChangeSession& session, const SysrootPaths& paths,
                                InstallSource& source, const PlannedSystem& plan,
                                const std::string& message, ChangeKind kind) {
  ChangeReport report;
  report.downgrades = plan.downgrades;
  for (const auto& t : plan.targets) {
    if (check_target_in_store(*session.store, t)) continue;
    MOS_TRY_ASSIGN(auto bytes, copy_target_image(*source.targets, *session.store, t));
    report.copied.push_back(t.service_name);
    report.bytes_copied += bytes;
    crash_point("target-copied");
  }
  crash_point("content-copied");
  for (const auto& t : plan.targets) MOS_TRY(check_target_in_store(*session.store, t));
  auto files = system_files(plan.record, plan.triples);
  if (session.head) {
    MOS_TRY_ASSIGN(auto current_files,
                   session.history.read(*session.head, kMaxSystemManifestBytes * 4));
    if (current_files == files) {
      report.summary = "the system is already up to date";
      return report;
    }
  }
  // The new system is on trial until a boot of it comes up (boot_trial.hpp).
  if (kind == ChangeKind::update) {
    MOS_TRY(write_boot_trial(paths, BootTrial{*session.head, 0}));
  } else {
    MOS_TRY(remove_boot_trial(paths));
  }
  crash_point("trial-marked");
  MOS_TRY_ASSIGN(report.commit, session.history.commit(files, message));
  crash_point("committed");
  report.summary = message;
  return report;
}

Result<ChangeReport> change(const SysrootOptions& options, std::string_view url, ChangeKind kind) {
  SysrootPaths paths(options.root);
  MOS_TRY_ASSIGN(auto policy, load_trust_policy(paths, options));
  if (kind == ChangeKind::update && !SystemHistory::exists(paths.history))
    return fail("no system is installed in {}; use mosctl install first", paths.root.string());
  if (kind == ChangeKind::install && SystemHistory::exists(paths.history)) {
    // Refuse early (nothing fetched); checked again under the lock below.
    MOS_TRY_ASSIGN(auto history, SystemHistory::open(paths.history, false));
    MOS_TRY_ASSIGN(auto head, history.head());
    if (head)
      return fail("a system is already installed in {} (commit {}); use mosctl update",
                  paths.root.string(), head->substr(0, 12));
  }
  MOS_TRY_ASSIGN(auto source, open_install_source(url, options.source));
  MOS_TRY_ASSIGN(auto incoming, verify_incoming(source, url, policy));
  crash_point("verified");

  MOS_TRY_ASSIGN(auto session, open_change_session(paths, options, kind == ChangeKind::install));
  if (kind == ChangeKind::install) {
    if (session.head)
      return fail("a system is already installed in {} (commit {}); use mosctl update",
                  paths.root.string(), session.head->substr(0, 12));
    MOS_TRY_ASSIGN(auto plan, plan_install(incoming));
    crash_point("planned");
    return apply_plan(session, paths, source, plan,
                      fmt::format("Install {}: {}", url, describe_targets(plan.targets)), kind);
  }
  if (!session.head)
    return fail("no system is installed in {}; use mosctl install first", paths.root.string());
  MOS_TRY_ASSIGN(auto current,
                 load_system(session.history, *session.head, policy, session.store.get()));
  // With no product named by the machine, the installed system's product is kept: an update
  // signed for another product (another project of the same CA) is refused.
  MOS_TRY_ASSIGN(auto product, installed_product_uuid(current));
  auto bound = policy_for_installed(policy, product);
  if (incoming.triple.certificate.product_uuid != bound.product_uuid)
    return fail("{} is signed for product {}, but the installed system runs product {}", url,
                incoming.triple.certificate.product_uuid.value_or("(none)"), *bound.product_uuid);
  MOS_TRY_ASSIGN(auto plan, plan_update(current, incoming, options.allow_downgrade));
  crash_point("planned");
  for (const auto& d : plan.downgrades) spdlog::warn("allowed downgrade: {}", d);
  return apply_plan(session, paths, source, plan,
                    fmt::format("Update ({}) to {}: {}",
                                manifest::to_string(incoming.triple.manifest.update_type), url,
                                describe_targets(plan.targets)),
                    kind);
}

}  // namespace

Result<ChangeReport> install(const SysrootOptions& options, std::string_view url) {
  return change(options, url, ChangeKind::install);
}

Result<ChangeReport> update(const SysrootOptions& options, std::string_view url) {
  return change(options, url, ChangeKind::update);
}

}  // namespace mos::sysroot
