#pragma once
// Where this project's programs find each other: a helper that a program runs or becomes (the
// container monitor, the lean boot program, the initramfs's mosctl) sits beside the running
// program (a build tree's bin/, or /usr/bin), in ../libexec/mos from there (helpers that are no
// commands for users), or in $PATH.
#include <filesystem>
#include <string_view>

#include "core/result.hpp"

namespace mos {

// The first of: NAME beside /proc/self/exe, in its ../libexec/mos, in $PATH (executable
// there). Empty when none is found.
std::filesystem::path find_companion_program(std::string_view name);

// The same without the $PATH lookup: a program of this very build or installation only.
std::filesystem::path find_installed_companion(std::string_view name);

// Replaces this process by `program`, with this process's own arguments (from
// /proc/self/cmdline, argv[0] included): the same pid, open descriptors and environment. Returns
// only on failure.
Status become_program(const std::filesystem::path& program);

}  // namespace mos
