#pragma once
// Man pages (roff, man(7) macros) generated from a program's CLI11 definitions and the same
// texts --help shows: PROG.1 (its commands, global options, examples, exit status) and one page
// per command, git style (mosb-oci-copy.1 for `mosb oci copy`).
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/common/command_tree.hpp"
#include "core/result.hpp"

namespace mos::cli {

struct ManPage {
  std::string file;  // "mosb-oci-copy.1"
  std::string text;  // roff
};

// The pages of `root` and of every command below it.
std::vector<ManPage> man_pages(const CLI::App& root, const CommandDocs& docs);

// What the build installs, under DIR: bash-completion/completions/PROG, zsh/site-functions/_PROG
// and man/man1/*.1 (the program's old pages there are removed first).
Status write_generated_files(const CLI::App& root, const CommandDocs& docs,
                             const std::filesystem::path& dir);

}  // namespace mos::cli
