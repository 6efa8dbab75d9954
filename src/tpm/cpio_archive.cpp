#include "tpm/cpio_archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>

#include "core/file.hpp"

namespace mos::tpm {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxTreeFile = 16 << 20;
constexpr int kBlockSize = 512;

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

la_ssize_t append_to_string(archive*, void* client, const void* buffer, std::size_t length) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

std::string archive_reason(archive* a) {
  const char* text = archive_error_string(a);
  return text ? text : "unknown libarchive error";
}

Status add_tree(const fs::path& dir, const std::string& name, std::vector<CpioEntry>& out) {
  std::vector<fs::directory_entry> children;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    children.push_back(*it);
  if (ec) return fail("cannot list {}: {}", dir.string(), ec.message());
  std::sort(children.begin(), children.end(),
            [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
  for (const auto& child : children) {
    std::string child_name = fmt::format("{}/{}", name, child.path().filename().string());
    std::error_code type_ec;
    auto type = child.symlink_status(type_ec).type();
    if (type == fs::file_type::directory) {
      out.push_back(CpioEntry{child_name, true, 0755, {}});
      MOS_TRY(add_tree(child.path(), child_name, out));
    } else if (type == fs::file_type::regular) {
      auto data = read_file(child.path(), kMaxTreeFile);
      if (!data) return context("archiving", data.error());
      out.push_back(CpioEntry{child_name, false, 0644, std::move(*data)});
    } else {
      return fail("{} is neither a directory nor a regular file: not archived",
                  child.path().string());
    }
  }
  return {};
}

}  // namespace

Result<std::string> newc_archive(const std::vector<CpioEntry>& entries) {
  // Declared before the archive: freeing an unfinished archive flushes into it.
  std::string out;
  std::unique_ptr<archive, ArchiveDeleter> a(archive_write_new());
  if (!a) return fail("cannot start a cpio archive: out of memory");
  if (archive_write_set_format_cpio_newc(a.get()) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(a.get(), kBlockSize) != ARCHIVE_OK ||
      archive_write_open(a.get(), &out, nullptr, append_to_string, nullptr) != ARCHIVE_OK)
    return fail("cannot start a cpio archive: {}", archive_reason(a.get()));
  std::int64_t inode = 0;
  for (const auto& entry : entries) {
    if (entry.name.empty() || entry.name.front() == '/' || entry.name.starts_with("./"))
      return fail("cpio entry name '{}' is not a relative path", entry.name);
    std::unique_ptr<archive_entry, ArchiveDeleter> header(archive_entry_new());
    if (!header) return fail("cannot add {} to a cpio archive: out of memory", entry.name);
    bool is_link = !entry.link_target.empty();
    if (int(entry.directory) + int(is_link) + int(entry.char_device) > 1)
      return fail("cpio entry '{}' has more than one kind", entry.name);
    bool has_data = !entry.directory && !is_link && !entry.char_device;
    archive_entry_set_pathname(header.get(), entry.name.c_str());
    if (entry.directory) {
      archive_entry_set_filetype(header.get(), AE_IFDIR);
    } else if (is_link) {
      archive_entry_set_filetype(header.get(), AE_IFLNK);
      archive_entry_set_symlink(header.get(), entry.link_target.c_str());
    } else if (entry.char_device) {
      archive_entry_set_filetype(header.get(), AE_IFCHR);
      archive_entry_set_rdevmajor(header.get(), entry.device_major);
      archive_entry_set_rdevminor(header.get(), entry.device_minor);
    } else {
      archive_entry_set_filetype(header.get(), AE_IFREG);
    }
    archive_entry_set_perm(header.get(),
                           static_cast<mode_t>(is_link ? 0777 : entry.permissions & 07777));
    archive_entry_set_size(header.get(), has_data ? static_cast<la_int64_t>(entry.data.size()) : 0);
    archive_entry_set_uid(header.get(), 0);
    archive_entry_set_gid(header.get(), 0);
    archive_entry_set_mtime(header.get(), 0, 0);
    archive_entry_set_ino64(header.get(), ++inode);
    archive_entry_set_nlink(header.get(), entry.directory ? 2 : 1);
    if (archive_write_header(a.get(), header.get()) != ARCHIVE_OK)
      return fail("cannot add {} to a cpio archive: {}", entry.name, archive_reason(a.get()));
    if (has_data && !entry.data.empty() &&
        archive_write_data(a.get(), entry.data.data(), entry.data.size()) !=
            static_cast<la_ssize_t>(entry.data.size()))
      return fail("cannot add {} to a cpio archive: {}", entry.name, archive_reason(a.get()));
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    return fail("cannot finish a cpio archive: {}", archive_reason(a.get()));
  return out;
}

Result<std::vector<CpioEntry>> cpio_entries_of_tree(const fs::path& root, const std::string& name) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(root, ec)))
    return fail("{} is not a directory: nothing to archive", root.string());
  std::vector<CpioEntry> entries{CpioEntry{name, true, 0755, {}}};
  MOS_TRY(add_tree(root, name, entries));
  return entries;
}

}  // namespace mos::tpm
