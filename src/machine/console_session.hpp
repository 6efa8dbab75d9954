#pragma once
// `machine console`: the recent console log first, then the live serial console through qemu's
// socket, in raw mode when the terminal is one. Ctrl-] detaches (as socat's escape in the
// original); the VM's end closes the session.
#include "core/result.hpp"
#include "machine/machine_paths.hpp"

namespace mos::machine {

inline constexpr unsigned char kDetachKey = 0x1d;  // Ctrl-]

// The last `bytes` of the console log, from the start of a line.
std::string console_tail(const MachinePaths& paths, std::size_t bytes);

// Relays between in/out and the VM's serial console until Ctrl-] on `in`, the end of `in`, or the
// VM's end.
Status attach_console(const MachinePaths& paths, int in, int out);

}  // namespace mos::machine
