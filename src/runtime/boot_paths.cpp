#include "runtime/boot_paths.hpp"

#include "oci/digest.hpp"

namespace mos::runtime {

BootPaths::BootPaths(const sysroot::SysrootPaths& root, const std::filesystem::path& run_base)
    : run(run_base /
          oci::digest_of(std::filesystem::absolute(root.root).lexically_normal().string())
              .hex()
              .substr(0, 16)),
      control(run / "control.sock"),
      pid_file(run / "boot.pid"),
      lxc(run / "lxc"),
      rootfs(run / "rootfs"),
      atomfs(run / "atomfs"),
      volume_mounts(run / "volumes"),
      volume_images(root.scratch / "volumes"),
      uppers(root.scratch / "roots"),
      shifted(root.scratch / "shifted"),
      logs(root.scratch / "logs"),
      addresses(root.config / "addresses.json"),
      atoms(root.root / "mnt" / "atom") {}

}  // namespace mos::runtime
