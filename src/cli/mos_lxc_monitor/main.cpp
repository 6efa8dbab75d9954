// mos-lxc-monitor: one service's container in the foreground of liblxc, started by mosctl boot
// (src/runtime/container_monitor.hpp). Not a command for users: installed in libexec/mos.
#include "runtime/container_monitor.hpp"

int main(int argc, char** argv) {
  return mos::runtime::run_container_monitor(argc, argv);
}
