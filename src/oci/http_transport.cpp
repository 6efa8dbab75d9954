#include "oci/http_transport.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>

#include <curl/curl.h>

#include "core/text.hpp"

namespace mos::oci {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Exchange {
  const TransportRequest* request;
  TransportResponse response;
  std::size_t body_offset = 0;  // into request->body
  std::optional<Error> callback_error;
  bool body_started = false;
  bool too_large = false;
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    // A new response (after a 100 Continue or an intermediate answer): forget earlier headers.
    // The status is needed before the body arrives, to stream only successful bodies.
    ex->response.headers.clear();
    auto sp = line.find(' ');
    if (sp != std::string_view::npos) {
      long status = 0;
      for (std::size_t i = sp + 1;
           i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])); ++i)
        status = status * 10 + (line[i] - '0');
      ex->response.status = status;
    }
    return size * count;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos)
    ex->response.headers.emplace(to_lower_ascii(trim(line.substr(0, colon))),
                                 std::string(trim(line.substr(colon + 1))));
  return size * count;
}

std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::size_t n = size * count;
  if (ex->request->on_body && ex->response.status >= 200 && ex->response.status < 300) {
    ex->body_started = true;
    if (auto ok = ex->request->on_body(std::as_bytes(std::span(data, n))); !ok) {
      ex->callback_error = ok.error();
      return 0;
    }
    ex->response.streamed_bytes += static_cast<std::int64_t>(n);
    return n;
  }
  if (ex->response.body.size() + n > ex->request->max_body) {
    ex->too_large = true;
    return 0;
  }
  ex->response.body.append(data, n);
  return n;
}

std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::size_t n = size * count;
  const auto& req = *ex->request;
  if (req.body) {
    std::size_t left = req.body->size() - ex->body_offset;
    std::size_t take = std::min(left, n);
    std::copy_n(req.body->data() + ex->body_offset, take, buffer);
    ex->body_offset += take;
    return take;
  }
  auto got = req.body_source(std::as_writable_bytes(std::span(buffer, n)));
  if (!got) {
    ex->callback_error = got.error();
    return CURL_READFUNC_ABORT;
  }
  return *got;
}

// The curl code and OpenSSL's words sorted into what the registry client gives hints for.
TransportFailure failure_kind(CURLcode code, std::string_view message, std::string_view url) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
      return TransportFailure::connect;
    case CURLE_PEER_FAILED_VERIFICATION:
      return TransportFailure::tls_certificate;
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return TransportFailure::tls_ca_file;
    case CURLE_SSL_CONNECT_ERROR: {
      // What OpenSSL says when the first bytes back are not a TLS record (an HTTP answer).
      std::string lower = to_lower_ascii(message);
      for (std::string_view words : {"wrong version number", "packet length too long",
                                     "record layer failure", "unknown protocol", "http request"})
        if (lower.find(words) != std::string::npos) return TransportFailure::tls_protocol;
      return TransportFailure::other;
    }
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:  // "Received HTTP/0.9 when not allowed": TLS bytes
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
      return url.starts_with("http://") ? TransportFailure::not_http : TransportFailure::other;
    default:
      return TransportFailure::other;
  }
}

}  // namespace

std::optional<std::string> TransportResponse::header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> TransportResponse::header_values(std::string_view lower_name) const {
  std::vector<std::string> out;
  auto [from, to] = headers.equal_range(std::string(lower_name));
  for (auto it = from; it != to; ++it) out.push_back(it->second);
  return out;
}

HttpSession::HttpSession() {
  global_init();
  curl_ = curl_easy_init();
}

HttpSession::~HttpSession() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

std::expected<TransportResponse, TransportError> HttpSession::perform(
    const TransportRequest& request) {
  auto* curl = static_cast<CURL*>(curl_);
  if (!curl) return std::unexpected(TransportError{"libcurl could not create a handle", false});
  curl_easy_reset(curl);
  Exchange ex{};
  ex.request = &request;
  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "mos/" MOS_VERSION);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, request.connect_timeout_seconds);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, request.stall_timeout_seconds);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, request.total_timeout_seconds);
  if (!request.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, request.ca_file.c_str());
  if (!request.verify_tls) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  curl_slist* resolve = nullptr;
  for (const auto& r : request.resolve) resolve = curl_slist_append(resolve, r.c_str());
  if (resolve) curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve);
  // Larger buffers than the 16 KiB default: fewer callbacks per GiB, still a bounded amount.
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024);
  curl_easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &ex);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &ex);

  curl_slist* headers = nullptr;
  for (const auto& h : request.headers) headers = curl_slist_append(headers, h.c_str());
  bool has_body = request.body.has_value() || static_cast<bool>(request.body_source);
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    std::int64_t size = request.body ? static_cast<std::int64_t>(request.body->size())
                        : has_body   ? request.body_size
                                     : 0;
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &ex);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
    // No "Expect: 100-continue" round trip: registries answer auth problems on the POST already.
    headers = curl_slist_append(headers, "Expect:");
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_slist_free_all(resolve);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ex.response.status);
  if (code != CURLE_OK) {
    TransportError err;
    err.body_started = ex.body_started;
    if (ex.callback_error) {
      err.message = ex.callback_error->message;
      err.callback_failed = true;
    } else if (ex.too_large) {
      err.message = fmt::format("the answer is larger than {} bytes", request.max_body - 1);
    } else {
      err.message = error_buffer[0] ? error_buffer : curl_easy_strerror(code);
      if (code == CURLE_PARTIAL_FILE)
        err.message = fmt::format("transfer cut short: {}", err.message);
      err.kind = failure_kind(code, err.message, request.url);
      switch (code) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_PARTIAL_FILE:
        case CURLE_GOT_NOTHING:
        case CURLE_SSL_CONNECT_ERROR:
          // A server that answers no TLS at all stays so: retrying cannot help.
          err.transient = err.kind != TransportFailure::tls_protocol;
          break;
        default:
          break;
      }
    }
    return std::unexpected(std::move(err));
  }
  return std::move(ex.response);
}

Result<std::string> resolve_url(std::string_view base, std::string_view location) {
  global_init();
  CURLU* u = curl_url();
  std::string b(base), l(location);
  CURLUcode rc = curl_url_set(u, CURLUPART_URL, b.c_str(), 0);
  if (rc == CURLUE_OK) rc = curl_url_set(u, CURLUPART_URL, l.c_str(), CURLU_NON_SUPPORT_SCHEME);
  char* out = nullptr;
  if (rc == CURLUE_OK) rc = curl_url_get(u, CURLUPART_URL, &out, 0);
  std::string result = out ? out : "";
  curl_free(out);
  curl_url_cleanup(u);
  if (rc != CURLUE_OK) return fail("invalid URL \"{}\": {}", location, curl_url_strerror(rc));
  return result;
}

Result<std::string> url_authority(std::string_view url) {
  global_init();
  CURLU* u = curl_url();
  std::string s(url);
  char* host = nullptr;
  char* port = nullptr;
  CURLUcode rc = curl_url_set(u, CURLUPART_URL, s.c_str(), 0);
  if (rc == CURLUE_OK) rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
  if (rc == CURLUE_OK) curl_url_get(u, CURLUPART_PORT, &port, 0);
  std::string result = host ? to_lower_ascii(host) : "";
  if (port) result += fmt::format(":{}", port);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  if (rc != CURLUE_OK) return fail("invalid URL \"{}\": {}", url, curl_url_strerror(rc));
  return result;
}

std::string url_escape(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string with_query(std::string_view url, std::string_view name, std::string_view value) {
  return fmt::format("{}{}{}={}", url, url.find('?') == std::string_view::npos ? '?' : '&', name,
                     url_escape(value));
}

}  // namespace mos::oci
