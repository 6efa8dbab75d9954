// mosctl live-action: what a boot medium's live system does (boot/live_action.hpp).
#include <cstdio>
#include <string>

#include "boot/live_action.hpp"
#include "cli/mosctl/commands.hpp"
#include "tpm/tpm_connection.hpp"

namespace mos::cli {

void add_live_commands(Program& program) {
  static std::string dir = std::string(boot::kLiveDir);
  static std::string tcti = std::string(tpm::kDefaultTcti);
  auto* live = program.app().add_subcommand(
      "live-action", "Run the action of the boot medium this live system was started from");
  live->add_option("--dir", dir, "What the initramfs left for the action")
      ->type_name("DIR")
      ->capture_default_str();
  live->add_option("--tpm", tcti, "TPM to use, as a tpm2-tss TCTI string")
      ->type_name("TCTI")
      ->capture_default_str();
  program.examples(live, {{"As the live system runs it", "mosctl live-action"}});
  program.on_run(live, []() -> Status {
    MOS_TRY_ASSIGN(auto report, boot::run_live_action(dir, tcti));
    std::printf("%s\n", report.line.c_str());
    return {};
  });
}

}  // namespace mos::cli
