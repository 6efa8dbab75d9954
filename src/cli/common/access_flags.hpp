#pragma once
// Registry access flags shared by every command that reaches a registry (mosb oci, mosb
// manifest, mosctl): --insecure, --cacert, --user/--pass, --creds, --authfile.
#include <string>

#include <CLI/CLI.hpp>

#include "core/result.hpp"
#include "oci/open.hpp"

namespace mos::cli {

struct AccessFlags {
  bool insecure = false;
  std::string user;
  std::string pass;
  std::string creds;
  std::string authfile;
  std::string cacert;
};

void add_access_flags(CLI::App* cmd, AccessFlags& flags);
// The options to open references with; `create` makes missing oci: layouts.
Result<oci::OpenOptions> open_options(const AccessFlags& flags, bool create);

}  // namespace mos::cli
