// mos-registry: an OCI distribution server in zot's role, serving a zot-shaped root directory.
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

#include <spdlog/spdlog.h>

#include "cli/common/program.hpp"
#include "oci/layout_store.hpp"
#include "registry/config.hpp"
#include "registry/gc.hpp"
#include "registry/htpasswd.hpp"
#include "registry/registry.hpp"
#include "registry/server.hpp"

int main(int argc, char** argv) {
  mos::cli::Program program("mos-registry",
                            "OCI distribution registry (zot's storage layout and config file)");
  auto* serve = program.app().add_subcommand(
      "serve", "Serve a registry root directory (like `zot serve CONFIG.json`)");
  std::string config_path, root, address, htpasswd;
  int port = -1, threads = 0, idle_timeout = 60;
  bool no_delete = false;
  std::string tls_cert, tls_key;
  serve->add_option("CONFIG", config_path, "zot config file (distSpecVersion, storage, http, log)");
  serve->add_option("--root", root, "Root directory (overrides storage.rootDirectory)")
      ->type_name("DIR");
  serve->add_option("--address", address, "Listen address (default 127.0.0.1)")->type_name("ADDR");
  serve->add_option("--port", port, "Listen port (default 5000; 0 picks a free port)")
      ->type_name("PORT")
      ->check(CLI::Range(0, 65535));
  serve->add_option("--threads", threads, "Server threads (default 2)")
      ->type_name("N")
      ->check(CLI::Range(1, 64));
  serve
      ->add_option("--tls-cert", tls_cert,
                   "TLS certificate chain, PEM (overrides http.tls.cert; with --tls-key)")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  serve->add_option("--tls-key", tls_key, "TLS private key, PEM (overrides http.tls.key)")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  serve
      ->add_option("--idle-timeout", idle_timeout,
                   "Drop a client that moves no byte for this many seconds (default 60)")
      ->type_name("SECONDS")
      ->check(CLI::Range(1, 86400));
  serve->add_flag("--no-delete", no_delete, "Refuse manifest, tag and blob deletes (405)");
  serve
      ->add_option(
          "--htpasswd", htpasswd,
          "htpasswd file (bcrypt or SHA-crypt) for Basic auth (overrides http.auth.htpasswd.path)")
      ->type_name("FILE");
  program.examples(serve, {{"The walkthrough's registry, from zot's config file",
                            "mos-registry serve zot-config.json"},
                           {"Flags only: serve /tmp/zot on 127.0.0.1:5000",
                            "mos-registry serve --root /tmp/zot --port 5000"},
                           {"Basic auth and TLS on every address",
                            "mos-registry serve --root /tmp/zot --address 0.0.0.0 --htpasswd "
                            "/etc/mos/htpasswd --tls-cert server.crt --tls-key server.key"}});
  program.examples(
      &program.app(),
      {{"Serve the walkthrough's registry", "mos-registry serve zot-config.json"},
       {"Serve a directory, logging every request", "mos-registry --debug serve --root /tmp/zot"}});
  program.on_run(serve, [&]() -> mos::Status {
    mos::registry::RegistryConfig config;
    if (!config_path.empty()) {
      MOS_TRY_ASSIGN(config, mos::registry::load_registry_config(config_path));
    }
    if (!root.empty()) config.root_directory = root;
    if (!address.empty()) config.address = address;
    if (port >= 0) config.port = static_cast<std::uint16_t>(port);
    if (threads > 0) config.threads = threads;
    if (no_delete) config.delete_enabled = false;
    if (!tls_cert.empty()) config.tls_cert = tls_cert;
    if (!tls_key.empty()) config.tls_key = tls_key;
    if (!htpasswd.empty()) config.htpasswd = htpasswd;
    if (config.root_directory.empty())
      return mos::fail("no root directory: give a config file or --root DIR");
    if (!program.debug() && !program.quiet()) {
      auto level = config.log_level == "debug" || config.log_level == "trace" ? spdlog::level::debug
                   : config.log_level == "warn"                               ? spdlog::level::warn
                   : config.log_level == "info"                               ? spdlog::level::info
                                                                              : spdlog::level::err;
      spdlog::set_level(level);
    }
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
    std::shared_ptr<const mos::registry::Authenticator> authenticator;
    if (config.htpasswd) {
      MOS_TRY_ASSIGN(auto users, mos::registry::Htpasswd::load(*config.htpasswd));
      spdlog::info("Basic authentication: {} users from {}", users->users(),
                   config.htpasswd->string());
      authenticator = std::move(users);
    }
    MOS_TRY_ASSIGN(auto layout_root, mos::oci::LayoutRoot::open(config.root_directory, true));
    mos::registry::Registry registry(
        std::move(layout_root),
        {.delete_enabled = config.delete_enabled, .authenticator = authenticator});
    MOS_TRY_ASSIGN(auto server, mos::registry::Server::create(
                                    registry, {.address = config.address,
                                               .port = config.port,
                                               .threads = config.threads,
                                               .idle_timeout = std::chrono::seconds(idle_timeout),
                                               .tls_cert = config.tls_cert,
                                               .tls_key = config.tls_key}));
    spdlog::info("serving {} (distribution-spec {})", config.root_directory.string(),
                 config.dist_spec_version);
    // storage.gc: a sweep at start and every gcInterval, collecting what is older than gcDelay.
    std::jthread collector;
    if (config.gc) {
      collector = std::jthread([&](std::stop_token stop) {
        std::mutex mutex;
        std::condition_variable_any wake;
        do {
          auto gc_root = mos::oci::LayoutRoot::open(config.root_directory, false);
          if (gc_root) {
            auto report = mos::registry::collect_garbage(*gc_root, config.gc_delay);
            if (!report) spdlog::warn("gc: {}", report.error().message);
          }
          std::unique_lock lock(mutex);
          wake.wait_for(lock, stop, config.gc_interval, [] { return false; });
        } while (!stop.stop_requested());
      });
    }
    return server->run();
  });
  return program.run(argc, argv);
}
