#pragma once
// Where `mosctl boot` keeps what it makes for an installed root. What lives only while boot runs
// is under one run directory per root (/run/mos/boot/<id>, <id> a hash of the root's path, so
// that two roots on one machine never meet and the control socket's path stays short); what
// must outlive it (volume images, the services' writable layers, logs, remembered addresses) is
// under the root, outside manifest.git: the system manifest holds no runtime state.
#include <filesystem>

#include "sysroot/sysroot.hpp"

namespace mos::runtime {

struct BootPaths {
  explicit BootPaths(const sysroot::SysrootPaths& root,
                     const std::filesystem::path& run_base = "/run/mos/boot");
  std::filesystem::path run;            // RUN
  std::filesystem::path control;        // RUN/control.sock: the control channel
  std::filesystem::path pid_file;       // RUN/boot.pid
  std::filesystem::path lxc;            // RUN/lxc: liblxc's lxcpath
  std::filesystem::path rootfs;         // RUN/rootfs/NAME: each container's root
  std::filesystem::path atomfs;         // RUN/atomfs: atomfs's state for boot's mounts
  std::filesystem::path volume_mounts;  // RUN/volumes/LABEL
  std::filesystem::path volume_images;  // ROOT/scratch-writes/volumes/LABEL.ext4
  std::filesystem::path uppers;         // ROOT/scratch-writes/roots/NAME/{upper,work}
  std::filesystem::path shifted;        // ROOT/scratch-writes/shifted/NAME: see shifted_copy.hpp
  std::filesystem::path logs;           // ROOT/scratch-writes/logs/NAME.log
  std::filesystem::path addresses;      // ROOT/config/addresses.json
  std::filesystem::path atoms;          // ROOT/mnt/atom/NAME: fs-only targets, read-only
};

}  // namespace mos::runtime
