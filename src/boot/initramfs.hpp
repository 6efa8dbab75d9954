#pragma once
// The initramfs inside the UKI: a reproducible newc cpio (the same inputs give the same bytes,
// whatever the host's clock, umask or directory order) written by our own code with libarchive
// rather than Debian's dracut, because dracut's output depends on the host it runs on (its
// hostonly detection, its module set, timestamps) and it pulls in systemd; this one holds only
// what the boot needs and nothing of the building host.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "boot/kernel_files.hpp"
#include "core/result.hpp"
#include "tpm/cpio_archive.hpp"

namespace mos::boot {

struct InitramfsFile {
  std::string path;  // absolute inside the initramfs: "/init", "/etc/mos/manifestCA.pem"
  std::string data;
  unsigned mode = 0644;
};

// A program copied to another path than its own on this machine (the build's mosctl as
// /usr/bin/mosctl), with its libraries as for `programs`.
struct PlacedProgram {
  std::filesystem::path source;
  std::string path;  // absolute inside the archive
};

struct InitramfsSpec {
  // Busybox (Debian's busybox-static), installed as /bin/busybox with a link per applet under
  // /bin and /sbin.
  std::filesystem::path busybox = "/bin/busybox";
  // Host ELF programs copied to the same path, each with the shared libraries it needs (its
  // DT_NEEDED closure and interpreter, found as the dynamic loader finds them), debug
  // information stripped.
  std::vector<std::filesystem::path> programs;
  // Kernel modules, loaded in this order by the init: the closure of `modules` (see
  // module_load_order), copied under /lib/modules/RELEASE/ with a modules.dep for modprobe and the
  // load order in /lib/modules/load-order.
  KernelFiles kernel;
  std::vector<std::string> modules;
  // Of `modules`, those kept apart with what only they need (what the others need stays): their
  // files go under modules_apart_dir (an absolute directory, e.g. the bootkit's tools), at their
  // paths relative to lib/modules/RELEASE/, and a symbolic link to each takes its usual place;
  // modules.dep and the load order are as if they were not apart.
  std::vector<std::string> modules_apart;
  std::string modules_apart_dir;
  std::vector<PlacedProgram> placed_programs;
  std::vector<InitramfsFile> files;  // the init and the data it needs
  // Extra empty directories (mount points), 0755, and symbolic links (path -> target).
  std::vector<std::string> directories;
  std::vector<std::pair<std::string, std::string>> links;
  // Programs and libraries go through `objcopy --strip-debug` (the same input gives the same
  // output); false copies them as they are.
  bool strip_debug = true;
};

// The uncompressed newc archive. Besides the spec it holds the directories /dev (with
// /dev/console, character device 5:1, so that the kernel gives init a console), /proc, /sys, /run
// and /tmp; every directory is 0755, owner 0:0, mtime 0; entries are sorted by path, parents
// first. Libraries sit at their real paths with a symlink for each other path the loader opens
// them by (/lib64/ld-linux-x86-64.so.2 -> /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2).
// Modules keep their paths relative to lib/modules/RELEASE/; /lib/modules/load-order lists those
// paths, one a line, in load order. The same path wanted twice is merged when both entries are
// identical (a library two programs need) and an error otherwise, except busybox's applet links,
// which give way to a program or file at their path.
Result<std::string> build_initramfs(const InitramfsSpec& spec);

// The entries build_initramfs archives, in that order (the hostfs is made of the same tree).
Result<std::vector<tpm::CpioEntry>> initramfs_entries(const InitramfsSpec& spec);

// Parents before children (compared a component at a time: "bin" < "bin/sh" < "bin-x"), the
// rest in byte order: nothing of the host's directory order reaches an archive.
void sort_archive_entries(std::vector<tpm::CpioEntry>& entries);

// Takes the entries under `directory` ("/usr/lib/x86_64-linux-gnu") out of `entries` and returns
// them named relative to it, in their order; the directory's own entry stays (a mount point).
// The bootkit keeps the initramfs's programs and libraries apart this way (docs/boot.md).
std::vector<tpm::CpioEntry> take_subtree(std::vector<tpm::CpioEntry>& entries,
                                         std::string_view directory);

// Writes `entries` (as initramfs_entries gives them: parents first) under `dir`, which must exist:
// directories and files with their permissions, symbolic links as they are. Character devices
// are skipped: making them needs root, and a system booted from the tree gets them from devtmpfs.
// Modification times are left as they come (a squashfs of the tree sets its own). An entry whose
// path already exists is an error, as is a name that would leave `dir`.
Status write_entries_to_directory(const std::vector<tpm::CpioEntry>& entries,
                                  const std::filesystem::path& dir);

}  // namespace mos::boot
