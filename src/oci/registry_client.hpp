#pragma once
// A client of one registry (distribution-spec v1.1) over libcurl. It pings /v2/, authenticates
// (anonymous, Basic, Bearer tokens cached per scope), speaks https with the system CAs (or a CA
// file, or without verification when asked), retries transient failures with backoff, follows
// redirects only to the same host (blob downloads may go to another host, without credentials)
// and turns error answers into one readable line naming the repository and reference, with the
// fix for the usual mistakes (plain http to a TLS port, an untrusted certificate, TLS to a
// plain http registry).
//
// Loopback hosts (127.0.0.0/8, localhost, ::1) serve both kinds of test and on-target
// registries, so without plain_http or ca_file the client asks them in plain http first and
// switches to https, once for the client's life, when the first answer shows the registry speaks
// TLS (its "use https" 400 answer, or no HTTP at all) and a TLS handshake with it works. Other
// hosts get https only, unless plain_http.
//
// Blob bytes are streamed through curl callbacks and verified while they move. A client is
// safe to use from several threads: each request takes its own curl handle from a small pool.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "oci/document.hpp"
#include "oci/http_transport.hpp"
#include "oci/registry_auth.hpp"
#include "oci/registry_protocol.hpp"
#include "oci/repository.hpp"

namespace mos::oci {

struct RegistryClientOptions {
  bool plain_http = false;  // plain http for any host (--plain-http, --insecure)
  // https without checking the registry's certificate (--tls-verify=false); the scheme is
  // chosen as without it (loopback hosts: detected).
  bool tls_verify = true;
  // PEM file of the CAs that sign the registry's certificate, instead of the system's; implies
  // https even on loopback.
  std::optional<std::filesystem::path> ca_file;
  // "HOST:PORT:ADDRESS" entries as curl's --resolve (tests reach a named host on 127.0.0.1).
  std::vector<std::string> resolve;
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::optional<std::filesystem::path> authfile;
  int max_attempts = 4;                        // per request, for transient failures
  std::chrono::milliseconds retry_delay{250};  // doubled after each failure
  long connect_timeout_seconds = 30;
  long stall_timeout_seconds = 60;                       // no byte moved for this long
  long request_timeout_seconds = 300;                    // small (non-blob) requests
  std::int64_t chunk_threshold = std::int64_t{1} << 30;  // larger blobs are PATCHed in chunks
  std::int64_t chunk_size = std::int64_t{128} << 20;
};

// Whether host ("HOST[:PORT]") is a loopback address or localhost.
bool is_loopback_host(std::string_view host);

class RegistryClient {
 public:
  static Result<std::shared_ptr<RegistryClient>> create(std::string host,
                                                        RegistryClientOptions options);
  ~RegistryClient();

  const std::string& host() const { return host_; }
  // "https://HOST" or "http://HOST" (for a loopback host: http until it is found to speak TLS).
  std::string base_url() const;

  // GET /v2/: reachable, a registry, and credentials (if any were required) accepted.
  Status ping();
  // Whether the registry asked for authentication (a 401 challenge) so far: after ping(), that
  // the credentials were checked (mosb login).
  bool asked_for_credentials();

  // Manifests; reference is a tag or a digest string.
  Result<std::optional<Descriptor>> head_manifest(std::string_view repo,
                                                  std::string_view reference);
  Result<Document> get_manifest(std::string_view repo, std::string_view reference);
  struct ManifestPushed {
    bool subject_acknowledged = false;  // the registry answered OCI-Subject
  };
  Result<ManifestPushed> put_manifest(std::string_view repo, std::string_view reference,
                                      const Document& doc);
  Result<std::vector<std::string>> list_tags(std::string_view repo);
  // The referrers API; nullopt when the registry does not have it (404).
  Result<std::optional<std::vector<Descriptor>>> referrers_api(
      std::string_view repo, const Digest& subject,
      const std::optional<std::string>& artifact_type);

  // Blobs.
  Result<std::optional<std::int64_t>> blob_size(std::string_view repo, const Digest& digest);
  Status get_blob(std::string_view repo, const Descriptor& blob, BlobSink& sink);
  // Uploads a blob from source; with mount_from, first asks the registry to mount it from that
  // repository (a 202 answer continues as a normal upload). True when it was mounted (source
  // then not read).
  Result<bool> put_blob(std::string_view repo, const Descriptor& blob, BlobReader& source,
                        const std::optional<std::string>& mount_from = std::nullopt);
  Status put_blob_bytes(std::string_view repo, const Descriptor& blob, std::string_view bytes);
  // Cross-repository mount only: true when the registry mounted it (201).
  Result<bool> mount_blob(std::string_view repo, const Descriptor& blob, std::string_view from);

 private:
  RegistryClient(std::string host, RegistryClientOptions options);

  struct Call {
    std::string method = "GET";
    std::string url;
    std::vector<std::string> headers;
    std::optional<std::string_view> body;
    std::function<Result<std::size_t>(std::span<std::byte>)> body_source;
    std::int64_t body_size = -1;
    std::function<Status(std::span<const std::byte>)> on_body;
    std::size_t max_body = 1024 * 1024;
    std::string scope;               // token scope, e.g. "repository:a/b:pull"
    bool retryable = true;           // false once a streamed body cannot be replayed
    bool foreign_redirects = false;  // blob GET/HEAD may be redirected to a storage host
    bool streaming = false;          // no total timeout
  };
  Result<TransportResponse> send(Call& call);
  // last_try: no retry follows a transient failure (so its message gets the hints).
  Result<TransportResponse> send_once(Call& call, HttpSession& session, bool& transient,
                                      bool last_try);
  std::optional<std::string> authorization(const std::string& scope, bool refresh);
  Status handle_challenge(const TransportResponse& response, const std::string& scope,
                          bool had_authorization);
  Status fetch_token(const AuthChallenge& challenge, const std::string& scope);
  std::string repo_url(std::string_view repo, std::string_view tail) const;
  Result<std::string> start_upload(std::string_view repo, std::string_view query, long& status,
                                   std::int64_t& chunk_min, std::string_view mount_from = {});
  Status upload_chunked(std::string_view repo, const Descriptor& blob, std::string location,
                        BlobReader& source, std::int64_t chunk_min);
  Error http_error(std::string_view what, const TransportResponse& response) const;
  // The line for a transport failure, with the fix for the usual TLS mistakes.
  std::string transport_message(std::string_view method, std::string_view url,
                                const TransportError& error, HttpSession& session);
  // Whether https://HOST/v2/ answers at all (certificate not checked, no credentials sent).
  bool speaks_tls(HttpSession& session);
  // url with the scheme the client uses now (a loopback host may have switched to https).
  std::string current_url(const std::string& url) const;
  void fill_request(TransportRequest& request, bool same_host) const;

  // A curl handle from the pool (returned on destruction).
  class Lease;
  std::unique_ptr<HttpSession> take_session();
  void give_back(std::unique_ptr<HttpSession> session);

  std::string host_;
  enum class Scheme { http, https, undecided };  // undecided: a loopback host, http for now
  std::atomic<Scheme> scheme_{Scheme::https};
  std::string http_base_;   // http://HOST
  std::string https_base_;  // https://HOST
  RegistryClientOptions options_;
  std::mutex sessions_mutex_;
  std::vector<std::unique_ptr<HttpSession>> sessions_;

  std::mutex auth_mutex_;
  std::optional<Credentials> credentials_;
  enum class AuthMode { none, basic, bearer } auth_mode_ = AuthMode::none;
  std::optional<AuthChallenge> bearer_challenge_;
  std::map<std::string, BearerToken> tokens_;  // by scope
};

}  // namespace mos::oci
