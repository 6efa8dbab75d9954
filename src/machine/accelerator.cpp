#include "machine/accelerator.hpp"

#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/file.hpp"
#include "core/process.hpp"

namespace mos::machine {
namespace {

std::string host_key() {
  utsname name{};
  ::uname(&name);
  return fmt::format("{} {}", name.release, name.machine);
}

bool kvm_boots_firmware(const AcceleratorProbe& probe) {
  int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  auto scratch = TempDir::create({}, "machine-probe-");
  if (!scratch) return false;
  auto vars = read_file(probe.uefi_vars, 64 << 20);
  if (!vars || !write_file_atomic(scratch->path() / "vars.fd", *vars, 0600)) return false;
  // Runs for 4 s and is then killed: a KVM that cannot run OVMF fails (or prints its internal
  // error and pauses) well before.
  ProcessRun run{.argv = {"timeout",
                          "-s",
                          "KILL",
                          "4",
                          probe.qemu,
                          "-machine",
                          "q35,smm=on,accel=kvm",
                          "-cpu",
                          "host",
                          "-m",
                          "256",
                          "-nodefaults",
                          "-no-user-config",
                          "-display",
                          "none",
                          "-serial",
                          "none",
                          "-drive",
                          fmt::format("if=pflash,format=raw,unit=0,readonly=on,file={}",
                                      probe.uefi_code.string()),
                          "-drive",
                          fmt::format("if=pflash,format=raw,unit=1,file={}",
                                      (scratch->path() / "vars.fd").string())},
                 .merge_stderr = true,
                 .what = "qemu (KVM probe)"};
  auto result = run_process(run);
  if (!result) return false;
  bool killed_while_running = result->exit_code == 137;
  return killed_while_running && result->out.find("KVM internal error") == std::string::npos &&
         result->out.find("error") == std::string::npos;
}

}  // namespace

const char* accel_name(Accel accel) {
  return accel == Accel::kvm ? "kvm" : "tcg";
}

Accel probe_accelerator(const AcceleratorProbe& probe) {
  auto cache = probe.cache_dir / "accelerator";
  auto key = host_key();
  if (auto cached = read_file(cache, 4096)) {
    auto newline = cached->find('\n');
    if (newline != std::string::npos && cached->substr(newline + 1) == key + "\n")
      return cached->starts_with("kvm") ? Accel::kvm : Accel::tcg;
  }
  Accel accel = kvm_boots_firmware(probe) ? Accel::kvm : Accel::tcg;
  if (make_dirs(probe.cache_dir, 0700))
    (void)write_file_atomic(cache, fmt::format("{}\n{}\n", accel_name(accel), key), 0600);
  return accel;
}

}  // namespace mos::machine
