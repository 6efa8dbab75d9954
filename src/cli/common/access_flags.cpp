#include "cli/common/access_flags.hpp"

namespace mos::cli {

void add_tls_flags(CLI::App* cmd, AccessFlags& flags) {
  flags.tls_verify_option = cmd->add_flag(
      "--tls-verify", flags.tls_verify,
      "Check the registry's TLS certificate (default); --tls-verify=false: https without the "
      "check (a self-signed certificate)");
  cmd->add_flag("--plain-http,--insecure", flags.plain_http,
                "Plain http, no TLS, for any registry (--insecure: the old name). Without it, "
                "loopback registries (127.0.0.0/8, localhost, ::1) get whichever they speak");
  cmd->add_option("--cacert", flags.cacert,
                  "PEM file of the CA that signs the registry's TLS certificate (https, on "
                  "loopback too)")
      ->check(CLI::ExistingFile);
}

void add_access_flags(CLI::App* cmd, AccessFlags& flags) {
  add_tls_flags(cmd, flags);
  cmd->add_option("--user", flags.user, "Registry user name (with --pass)");
  cmd->add_option("--pass", flags.pass, "Registry password (with --user)");
  cmd->add_option("--creds", flags.creds, "Registry credentials as USER:PASS");
  cmd->add_option("--authfile", flags.authfile,
                  "Credentials file (containers auth.json format); default: $REGISTRY_AUTH_FILE, "
                  "$XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, "
                  "~/.docker/config.json (credHelpers and credsStore too; see mosb login)");
}

Result<oci::OpenOptions> open_options(const AccessFlags& flags, bool create) {
  oci::OpenOptions o;
  o.create = create;
  bool tls_verify_given = flags.tls_verify_option && flags.tls_verify_option->count() > 0;
  if (flags.plain_http && !flags.cacert.empty())
    return fail(
        "--plain-http/--insecure (no TLS) and --cacert (the CA of a TLS registry) exclude each "
        "other: give "
        "one of them");
  if (flags.plain_http && tls_verify_given)
    return fail(
        "--plain-http/--insecure (no TLS) and --tls-verify (certificate checks of https) exclude "
        "each "
        "other: give one of them");
  if (!flags.tls_verify && !flags.cacert.empty())
    return fail(
        "--tls-verify=false (no certificate check) and --cacert (check with this CA) exclude each "
        "other: give one of them");
  o.registry.plain_http = flags.plain_http;
  o.registry.tls_verify = flags.tls_verify;
  if (!flags.cacert.empty()) o.registry.ca_file = flags.cacert;
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
  return o;
}

}  // namespace mos::cli
