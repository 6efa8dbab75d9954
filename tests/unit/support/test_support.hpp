#pragma once
// Helpers shared by every unit test program (the library mos_test_support): files, results,
// blob readers, the walkthrough's example files, and requests through the registry's code path.
// Module-specific fixtures stay beside their tests (trust/trust_test_support.hpp,
// oci/fake_registry.hpp).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <source_location>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/result.hpp"
#include "oci/descriptor.hpp"
#include "oci/digest.hpp"
#include "oci/media_types.hpp"
#include "oci/repository.hpp"
#include "registry/http_types.hpp"

namespace mos::registry {
class Registry;
}

namespace mos::test {

namespace fs = std::filesystem;

// Flips one bit of the byte at `offset` of the file in place; flipping it again restores it.
void flip_byte(const fs::path& path, std::uint64_t offset);

// The whole file; a file that cannot be read is a test failure (and gives "").
std::string read_text(const fs::path& path);

// A TCP socket listening on 127.0.0.1 at a port the kernel picks (written to `port`), for the
// fake servers of unit tests.
int listen_on_loopback(int backlog, int& port);

// The names in a directory, sorted; a missing directory has none.
std::vector<std::string> dir_entries(const fs::path& dir);

// `text` with its first `from` replaced by `to`; a `text` without `from` is a test failure (the
// test would otherwise go on with input it did not mean).
std::string replaced(std::string text, std::string_view from, std::string_view to);

// The error message of a result that must have failed; a success is a test failure, reported at
// the caller's line (and gives ""). Use as EXPECT_THAT(error_of(f()), HasSubstr("reason")).
template <class T>
std::string error_of(const Result<T>& result,
                     std::source_location where = std::source_location::current()) {
  if (result) {
    ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
        << "expected a failure, but it succeeded";
    return {};
  }
  return result.error().message;
}

// A descriptor of `bytes`: their digest and size, with `media_type`.
oci::Descriptor descriptor_of(std::string_view bytes,
                              std::string_view media_type = oci::media_type::kImageLayerTar);

// A blob source over bytes in memory (a layout file, a download, a source dying half-way).
class FakeBlobReader final : public oci::BlobReader {
 public:
  explicit FakeBlobReader(std::string bytes) : bytes_(std::move(bytes)) {}
  // Runs when the bytes are used up, before the end is reported: an error it returns is what
  // read() returns instead of the end (a source failing late); it may also end the process.
  FakeBlobReader& at_end(std::function<Status()> action) {
    at_end_ = std::move(action);
    return *this;
  }
  // Claims to check its bytes against `digest` itself (BlobReader::verifies), as a registry
  // download does.
  FakeBlobReader& vouch_for(oci::Digest digest) {
    vouches_for_ = std::move(digest);
    return *this;
  }
  Result<std::size_t> read(std::span<std::byte> buffer) override;
  bool verifies(const oci::Digest& digest) const override {
    return vouches_for_ && *vouches_for_ == digest;
  }

 private:
  std::string bytes_;
  std::size_t offset_ = 0;
  std::function<Status()> at_end_;
  std::optional<oci::Digest> vouches_for_;
};

// The files of the walkthrough (shared/seed/image-manifest-walkthrough.md) as kept in
// examples/ of the source tree: "manifest.yaml", "zot-config.json". Tests derive their
// variations from these (test::replaced) instead of keeping copies.
fs::path example_path(std::string_view name);
std::string example(std::string_view name);

// Test data kept in tests/fixtures/ of the source tree: "snakeoil-keyset" (the original's public
// keyset, certificates and pcr7data only).
fs::path fixture_path(std::string_view name);

// A request through the registry's code path as the server takes it: handle(), or for a
// streamed upload begin_upload_body() with request.body as the whole body, then
// finish_upload_body(). `streamed` (when given) tells whether the body was taken.
registry::HttpResponse registry_answer(registry::Registry& registry,
                                       const registry::HttpRequest& request,
                                       bool* streamed = nullptr);

// Runs `body` in a child process inside a network namespace of its own (the test's, gone with
// the child): "ok", the body's error message, or "SKIP why" when this machine cannot (not root,
// unshare refused).
std::string in_own_netns(const std::function<Status()>& body);

}  // namespace mos::test
