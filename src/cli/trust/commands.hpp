#pragma once
// Command groups of trust. Each registers its subcommands on the program (main.cpp calls them).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "boot/bootkit.hpp"
#include "cli/common/program.hpp"

namespace mos::cli {

// trust keyset list|add|show (keyset_commands.cpp; docs/trust.md)
void add_keyset_commands(Program& program);

// trust project add|list|show and trust sudi add|list (project_commands.cpp)
void add_project_commands(Program& program);

// trust sign|verify (signature_commands.cpp)
void add_signature_commands(Program& program);

// trust keyset bootkit (bootkit_commands.cpp; after add_keyset_commands)
void add_bootkit_commands(Program& program);
// The options naming a bootkit's sources (kernel, mosctl), and the build of one into a keyset
// directory (a new keyset's staging directory, or an existing keyset).
void add_bootkit_source_options(CLI::App* command, boot::BootkitSources& sources);
Status build_keyset_bootkit(const std::filesystem::path& keyset_dir, std::string_view name,
                            boot::BootkitSources sources, bool quiet);

// trust computePCR7, tpm-policy-gen and keyset pcr7data (tpm_commands.cpp; after
// add_keyset_commands, whose keyset group it extends)
void add_tpm_commands(Program& program);

// trust launch (launch_commands.cpp; machine/launch.hpp)
void add_launch_commands(Program& program);

inline void print_lines(const std::vector<std::string>& lines) {
  for (const auto& line : lines) std::printf("%s\n", line.c_str());
}

}  // namespace mos::cli
