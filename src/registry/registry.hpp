#pragma once
// The distribution-spec v1.1.1 registry over a zot-shaped LayoutRoot, independent of the
// transport: the server hands it parsed requests and sends what it answers.
//
// Requests come in two kinds. Most carry no body or a small one (a manifest, at most 4 MiB),
// which the server reads whole and passes to handle(). Blob uploads (PATCH/PUT on an upload,
// POST with ?digest=) are streamed: begin_upload_body() checks the request and returns a sink,
// the server feeds it the body as it arrives (hashed and appended to <repo>/.uploads/<id>), then
// finish_upload_body() answers.
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <variant>

#include "core/result.hpp"
#include "oci/layout_store.hpp"
#include "registry/auth.hpp"
#include "registry/http_types.hpp"
#include "registry/manifest_cache.hpp"
#include "registry/routes.hpp"

namespace mos::registry {

struct RegistryPolicy {
  bool delete_enabled = true;
  // When set, every request needs "Authorization: Basic ..." with credentials it accepts;
  // others get 401 UNAUTHORIZED and a Basic challenge for kAuthRealm.
  std::shared_ptr<const Authenticator> authenticator;
};

inline constexpr std::string_view kAuthRealm = "mos-registry";

// State of one upload: its file and the running hash of what it holds. Kept in memory between
// requests; after a restart it is rebuilt from the file, so uploads survive a crash.
struct UploadState {
  std::filesystem::path file;
  oci::Hasher hasher;
  std::uint64_t size = 0;
  bool busy = false;  // a request is writing to it
};

// Receives the body of a streamed upload request.
class UploadBody {
 public:
  virtual ~UploadBody() = default;
  virtual Status write(std::span<const std::byte> bytes) = 0;
};

class Registry {
 public:
  Registry(oci::LayoutRoot root, RegistryPolicy options);
  ~Registry();

  // True for requests whose body is a blob to stream through begin_upload_body().
  static bool streams_body(std::string_view method, const Route& route);

  HttpResponse handle(const HttpRequest& request, const Route& route);

  // Either an immediate answer (an error: the body is then not read) or a sink for the body.
  std::variant<HttpResponse, std::unique_ptr<UploadBody>> begin_upload_body(
      const HttpRequest& request, const Route& route);
  // Answers after the whole body went into the sink (body_complete=false: the client went away).
  HttpResponse finish_upload_body(const HttpRequest& request, const Route& route, UploadBody& body,
                                  bool body_complete);

  oci::LayoutRoot& root() { return root_; }

  // Authentication, for transports: whether checking request's credentials may be slow (a
  // password the authenticator does not remember), and the check itself (true: accepted or
  // none needed). handle() and begin_upload_body() use request.credentials_accepted when set.
  bool credentials_check_is_slow(const HttpRequest& request) const;
  bool accepts_credentials(const HttpRequest& request) const;
  // The 401 answer for a request the authenticator does not accept, nullopt when it may pass.
  std::optional<HttpResponse> refuse_unauthenticated(const HttpRequest& request) const;

 private:
  friend class UploadSink;
  HttpResponse get_manifest(const HttpRequest& request, const Route& route, bool head);
  HttpResponse put_manifest(const HttpRequest& request, const Route& route);
  HttpResponse delete_manifest(const Route& route);
  struct FoundBlob {
    std::unique_ptr<oci::LayoutStore> store;
    oci::Digest digest;
    std::uint64_t size = 0;
  };
  // The blob a route names, in its repository; or the answer for a bad digest, an unknown
  // repository or an unknown blob.
  std::variant<HttpResponse, FoundBlob> find_blob(const Route& route);
  HttpResponse get_blob(const HttpRequest& request, const Route& route, bool head);
  HttpResponse delete_blob(const Route& route);
  HttpResponse tags(const Route& route);
  HttpResponse referrers(const Route& route);
  HttpResponse catalog(const Route& route);
  HttpResponse start_upload(const Route& route);
  HttpResponse upload_status(const Route& route);
  HttpResponse cancel_upload(const Route& route);
  // Verifies the finished upload against digest and moves it into the repository's blobs.
  HttpResponse complete_upload(oci::LayoutStore& store, const Route& route, const std::string& id,
                               UploadState& state, std::string_view digest_text);

  Result<std::string> new_upload(oci::LayoutStore& store);
  // The state of an upload (loaded from its file if this process has not seen it), or nullptr
  // when there is no such upload.
  Result<std::shared_ptr<UploadState>> find_upload(oci::LayoutStore& store, const std::string& name,
                                                   const std::string& id);
  void forget_upload(const std::string& name, const std::string& id);

  oci::LayoutRoot root_;
  RegistryPolicy options_;
  ManifestCache manifests_;
  std::mutex uploads_mutex_;
  std::unordered_map<std::string, std::shared_ptr<UploadState>> uploads_;  // "<name>/<id>"
};

// An OCI error answer: {"errors":[{"code","message","detail"}]}.
HttpResponse error_response(int status, std::string_view code, std::string_view message,
                            std::string_view detail = {});

}  // namespace mos::registry
