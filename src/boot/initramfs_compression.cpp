// zstd compression of the initramfs (see initramfs_compression.hpp).
#include "boot/initramfs_compression.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <memory>

namespace mos::boot {

namespace {

struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

}  // namespace

Result<std::string> zstd_compress(std::string_view data) {
  std::unique_ptr<archive, ArchiveWriteFree> writer(archive_write_new());
  if (!writer) return fail("zstd: libarchive could not start a writer");
  // The compressed stream grows in memory: it is the UKI's section, held whole anyway.
  std::string out;
  auto fail_with = [&](std::string_view what) {
    return fail(
        "zstd: {}: {}", what,
        archive_error_string(writer.get()) ? archive_error_string(writer.get()) : "unknown error");
  };
  if (archive_write_set_format_raw(writer.get()) != ARCHIVE_OK) return fail_with("raw format");
  if (archive_write_add_filter_zstd(writer.get()) != ARCHIVE_OK) return fail_with("zstd filter");
  if (archive_write_set_filter_option(writer.get(), "zstd", "compression-level", "9") != ARCHIVE_OK)
    return fail_with("compression level");
  // libarchive pads the last block by default; the kernel needs the bare zstd frame.
  if (archive_write_set_bytes_in_last_block(writer.get(), 1) != ARCHIVE_OK)
    return fail_with("block padding");
  auto append = [](archive*, void* client, const void* buffer, size_t length) -> la_ssize_t {
    static_cast<std::string*>(client)->append(static_cast<const char*>(buffer), length);
    return static_cast<la_ssize_t>(length);
  };
  if (archive_write_open2(writer.get(), &out, nullptr, append, nullptr, nullptr) != ARCHIVE_OK)
    return fail_with("opening the stream");
  std::unique_ptr<archive_entry, EntryFree> entry(archive_entry_new());
  archive_entry_set_pathname(entry.get(), "initramfs");
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(data.size()));
  if (archive_write_header(writer.get(), entry.get()) != ARCHIVE_OK) return fail_with("header");
  for (std::size_t offset = 0; offset < data.size();) {
    auto chunk = std::min<std::size_t>(data.size() - offset, 1 << 20);
    auto written = archive_write_data(writer.get(), data.data() + offset, chunk);
    if (written <= 0) return fail_with("compressing");
    offset += static_cast<std::size_t>(written);
  }
  if (archive_write_close(writer.get()) != ARCHIVE_OK) return fail_with("finishing the stream");
  return out;
}

}  // namespace mos::boot
