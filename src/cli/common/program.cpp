#include "cli/common/program.hpp"

#include <cstdio>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace mos::cli {

Program::Program(std::string name, std::string description)
    : name_(std::move(name)), app_(std::move(description), name_) {
  app_.set_version_flag("--version", std::string(MOS_VERSION));
  app_.add_flag("--debug", debug_, "Log every step (HTTP requests, files written)");
  app_.add_flag("-q,--quiet", quiet_, "Print only errors");
  app_.require_subcommand(1);
}

void Program::on_run(CLI::App* command, std::function<Status()> action) {
  command->callback([this, action = std::move(action)] { status_ = action(); });
}

int Program::run(int argc, char** argv) {
  auto logger = spdlog::stderr_color_st(name_);
  logger->set_pattern("%n: %v");
  spdlog::set_default_logger(logger);
  // Logging must be configured before any command callback runs, so the flags are read first.
  app_.parse_complete_callback([this] {
    spdlog::set_level(debug_   ? spdlog::level::debug
                      : quiet_ ? spdlog::level::err
                               : spdlog::level::info);
  });
  try {
    app_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app_.exit(e);
  }
  if (!status_) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", name_.c_str(), status_.error().message.c_str());
    return 1;
  }
  return 0;
}

}  // namespace mos::cli
