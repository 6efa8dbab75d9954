#pragma once
// "newc" cpio archives (the SVR4 format, magic 070701), the format the Linux kernel unpacks an
// initramfs from and the one the original's bootkit concatenates into the UKI's initrd. Written
// with libarchive, reproducibly: owner 0:0, mtime 0, inodes numbered in order, entries in the
// order given, the archive padded to 512 bytes like GNU cpio's.
#include <filesystem>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace mos::tpm {

struct CpioEntry {
  std::string name;  // relative, '/'-separated, no leading "/" or "./"
  bool directory = false;
  unsigned permissions = 0644;  // 0755 for directories
  std::string data;             // files only
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
