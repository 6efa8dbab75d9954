#pragma once
// Shell completion scripts generated from a program's CLI11 definitions (CLI11 has no generator
// of its own): `PROG completion bash|zsh` prints them, the build installs them. Each script holds
// a table of the command tree (commands, options, options that take a value and which of those
// take files or directories, known values) and a small walker that finds the command being typed
// in the words before the cursor.
#include <string>

#include <CLI/CLI.hpp>

#include "cli/common/command_tree.hpp"

namespace mos::cli {

// A bash script defining _PROG (for `complete -F`) and registering it for PROG; source it, or
// install it as share/bash-completion/completions/PROG.
std::string bash_completion(const CLI::App& root, const CommandDocs& docs);
// A zsh script (#compdef PROG) for a directory of $fpath, as share/zsh/site-functions/_PROG;
// sourcing it in a shell with compinit works too.
std::string zsh_completion(const CLI::App& root, const CommandDocs& docs);

}  // namespace mos::cli
