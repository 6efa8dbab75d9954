#include <algorithm>
#include <vector>

#include "cli/mosctl/commands.hpp"

namespace mos::cli {
namespace {

// The options of every command group (each keeps its own) that -r/--root fills.
std::vector<sysroot::SysrootOptions*>& root_targets() {
  static std::vector<sysroot::SysrootOptions*> targets;
  return targets;
}

}  // namespace

void add_sysroot_options(CLI::App* command, sysroot::SysrootOptions& options) {
  // -r/--root/--rfs is an option of mosctl itself, so it stands before or after the command
  // (`mosctl -r /tmp/root status`, `mosctl status --root /tmp/root`) like the global flags.
  CLI::App* top = command;
  while (top->get_parent() != nullptr) top = top->get_parent();
  auto& targets = root_targets();
  if (std::find(targets.begin(), targets.end(), &options) == targets.end())
    targets.push_back(&options);
  if (top->get_option_no_throw("--root") == nullptr) {
    static std::string root_dir;
    top->add_option("-r,--root,--rfs", root_dir,
                    "Root directory of the installed system (default /, on a mos machine only)")
        ->type_name("DIR")
        ->each([](const std::string& dir) {
          for (auto* target : root_targets()) {
            target->root = dir;
            target->root_given = true;
          }
        });
  }
  command
      ->add_option("--ca,--capath", options.ca_file,
                   "Manifest CA certificate (default ROOT/factory/secure/manifestCA.pem)")
      ->type_name("FILE");
  command
      ->add_option("--product-uuid", options.product_uuid,
                   "Product this machine runs (default ROOT/factory/secure/product-uuid, else the "
                   "product its SUDI ROOT/factory/secure/server.crt names)")
      ->type_name("UUID");
  command->add_flag("--no-wait", options.no_wait,
                    "Fail at once when another mosctl holds the lock");
}

}  // namespace mos::cli
