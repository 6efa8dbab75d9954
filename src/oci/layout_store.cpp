// LayoutStore: opening a layout, blobs (staged, verified, linked into blobs/) and manifests.
// index.json handling and the referrers index live in layout_index.cpp.
#include "oci/layout_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <random>
#include <set>

#include <spdlog/spdlog.h>

#include "core/lock.hpp"
#include "core/unique_fd.hpp"
#include "oci/media_types.hpp"
#include "oci/reference.hpp"

namespace mos::oci {

namespace {

constexpr std::string_view kLayoutFile = R"({"imageLayoutVersion":"1.0.0"})";
constexpr std::string_view kEmptyIndex = R"({"schemaVersion":2,"manifests":[]})";
constexpr std::size_t kCopyBuffer = 1 << 20;

std::string staging_name() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  // The pid keeps names apart in processes forked with a copy of this generator's state.
  return fmt::format("mos-blob-{}-{:016x}", ::getpid(), rng());
}

fs::path blob_file(const fs::path& dir, const Digest& digest) {
  return dir / "blobs" / std::string(digest.algorithm_name()) / digest.hex();
}

// Reads a blob file, hashing as it goes; the read that reaches the end (or passes the expected
// size) fails when the bytes do not match the descriptor.
class VerifyingFileReader final : public BlobReader {
 public:
  VerifyingFileReader(int fd, fs::path path, Descriptor expected)
      : fd_(fd),
        path_(std::move(path)),
        expected_(std::move(expected)),
        hasher_(expected_.digest.algorithm()) {}
  ~VerifyingFileReader() override { ::close(fd_); }
  bool verifies(const Digest& digest) const override { return digest == expected_.digest; }

  Result<std::size_t> read(std::span<std::byte> buffer) override {
    if (failure_) return std::unexpected(*failure_);  // an error sticks: never a clean end after it
    if (done_) return std::size_t{0};
    auto result = read_some(buffer);
    if (!result) failure_ = result.error();
    return result;
  }

 private:
  Result<std::size_t> read_some(std::span<std::byte> buffer) {
    ssize_t n;
    do {
      n = ::read(fd_, buffer.data(), buffer.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) return fail("cannot read blob {}: {}", path_.string(), errno_message(errno));
    count_ += static_cast<std::uint64_t>(n);
    if (count_ > static_cast<std::uint64_t>(expected_.size))
      return fail("blob {} is larger than the {} bytes its descriptor says", path_.string(),
                  expected_.size);
    hasher_.update(std::span<const std::byte>(buffer.data(), static_cast<std::size_t>(n)));
    if (n == 0) {
      done_ = true;
      if (count_ != static_cast<std::uint64_t>(expected_.size))
        return fail("blob {} has {} bytes, its descriptor says {}", path_.string(), count_,
                    expected_.size);
      auto actual = hasher_.finish();
      if (actual != expected_.digest)
        return fail("blob {} has digest {}, expected {}", path_.string(), actual.str(),
                    expected_.digest.str());
    }
    return static_cast<std::size_t>(n);
  }

  int fd_;
  fs::path path_;
  Descriptor expected_;
  Hasher hasher_;
  std::uint64_t count_ = 0;
  bool done_ = false;
  std::optional<Error> failure_;
};

Status link_into_place(const fs::path& file, const fs::path& target) {
  if (::link(file.c_str(), target.c_str()) != 0 && errno != EEXIST)
    return fail("cannot create blob {}: {}", target.string(), errno_message(errno));
  ::unlink(file.c_str());
  return fsync_dir(target.parent_path());
}

}  // namespace

// ---- StagedBlob ----

StagedBlob::StagedBlob(const LayoutStore& store, AtomicFileWriter writer, DigestAlgorithm algorithm,
                       bool hashing)
    : store_(&store), writer_(std::move(writer)), hasher_(algorithm), hashing_(hashing) {}

Result<StagedBlob> StagedBlob::create(const LayoutStore& store, DigestAlgorithm algorithm) {
  MOS_TRY_ASSIGN(auto uploads, store.uploads_dir());
  MOS_TRY_ASSIGN(auto writer, AtomicFileWriter::create(uploads / staging_name()));
  return StagedBlob(store, std::move(writer), algorithm, true);
}

Result<StagedBlob> StagedBlob::create_source_verified(const LayoutStore& store) {
  MOS_TRY_ASSIGN(auto uploads, store.uploads_dir());
  MOS_TRY_ASSIGN(auto writer, AtomicFileWriter::create(uploads / staging_name()));
  return StagedBlob(store, std::move(writer), DigestAlgorithm::sha256, false);
}

Status StagedBlob::write(std::span<const std::byte> bytes) {
  if (hashing_) hasher_.update(bytes);
  return writer_.write(bytes);
}

std::uint64_t StagedBlob::size() const {
  return writer_.bytes_written();
}

Status StagedBlob::commit(const Digest& expected, std::optional<std::int64_t> expected_size) {
  if (expected_size && static_cast<std::uint64_t>(*expected_size) != writer_.bytes_written()) {
    writer_.abandon();
    return fail("blob {} has {} bytes, expected {}", expected.str(), writer_.bytes_written(),
                *expected_size);
  }
  if (hashing_) {
    if (expected.algorithm() != hasher_.algorithm()) {
      writer_.abandon();
      return fail("blob {}: staged with a different digest algorithm", expected.str());
    }
    auto actual = hasher_.finish();
    if (actual != expected) {
      writer_.abandon();
      return fail("blob content has digest {}, expected {}", actual.str(), expected.str());
    }
  }
  if (store_->defers_blob_sync()) {
    MOS_TRY(writer_.commit(false, AtomicFileWriter::Durability::later));
    store_->add_pending(expected, writer_.path());
    return {};
  }
  MOS_TRY(writer_.commit());
  fs::path target = blob_file(store_->dir(), expected);
  MOS_TRY(make_dirs(target.parent_path()));
  return link_into_place(writer_.path(), target);
}

// ---- LayoutStore: opening ----

Result<std::unique_ptr<LayoutStore>> LayoutStore::open(const fs::path& dir, bool create) {
  std::error_code ec;
  bool has_layout = fs::is_regular_file(dir / "oci-layout", ec);
  bool has_index = fs::is_regular_file(dir / "index.json", ec);
  if (!has_layout || !has_index) {
    if (!create) {
      if (!fs::exists(dir, ec)) return fail("OCI layout {} does not exist", dir.string());
      return fail("{} is not an OCI image layout (no {})", dir.string(),
                  has_layout ? "index.json" : "oci-layout");
    }
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
      return fail("{} is not a directory, so it cannot hold an OCI image layout", dir.string());
    return std::unique_ptr<LayoutStore>(new LayoutStore(dir, true));
  }
  return std::unique_ptr<LayoutStore>(new LayoutStore(dir, false));
}

bool LayoutStore::still_missing() const {
  if (!missing_.load(std::memory_order_acquire)) return false;
  std::error_code ec;
  if (!fs::is_regular_file(dir_ / "index.json", ec)) return true;
  missing_.store(false, std::memory_order_release);  // another writer made it meanwhile
  return false;
}

Status LayoutStore::ensure_exists() const {
  if (!missing_.load(std::memory_order_acquire)) return {};
  std::lock_guard guard(create_mutex_);
  if (!missing_.load(std::memory_order_relaxed)) return {};
  MOS_TRY(make_dirs(dir_ / "blobs" / "sha256"));
  MOS_TRY_ASSIGN(auto lock, FileLock::acquire(lock_file(), FileLock::Mode::exclusive));
  // Another process may have made it while we waited for the lock.
  std::error_code ec;
  if (!fs::exists(dir_ / "oci-layout", ec))
    MOS_TRY(write_file_atomic(dir_ / "oci-layout", kLayoutFile));
  if (!fs::exists(dir_ / "index.json", ec))
    MOS_TRY(write_file_atomic(dir_ / "index.json", kEmptyIndex));
  missing_.store(false, std::memory_order_release);
  return {};
}

std::string LayoutStore::describe() const {
  return fmt::format("oci:{}", dir_.string());
}

Result<fs::path> LayoutStore::uploads_dir() const {
  MOS_TRY(ensure_exists());
  fs::path uploads = dir_ / ".uploads";
  MOS_TRY(make_dirs(uploads));
  return uploads;
}

// ---- blobs ----

LayoutStore::~LayoutStore() {
  // What a failed copy committed is kept (a rerun need not fetch it again), durable as always.
  if (auto flushed = flush_blobs(); !flushed)
    spdlog::warn("{}: {}", describe(), flushed.error().message);
}

void LayoutStore::add_pending(const Digest& digest, fs::path file) const {
  std::lock_guard guard(pending_mutex_);
  auto [it, added] = pending_.emplace(digest, file);
  if (!added) ::unlink(file.c_str());  // the same blob twice: the first copy stands
}

fs::path LayoutStore::blob_location(const Digest& digest) const {
  if (defer_sync_) {
    std::lock_guard guard(pending_mutex_);
    if (auto it = pending_.find(digest); it != pending_.end()) return it->second;
  }
  return blob_file(dir_, digest);
}

Status LayoutStore::flush_blobs() const {
  std::map<Digest, fs::path> batch;
  {
    std::lock_guard guard(pending_mutex_);
    batch.swap(pending_);
  }
  if (batch.empty()) return {};
  auto drop = [&] {
    for (const auto& [digest, file] : batch) ::unlink(file.c_str());
  };
  UniqueFd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir || ::syncfs(dir.get()) != 0) {
    int e = errno;
    drop();
    return fail("syncing the file system of {} (its new blobs): {}", dir_.string(),
                errno_message(e));
  }
  std::set<fs::path> dirs;
  for (const auto& [digest, file] : batch) {
    fs::path target = blob_file(dir_, digest);
    if (auto made = make_dirs(target.parent_path()); !made) {
      drop();
      return made;
    }
    if (::link(file.c_str(), target.c_str()) != 0 && errno != EEXIST) {
      int e = errno;
      drop();
      return fail("cannot create blob {}: {}", target.string(), errno_message(e));
    }
    ::unlink(file.c_str());
    dirs.insert(target.parent_path());
  }
  for (const auto& d : dirs) MOS_TRY(fsync_dir(d));
  return {};
}

Result<fs::path> LayoutStore::blob_path(const Digest& digest) const {
  fs::path path = blob_location(digest);
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return fail("blob {} not found in {}", digest.str(), describe());
  return path;
}

Result<std::optional<std::int64_t>> LayoutStore::blob_size(const Digest& digest) const {
  fs::path path = blob_location(digest);
  struct stat st{};
  // A pending blob that a flush on another thread linked meanwhile is at its final name.
  int rc = ::stat(path.c_str(), &st);
  if (rc != 0 && errno == ENOENT && path != blob_file(dir_, digest)) {
    path = blob_file(dir_, digest);
    rc = ::stat(path.c_str(), &st);
  }
  if (rc != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<std::int64_t>{};
    return fail("cannot stat blob {}: {}", path.string(), errno_message(errno));
  }
  if (!S_ISREG(st.st_mode)) return fail("blob {} is not a regular file", path.string());
  return std::optional<std::int64_t>{st.st_size};
}

Result<bool> LayoutStore::has_blob(const Descriptor& blob) {
  MOS_TRY_ASSIGN(auto size, blob_size(blob.digest));
  return size && *size == blob.size;
}

Result<std::unique_ptr<BlobReader>> LayoutStore::open_blob(const Descriptor& blob) {
  fs::path path = blob_location(blob.digest);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {  // linked by a flush meanwhile (see blob_size)
    path = blob_file(dir_, blob.digest);
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) {
    if (errno == ENOENT) return fail("blob {} not found in {}", blob.digest.str(), describe());
    return fail("cannot open blob {}: {}", path.string(), errno_message(errno));
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0 || st.st_size != blob.size) {
    ::close(fd);
    return fail("blob {} in {} has {} bytes, its descriptor says {}", blob.digest.str(), describe(),
                static_cast<long long>(st.st_size), blob.size);
  }
  return std::unique_ptr<BlobReader>(new VerifyingFileReader(fd, path, blob));
}

Status LayoutStore::fetch_blob(const Descriptor& blob, BlobSink& sink) {
  MOS_TRY_ASSIGN(auto reader, open_blob(blob));
  std::vector<std::byte> buffer(kCopyBuffer);
  for (;;) {
    MOS_TRY_ASSIGN(auto n, reader->read(buffer));
    if (n == 0) return {};
    MOS_TRY(sink.write(std::span<const std::byte>(buffer.data(), n)));
  }
}

Status LayoutStore::put_blob(const Descriptor& blob, BlobReader& source) {
  MOS_TRY_ASSIGN(bool present, has_blob(blob));
  if (present) return {};
  // A source that verifies the digest itself (a registry download) is not hashed twice: its
  // read() ends with an error, not 0, when the bytes do not match.
  auto created = source.verifies(blob.digest) ? StagedBlob::create_source_verified(*this)
                                              : StagedBlob::create(*this, blob.digest.algorithm());
  MOS_TRY_ASSIGN(auto staged, std::move(created));
  std::vector<std::byte> buffer(kCopyBuffer);
  for (;;) {
    auto n = source.read(buffer);
    if (!n)
      return context(fmt::format("writing blob {} to {}", blob.digest.str(), describe()),
                     n.error());
    if (*n == 0) break;
    MOS_TRY(staged.write(std::span<const std::byte>(buffer.data(), *n)));
    if (staged.size() > static_cast<std::uint64_t>(blob.size))
      return fail(
          "writing blob {} to {}: the source sent more than the {} bytes its descriptor says",
          blob.digest.str(), describe(), blob.size);
  }
  auto committed = staged.commit(blob.digest, blob.size);
  if (!committed) return context(fmt::format("writing blob to {}", describe()), committed.error());
  return {};
}

Status LayoutStore::put_blob_bytes(const Descriptor& blob, std::string_view bytes) {
  if (static_cast<std::int64_t>(bytes.size()) != blob.size)
    return fail("writing blob {} to {}: {} bytes given, its descriptor says {}", blob.digest.str(),
                describe(), bytes.size(), blob.size);
  auto actual = digest_of(bytes, blob.digest.algorithm());
  if (actual != blob.digest)
    return fail("writing blob {} to {}: the bytes have digest {}", blob.digest.str(), describe(),
                actual.str());
  MOS_TRY_ASSIGN(bool present, has_blob(blob));
  if (present) return {};
  MOS_TRY_ASSIGN(auto staged, StagedBlob::create(*this, blob.digest.algorithm()));
  MOS_TRY(staged.write(bytes));
  return staged.commit(blob.digest, blob.size);
}

Status LayoutStore::adopt_blob_file(const fs::path& file, const Digest& digest) {
  MOS_TRY(ensure_exists());
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("cannot open {}: {}", file.string(), errno_message(errno));
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0) return fail("cannot sync {}: {}", file.string(), errno_message(e));
  fs::path target = blob_file(dir_, digest);
  MOS_TRY(make_dirs(target.parent_path()));
  return link_into_place(file, target);
}

Status LayoutStore::delete_blob(const Digest& digest) {
  fs::path path = blob_file(dir_, digest);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return fail("blob {} not found in {}", digest.str(), describe());
    return fail("cannot delete blob {}: {}", path.string(), errno_message(errno));
  }
  return fsync_dir(path.parent_path());
}

// ---- manifests ----

Result<Document> LayoutStore::read_manifest_blob(const Descriptor& d) const {
  if (d.size > static_cast<std::int64_t>(kMaxManifestBytes))
    return fail("manifest {} in {} is {} bytes, more than the limit of {}", d.digest.str(),
                describe(), d.size, kMaxManifestBytes);
  auto bytes = read_file(blob_location(d.digest), kMaxManifestBytes);
  if (!bytes)
    return context(fmt::format("reading manifest {} in {}", d.digest.str(), describe()),
                   bytes.error());
  auto actual = digest_of(*bytes, d.digest.algorithm());
  if (actual != d.digest)
    return fail("manifest {} in {} is corrupt: its bytes have digest {}", d.digest.str(),
                describe(), actual.str());
  auto doc = make_document(std::move(*bytes), d.media_type);
  if (!doc)
    return context(fmt::format("manifest {} in {}", d.digest.str(), describe()), doc.error());
  return doc;
}

Result<std::optional<Descriptor>> LayoutStore::find_manifest(std::string_view reference) {
  MOS_TRY_ASSIGN(auto index, read_index());
  if (reference.find(':') != std::string_view::npos) {
    MOS_TRY_ASSIGN(auto digest, Digest::parse(reference));
    for (const auto& d : index->manifests)
      if (d.digest == digest) return std::optional<Descriptor>{d};
    // Children of an image index are blobs without an index.json entry of their own.
    MOS_TRY_ASSIGN(auto size, blob_size(digest));
    if (!size || *size > static_cast<std::int64_t>(kMaxManifestBytes))
      return std::optional<Descriptor>{};
    Descriptor probe;
    probe.digest = digest;
    probe.size = *size;
    auto doc = read_manifest_blob(probe);
    if (!doc) return std::optional<Descriptor>{};
    return std::optional<Descriptor>{doc->descriptor()};
  }
  if (!is_valid_tag(reference))
    return fail("invalid tag \"{}\": tags match [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}", reference);
  for (const auto& d : index->manifests) {
    auto it = d.annotations.find(std::string(annotation::kRefName));
    if (it != d.annotations.end() && it->second == reference) return std::optional<Descriptor>{d};
  }
  return std::optional<Descriptor>{};
}

Result<Descriptor> LayoutStore::resolve(std::string_view reference) {
  MOS_TRY_ASSIGN(auto found, find_manifest(reference));
  if (!found) return fail("manifest {} not found in {}", reference, describe());
  return *found;
}

Result<Document> LayoutStore::get_manifest(std::string_view reference) {
  MOS_TRY_ASSIGN(auto d, resolve(reference));
  return read_manifest_blob(d);
}

Result<std::vector<std::string>> LayoutStore::list_tags() {
  MOS_TRY_ASSIGN(auto index, read_index());
  std::set<std::string> tags;
  for (const auto& d : index->manifests)
    if (auto it = d.annotations.find(std::string(annotation::kRefName)); it != d.annotations.end())
      tags.insert(it->second);
  return std::vector<std::string>(tags.begin(), tags.end());
}

Result<std::vector<Digest>> LayoutStore::missing_blobs(const Document& doc) const {
  std::vector<Descriptor> named;
  if (doc.is_index()) {
    MOS_TRY_ASSIGN(auto index, parse_image_index(doc.bytes));
    named = std::move(index.manifests);
  } else {
    MOS_TRY_ASSIGN(auto manifest, parse_image_manifest(doc.bytes));
    named.push_back(std::move(manifest.config));
    for (auto& layer : manifest.layers)
      if (layer.urls.empty()) named.push_back(std::move(layer));
  }
  std::vector<Digest> missing;
  for (const auto& d : named) {
    MOS_TRY_ASSIGN(auto size, blob_size(d.digest));
    if (!size || *size != d.size) missing.push_back(d.digest);
  }
  return missing;
}

}  // namespace mos::oci
