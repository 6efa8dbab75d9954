#include "cli/common/access_flags.hpp"

namespace mos::cli {

void add_access_flags(CLI::App* cmd, AccessFlags& flags) {
  cmd->add_flag("--insecure", flags.insecure,
                "Use plain http for registries (the default for 127.0.0.0/8, localhost and ::1)");
  cmd->add_option(
         "--cacert", flags.cacert,
         "PEM file of the CA that signs the registry's TLS certificate (https, on loopback too)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--user", flags.user, "Registry user name (with --pass)");
  cmd->add_option("--pass", flags.pass, "Registry password (with --user)");
  cmd->add_option("--creds", flags.creds, "Registry credentials as USER:PASS");
  cmd->add_option("--authfile", flags.authfile,
                  "Credentials file (containers auth.json format); default: $REGISTRY_AUTH_FILE, "
                  "$XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, "
                  "~/.docker/config.json");
}

Result<oci::OpenOptions> open_options(const AccessFlags& flags, bool create) {
  oci::OpenOptions o;
  o.create = create;
  o.registry.insecure = flags.insecure;
  if (!flags.creds.empty()) {
    auto colon = flags.creds.find(':');
    if (colon == std::string::npos) return fail("--creds must be USER:PASS");
    o.registry.username = flags.creds.substr(0, colon);
    o.registry.password = flags.creds.substr(colon + 1);
  }
  if (!flags.user.empty() || !flags.pass.empty()) {
    if (!flags.creds.empty()) return fail("give either --creds or --user/--pass, not both");
    if (flags.user.empty() || flags.pass.empty()) return fail("--user and --pass go together");
    o.registry.username = flags.user;
    o.registry.password = flags.pass;
  }
  if (!flags.authfile.empty()) o.registry.authfile = flags.authfile;
  if (!flags.cacert.empty()) {
    if (flags.insecure)
      return fail("--cacert (https) and --insecure (plain http) exclude each other");
    o.registry.ca_file = flags.cacert;
  }
  return o;
}

}  // namespace mos::cli
