#pragma once
// The container reaper: what a service's container monitor becomes once its container runs.
//
// liblxc needs its monitor to start a container (the namespaces, the cgroups, the sync with the
// container's init); once the container runs, all the monitor does is stay its parent, pass
// signals on and wait for its end. It keeps liblxc, the C library and their heap mapped for that:
// 3.5 MiB resident a service. So the monitor replaces itself, in the same process (execve on the
// thread that cloned the container's init, so the init's parent never changes and liblxc's
// PDEATHSIG on it still holds), by this program: static, a few pages. boot then tears down what
// liblxc's monitor would have at the container's end (container_teardown.hpp).
//
// This file uses nothing but the C library, so that the program links nothing else.

namespace mos::runtime {

// The reaper's program name (installed beside the monitor).
inline constexpr const char* kContainerReaperProgram = "mos-container-reaper";

// Its exit status when the container's init was no longer its child (liblxc had reaped it).
inline constexpr int kContainerGone = 124;

// The exit status a monitor or reaper ends with for the container init's wait status: the init's
// own for an exit, 128 + N for signal N (as a shell reports it).
inline int container_status_code(int wait_status) {
  if ((wait_status & 0x7f) == 0) return (wait_status >> 8) & 0xff;  // WIFEXITED
  return 128 + (wait_status & 0x7f);
}

// mos-container-reaper INIT_PID: waits for its child INIT_PID (the container's init), passing on
// every signal it gets but SIGCHLD (as liblxc's monitor does: SIGTERM from boot stops the
// service), reaps any other child (the monitor's helper), and returns container_status_code of the
// init's end.
int run_container_reaper(int argc, char** argv);

}  // namespace mos::runtime
