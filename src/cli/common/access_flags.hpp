#pragma once
// Registry access flags shared by every command that reaches a registry (mosb oci, mosb
// manifest, mosb image build, mosb login, mosctl): TLS (--tls-verify, --plain-http with its old
// name --insecure, --cacert) and credentials (--user/--pass, --creds, --authfile).
#include <string>

#include <CLI/CLI.hpp>

#include "core/result.hpp"
#include "oci/open.hpp"

namespace mos::cli {

struct AccessFlags {
  bool plain_http = false;                   // --plain-http, --insecure
  bool tls_verify = true;                    // --tls-verify[=false]
  CLI::Option* tls_verify_option = nullptr;  // tells a given --tls-verify=true from the default
  std::string user;
  std::string pass;
  std::string creds;
  std::string authfile;
  std::string cacert;
};

// --tls-verify, --plain-http (--insecure), --cacert.
void add_tls_flags(CLI::App* cmd, AccessFlags& flags);
// The TLS flags and the credential flags.
void add_access_flags(CLI::App* cmd, AccessFlags& flags);
// The options to open references with; `create` makes missing oci: layouts. Conflicting flags
// are refused here, naming both.
Result<oci::OpenOptions> open_options(const AccessFlags& flags, bool create);

}  // namespace mos::cli
