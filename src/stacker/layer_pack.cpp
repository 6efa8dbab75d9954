// Packing layer trees: squashfs through the image module, gzip tar through libarchive and zlib.
#include "stacker/layer_pack.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <memory>

#include "core/file.hpp"
#include "core/unique_fd.hpp"
#include "image/build_image.hpp"
#include "image/layer_format.hpp"
#include "oci/digest.hpp"
#include "oci/media_types.hpp"
#include "stacker/layer_tree.hpp"

namespace mos::stacker {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kTarGzip = oci::media_type::kImageLayerTarGzip;

// Uncompressed tar bytes in, gzip bytes out to a file; both sides hashed (diff_id, digest).
class GzipSink {
 public:
  explicit GzipSink(int fd) : fd_(fd) {
    // 15 + 16: a gzip wrapper. zlib's header has no name and a zero time: reproducible.
    ok_ = deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) ==
          Z_OK;
  }
  ~GzipSink() { deflateEnd(&z_); }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

  bool write(const void* data, std::size_t size, int flush) {
    uncompressed_.update(std::span(static_cast<const std::byte*>(data), size));
    z_.next_in = static_cast<Bytef*>(const_cast<void*>(data));
    z_.avail_in = static_cast<uInt>(size);
    do {
      z_.next_out = out_;
      z_.avail_out = sizeof out_;
      int rc = deflate(&z_, flush);
      if (rc == Z_STREAM_ERROR) return fail_with("gzip failed");
      std::size_t have = sizeof out_ - z_.avail_out;
      if (have > 0) {
        compressed_.update(std::span(reinterpret_cast<const std::byte*>(out_), have));
        size_ += have;
        for (std::size_t done = 0; done < have;) {
          ssize_t n = ::write(fd_, out_ + done, have - done);
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) return fail_with(errno_message(errno));
          done += static_cast<std::size_t>(n);
        }
      }
    } while (z_.avail_out == 0);
    return true;
  }

  oci::Digest diff_id() { return uncompressed_.finish(); }
  oci::Digest digest() { return compressed_.finish(); }
  std::int64_t size() const { return static_cast<std::int64_t>(size_); }

 private:
  bool fail_with(std::string message) {
    error_ = std::move(message);
    return false;
  }
  z_stream z_{};
  int fd_;
  bool ok_ = false;
  std::string error_;
  unsigned char out_[256 * 1024];
  oci::Hasher uncompressed_, compressed_;
  std::uint64_t size_ = 0;
};

la_ssize_t archive_to_gzip(archive*, void* client, const void* buffer, size_t length) {
  auto* sink = static_cast<GzipSink*>(client);
  return sink->write(buffer, length, Z_NO_FLUSH) ? static_cast<la_ssize_t>(length) : -1;
}

struct ArchiveFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

Status add_xattrs(archive_entry* entry, const fs::path& path) {
  std::vector<char> names(64 * 1024);
  ssize_t n = ::llistxattr(path.c_str(), names.data(), names.size());
  for (ssize_t i = 0; i < n;) {
    std::string name(&names[static_cast<std::size_t>(i)]);
    i += static_cast<ssize_t>(name.size()) + 1;
    if (name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.")) continue;
    std::vector<char> value(64 * 1024);
    ssize_t size = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (size < 0) return fail("reading {} of {}: {}", name, path.string(), errno_message(errno));
    archive_entry_xattr_add_entry(entry, name.c_str(), value.data(), static_cast<size_t>(size));
  }
  return {};
}

class TarWriter {
 public:
  TarWriter(archive* a, const PackOptions& options) : a_(a), options_(options) {}

  Status header(const std::string& name, const struct stat& st, const fs::path& path,
                const std::string& link = {}) {
    std::unique_ptr<archive_entry, EntryFree> entry(archive_entry_new());
    archive_entry_copy_stat(entry.get(), &st);
    archive_entry_set_pathname(entry.get(), name.c_str());
    archive_entry_set_mtime(entry.get(), std::min<std::int64_t>(st.st_mtime, options_.timestamp),
                            0);
    archive_entry_unset_atime(entry.get());
    archive_entry_unset_ctime(entry.get());
    archive_entry_set_nlink(entry.get(), 1);
    archive_entry_set_ino64(entry.get(), 0);
    archive_entry_set_dev(entry.get(), 0);
    if (!options_.keep_owners) {
      archive_entry_set_uid(entry.get(), 0);
      archive_entry_set_gid(entry.get(), 0);
    }
    if (!link.empty()) archive_entry_set_symlink(entry.get(), link.c_str());
    if (!path.empty()) MOS_TRY(add_xattrs(entry.get(), path));
    if (archive_write_header(a_, entry.get()) != ARCHIVE_OK)
      return fail("writing the tar entry {}: {}", name, archive_error_string(a_));
    return {};
  }

  Status whiteout(const std::string& name, const struct stat& like) {
    struct stat st = like;
    st.st_mode = S_IFREG | 0600;
    st.st_size = 0;
    st.st_uid = 0;
    st.st_gid = 0;
    st.st_rdev = 0;
    return header(name, st, {});
  }

  Status data(const fs::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return fail("opening {}: {}", path.string(), errno_message(errno));
    std::vector<char> buffer(1 << 20);
    for (;;) {
      ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail("reading {}: {}", path.string(), errno_message(errno));
      if (n == 0) return {};
      if (archive_write_data(a_, buffer.data(), static_cast<size_t>(n)) != n)
        return fail("writing {} to the tar: {}", path.string(), archive_error_string(a_));
    }
  }

 private:
  archive* a_;
  const PackOptions& options_;
};

Result<PackedLayer> pack_tar(const fs::path& tree, const PackOptions& options,
                             oci::LayoutStore& store) {
  MOS_TRY_ASSIGN(auto uploads, store.uploads_dir());
  MOS_TRY_ASSIGN(auto scratch, TempDir::create(uploads, ".stacker-tar-"));
  fs::path file = scratch.path() / "layer.tar.gz";
  UniqueFd fd(::open(file.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644));
  if (!fd) return fail("creating {}: {}", file.string(), errno_message(errno));
  auto sink = std::make_unique<GzipSink>(fd.get());
  if (!sink->ok()) return fail("gzip could not start");
  std::unique_ptr<archive, ArchiveFree> a(archive_write_new());
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a.get(), 1) != ARCHIVE_OK ||
      archive_write_open(a.get(), sink.get(), nullptr, archive_to_gzip, nullptr) != ARCHIVE_OK)
    return fail("starting the tar of {}: {}", tree.string(), archive_error_string(a.get()));

  std::vector<fs::path> entries;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(tree, ec); !ec && it != fs::end(it);
       it.increment(ec))
    entries.push_back(it->path());
  if (ec) return fail("walking {}: {}", tree.string(), ec.message());
  std::sort(entries.begin(), entries.end());
  TarWriter writer(a.get(), options);
  for (const auto& path : entries) {
    struct stat st{};
    if (::lstat(path.c_str(), &st) != 0)
      return fail("reading {}: {}", path.string(), errno_message(errno));
    std::string name = path.lexically_relative(tree).string();
    if (is_whiteout(st)) {
      fs::path p(name);
      MOS_TRY(writer.whiteout((p.parent_path() / (".wh." + p.filename().string())).string(), st));
    } else if (S_ISLNK(st.st_mode)) {
      MOS_TRY(writer.header(name, st, path, fs::read_symlink(path, ec).string()));
    } else if (S_ISDIR(st.st_mode)) {
      MOS_TRY(writer.header(name + "/", st, path));
      if (is_opaque_dir(path)) MOS_TRY(writer.whiteout(name + "/.wh..wh..opq", st));
    } else {
      MOS_TRY(writer.header(name, st, path));
      if (S_ISREG(st.st_mode)) MOS_TRY(writer.data(path));
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    return fail("finishing the tar of {}: {}", tree.string(), archive_error_string(a.get()));
  if (!sink->write(nullptr, 0, Z_FINISH)) return fail("gzip: {}", sink->error());
  if (::fsync(fd.get()) != 0) return fail("syncing {}: {}", file.string(), errno_message(errno));
  PackedLayer packed;
  packed.diff_id = sink->diff_id().str();
  packed.descriptor.media_type = std::string(kTarGzip);
  packed.descriptor.digest = sink->digest();
  packed.descriptor.size = sink->size();
  MOS_TRY(store.adopt_blob_file(file, packed.descriptor.digest));
  return packed;
}

}  // namespace

std::string_view layer_type_name(LayerType type) {
  return type == LayerType::squashfs ? "squashfs" : "tar";
}

Result<LayerType> parse_layer_type(std::string_view text) {
  if (text == "squashfs") return LayerType::squashfs;
  if (text == "tar") return LayerType::tar;
  return fail("--layer-type {}: expected squashfs or tar", text);
}

std::string image_tag(std::string_view image, LayerType type) {
  return type == LayerType::squashfs ? fmt::format("{}-squashfs", image) : std::string(image);
}

bool layer_is_of_type(std::string_view media_type, LayerType type) {
  if (type == LayerType::squashfs)
    return image::layer_filesystem(media_type) == image::LayerFilesystem::squashfs;
  return media_type == kTarGzip || media_type == oci::media_type::kDockerLayerGzip;
}

Result<PackedLayer> pack_layer(const fs::path& tree, LayerType type, const PackOptions& options,
                               oci::LayoutStore& store) {
  if (type == LayerType::tar) return pack_tar(tree, options, store);
  MOS_TRY_ASSIGN(auto uploads, store.uploads_dir());
  MOS_TRY_ASSIGN(auto scratch, TempDir::create(uploads, ".stacker-squashfs-"));
  image::SquashfsLayerOptions squashfs;
  squashfs.timestamp = options.timestamp;
  squashfs.all_root = !options.keep_owners;
  squashfs.xattrs = true;  // the opaque directories' attribute is part of the layer
  MOS_TRY_ASSIGN(auto layer,
                 image::build_squashfs_layer(tree, scratch.path() / "layer.squashfs", squashfs));
  MOS_TRY(store.adopt_blob_file(layer.file, layer.descriptor.digest));
  return PackedLayer{layer.descriptor, layer.descriptor.digest.str()};
}

}  // namespace mos::stacker
