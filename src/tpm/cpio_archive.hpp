#pragma once
// "newc" cpio archives (the SVR4 format, magic 070701), the format the Linux kernel unpacks an
// initramfs from and the one the original's bootkit concatenates into the UKI's initrd. Written
// with libarchive, reproducibly: owner 0:0, mtime 0, inodes numbered in order, entries in the
// order given, the archive padded to 512 bytes like GNU cpio's. Entries are directories, regular
// files, symbolic links or character devices.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace mos::tpm {

struct CpioEntry {
  CpioEntry() = default;
  CpioEntry(std::string name, bool directory, unsigned permissions, std::string data)
      : name(std::move(name)),
        directory(directory),
        permissions(permissions),
        data(std::move(data)) {}
  static CpioEntry symlink(std::string name, std::string target) {
    CpioEntry entry(std::move(name), false, 0777, {});
    entry.link_target = std::move(target);
    return entry;
  }
  static CpioEntry character_device(std::string name, unsigned permissions, unsigned major,
                                    unsigned minor) {
    CpioEntry entry(std::move(name), false, permissions, {});
    entry.char_device = true;
    entry.device_major = major;
    entry.device_minor = minor;
    return entry;
  }

  std::string name;  // relative, '/'-separated, no leading "/" or "./"
  bool directory = false;
  unsigned permissions = 0644;  // 0755 for directories
  std::string data;             // files only
  // The initramfs also needs these kinds (`directory` stays false for them):
  std::string link_target;   // not empty: a symbolic link to this path (permissions 0777)
  bool char_device = false;  // a character device numbered device_major:device_minor
  unsigned device_major = 0;
  unsigned device_minor = 0;
};

Result<std::string> newc_archive(const std::vector<CpioEntry>& entries);

// The entries of a directory tree, named below `name` ("pcr7data", "pcr7data/policy-2", ...):
// the root itself first, then every entry in sorted order, parents before children, as
// `find NAME | cpio -H newc` of the original lists them. Directories get 0755 and files 0644
// whatever their modes on disk (the archive's content, not this machine's umask, decides what a
// device sees); anything but directories and regular files is refused.
Result<std::vector<CpioEntry>> cpio_entries_of_tree(const std::filesystem::path& root,
                                                    const std::string& name);

}  // namespace mos::tpm
