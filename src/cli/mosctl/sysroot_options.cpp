#include "cli/mosctl/commands.hpp"

namespace mos::cli {

void add_sysroot_options(CLI::App* command, sysroot::SysrootOptions& options) {
  command
      ->add_option("-r,--root,--rfs", options.root,
                   "Root directory of the installed system (default /, on a mos machine only)")
      ->capture_default_str()
      ->each([&options](const std::string&) { options.root_given = true; });
  command->add_option("--ca,--capath", options.ca_file,
                      "Manifest CA certificate (default ROOT/factory/secure/manifestCA.pem)");
  command->add_option("--product-uuid", options.product_uuid,
                      "Product this machine runs (default ROOT/factory/secure/product-uuid)");
  command->add_flag("--no-wait", options.no_wait,
                    "Fail at once when another mosctl holds the lock");
}

}  // namespace mos::cli
