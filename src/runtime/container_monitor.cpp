#include "runtime/container_monitor.hpp"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <lxc/lxccontainer.h>

namespace mos::runtime {

int run_container_monitor(int argc, char** argv) {
  if (argc < 6 || strcmp(argv[4], "--") != 0) {
    fprintf(stderr,
            "usage: %s NAME LXCPATH CONFIG -- COMMAND [ARG...] (started by mosctl boot, one per "
            "service)\n",
            argc > 0 ? argv[0] : kContainerMonitorProgram);
    return kContainerNotStarted;
  }
  const char* name = argv[1];
  const char* lxc_path = argv[2];
  const char* config = argv[3];
  // liblxc prefers newuidmap/newgidmap when they are on PATH, and those refuse root without
  // /etc/subuid entries; as root it writes the maps itself when they are not found.
  setenv("PATH", "/usr/sbin:/sbin", 1);
  lxc_container* c = lxc_container_new(name, lxc_path);
  if (!c) {
    fprintf(stderr, "mos: liblxc could not create container %s\n", name);
    return kContainerNotStarted;
  }
  if (!c->load_config(c, config)) {
    fprintf(stderr, "mos: liblxc refused the config %s\n", config);
    lxc_container_put(c);
    return kContainerNotStarted;
  }
  c->want_daemonize(c, false);
  c->want_close_all_fds(c, true);
  bool started = c->start(c, 1, argv + 5);
  // error_num is the wait status of the container's init.
  int status = c->error_num;
  lxc_container_put(c);
  if (!started) {
    fprintf(stderr, "mos: liblxc could not start %s (see its log under %s)\n", name, lxc_path);
    return kContainerNotStarted;
  }
  return WIFEXITED(status)     ? WEXITSTATUS(status)
         : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                               : kContainerNotStarted;
}

}  // namespace mos::runtime
