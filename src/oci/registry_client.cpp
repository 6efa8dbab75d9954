#include "oci/registry_client.hpp"

#include <arpa/inet.h>

#include <thread>

#include <spdlog/spdlog.h>

#include "core/json.hpp"
#include "core/text.hpp"
#include "oci/media_types.hpp"

namespace mos::oci {

bool is_loopback_host(std::string_view host) {
  std::string name(host);
  if (name.starts_with("[")) {
    auto close = name.find(']');
    name = close == std::string::npos ? name : name.substr(1, close - 1);
  } else if (auto colon = name.rfind(':'); colon != std::string::npos && name.find(':') == colon) {
    name = name.substr(0, colon);
  }
  if (name == "localhost" || name == "::1") return true;
  in_addr addr{};
  if (inet_pton(AF_INET, name.c_str(), &addr) == 1) return (ntohl(addr.s_addr) >> 24) == 127;
  return false;
}

class RegistryClient::Lease {
 public:
  explicit Lease(RegistryClient& client) : client_(client), session_(client.take_session()) {}
  ~Lease() { client_.give_back(std::move(session_)); }
  HttpSession& operator*() { return *session_; }

 private:
  RegistryClient& client_;
  std::unique_ptr<HttpSession> session_;
};

std::unique_ptr<HttpSession> RegistryClient::take_session() {
  std::lock_guard lock(sessions_mutex_);
  if (sessions_.empty()) return std::make_unique<HttpSession>();
  auto s = std::move(sessions_.back());
  sessions_.pop_back();
  return s;
}

void RegistryClient::give_back(std::unique_ptr<HttpSession> session) {
  std::lock_guard lock(sessions_mutex_);
  if (sessions_.size() < 8) sessions_.push_back(std::move(session));
}

namespace {

// The answer a TLS port gives to plain http: 400 with a word about https in a body that is not
// an OCI error (mos-registry "This registry speaks TLS: use https://", Go's "Client sent an
// HTTP request to an HTTPS server.", nginx's "The plain HTTP request was sent to HTTPS port").
bool answer_says_tls(const TransportResponse& response) {
  if (response.status != 400 || response.body.size() > 4096 || response.body.starts_with("{"))
    return false;
  std::string body = to_lower_ascii(response.body);
  return body.find("https") != std::string::npos || body.find("tls") != std::string::npos ||
         body.find("ssl") != std::string::npos;
}

std::string first_line(std::string_view text) {
  auto end = text.find_first_of("\r\n");
  return std::string(text.substr(0, end));
}

}  // namespace

RegistryClient::RegistryClient(std::string host, RegistryClientOptions options)
    : host_(std::move(host)), options_(std::move(options)) {
  http_base_ = fmt::format("http://{}", host_);
  https_base_ = fmt::format("https://{}", host_);
  // A CA file means the registry speaks TLS, on loopback too; other loopback registries are
  // asked in plain http first (see the header).
  if (options_.plain_http)
    scheme_ = Scheme::http;
  else if (is_loopback_host(host_) && !options_.ca_file)
    scheme_ = Scheme::undecided;
  else
    scheme_ = Scheme::https;
}

RegistryClient::~RegistryClient() = default;

std::string RegistryClient::base_url() const {
  return scheme_.load() == Scheme::https ? https_base_ : http_base_;
}

std::string RegistryClient::current_url(const std::string& url) const {
  if (scheme_.load() == Scheme::https && url.starts_with(http_base_) &&
      (url.size() == http_base_.size() || url[http_base_.size()] == '/'))
    return https_base_ + url.substr(http_base_.size());
  return url;
}

void RegistryClient::fill_request(TransportRequest& request, bool same_host) const {
  request.connect_timeout_seconds = options_.connect_timeout_seconds;
  request.stall_timeout_seconds = options_.stall_timeout_seconds;
  request.resolve = options_.resolve;
  // The registry's CA and --tls-verify=false for the registry only; a blob redirect to storage
  // or a token server elsewhere is checked with the system's CAs.
  if (same_host) {
    if (options_.ca_file) request.ca_file = options_.ca_file->string();
    request.verify_tls = options_.tls_verify;
  }
}

bool RegistryClient::speaks_tls(HttpSession& session) {
  TransportRequest probe;
  probe.url = https_base_ + "/v2/";
  fill_request(probe, true);
  probe.ca_file.clear();
  probe.verify_tls = false;  // only whether it speaks TLS at all; nothing is sent but the GET
  probe.connect_timeout_seconds = std::min(probe.connect_timeout_seconds, 10L);
  probe.total_timeout_seconds = 10;
  spdlog::debug("GET {} (does it speak TLS?)", probe.url);
  return session.perform(probe).has_value();
}

std::string RegistryClient::transport_message(std::string_view method, std::string_view url,
                                              const TransportError& error, HttpSession& session) {
  std::string line = fmt::format("{} {}: {}", method, url, error.message);
  bool ours = url.starts_with(http_base_) || url.starts_with(https_base_);
  switch (error.kind) {
    case TransportFailure::tls_certificate:
      if (options_.ca_file)
        return fmt::format(
            "{}: the certificate of {} is not signed by the CA in {} (or not made for that "
            "name): give the CA that signed it with --cacert FILE (or use --tls-verify=false)",
            line, host_, options_.ca_file->string());
      return fmt::format(
          "{}: the TLS certificate of {} is not trusted (self-signed or from an unknown CA): use "
          "--cacert FILE with the CA that signed it (or --tls-verify=false)",
          line, host_);
    case TransportFailure::tls_ca_file:
      if (options_.ca_file && ours)
        return fmt::format("{}: --cacert {} holds no usable PEM CA certificate", line,
                           options_.ca_file->string());
      break;
    case TransportFailure::tls_protocol:
      if (ours)
        return fmt::format(
            "{}: {} does not speak TLS: for a plain http registry use --plain-http{}", line, host_,
            options_.ca_file ? " instead of --cacert" : "");
      break;
    case TransportFailure::not_http:
      if (options_.plain_http && url.starts_with(http_base_) && speaks_tls(session))
        return fmt::format(
            "{}: {} speaks TLS, not plain http: drop --plain-http/--insecure (for a self-signed "
            "certificate use --cacert FILE or --tls-verify=false)",
            line, host_);
      break;
    default:
      break;
  }
  return line;
}

bool RegistryClient::asked_for_credentials() {
  std::lock_guard lock(auth_mutex_);
  return auth_mode_ != AuthMode::none;
}

Result<std::shared_ptr<RegistryClient>> RegistryClient::create(std::string host,
                                                               RegistryClientOptions options) {
  if (host.empty()) return fail("empty registry host");
  if (options.plain_http && options.ca_file)
    return fail("--cacert (https) and --plain-http exclude each other");
  if (options.plain_http && !options.tls_verify)
    return fail("--tls-verify=false (https) and --plain-http exclude each other");
  if (options.ca_file && !options.tls_verify)
    return fail("--cacert and --tls-verify=false exclude each other (the CA would not be used)");
  std::shared_ptr<RegistryClient> client(new RegistryClient(host, options));
  if (options.username || options.password) {
    if (!options.username || !options.password)
      return fail("credentials for {} need both a user name and a password", host);
    client->credentials_ = Credentials{*options.username, *options.password};
  } else {
    MOS_TRY_ASSIGN(client->credentials_, find_credentials(host, options.authfile));
  }
  return client;
}

std::string RegistryClient::repo_url(std::string_view repo, std::string_view tail) const {
  return fmt::format("{}/v2/{}/{}", base_url(), repo, tail);
}

Error RegistryClient::http_error(std::string_view what, const TransportResponse& response) const {
  return Error{
      fmt::format("{}: {}", what, describe_registry_error(response.status, response.body))};
}

std::optional<std::string> RegistryClient::authorization(const std::string& scope, bool refresh) {
  std::lock_guard lock(auth_mutex_);
  if (auth_mode_ == AuthMode::basic && credentials_) return basic_authorization(*credentials_);
  if (auth_mode_ == AuthMode::bearer) {
    auto it = tokens_.find(scope);
    if (it != tokens_.end() && (refresh || it->second.expires > std::chrono::steady_clock::now()))
      return "Bearer " + it->second.token;
  }
  return std::nullopt;
}

Status RegistryClient::fetch_token(const AuthChallenge& challenge, const std::string& scope) {
  auto realm = challenge.params.find("realm");
  if (realm == challenge.params.end() || realm->second.empty())
    return fail("{} asked for a Bearer token without naming a realm", host_);
  std::string url = realm->second;
  if (auto service = challenge.params.find("service"); service != challenge.params.end())
    url = with_query(url, "service", service->second);
  // The challenge's scope is what this request needs; ours may add the source of a mount.
  std::string scopes = scope;
  if (auto s = challenge.params.find("scope");
      s != challenge.params.end() && scopes.find(s->second) == std::string::npos)
    scopes = s->second + (scopes.empty() ? "" : " " + scopes);
  std::string_view rest(scopes);
  while (!rest.empty()) {
    auto sp = rest.find(' ');
    if (sp != 0) url = with_query(url, "scope", rest.substr(0, sp));
    if (sp == std::string_view::npos) break;
    rest.remove_prefix(sp + 1);
  }
  TransportRequest req;
  req.url = url;
  MOS_TRY_ASSIGN(auto realm_host, url_authority(url));
  // The registry's CA, for the registry's host only: a token server elsewhere has its own.
  fill_request(req, realm_host == url_authority(base_url()).value_or(""));
  req.total_timeout_seconds = options_.request_timeout_seconds;
  bool secure_realm =
      url.starts_with("https://") || is_loopback_host(realm_host) || options_.plain_http;
  std::optional<Credentials> creds;
  {
    std::lock_guard lock(auth_mutex_);
    creds = credentials_;
  }
  if (creds && secure_realm) req.headers.push_back("Authorization: " + basic_authorization(*creds));
  spdlog::debug("GET {} (token for {})", url, scopes);
  Lease lease(*this);
  auto response = (*lease).perform(req);
  if (!response)
    return fail("getting a token from {}: {}", realm->second,
                transport_message("GET", url, response.error(), *lease));
  if (response->status == 401 || response->status == 403)
    return fail(
        "{} refused a token for {}: {}{}", realm->second, scopes,
        describe_registry_error(response->status, response->body),
        creds ? " (wrong credentials?)" : " (no credentials given: use --creds or --authfile)");
  if (response->status != 200)
    return fail("getting a token from {}: {}", realm->second,
                describe_registry_error(response->status, response->body));
  auto token = parse_token_response(response->body, std::chrono::steady_clock::now());
  if (!token) return context(fmt::format("token from {}", realm->second), token.error());
  std::lock_guard lock(auth_mutex_);
  tokens_[scope] = std::move(*token);
  return {};
}

Status RegistryClient::handle_challenge(const TransportResponse& response, const std::string& scope,
                                        bool had_authorization) {
  auto header = response.header("www-authenticate");
  if (!header) return fail("{} answered 401 without a WWW-Authenticate challenge", host_);
  MOS_TRY_ASSIGN(auto challenges, parse_www_authenticate(*header));
  const AuthChallenge* bearer = nullptr;
  const AuthChallenge* basic = nullptr;
  for (const auto& c : challenges) {
    if (c.scheme == "bearer" && !bearer) bearer = &c;
    if (c.scheme == "basic" && !basic) basic = &c;
  }
  if (bearer) {
    {
      std::lock_guard lock(auth_mutex_);
      if (auth_mode_ == AuthMode::bearer && had_authorization) {
        // A token we sent was refused: a fresh one is fetched once; a second refusal is final.
        tokens_.erase(scope);
      }
      auth_mode_ = AuthMode::bearer;
      bearer_challenge_ = *bearer;
    }
    return fetch_token(*bearer, scope);
  }
  if (basic) {
    std::lock_guard lock(auth_mutex_);
    if (!credentials_)
      return fail(
          "{} requires authentication; no credentials given (use --creds USER:PASS, --authfile "
          "FILE or mosb login)",
          host_);
    if (had_authorization && auth_mode_ == AuthMode::basic)
      return fail("{} refused the credentials of user \"{}\" (wrong user name or password)", host_,
                  credentials_->username);
    auth_mode_ = AuthMode::basic;
    return {};
  }
  return fail("{} asks for an unsupported authentication scheme: {}", host_, *header);
}

Result<TransportResponse> RegistryClient::send_once(Call& call, HttpSession& session,
                                                    bool& transient, bool last_try) {
  transient = false;
  std::string url = current_url(call.url);
  bool same_host = true;
  int auth_rounds = 0;
  for (int hop = 0; hop < 10; ++hop) {
    TransportRequest req;
    req.method = call.method;
    req.url = url;
    req.headers = call.headers;
    req.body = call.body;
    req.body_source = call.body_source;
    req.body_size = call.body_size;
    req.on_body = call.on_body;
    req.max_body = call.max_body;
    fill_request(req, same_host);
    req.total_timeout_seconds = call.streaming ? 0 : options_.request_timeout_seconds;
    std::optional<std::string> auth;
    if (same_host) auth = authorization(call.scope, false);
    if (auth) req.headers.push_back("Authorization: " + *auth);
    spdlog::debug("{} {}", req.method, req.url);
    auto response = session.perform(req);
    if (same_host && scheme_.load() == Scheme::undecided && url.starts_with(http_base_)) {
      // A loopback host not asked before: does it answer plain http, or is it a TLS port?
      bool tls_hint = response ? answer_says_tls(*response)
                               : response.error().kind == TransportFailure::not_http;
      if (!tls_hint) {
        if (response) {
          Scheme expected = Scheme::undecided;
          if (scheme_.compare_exchange_strong(expected, Scheme::http))
            spdlog::debug("{} answers plain http: using http", host_);
        }
      } else if (!call.body_source) {  // (a streamed body cannot be sent twice)
        TransportRequest tls = req;
        tls.url = https_base_ + url.substr(http_base_.size());
        tls.connect_timeout_seconds = std::min(tls.connect_timeout_seconds, 10L);
        spdlog::debug("{} {} (no plain http answer: trying TLS)", tls.method, tls.url);
        auto second = session.perform(tls);
        if (second || second.error().kind == TransportFailure::tls_certificate ||
            second.error().kind == TransportFailure::tls_ca_file) {
          scheme_ = Scheme::https;  // it speaks TLS (whether its certificate is trusted or not)
          spdlog::debug("{} speaks TLS: using https", host_);
          url = tls.url;
          response = std::move(second);
        } else {
          scheme_ = Scheme::http;  // no TLS either: the plain answer stands
        }
      }
    }
    if (!response) {
      transient = response.error().transient && !response.error().body_started &&
                  !response.error().callback_failed;
      if (response.error().callback_failed) return std::unexpected(Error{response.error().message});
      if (transient && !last_try)  // retried: the hints (and their probe) wait for the last try
        return fail("{} {}: {}", call.method, url, response.error().message);
      return std::unexpected(Error{transport_message(call.method, url, response.error(), session)});
    }
    long status = response->status;
    if (same_host && options_.plain_http && answer_says_tls(*response))
      return fail(
          "{} {}: answered {} \"{}\": {} speaks TLS, not plain http: drop --plain-http/--insecure "
          "(for a self-signed certificate use --cacert FILE or --tls-verify=false)",
          call.method, url, status, first_line(response->body), host_);
    // Warning: 299 headers are for the user (distribution-spec), never acted upon.
    for (const auto& warning : response->header_values("warning"))
      if (warning.starts_with("299")) spdlog::warn("{}: {}", host_, warning);
    if (status == 401 && same_host && auth_rounds < 2) {
      if (call.body_source) {
        // A streamed body cannot be sent twice; uploads authenticate on their POST first.
        return fail("{} asked for authentication in the middle of an upload", host_);
      }
      ++auth_rounds;
      MOS_TRY(handle_challenge(*response, call.scope, auth.has_value()));
      continue;
    }
    if (status == 401) {
      return fail(
          "{} refused access ({}){}", host_, describe_registry_error(status, response->body),
          credentials_ ? ""
                       : "; no credentials given (use --creds USER:PASS, --authfile FILE or mosb "
                         "login)");
    }
    if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
      auto location = response->header("location");
      if (!location) return fail("{} answered {} without a Location", host_, status);
      MOS_TRY_ASSIGN(auto next, resolve_url(url, *location));
      MOS_TRY_ASSIGN(auto authority, url_authority(next));
      MOS_TRY_ASSIGN(auto ours, url_authority(base_url()));
      if (authority != ours) {
        if (!call.foreign_redirects)
          return fail("{} redirected {} {} to another host ({}); refusing to follow", host_,
                      call.method, url, authority);
        same_host = false;  // no credentials leave for another host
      }
      if (call.body || call.body_source)
        return fail("{} redirected an upload ({}); refusing", host_, url);
      url = std::move(next);
      continue;
    }
    if ((status >= 500 || status == 429) && !call.body_source) {
      transient = true;
      return std::unexpected(http_error(fmt::format("{} {}", call.method, url), *response));
    }
    return std::move(*response);
  }
  return fail("{} {}: too many redirects or authentication rounds", call.method, call.url);
}

Result<TransportResponse> RegistryClient::send(Call& call) {
  Lease lease(*this);
  auto delay = options_.retry_delay;
  for (int attempt = 1;; ++attempt) {
    bool transient = false;
    auto response =
        send_once(call, *lease, transient, !call.retryable || attempt >= options_.max_attempts);
    if (response || !transient || !call.retryable || attempt >= options_.max_attempts)
      return response;
    spdlog::debug("retrying after a transient failure ({}): {}", attempt, response.error().message);
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

Status RegistryClient::ping() {
  Call call;
  call.url = base_url() + "/v2/";
  auto response = send(call);
  if (!response) return context(fmt::format("connecting to registry {}", host_), response.error());
  if (response->status != 200)
    return fail("{} does not answer as a registry at {}/v2/: {}", host_, base_url(),
                describe_registry_error(response->status, response->body));
  return {};
}

namespace {
std::string pull_scope(std::string_view repo) {
  return fmt::format("repository:{}:pull", repo);
}
std::string push_scope(std::string_view repo) {
  return fmt::format("repository:{}:pull,push", repo);
}
}  // namespace

Result<std::optional<Descriptor>> RegistryClient::head_manifest(std::string_view repo,
                                                                std::string_view reference) {
  Call call;
  call.method = "HEAD";
  call.url = repo_url(repo, fmt::format("manifests/{}", reference));
  call.headers = {fmt::format("Accept: {}", media_type::kManifestAccept)};
  call.scope = pull_scope(repo);
  auto what = fmt::format("resolving {}/{}:{}", host_, repo, reference);
  MOS_TRY_ASSIGN(auto response, with_context(send(call), what));
  if (response.status == 404) return std::nullopt;
  if (response.status != 200) return std::unexpected(http_error(what, response));
  auto digest_text = response.header("docker-content-digest");
  auto type = response.header("content-type");
  auto length = response.header("content-length");
  if (!digest_text || !type || !length) {
    // Not enough to describe it: fetch the bytes instead.
    MOS_TRY_ASSIGN(auto doc, get_manifest(repo, reference));
    return doc.descriptor();
  }
  auto digest = Digest::parse(*digest_text);
  if (!digest) return fail("{}: bad Docker-Content-Digest: {}", what, digest.error().message);
  Descriptor d;
  d.media_type = *type;
  d.digest = *digest;
  auto size = parse_unsigned(*length, INT64_MAX);
  if (!size) return fail("{}: bad Content-Length \"{}\"", what, *length);
  d.size = static_cast<std::int64_t>(*size);
  return d;
}

Result<Document> RegistryClient::get_manifest(std::string_view repo, std::string_view reference) {
  Call call;
  call.url = repo_url(repo, fmt::format("manifests/{}", reference));
  call.headers = {fmt::format("Accept: {}", media_type::kManifestAccept)};
  call.scope = pull_scope(repo);
  call.max_body = kMaxManifestBytes;
  auto what = fmt::format("fetching manifest {}/{}:{}", host_, repo, reference);
  auto wrap = [&](Error e) { return Error{what + ": " + e.message}; };
  MOS_TRY_ASSIGN(auto response, with_context(send(call), what));
  if (response.status != 200) return std::unexpected(http_error(what, response));
  auto type = response.header("content-type").value_or("");
  if (auto semi = type.find(';'); semi != std::string::npos) type.resize(semi);
  auto doc = make_document(std::move(response.body), type);
  if (!doc) return std::unexpected(wrap(doc.error()));
  if (auto expected = Digest::parse(reference); expected) {
    auto got = digest_of(doc->bytes, expected->algorithm());
    if (got != *expected)
      return fail("{}: the registry sent bytes with digest {}", what, got.str());
  }
  if (auto header = response.header("docker-content-digest")) {
    auto announced = Digest::parse(*header);
    if (announced && announced->algorithm() == doc->digest.algorithm() && *announced != doc->digest)
      return fail("{}: Docker-Content-Digest says {} but the bytes have digest {}", what, *header,
                  doc->digest.str());
  }
  return doc;
}

Result<RegistryClient::ManifestPushed> RegistryClient::put_manifest(std::string_view repo,
                                                                    std::string_view reference,
                                                                    const Document& doc) {
  Call call;
  call.method = "PUT";
  call.url = repo_url(repo, fmt::format("manifests/{}", reference));
  call.headers = {fmt::format("Content-Type: {}", doc.media_type)};
  call.body = doc.bytes;
  call.scope = push_scope(repo);
  auto what =
      fmt::format("pushing manifest {} to {}/{}:{}", doc.digest.str(), host_, repo, reference);
  MOS_TRY_ASSIGN(auto response, with_context(send(call), what));
  if (response.status != 201 && response.status != 200 && response.status != 202)
    return std::unexpected(http_error(what, response));
  ManifestPushed out;
  out.subject_acknowledged = response.header("oci-subject").has_value();
  return out;
}

Result<std::vector<std::string>> RegistryClient::list_tags(std::string_view repo) {
  std::vector<std::string> tags;
  std::string url = repo_url(repo, "tags/list");
  auto what = fmt::format("listing tags of {}/{}", host_, repo);
  for (int page = 0; page < 10000; ++page) {
    Call call;
    call.url = url;
    call.scope = pull_scope(repo);
    call.max_body = 16 * 1024 * 1024;
    MOS_TRY_ASSIGN(auto response, with_context(send(call), what));
    if (response.status != 200) return std::unexpected(http_error(what, response));
    auto json = parse_json_strict(response.body, "tag list", {.max_bytes = 16 * 1024 * 1024});
    if (!json || !json->is_object()) return fail("{}: the answer is not a JSON object", what);
    if (auto it = json->find("tags"); it != json->end() && !it->is_null()) {
      if (!it->is_array()) return fail("{}: \"tags\" is not a list", what);
      for (const auto& t : *it) {
        if (!t.is_string()) return fail("{}: a tag is not a string", what);
        tags.push_back(t.get<std::string>());
      }
    }
    auto link = response.header("link");
    if (!link) return tags;
    MOS_TRY_ASSIGN(auto next, with_context(parse_next_link(*link), what));
    if (!next) return tags;
    MOS_TRY_ASSIGN(url, resolve_url(url, *next));
  }
  return fail("{}: more than 10000 pages", what);
}

Result<std::optional<std::vector<Descriptor>>> RegistryClient::referrers_api(
    std::string_view repo, const Digest& subject, const std::optional<std::string>& artifact_type) {
  std::vector<Descriptor> out;
  std::string url = repo_url(repo, fmt::format("referrers/{}", subject.str()));
  if (artifact_type) url = with_query(url, "artifactType", *artifact_type);
  auto what = fmt::format("listing referrers of {}/{}@{}", host_, repo, subject.str());
  bool filtered = true;
  for (int page = 0; page < 10000; ++page) {
    Call call;
    call.url = url;
    call.headers = {fmt::format("Accept: {}", media_type::kImageIndex)};
    call.scope = pull_scope(repo);
    call.max_body = kMaxManifestBytes;
    MOS_TRY_ASSIGN(auto response, with_context(send(call), what));
    // No referrers API (Docker's registry answers a plain-text routing 404).
    if (response.status == 404 && page == 0) return std::nullopt;
    if (response.status != 200) return std::unexpected(http_error(what, response));
    auto index = parse_image_index(response.body);
    if (!index) return fail("{}: {}", what, index.error().message);
    auto applied = response.header("oci-filters-applied").value_or("");
    if (artifact_type && applied.find("artifactType") == std::string::npos) filtered = false;
    for (auto& d : index->manifests) out.push_back(std::move(d));
    auto link = response.header("link");
    if (!link) break;
    MOS_TRY_ASSIGN(auto next, with_context(parse_next_link(*link), what));
    if (!next) break;
    MOS_TRY_ASSIGN(url, resolve_url(url, *next));
  }
  if (!filtered) out = filter_referrers(std::move(out), artifact_type);
  return out;
}

}  // namespace mos::oci
