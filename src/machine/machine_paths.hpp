#pragma once
// Where a VM's files live, in the original machine's layout so its users find them:
//   definition  $XDG_CONFIG_HOME/machine/machines/NAME/machine.yaml
//   run dir     $XDG_STATE_HOME/machine/machines/NAME/NAME/   (disks, NVRAM, TPM state, logs,
//               qemu's pidfile)
//   sockets     a short directory ($XDG_RUNTIME_DIR/machine/NAME, else /tmp/machine-UID/NAME):
//               a unix socket path must fit sun_path's 108 bytes, which the run dir may not.
// Nothing else holds a VM's state: any process can find a running VM from these paths.
#include <filesystem>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace mos::machine {

namespace fs = std::filesystem;

struct MachineHome {
  fs::path config_root;  // .../machine/machines
  fs::path state_root;   // $XDG_STATE_HOME/machine/machines
  fs::path socket_root;  // short, private to this user
  fs::path cache_dir;    // $XDG_CACHE_HOME/machine (the accelerator probe's answer)

  // From the environment ($XDG_* or their defaults under $HOME).
  static Result<MachineHome> from_environment();
};

struct MachinePaths {
  MachinePaths(const MachineHome& home, const std::string& name);

  std::string name;
  fs::path config_dir;
  fs::path definition;  // machine.yaml
  fs::path run_dir;
  fs::path socket_dir;
  fs::path console_socket;
  fs::path qmp_socket;
  fs::path tpm_socket;    // qemu's TPM control channel (the relay's, for a TPM 2.0)
  fs::path swtpm_socket;  // swtpm's own, behind the relay
  fs::path qemu_pidfile;  // written and locked by qemu while it runs
  fs::path qemu_log;      // qemu's stderr of the latest start
  fs::path console_log;   // everything the guest wrote on its serial console, this start
  fs::path uefi_code;     // the firmware copy qemu runs
  fs::path uefi_vars;     // the VM's NVRAM, copied once from the template
  fs::path tpm_dir;       // swtpm state, its local CA and its log
  fs::path swtpm_pidfile;
  fs::path lock;  // serialises start/stop/edit/delete of this VM
};

// The names of the defined machines (folders holding a machine.yaml), sorted.
std::vector<std::string> defined_machines(const MachineHome& home);

// Creates the socket directory (0700), checking that an existing one is ours and private: the
// default lives under /tmp, where another user could have planted it.
Status prepare_socket_dir(const MachinePaths& paths);

}  // namespace mos::machine
