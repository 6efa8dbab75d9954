#pragma once
// Reading a program's CLI11 definitions as a tree of commands: the one source of its --help, its
// usage errors (did you mean ...?), its bash and zsh completion and its man pages, so none of
// them can drift from what the parser accepts. Hidden commands and options (CLI11's empty group)
// are left out everywhere.
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace mos::cli {

// One line of a command's Examples section: what it does, and the command line.
struct Example {
  std::string what;
  std::string command;
};

// What the CLI11 definitions cannot hold: examples per command and the values an option or
// argument takes (for completion). Shared by the help formatter and the generators.
struct CommandDocs {
  std::string program;  // the program's name, e.g. "mosb"
  std::string version;  // e.g. "0.1.0"
  std::map<const CLI::App*, std::vector<Example>> examples;
  std::map<const CLI::Option*, std::vector<std::string>> choices;
};

// "mosb oci copy" for the copy command of mosb.
std::string command_path(const CLI::App& app);
// The commands below `app` that a user may type, in definition order.
std::vector<const CLI::App*> visible_subcommands(const CLI::App& app);
// The named (non-positional) options of `app` itself, and its positional arguments.
std::vector<const CLI::Option*> own_options(const CLI::App& app);
std::vector<const CLI::Option*> positionals(const CLI::App& app);
// Options of the commands above `app` that it accepts too (every command falls through to its
// parents): the global flags, and for mosctl --root. Their own --help and names `app` redefines
// are left out.
std::vector<const CLI::Option*> global_options(const CLI::App& app);
// Whether an option is followed by a value (a flag is not).
bool takes_value(const CLI::Option& option);
// Every spelling of an option: "-j", "--parallel".
std::vector<std::string> option_names(const CLI::Option& option);
// The placeholder of an option's value ("REF", "FILE", "N"), empty for a flag; for a positional
// its name.
std::string value_name(const CLI::Option& option);
// The exit status convention of every program, one sentence.
inline constexpr const char* kExitStatusText =
    "Exit status: 0 success, 1 failure, 2 usage error (unknown command or option, missing "
    "argument)";

}  // namespace mos::cli
