// trust keyset bootkit, and the bootkit part of trust keyset add: a keyset's enrolled OVMF vars,
// signed shim and signed UKI (src/boot/bootkit.hpp, docs/boot.md).
#include <cstdio>
#include <filesystem>

#include "boot/bootkit.hpp"
#include "cli/trust/commands.hpp"
#include "core/program_paths.hpp"
#include "trust/keyset.hpp"

namespace mos::cli {

namespace fs = std::filesystem;

void add_bootkit_source_options(CLI::App* command, boot::BootkitSources& sources) {
  command
      ->add_option("--kernel-root", sources.kernel_root,
                   "Root holding boot/vmlinuz-RELEASE and lib/modules/RELEASE (linux-image-amd64)")
      ->type_name("DIR")
      ->capture_default_str();
  command
      ->add_option("--kernel-release", sources.kernel_release,
                   "Kernel release to use (default: the newest under the kernel root)")
      ->type_name("RELEASE");
  command
      ->add_option("--mosctl", sources.mosctl,
                   "mosctl program for the hostfs (default: the one beside trust)")
      ->type_name("FILE");
  command
      ->add_option("--mosctl-initrd", sources.initrd_mosctl,
                   "mosctl-initrd program for the initramfs (default: beside trust or in "
                   "../libexec/mos)")
      ->type_name("FILE");
  command
      ->add_option("--mosctl-boot", sources.boot_program,
                   "mosctl-boot program, the hostfs's service manager (default: beside trust or "
                   "in ../libexec/mos)")
      ->type_name("FILE");
  command
      ->add_option("--lxc-monitor", sources.container_monitor,
                   "mos-lxc-monitor program for the hostfs's services (default: beside trust or "
                   "in ../libexec/mos)")
      ->type_name("FILE");
  command
      ->add_option("--container-reaper", sources.container_reaper,
                   "mos-container-reaper program, what each monitor becomes once its container "
                   "runs (default: beside trust or in ../libexec/mos)")
      ->type_name("FILE");
}

Status build_keyset_bootkit(const fs::path& keyset_dir, std::string_view name,
                            boot::BootkitSources sources, bool quiet) {
  if (sources.mosctl.empty()) sources.mosctl = find_companion_program("mosctl");
  if (sources.initrd_mosctl.empty())
    sources.initrd_mosctl = find_companion_program("mosctl-initrd");
  if (sources.boot_program.empty()) sources.boot_program = find_companion_program("mosctl-boot");
  if (sources.container_monitor.empty())
    sources.container_monitor = find_companion_program("mos-lxc-monitor");
  if (sources.container_reaper.empty())
    sources.container_reaper = find_companion_program("mos-container-reaper");
  MOS_TRY_ASSIGN(auto report, boot::build_bootkit(keyset_dir, name, sources));
  if (!quiet)
    std::printf("Built the bootkit of keyset %.*s (kernel %s, UKI %.1f MiB) in %s\n",
                static_cast<int>(name.size()), name.data(), report.kernel_release.c_str(),
                static_cast<double>(report.uki_size) / (1024.0 * 1024.0), report.paths.dir.c_str());
  return {};
}

void add_bootkit_commands(Program& program) {
  static std::string name;
  static boot::BootkitSources sources;
  CLI::App* keyset = program.app().get_subcommand("keyset");
  auto* bootkit = keyset->add_subcommand(
      "bootkit", "(Re)build a keyset's bootkit: enrolled OVMF vars, signed shim, signed UKI");
  bootkit->add_option("KEYSET", name, "Keyset name")->required();
  add_bootkit_source_options(bootkit, sources);
  program.examples(
      bootkit, {{"Rebuild the walkthrough keyset's bootkit with the newest installed kernel",
                 "trust keyset bootkit snakeoil"},
                {"With a kernel unpacked from its package (dpkg-deb -x linux-image-*.deb /tmp/k)",
                 "trust keyset bootkit snakeoil --kernel-root /tmp/k"}});
  program.on_run(bootkit, [&program]() -> Status {
    MOS_TRY_ASSIGN(fs::path dir, trust::find_keyset(name));
    return build_keyset_bootkit(dir, name, sources, program.quiet());
  });
}

}  // namespace mos::cli
