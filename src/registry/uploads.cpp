// Registry: blob uploads (POST, chunked PATCH, PUT, single POST with ?digest=, cross-repo mount,
// status and cancel). Each upload is a file <repo>/.uploads/<id> (zot's place for them) plus a
// running hash held in memory; a blob becomes visible only when the finishing PUT's digest
// matches, by a link into blobs/. After a restart the hash is rebuilt from the file, so an
// interrupted upload can be resumed (GET gives its Range) or is left for garbage collection.
#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <random>

#include <spdlog/spdlog.h>

#include "core/file.hpp"
#include "core/text.hpp"
#include "oci/reference.hpp"
#include "registry/registry.hpp"

namespace mos::registry {

namespace {

std::string new_upload_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

std::string key_of(const std::string& name, const std::string& id) {
  return name + "/" + id;
}

std::string range_of(std::uint64_t size) {
  return fmt::format("0-{}", size == 0 ? 0 : size - 1);
}

HttpResponse upload_accepted(int status, const std::string& name, const std::string& id,
                             std::uint64_t size) {
  HttpResponse r;
  r.status = status;
  r.set("Location", fmt::format("/v2/{}/blobs/uploads/{}", name, id));
  r.set("Range", range_of(size));
  r.set("Docker-Upload-UUID", id);
  return r;
}

// "<start>-<end>" as the spec writes it; Docker clients may prefix "bytes=" or "bytes ".
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_content_range(std::string_view text) {
  if (text.starts_with("bytes=") || text.starts_with("bytes ")) text.remove_prefix(6);
  if (auto slash = text.find('/'); slash != std::string_view::npos) text = text.substr(0, slash);
  auto dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto a = parse_unsigned(text.substr(0, dash)), b = parse_unsigned(text.substr(dash + 1));
  if (!a || !b || *b < *a) return std::nullopt;
  return std::pair{*a, *b};
}

}  // namespace

// Appends a request body to an upload file, hashing what was written.
class UploadSink final : public UploadBody {
 public:
  UploadSink(Registry& registry, std::unique_ptr<oci::LayoutStore> store, std::string name,
             std::string id, std::shared_ptr<UploadState> state, int fd)
      : registry_(registry),
        store_(std::move(store)),
        name_(std::move(name)),
        id_(std::move(id)),
        state_(std::move(state)),
        fd_(fd) {}
  ~UploadSink() override {
    if (fd_ >= 0) ::close(fd_);
    std::lock_guard guard(registry_.uploads_mutex_);
    state_->busy = false;
  }
  Status write(std::span<const std::byte> bytes) override {
    const std::byte* p = bytes.data();
    std::size_t left = bytes.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        // What the file holds no longer matches the hash: rebuild it from the file next time.
        registry_.forget_upload(name_, id_);
        return fail("cannot write upload {}: {}", state_->file.string(), errno_message(errno));
      }
      state_->hasher.update(std::span<const std::byte>(p, static_cast<std::size_t>(n)));
      state_->size += static_cast<std::uint64_t>(n);
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    return {};
  }

  Registry& registry_;
  std::unique_ptr<oci::LayoutStore> store_;
  std::string name_, id_;
  std::shared_ptr<UploadState> state_;
  int fd_;
};

Result<std::string> Registry::new_upload(oci::LayoutStore& store) {
  MOS_TRY_ASSIGN(auto dir, store.uploads_dir());
  std::string id = new_upload_id();
  fs::path file = dir / id;
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return fail("cannot create upload {}: {}", file.string(), errno_message(errno));
  ::close(fd);
  auto state = std::make_shared<UploadState>();
  state->file = file;
  auto name = fs::relative(store.dir(), root_.root()).generic_string();
  std::lock_guard guard(uploads_mutex_);
  uploads_[key_of(name, id)] = std::move(state);
  return id;
}

Result<std::shared_ptr<UploadState>> Registry::find_upload(oci::LayoutStore& store,
                                                           const std::string& name,
                                                           const std::string& id) {
  {
    std::lock_guard guard(uploads_mutex_);
    if (auto it = uploads_.find(key_of(name, id)); it != uploads_.end()) return it->second;
  }
  fs::path file = store.dir() / ".uploads" / id;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return std::shared_ptr<UploadState>{};
  // Not seen by this process (a restart): hash what the file holds.
  auto state = std::make_shared<UploadState>();
  state->file = file;
  auto size = oci::hash_file_into(state->hasher, file);
  if (!size) return context("reading an upload back", size.error());
  state->size = *size;
  std::lock_guard guard(uploads_mutex_);
  auto [it, inserted] = uploads_.emplace(key_of(name, id), state);
  return it->second;
}

void Registry::forget_upload(const std::string& name, const std::string& id) {
  std::lock_guard guard(uploads_mutex_);
  uploads_.erase(key_of(name, id));
}

HttpResponse Registry::start_upload(const Route& route) {
  auto store = root_.repository(route.name, true);
  if (!store)
    return error_response(400, "NAME_INVALID", "cannot use repository", store.error().message);
  auto mount = route.query.get("mount");
  auto from = route.query.get("from");
  if (mount && from) {
    auto digest = oci::Digest::parse(*mount);
    if (!digest) return error_response(400, "DIGEST_INVALID", "invalid digest", *mount);
    if (oci::is_valid_repository_name(*from) && root_.has_repository(*from)) {
      auto source = root_.repository(*from, false);
      std::optional<fs::path> path;
      if (source) {
        if (auto p = (*source)->blob_path(*digest)) path = *p;
      }
      auto uploads = (*store)->uploads_dir();
      if (path && uploads) {
        // A hard link shares the blob (zot's dedupe does the same); the staging name keeps a
        // crash from leaving anything but a stray file in .uploads.
        fs::path staged = *uploads / ("mount-" + new_upload_id());
        if (::link(path->c_str(), staged.c_str()) == 0) {
          if (auto adopted = (*store)->adopt_blob_file(staged, *digest); adopted) {
            HttpResponse r;
            r.status = 201;
            r.set("Location", fmt::format("/v2/{}/blobs/{}", route.name, digest->str()));
            r.set("Docker-Content-Digest", digest->str());
            return r;
          }
          ::unlink(staged.c_str());
        }
      }
    }
    // Not mountable: a regular upload instead (202), as the spec allows.
  }
  auto id = new_upload(**store);
  if (!id) return error_response(500, "UNKNOWN", id.error().message);
  return upload_accepted(202, route.name, *id, 0);
}

HttpResponse Registry::upload_status(const Route& route) {
  if (!is_valid_upload_id(route.reference) || !root_.has_repository(route.name))
    return error_response(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown", route.reference);
  auto store = root_.repository(route.name, false);
  if (!store) return error_response(500, "UNKNOWN", store.error().message);
  auto state = find_upload(**store, route.name, route.reference);
  if (!state) return error_response(500, "UNKNOWN", state.error().message);
  if (!*state) return error_response(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown", route.reference);
  return upload_accepted(204, route.name, route.reference, (*state)->size);
}

HttpResponse Registry::cancel_upload(const Route& route) {
  if (!is_valid_upload_id(route.reference) || !root_.has_repository(route.name))
    return error_response(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown", route.reference);
  auto store = root_.repository(route.name, false);
  if (!store) return error_response(500, "UNKNOWN", store.error().message);
  fs::path file = (*store)->dir() / ".uploads" / route.reference;
  forget_upload(route.name, route.reference);
  if (::unlink(file.c_str()) != 0)
    return error_response(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown", route.reference);
  HttpResponse r;
  r.status = 204;
  return r;
}

std::variant<HttpResponse, std::unique_ptr<UploadBody>> Registry::begin_upload_body(
    const HttpRequest& request, const Route& route) {
  // Before anything else: an unauthenticated client's body is never read.
  if (auto refused = refuse_unauthenticated(request)) return std::move(*refused);
  if (!oci::is_valid_repository_name(route.name))
    return error_response(400, "NAME_INVALID", "invalid repository name", route.name);
  std::unique_ptr<oci::LayoutStore> store;
  std::string id;
  if (route.endpoint == Endpoint::upload_start) {
    // Single POST: the whole blob in the body of the POST.
    auto digest_text = route.query.get("digest");
    if (!digest_text || !oci::Digest::parse(*digest_text))
      return error_response(400, "DIGEST_INVALID", "invalid digest", digest_text.value_or(""));
    auto opened = root_.repository(route.name, true);
    if (!opened)
      return error_response(400, "NAME_INVALID", "cannot use repository", opened.error().message);
    store = std::move(*opened);
    auto made = new_upload(*store);
    if (!made) return error_response(500, "UNKNOWN", made.error().message);
    id = *made;
  } else {
    id = route.reference;
    if (!is_valid_upload_id(id) || !root_.has_repository(route.name))
      return error_response(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown", id);
    auto opened = root_.repository(route.name, false);
    if (!opened) return error_response(500, "UNKNOWN", opened.error().message);
    store = std::move(*opened);
    if (request.method == "PUT") {
      auto digest_text = route.query.get("digest");
      if (!digest_text || !oci::Digest::parse(*digest_text))
        return error_response(400, "DIGEST_INVALID", "PUT needs ?digest= with a valid digest",
                              digest_text.value_or(""));
    }
  }
  auto state = find_upload(*store, route.name, id);
  if (!state) return error_response(500, "UNKNOWN", state.error().message);
  if (!*state) return error_response(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown", id);
  {
    std::lock_guard guard(uploads_mutex_);
    if ((*state)->busy)
      return error_response(416, "BLOB_UPLOAD_INVALID", "another request is writing to this upload",
                            id);
    if (auto range = request.header("content-range")) {
      auto parsed = parse_content_range(*range);
      if (!parsed)
        return error_response(400, "BLOB_UPLOAD_INVALID", "invalid Content-Range", *range);
      if (parsed->first != (*state)->size) {
        // Out of order: the client resumes from the Range this answer (and GET) gives.
        auto r = error_response(416, "BLOB_UPLOAD_INVALID", "chunk out of order",
                                fmt::format("the upload holds {} bytes; the chunk starts at {}",
                                            (*state)->size, parsed->first));
        r.set("Location", fmt::format("/v2/{}/blobs/uploads/{}", route.name, id));
        r.set("Range", range_of((*state)->size));
        return r;
      }
    }
    (*state)->busy = true;
  }
  int fd = ::open((*state)->file.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) {
    std::lock_guard guard(uploads_mutex_);
    (*state)->busy = false;
    return error_response(500, "UNKNOWN",
                          fmt::format("cannot open upload: {}", errno_message(errno)));
  }
  return std::unique_ptr<UploadBody>(
      new UploadSink(*this, std::move(store), route.name, id, *state, fd));
}

HttpResponse Registry::finish_upload_body(const HttpRequest& request, const Route& route,
                                          UploadBody& body, bool body_complete) {
  auto& sink = static_cast<UploadSink&>(body);
  if (!body_complete)
    return error_response(400, "BLOB_UPLOAD_INVALID", "the request body ended early", sink.id_);
  if (request.method == "PATCH")
    return upload_accepted(202, route.name, sink.id_, sink.state_->size);
  return complete_upload(*sink.store_, route, sink.id_, *sink.state_,
                         route.query.get("digest").value_or(""));
}

HttpResponse Registry::complete_upload(oci::LayoutStore& store, const Route& route,
                                       const std::string& id, UploadState& state,
                                       std::string_view digest_text) {
  auto expected = oci::Digest::parse(digest_text);
  if (!expected) return error_response(400, "DIGEST_INVALID", "invalid digest", digest_text);
  oci::Digest actual = oci::digest_of("");
  if (expected->algorithm() == state.hasher.algorithm()) {
    actual = state.hasher.finish();
  } else {
    oci::Hasher other(expected->algorithm());
    auto bytes = read_file(state.file);  // rare (sha512): rehash the file
    if (!bytes) return error_response(500, "UNKNOWN", bytes.error().message);
    other.update(*bytes);
    actual = other.finish();
  }
  // Either way this upload is finished: a mismatch leaves nothing behind.
  forget_upload(route.name, id);
  if (actual != *expected) {
    ::unlink(state.file.c_str());
    return error_response(400, "DIGEST_INVALID", "the uploaded content does not match the digest",
                          fmt::format("expected {}, got {}", expected->str(), actual.str()));
  }
  if (auto adopted = store.adopt_blob_file(state.file, *expected); !adopted) {
    ::unlink(state.file.c_str());
    return error_response(500, "UNKNOWN", adopted.error().message);
  }
  HttpResponse r;
  r.status = 201;
  r.set("Location", fmt::format("/v2/{}/blobs/{}", route.name, expected->str()));
  r.set("Docker-Content-Digest", expected->str());
  return r;
}

}  // namespace mos::registry
