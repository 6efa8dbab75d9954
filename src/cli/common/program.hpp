#pragma once
// What every program shares at its edge: logging set-up from --debug/--quiet, subcommands that
// return a Status, and one clear "PROGRAM: error: MESSAGE" line with exit code 1 on failure.
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "core/result.hpp"

namespace mos::cli {

class Program {
 public:
  Program(std::string name, std::string description);

  CLI::App& app() { return app_; }
  // Registers the action of a (sub)command; its Status decides the exit code.
  void on_run(CLI::App* command, std::function<Status()> action);
  // Parses argv, runs the chosen command and returns the process exit code.
  int run(int argc, char** argv);

  bool debug() const { return debug_; }
  bool quiet() const { return quiet_; }

 private:
  std::string name_;
  CLI::App app_;
  bool debug_ = false;
  bool quiet_ = false;
  Status status_;
};

}  // namespace mos::cli
