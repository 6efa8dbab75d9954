// mos-container-reaper: what mos-lxc-monitor becomes once its container runs
// (src/runtime/container_reaper.hpp). Not a command for users: installed in libexec/mos.
#include "runtime/container_reaper.hpp"

int main(int argc, char** argv) {
  return mos::runtime::run_container_reaper(argc, argv);
}
