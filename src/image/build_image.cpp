// Image building: mksquashfs with reproducible options, verity appended, config and manifest.
#include "image/build_image.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>

#include <spdlog/spdlog.h>

#include "core/file.hpp"
#include "core/json.hpp"
#include "core/process.hpp"
#include "image/layer_format.hpp"
#include "oci/layout_store.hpp"
#include "oci/media_types.hpp"

namespace mos::image {
namespace {

// What is kept of mksquashfs and tar output: the end, where their errors are.
constexpr std::size_t kToolOutput = 64 * 1024;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// sha256 of the first `size` bytes of fd (streamed).
Result<oci::Digest> hash_prefix(int fd, std::uint64_t size) {
  oci::Hasher hasher;
  std::vector<std::byte> buffer(1 << 20);
  std::uint64_t done = 0;
  while (done < size) {
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size - done));
    ssize_t n = ::pread(fd, buffer.data(), want, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("reading: {}", errno_message(errno));
    if (n == 0) return fail("unexpected end of file at {}", done);
    hasher.update(std::span(buffer.data(), static_cast<std::size_t>(n)));
    done += static_cast<std::uint64_t>(n);
  }
  return hasher.finish();
}

std::vector<std::uint8_t> digest_bytes(const oci::Digest& d) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < d.hex().size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(std::stoi(d.hex().substr(i, 2), nullptr, 16)));
  return out;
}

// mksquashfs 4.5.1 builds zstd only when compiled with it (Debian's is); stacker picks zstd
// whenever `mksquashfs -help` mentions it, and so do we.
bool mksquashfs_has_zstd() {
  static const bool has = [] {
    auto out = run_process({.argv = {"mksquashfs", "-help"}, .merge_stderr = true});
    // -help exits non-zero on some versions; the text is what matters.
    std::string text = out ? out->out : out.error().message;
    return text.find("zstd") != std::string::npos;
  }();
  return has;
}

// mksquashfs with the reproducible options (fixed inode and filesystem times, no xattrs unless
// asked, no appending to an existing file, and (mksquashfs 4.5's default) -reproducible ordering
// of fragments; entries are always stored sorted by name) and `compression`'s arguments.
// SOURCE_DATE_EPOCH is removed from its environment because 4.5.1 refuses it together with
// -mkfs-time/-all-time.
Status run_mksquashfs(const std::filesystem::path& rootfs, const std::filesystem::path& output,
                      std::int64_t timestamp, bool all_root, bool xattrs,
                      std::vector<std::string> compression) {
  std::error_code ec;
  if (!std::filesystem::is_directory(rootfs, ec)) return fail("not a directory");
  if (timestamp < 0 || timestamp > 0xffffffffLL) return fail("timestamp out of range");
  std::string t = std::to_string(timestamp);
  ProcessRun run{.argv = {"mksquashfs", rootfs.string(), output.string(), "-noappend",
                          "-no-progress", "-quiet", "-mkfs-time", t, "-all-time", t},
                 .unset_env = {"SOURCE_DATE_EPOCH"},
                 .max_output = kToolOutput,
                 .keep_tail = true,
                 .merge_stderr = true};
  run.argv.insert(run.argv.end(), compression.begin(), compression.end());
  if (!xattrs) run.argv.push_back("-no-xattrs");
  if (all_root) run.argv.push_back("-all-root");
  if (auto out = run_checked(run); !out) return std::unexpected(out.error());
  return {};
}

// Streams a local file into Repository::put_blob.
class PlainFileReader final : public oci::BlobReader {
 public:
  explicit PlainFileReader(int fd) : fd_(fd) {}
  Result<std::size_t> read(std::span<std::byte> buffer) override {
    for (;;) {
      ssize_t n = ::read(fd_, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail("reading the layer file: {}", errno_message(errno));
      return static_cast<std::size_t>(n);
    }
  }

 private:
  int fd_;
};

}  // namespace

std::string rfc3339_utc(std::int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

std::string_view host_architecture() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#else
  return "unknown";
#endif
}

Result<std::int64_t> source_date_epoch() {
  MOS_TRY_ASSIGN(auto set, source_date_epoch_if_set());
  return set.value_or(0);
}

Result<std::optional<std::int64_t>> source_date_epoch_if_set() {
  const char* value = std::getenv("SOURCE_DATE_EPOCH");
  if (!value || !*value) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long t = std::strtoll(value, &end, 10);
  if (errno != 0 || *end != '\0' || t < 0 || t > 0xffffffffLL)
    return fail("SOURCE_DATE_EPOCH=\"{}\" is not a number of seconds between 0 and 4294967295",
                value);
  return static_cast<std::int64_t>(t);
}

Status build_squashfs_file(const std::filesystem::path& rootfs,
                           const std::filesystem::path& output) {
  if (auto built = run_mksquashfs(rootfs, output, /*timestamp=*/0, /*all_root=*/true,
                                  /*xattrs=*/false, {"-comp", "lz4", "-Xhc"});
      !built)
    return context(fmt::format("building a squashfs from {}", rootfs.string()), built.error());
  return {};
}

Result<BuiltLayer> build_squashfs_layer(const std::filesystem::path& rootfs,
                                        const std::filesystem::path& output,
                                        const SquashfsLayerOptions& options) {
  auto where = [&](Error e) {
    return context(fmt::format("building a squashfs layer from {}", rootfs.string()), std::move(e));
  };
  bool zstd = mksquashfs_has_zstd();
  std::vector<std::string> compression = {"-comp", zstd ? "zstd" : "gzip"};
  if (zstd && options.compression_level > 0) {
    compression.push_back("-Xcompression-level");
    compression.push_back(std::to_string(options.compression_level));
  }
  if (auto built = run_mksquashfs(rootfs, output, options.timestamp, options.all_root,
                                  options.xattrs, std::move(compression));
      !built)
    return where(built.error());

  Fd fd{::open(output.c_str(), O_RDWR | O_CLOEXEC)};
  if (fd.fd < 0)
    return where(Error{fmt::format("opening {}: {}", output.string(), errno_message(errno))});
  std::array<std::byte, kSquashfsSuperblockSize> head{};
  if (::pread(fd.fd, head.data(), head.size(), 0) != static_cast<ssize_t>(head.size()))
    return where(Error{"mksquashfs wrote no superblock"});
  MOS_TRY_ASSIGN(auto sb, parse_squashfs_superblock(head));
  struct stat st{};
  ::fstat(fd.fd, &st);
  std::uint64_t padded = sb.padded_size();
  if (static_cast<std::uint64_t>(st.st_size) > padded)
    return where(Error{fmt::format(
        "mksquashfs wrote {} bytes, more than its {} bytes padded to 4096", st.st_size, padded)});
  // mksquashfs pads to 4K unless -nopad; make sure anyway, verity needs whole blocks.
  if (static_cast<std::uint64_t>(st.st_size) < padded &&
      ::ftruncate(fd.fd, static_cast<off_t>(padded)) != 0)
    return where(Error{fmt::format("padding: {}", errno_message(errno))});

  MOS_TRY_ASSIGN(auto content, hash_prefix(fd.fd, padded));
  VerityParams params = derived_verity_params(digest_bytes(content));
  params.threads = options.threads;
  MOS_TRY_ASSIGN(auto root, append_verity(output, padded, params));
  VerityGeometry g = verity_geometry(padded, padded / kVerityBlockSize);
  MOS_TRY_ASSIGN(auto digest, hash_prefix(fd.fd, g.end()));

  BuiltLayer layer;
  layer.file = output;
  layer.root_hash = root;
  layer.squashfs_size = padded;
  layer.descriptor.media_type =
      std::string(zstd ? layer_media_type::kSquashfsZstd : layer_media_type::kSquashfsGzip);
  layer.descriptor.digest = digest;
  layer.descriptor.size = static_cast<std::int64_t>(g.end());
  layer.descriptor.annotations[std::string(layer_annotation::kRootHash)] = hex_encode(root);
  return layer;
}

std::string encode_image_config(const ImageConfigFields& fields, std::int64_t timestamp,
                                const oci::Digest& diff_id) {
  OrderedJson config = OrderedJson::object();
  if (fields.user) config["User"] = *fields.user;
  std::vector<std::string> env = fields.env;
  bool has_path = false;
  for (const auto& e : env) has_path = has_path || e.starts_with("PATH=");
  if (!has_path)
    env.insert(env.begin(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  config["Env"] = env;
  if (fields.entrypoint) config["Entrypoint"] = *fields.entrypoint;
  if (fields.cmd) config["Cmd"] = *fields.cmd;
  if (fields.workdir) config["WorkingDir"] = *fields.workdir;

  OrderedJson image = OrderedJson::object();
  image["created"] = rfc3339_utc(timestamp);
  image["architecture"] = host_architecture();
  image["os"] = "linux";
  image["config"] = std::move(config);
  OrderedJson rootfs = OrderedJson::object();
  rootfs["type"] = "layers";
  rootfs["diff_ids"] = OrderedJson::array({diff_id.str()});  // = the layer digest (no compression)
  image["rootfs"] = std::move(rootfs);
  OrderedJson history = OrderedJson::object();
  history["created"] = rfc3339_utc(timestamp);
  history["created_by"] = "mosb image build";
  image["history"] = OrderedJson::array({std::move(history)});
  return oci::encode_compact(image);
}

Result<ImageBuildResult> build_image(const ImageBuildOptions& options, oci::Repository& dest,
                                     const std::vector<std::string>& tags) {
  // The input is checked before anything is written to the destination.
  std::error_code ec;
  bool from_archive = std::filesystem::is_regular_file(options.from, ec);
  if (!from_archive && !std::filesystem::is_directory(options.from, ec)) {
    if (!std::filesystem::exists(options.from, ec))
      return fail("{} does not exist (expected a directory or a tar archive)",
                  options.from.string());
    return fail("{} is neither a directory nor a tar archive", options.from.string());
  }
  auto* layout = dynamic_cast<oci::LayoutStore*>(&dest);
  std::filesystem::path scratch_parent = options.temp_parent;
  if (scratch_parent.empty() && layout) {
    // In the layout's own staging directory, the finished layer is linked into blobs/ instead
    // of copied.
    MOS_TRY_ASSIGN(scratch_parent, layout->uploads_dir());
  }
  MOS_TRY_ASSIGN(auto scratch, TempDir::create(scratch_parent, ".mosb-image-"));

  std::filesystem::path rootfs = options.from;
  bool all_root = !options.keep_owners;
  if (from_archive) {
    rootfs = scratch.path() / "rootfs";
    MOS_TRY(make_dirs(rootfs));
    bool root = ::geteuid() == 0;
    ProcessRun tar{
        .argv = {"tar", "-x", "-f", options.from.string(), "-C", rootfs.string(), "--numeric-owner",
                 root ? "--same-owner" : "--no-same-owner", "--delay-directory-restore"},
        .max_output = kToolOutput,
        .keep_tail = true,
        .merge_stderr = true};
    if (auto out = run_checked(tar); !out)
      return context(fmt::format("extracting {}", options.from.string()), out.error());
    // As root, tar restored the archive's owners: keep them. Otherwise they are ours: use root.
    all_root = !root;
  }

  SquashfsLayerOptions layer_options;
  layer_options.timestamp = options.timestamp;
  layer_options.all_root = all_root;
  layer_options.xattrs = options.xattrs;
  layer_options.threads = options.threads;
  layer_options.compression_level = options.compression_level;
  MOS_TRY_ASSIGN(auto layer,
                 build_squashfs_layer(rootfs, scratch.path() / "layer.squashfs", layer_options));

  if (layout) {
    MOS_TRY(layout->adopt_blob_file(layer.file, layer.descriptor.digest));
  } else {
    Fd fd{::open(layer.file.c_str(), O_RDONLY | O_CLOEXEC)};
    if (fd.fd < 0) return fail("opening {}: {}", layer.file.string(), errno_message(errno));
    PlainFileReader reader(fd.fd);
    MOS_TRY(dest.put_blob(layer.descriptor, reader));
  }

  std::string config_bytes =
      encode_image_config(options.config, options.timestamp, layer.descriptor.digest);
  oci::Descriptor config;
  config.media_type = std::string(oci::media_type::kImageConfig);
  config.digest = oci::digest_of(config_bytes);
  config.size = static_cast<std::int64_t>(config_bytes.size());
  MOS_TRY(dest.put_blob_bytes(config, config_bytes));

  oci::ImageManifest manifest;
  manifest.media_type = std::string(oci::media_type::kImageManifest);
  manifest.config = config;
  manifest.layers = {layer.descriptor};
  MOS_TRY_ASSIGN(auto doc, oci::make_document(oci::encode_manifest(manifest)));
  if (tags.empty()) MOS_TRY(dest.put_manifest(doc, std::nullopt));
  for (const auto& tag : tags) MOS_TRY(dest.put_manifest(doc, tag));
  spdlog::debug("built {} (layer {}, root hash {})", doc.digest.str(),
                layer.descriptor.digest.str(), hex_encode(layer.root_hash));
  return ImageBuildResult{std::move(doc), config, layer.descriptor, layer.root_hash};
}

}  // namespace mos::image
