#pragma once
// The container monitor: the process that holds one service's container, liblxc in the
// foreground (liblxc makes it the container's parent; its exit is the container's end). It is a
// program of its own, mos-lxc-monitor, which boot starts for each service rather than a fork of
// boot: a fork would carry boot's libraries and heap into every monitor, while this program maps
// liblxc and the C library only (a few hundred KiB of its own per monitor; docs/services.md).
// Once its container runs, it becomes the container reaper (container_reaper.hpp) in the same
// process, which keeps nothing of liblxc mapped.
// This file uses nothing but liblxc and the C library, so that the program links nothing else.

namespace mos::runtime {

// The monitor program's name (installed beside mosctl or in ../libexec/mos).
inline constexpr const char* kContainerMonitorProgram = "mos-lxc-monitor";

// The monitor's status when the container was not started (liblxc's reason is in its log, the
// monitor's on its stderr, the service's log).
inline constexpr int kContainerNotStarted = 125;

// mos-lxc-monitor NAME LXCPATH CONFIG REAPER -- COMMAND [ARG...]: runs container NAME (liblxc's
// lxcpath LXCPATH) with the config file CONFIG, its init running COMMAND with exactly those
// arguments; once it runs, execs the program REAPER with the init's pid ("-": stays liblxc's
// monitor to the end, for what only liblxc can undo: an AppArmor profile it generated).
// Returns the exit status to end with: the container init's (0 for a clean exit, 128 + N for
// signal N), or kContainerNotStarted when liblxc could not start it (the reason on stderr, the
// service's log).
int run_container_monitor(int argc, char** argv);

}  // namespace mos::runtime
