// mosctl install, update, rollback, status and gc: the signed system of a machine.
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "boot/live_action.hpp"
#include "boot/machine_disk.hpp"
#include "cli/common/access_flags.hpp"
#include "cli/mosctl/commands.hpp"
#include "sysroot/system_operations.hpp"

namespace mos::cli {
namespace {

void print_change(const sysroot::ChangeReport& report) {
  for (const auto& d : report.downgrades) spdlog::warn("downgrade allowed: {}", d);
  if (!report.copied.empty())
    spdlog::info("copied {} ({} bytes)", fmt::join(report.copied, ", "), report.bytes_copied);
  std::printf("%s\n", report.summary.c_str());
  if (!report.commit.empty()) std::printf("system %s\n", report.commit.c_str());
}

}  // namespace

void add_system_commands(Program& program) {
  auto& app = program.app();
  static sysroot::SysrootOptions options;
  static std::string url;
  static AccessFlags access;
  static bool partition = false;
  static std::string disk;

  auto* install = app.add_subcommand("install", "Install a signed system (first install only)");
  add_sysroot_options(install, options);
  install->add_option("REF", url, "Install manifest: HOST:PORT/REPO:TAG, docker://..., oci:DIR:TAG")
      ->required();
  install->add_flag("--partition", partition,
                    "First make a machine's disk (GPT: ESP, config, store, scratch; all it held is "
                    "lost), install into it under the root (default /run/mos-install) and put the "
                    "system's shim and UKI on its ESP");
  install
      ->add_option("--disk", disk,
                   "With --partition: the disk or disk image (default: the only unused disk "
                   "of at least 2 GiB)")
      ->type_name("DEV");
  program.examples(
      install,
      {{"The walkthrough: install into /tmp/root (its CA in factory/secure)",
        "mosctl install --root /tmp/root 127.0.0.1:5000/machine/install:1.0.0"},
       {"From a zot-shaped directory, with the CA named",
        "mosctl -r /tmp/root install --ca manifestCA.pem oci:/tmp/zot/machine/install:1.0.0"},
       {"A machine's whole disk, as an install medium's live system does",
        "mosctl install --partition --disk /dev/vda --ca /run/mos-livecd/manifestCA.pem "
        "--plain-http 10.0.2.2:5000/machine/install:1.0.0"}});
  add_access_flags(install, access);
  program.on_run(install, []() -> Status {
    MOS_TRY_ASSIGN(options.source, open_options(access, false));
    if (!disk.empty() && !partition) return fail("--disk goes with --partition");
    if (partition) {
      if (!options.root_given) options.root = std::string(boot::kInstallRoot);
      MOS_TRY_ASSIGN(auto report, boot::install_to_disk(options, url, disk));
      std::printf("%s\ninstalled to %s%s\n", report.summary.c_str(), report.device.c_str(),
                  report.factory_kept ? " (its factory partitions kept)" : "");
      return {};
    }
    spdlog::info("installing into root {}", options.root.string());
    MOS_TRY_ASSIGN(auto report, sysroot::install(options, url));
    print_change(report);
    return {};
  });

  auto* update = app.add_subcommand("update", "Update the installed system (complete or partial)");
  add_sysroot_options(update, options);
  update->add_option("REF", url, "Install manifest: HOST:PORT/REPO:TAG, docker://..., oci:DIR:TAG")
      ->required();
  update->add_flag("--allow-downgrade", options.allow_downgrade,
                   "Accept lower target versions and older install manifests");
  add_access_flags(update, access);
  program.examples(update, {{"Move the system under /tmp/root to the next install manifest",
                             "mosctl update --root /tmp/root 127.0.0.1:5000/machine/install:1.0.1"},
                            {"Go back to an older one on purpose",
                             "mosctl update --root /tmp/root --allow-downgrade "
                             "127.0.0.1:5000/machine/install:1.0.0"}});
  program.on_run(update, []() -> Status {
    MOS_TRY_ASSIGN(options.source, open_options(access, false));
    spdlog::info("updating the system under root {}", options.root.string());
    MOS_TRY_ASSIGN(auto report, sysroot::update(options, url));
    print_change(report);
    if (!report.commit.empty()) reload_running_boot(options);
    return {};
  });

  auto* rollback = app.add_subcommand("rollback", "Return to the system before the current one");
  add_sysroot_options(rollback, options);
  program.examples(rollback, {{"Return to the system before the current one",
                               "mosctl rollback --root /tmp/root"},
                              {"Then look at the history", "mosctl --root /tmp/root status"}});
  program.on_run(rollback, []() -> Status {
    spdlog::info("rolling back the system under root {}", options.root.string());
    MOS_TRY_ASSIGN(auto report, sysroot::rollback(options));
    print_change(report);
    if (!report.commit.empty()) reload_running_boot(options);
    return {};
  });

  static bool json = false;
  auto* status =
      app.add_subcommand("status", "Show the installed system (verified) and its history");
  add_sysroot_options(status, options);
  status->add_flag("--json", json, "Print JSON for programs");
  program.examples(status,
                   {{"The installed system under /tmp/root, verified, and its history",
                     "mosctl status --root /tmp/root"},
                    {"Where the current system was installed from, for a script",
                     "mosctl status --root /tmp/root --json | jq -r .system.install.reference"}});
  program.on_run(status, []() -> Status {
    MOS_TRY_ASSIGN(auto s, sysroot::status(options));
    // With a boot running, its services too (status of the installed system stays readable
    // without one).
    auto boot = running_boot(options);
    if (boot) {
      s["services"] = boot->value("services", Json::array());
      boot->erase("services");
      s["boot"] = *boot;
    }
    std::string text = json ? s.dump(2) + "\n" : sysroot::format_status(s);
    if (!json && boot) text += format_services(s["services"]);
    if (!json && !boot && s.value("installed", false)) text += "services: no mosctl boot runs\n";
    std::fputs(text.c_str(), stdout);
    return {};
  });

  auto* gc = app.add_subcommand("gc", "Remove store content no kept system uses");
  add_sysroot_options(gc, options);
  program.examples(
      gc, {{"Remove what no kept system of /tmp/root uses", "mosctl gc --root /tmp/root"},
           {"Fail at once if another mosctl is busy", "mosctl gc --root /tmp/root --no-wait"}});
  program.on_run(gc, []() -> Status {
    MOS_TRY_ASSIGN(auto r, sysroot::gc(options));
    std::printf(
        "kept %zu system(s); removed %zu manifest(s), %zu blob(s), %zu staging file(s); freed %llu "
        "bytes\n",
        r.kept_systems.size(), r.manifests_removed, r.blobs_removed, r.staging_files_removed,
        static_cast<unsigned long long>(r.bytes_freed));
    return {};
  });
}

}  // namespace mos::cli
