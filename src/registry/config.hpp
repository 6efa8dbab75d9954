#pragma once
// mos-registry's configuration: zot's config file taken as is (distSpecVersion,
// storage.rootDirectory, storage.gc, storage.gcDelay, http.address, http.port, log.level,
// http.auth.htpasswd.path, http.tls.cert/key), with command-line flags applied on top.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mos::registry {

struct RegistryConfig {
  std::string dist_spec_version = "1.1.1";
  std::filesystem::path root_directory;
  bool gc = false;
  std::chrono::seconds gc_delay{3600};
  std::chrono::seconds gc_interval{3600};
  bool delete_enabled = true;  // zot allows deletes unless access control says otherwise
  std::string address = "127.0.0.1";
  std::uint16_t port = 5000;
  std::string log_level = "info";
  std::optional<std::filesystem::path> htpasswd;
  std::optional<std::filesystem::path> tls_cert;
  std::optional<std::filesystem::path> tls_key;
  int threads = 2;
};

// Parses a zot config file's text; `path` names it in messages. Unknown keys are ignored (zot
// configs carry extensions this server does not implement), wrong types are errors.
Result<RegistryConfig> parse_registry_config(std::string_view text, std::string_view path);
Result<RegistryConfig> load_registry_config(const std::filesystem::path& path);

// Go-style durations as zot writes them: "1h", "30m", "10s", "1h30m", "500ms".
Result<std::chrono::seconds> parse_go_duration(std::string_view text);

}  // namespace mos::registry
