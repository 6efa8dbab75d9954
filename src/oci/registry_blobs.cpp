// RegistryClient: blob HEAD/GET (verified while streaming) and uploads (monolithic POST+PUT,
// chunked PATCH, single POST for small blobs, cross-repository mount).
#include <algorithm>

#include <spdlog/spdlog.h>

#include "core/text.hpp"
#include "oci/registry_client.hpp"

namespace mos::oci {
namespace {

std::string push_scope(std::string_view repo) {
  return fmt::format("repository:{}:pull,push", repo);
}

// Counts and hashes the bytes of a download and refuses more than announced.
class VerifyingSink {
 public:
  VerifyingSink(const Descriptor& blob, BlobSink& sink)
      : blob_(blob), sink_(sink), hasher_(blob.digest.algorithm()) {}
  Status write(std::span<const std::byte> bytes) {
    received_ += static_cast<std::int64_t>(bytes.size());
    if (received_ > blob_.size)
      return fail("received more than the {} bytes the descriptor announces", blob_.size);
    hasher_.update(bytes);
    return sink_.write(bytes);
  }
  Status finish() {
    if (received_ != blob_.size)
      return fail("transfer ended after {} of {} bytes (truncated)", received_, blob_.size);
    auto got = hasher_.finish();
    if (got != blob_.digest)
      return fail("digest mismatch: the bytes received have digest {}", got.str());
    return {};
  }

 private:
  const Descriptor& blob_;
  BlobSink& sink_;
  Hasher hasher_;
  std::int64_t received_ = 0;
};

// Reads exactly `limit` bytes of a source (one chunk, or the whole blob) and refuses more or less.
struct BoundedSource {
  BlobReader& source;
  std::int64_t limit;
  std::int64_t taken = 0;
  bool whole_blob = false;
  Result<std::size_t> operator()(std::span<std::byte> buffer) {
    std::int64_t left = limit - taken;
    if (left <= 0) {
      if (whole_blob) {
        // The end: let the reader verify the digest (its read() returning 0 does so).
        std::byte probe[1];
        MOS_TRY_ASSIGN(auto extra, source.read(probe));
        if (extra != 0) return fail("the source has more bytes than the descriptor's {}", limit);
      }
      return 0;
    }
    auto want = std::min<std::int64_t>(left, static_cast<std::int64_t>(buffer.size()));
    MOS_TRY_ASSIGN(auto n, source.read(buffer.first(static_cast<std::size_t>(want))));
    if (n == 0)
      return fail("the source ended after {} bytes, the descriptor says {}", taken, limit);
    taken += static_cast<std::int64_t>(n);
    return n;
  }
};

}  // namespace

Result<std::optional<std::int64_t>> RegistryClient::blob_size(std::string_view repo,
                                                              const Digest& digest) {
  Call call;
  call.method = "HEAD";
  call.url = repo_url(repo, fmt::format("blobs/{}", digest.str()));
  call.scope = fmt::format("repository:{}:pull", repo);
  call.foreign_redirects = true;
  auto what = fmt::format("checking blob {} in {}/{}", digest.str(), host_, repo);
  MOS_TRY_ASSIGN(auto response, with_context(send(call), what));
  if (response.status == 404) return std::nullopt;
  if (response.status != 200) return std::unexpected(http_error(what, response));
  auto length = response.header("content-length");
  if (!length) return std::optional<std::int64_t>(-1);
  auto size = parse_unsigned(*length, INT64_MAX);
  if (!size) return fail("{}: bad Content-Length \"{}\"", what, *length);
  return std::optional<std::int64_t>(static_cast<std::int64_t>(*size));
}

Status RegistryClient::get_blob(std::string_view repo, const Descriptor& blob, BlobSink& sink) {
  VerifyingSink verifying(blob, sink);
  Call call;
  call.url = repo_url(repo, fmt::format("blobs/{}", blob.digest.str()));
  call.scope = fmt::format("repository:{}:pull", repo);
  call.foreign_redirects = true;
  call.streaming = true;
  call.on_body = [&](std::span<const std::byte> bytes) { return verifying.write(bytes); };
  auto what = fmt::format("fetching blob {} from {}/{}", blob.digest.str(), host_, repo);
  MOS_TRY_ASSIGN(auto response, with_context(send(call), what));
  if (response.status != 200) return std::unexpected(http_error(what, response));
  if (auto ok = verifying.finish(); !ok) return fail("{}: {}", what, ok.error().message);
  return {};
}

Result<std::string> RegistryClient::start_upload(std::string_view repo, std::string_view query,
                                                 long& status, std::int64_t& chunk_min,
                                                 std::string_view mount_from) {
  Call call;
  call.method = "POST";
  call.url = repo_url(repo, fmt::format("blobs/uploads/{}", query));
  call.body = std::string_view();
  // A mount needs a token that also grants pull on the source repository.
  call.scope = mount_from.empty()
                   ? push_scope(repo)
                   : fmt::format("{} repository:{}:pull", push_scope(repo), mount_from);
  auto what = fmt::format("starting an upload to {}/{}", host_, repo);
  MOS_TRY_ASSIGN(auto response, with_context(send(call), what));
  status = response.status;
  if (status == 201) return std::string();
  if (status != 202) return std::unexpected(http_error(what, response));
  auto location = response.header("location");
  if (!location) return fail("{}: the registry answered 202 without a Location", what);
  if (auto min = response.header("oci-chunk-min-length")) {
    // A hint only: one we cannot read is ignored.
    chunk_min = static_cast<std::int64_t>(parse_unsigned(*min, INT64_MAX).value_or(0));
  }
  return resolve_url(call.url, *location);
}

Result<bool> RegistryClient::mount_blob(std::string_view repo, const Descriptor& blob,
                                        std::string_view from) {
  long status = 0;
  std::int64_t chunk_min = 0;
  auto query = fmt::format("?mount={}&from={}", url_escape(blob.digest.str()), url_escape(from));
  MOS_TRY(start_upload(repo, query, status, chunk_min, from));
  // 202 opened an upload we do not use; registries expire unused uploads.
  return status == 201;
}

Result<bool> RegistryClient::put_blob(std::string_view repo, const Descriptor& blob,
                                      BlobReader& source,
                                      const std::optional<std::string>& mount_from) {
  auto what = fmt::format("uploading blob {} to {}/{}", blob.digest.str(), host_, repo);
  long status = 0;
  std::int64_t chunk_min = 0;
  std::string location;
  if (mount_from) {
    auto query =
        fmt::format("?mount={}&from={}", url_escape(blob.digest.str()), url_escape(*mount_from));
    MOS_TRY_ASSIGN(location, start_upload(repo, query, status, chunk_min, *mount_from));
    if (status == 201) {
      spdlog::debug("mounted {} from {}", blob.digest.str(), *mount_from);
      return true;
    }
  } else {
    MOS_TRY_ASSIGN(location, start_upload(repo, "", status, chunk_min));
    if (status == 201)
      return fail("{}: the registry answered 201 to an upload without content", what);
  }
  if (blob.size > options_.chunk_threshold) {
    MOS_TRY(upload_chunked(repo, blob, std::move(location), source, chunk_min));
    return false;
  }

  BoundedSource bounded{source, blob.size, 0, true};
  Call call;
  call.method = "PUT";
  call.url = with_query(location, "digest", blob.digest.str());
  call.headers = {"Content-Type: application/octet-stream"};
  call.body_source = std::ref(bounded);
  call.body_size = blob.size;
  call.scope = push_scope(repo);
  call.retryable = false;
  call.streaming = true;
  MOS_TRY_ASSIGN(auto response, with_context(send(call), what));
  if (response.status != 201 && response.status != 204)
    return std::unexpected(http_error(what, response));
  return false;
}

Status RegistryClient::upload_chunked(std::string_view repo, const Descriptor& blob,
                                      std::string location, BlobReader& source,
                                      std::int64_t chunk_min) {
  auto what = fmt::format("uploading blob {} to {}/{} in chunks", blob.digest.str(), host_, repo);
  std::int64_t chunk = std::max(options_.chunk_size, chunk_min);
  std::int64_t offset = 0;
  while (offset < blob.size) {
    std::int64_t length = std::min(chunk, blob.size - offset);
    BoundedSource bounded{source, length, 0, false};
    Call call;
    call.method = "PATCH";
    call.url = location;
    call.headers = {"Content-Type: application/octet-stream",
                    fmt::format("Content-Range: {}-{}", offset, offset + length - 1)};
    call.body_source = std::ref(bounded);
    call.body_size = length;
    call.scope = push_scope(repo);
    call.retryable = false;
    call.streaming = true;
    MOS_TRY_ASSIGN(auto response, with_context(send(call), what));
    if (response.status == 416) {
      // The registry's view of the upload differs from ours; the bytes already read from the
      // source cannot be replayed, so the upload fails (the caller may retry it as a whole).
      return fail(
          "{}: the registry refused the chunk at bytes {}-{} (416 Range Not Satisfiable; it holds "
          "{})",
          what, offset, offset + length - 1, response.header("range").value_or("nothing"));
    }
    if (response.status != 202 && response.status != 204)
      return std::unexpected(http_error(what, response));
    offset += length;
    if (auto next = response.header("location")) {
      MOS_TRY_ASSIGN(location, resolve_url(location, *next));
    }
  }
  // The source must end exactly here, and verifies its digest as it does.
  std::byte probe[1];
  MOS_TRY_ASSIGN(auto extra, with_context(source.read(probe), what));
  if (extra != 0)
    return fail("{}: the source has more bytes than the descriptor's {}", what, blob.size);
  Call close;
  close.method = "PUT";
  close.url = with_query(location, "digest", blob.digest.str());
  close.headers = {"Content-Type: application/octet-stream"};
  close.body = std::string_view();
  close.scope = push_scope(repo);
  MOS_TRY_ASSIGN(auto response, with_context(send(close), what));
  if (response.status != 201 && response.status != 204)
    return std::unexpected(http_error(what, response));
  return {};
}

Status RegistryClient::put_blob_bytes(std::string_view repo, const Descriptor& blob,
                                      std::string_view bytes) {
  auto what = fmt::format("uploading blob {} to {}/{}", blob.digest.str(), host_, repo);
  if (static_cast<std::int64_t>(bytes.size()) != blob.size ||
      digest_of(bytes, blob.digest.algorithm()) != blob.digest)
    return fail("{}: the bytes do not match the descriptor ({} bytes, digest {})", what, blob.size,
                blob.digest.str());
  // Single POST with the content (a registry MAY accept it: 201); 202 opens a normal upload.
  Call post;
  post.method = "POST";
  post.url = with_query(repo_url(repo, "blobs/uploads/"), "digest", blob.digest.str());
  post.headers = {"Content-Type: application/octet-stream"};
  post.body = bytes;
  post.scope = push_scope(repo);
  MOS_TRY_ASSIGN(auto response, with_context(send(post), what));
  if (response.status == 201) return {};
  if (response.status != 202) return std::unexpected(http_error(what, response));
  auto location = response.header("location");
  if (!location) return fail("{}: the registry answered 202 without a Location", what);
  MOS_TRY_ASSIGN(auto url, resolve_url(post.url, *location));
  Call put;
  put.method = "PUT";
  put.url = with_query(url, "digest", blob.digest.str());
  put.headers = {"Content-Type: application/octet-stream"};
  put.body = bytes;
  put.scope = push_scope(repo);
  MOS_TRY_ASSIGN(response, with_context(send(put), what));
  if (response.status != 201 && response.status != 204)
    return std::unexpected(http_error(what, response));
  return {};
}

}  // namespace mos::oci
