#pragma once
// One libcurl easy handle and the HTTP exchanges the registry client makes with it. Bodies are
// either small strings (manifests, JSON, error bodies; bounded) or streamed through callbacks
// (blobs), so memory stays bounded whatever the transfer size. Redirects are never followed
// here: the registry client decides per request whether the target host is acceptable.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace mos::oci {

struct TransportRequest {
  std::string method = "GET";  // GET HEAD PUT POST PATCH DELETE
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // Request body: either small bytes in memory, or a pull source of body_size bytes
  // (returning 0 at the end; an error aborts the transfer).
  std::optional<std::string_view> body;
  std::function<Result<std::size_t>(std::span<std::byte>)> body_source;
  std::int64_t body_size = -1;
  // Response body: streamed to on_body when set (2xx answers only), else kept in memory up to
  // max_body bytes (larger bodies are an error).
  std::function<Status(std::span<const std::byte>)> on_body;
  std::size_t max_body = 4 * 1024 * 1024 + 1;
  long connect_timeout_seconds = 30;
  // A transfer slower than 1 byte/s for this long is abandoned (big blobs have no total limit).
  long stall_timeout_seconds = 60;
  // Total limit for small exchanges; 0 = none (streamed blobs).
  long total_timeout_seconds = 0;
  // https: trust the CAs in this PEM file instead of the system's (a private registry's CA).
  std::string ca_file;
  // https: check the server's certificate and name (off: --tls-verify=false; still encrypted).
  bool verify_tls = true;
  // "HOST:PORT:ADDRESS" entries, as curl's --resolve: connect there instead of asking DNS.
  std::vector<std::string> resolve;
};

struct TransportResponse {
  long status = 0;
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string body;                                 // when not streamed (or a non-2xx answer)
  std::int64_t streamed_bytes = 0;

  std::optional<std::string> header(std::string_view lower_name) const;
  std::vector<std::string> header_values(std::string_view lower_name) const;
};

// What kind of transport failure it was, for the registry client's hints (--plain-http,
// --cacert, --tls-verify=false).
enum class TransportFailure {
  other,
  connect,          // no connection (refused, unresolvable host)
  not_http,         // http:// answered with bytes that are no HTTP, or nothing (a TLS port?)
  tls_protocol,     // https:// answered with bytes that are no TLS ("wrong version number")
  tls_certificate,  // the server's certificate did not verify (unknown CA, self-signed, name)
  tls_ca_file,      // the CA file given could not be used
};

// A transport failure (no HTTP answer, or a transfer cut short): connect errors, timeouts,
// truncated bodies. `transient` says whether retrying may help.
struct TransportError {
  std::string message;
  bool transient = false;
  TransportFailure kind = TransportFailure::other;
  bool body_started = false;     // bytes already reached on_body (a retry would repeat them)
  bool callback_failed = false;  // the body source/sink reported the error (kept in message)
};

class HttpSession {
 public:
  HttpSession();
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  std::expected<TransportResponse, TransportError> perform(const TransportRequest& request);

 private:
  void* curl_;  // CURL*
};

// URL helpers (libcurl's URL parser).
// Resolves `location` (absolute, or relative to `base`) to an absolute URL.
Result<std::string> resolve_url(std::string_view base, std::string_view location);
// "host:port" of an absolute URL (port included only when present in the URL), lower-cased.
Result<std::string> url_authority(std::string_view url);
std::string url_escape(std::string_view text);
// Appends "name=value" (value escaped) to a URL that may already carry a query.
std::string with_query(std::string_view url, std::string_view name, std::string_view value);

}  // namespace mos::oci
