#pragma once
// Starting the long-lived processes of a VM (qemu, swtpm) so that they outlive the `machine`
// command that starts them: a new session, stdin from /dev/null, stdout and stderr appended to
// a log file, no other inherited descriptor (a test harness's pipes must not stay open).
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace mos::machine {

// Forks and execs argv[0] (looked up in $PATH). The caller is its parent until it exits, so it
// can reap a child that fails at once; after that the child belongs to init.
Result<pid_t> spawn_detached(const std::vector<std::string>& argv,
                             const std::filesystem::path& log);

// A pidfd of a running process (pidfd_open): waiting on it has no pid-reuse race.
Result<UniqueFd> open_pidfd(pid_t pid);

// Waits until the process behind the pidfd has exited, up to the timeout; true if it did.
bool wait_for_exit(int pidfd, std::chrono::milliseconds timeout);

// The pid in a pidfile, when that process is alive and its command line contains `marker`.
std::optional<pid_t> live_pid_from_file(const std::filesystem::path& pidfile,
                                        std::string_view marker);

}  // namespace mos::machine
