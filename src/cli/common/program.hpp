#pragma once
// What every program shares at its edge: logging set-up from the global flags (--debug,
// -q/--quiet, accepted before or after the command), subcommands that return a Status, --help
// with Examples, `PROG completion bash|zsh`, man pages, and the exit status convention:
//   0 success; 1 failure, one line "PROGRAM: error: MESSAGE";
//   2 usage error, one line "PROGRAM: error: MESSAGE" (with "did you mean 'X'?" for a misspelt
//     command or option; a missing command also prints the help of its group).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/common/command_tree.hpp"
#include "core/result.hpp"

namespace mos::cli {

inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

class Program {
 public:
  Program(std::string name, std::string description);

  CLI::App& app() { return app_; }
  // Registers the action of a (sub)command; its Status decides the exit code.
  void on_run(CLI::App* command, std::function<Status()> action);
  // The Examples section of a command's --help and man page: real command lines (the
  // walkthrough's names), each with what it does.
  void examples(CLI::App* command, std::vector<Example> examples);
  // The values an option or argument takes, offered by shell completion.
  void choices(CLI::Option* option, std::vector<std::string> values);
  // Parses argv, runs the chosen command and returns the process exit code.
  int run(int argc, char** argv);

  bool debug() const { return debug_; }
  bool quiet() const { return quiet_; }

 private:
  void finish_definitions();

  std::string name_;
  std::shared_ptr<CommandDocs> docs_;
  CLI::App app_;
  bool debug_ = false;
  bool quiet_ = false;
  std::string completion_shell_;
  Status status_;
};

}  // namespace mos::cli
