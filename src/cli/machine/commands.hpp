#pragma once
// Command groups of `machine`. Each registers its subcommands on the program (main.cpp).
#include "cli/common/program.hpp"

namespace mos::cli {

// machine init|list|info|edit|delete (definition_commands.cpp; docs/machine.md)
void add_definition_commands(Program& program);

// machine start|stop|console|gui|run (vm_commands.cpp)
void add_vm_commands(Program& program);

}  // namespace mos::cli
