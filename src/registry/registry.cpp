// Registry: dispatch, manifests, blobs (GET/HEAD/DELETE), tags, referrers and the catalog.
// Uploads are in uploads.cpp.
#include "registry/registry.hpp"

#include <algorithm>
#include <charconv>

#include <spdlog/spdlog.h>

#include "core/json.hpp"
#include "core/text.hpp"
#include "oci/media_types.hpp"
#include "oci/reference.hpp"

namespace mos::registry {

namespace {

constexpr std::string_view kJson = "application/json";

HttpResponse json_response(int status, const OrderedJson& body) {
  HttpResponse r;
  r.status = status;
  r.body = oci::encode_compact(body);
  r.set("Content-Type", std::string(kJson));
  return r;
}

std::optional<std::size_t> parse_count(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  auto n = parse_unsigned(*text, SIZE_MAX);
  if (!n) return std::nullopt;
  return static_cast<std::size_t>(*n);
}

// Applies n/last pagination to a sorted list; sets `more` when entries remain after the page.
std::vector<std::string> paginate(const std::vector<std::string>& all, const Query& query,
                                  bool& more, bool& bad_n) {
  more = false;
  bad_n = false;
  auto last = query.get("last");
  auto begin = all.begin();
  if (last) begin = std::upper_bound(all.begin(), all.end(), *last);
  std::vector<std::string> page(begin, all.end());
  if (auto n_text = query.get("n")) {
    auto n = parse_count(n_text);
    if (!n) {
      bad_n = true;
      return {};
    }
    if (page.size() > *n) {
      page.resize(*n);
      more = *n > 0;
    }
  }
  return page;
}

struct ByteRange {
  std::uint64_t first = 0, length = 0;
};

// "bytes=A-B", "bytes=A-", "bytes=-N" against a blob of size; nullopt = not satisfiable,
// a full range for forms we do not serve partially (several ranges).
std::optional<ByteRange> parse_range(std::string_view header, std::uint64_t size, bool& partial) {
  partial = false;
  if (!header.starts_with("bytes=") || header.find(',') != std::string_view::npos)
    return ByteRange{0, size};
  std::string_view spec = header.substr(6);
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto a = parse_unsigned(spec.substr(0, dash)), b = parse_unsigned(spec.substr(dash + 1));
  partial = true;
  if (!a && b) {  // suffix: the last b bytes
    if (*b == 0 || size == 0) return std::nullopt;
    std::uint64_t n = std::min(*b, size);
    return ByteRange{size - n, n};
  }
  if (!a || *a >= size) return std::nullopt;
  std::uint64_t last = b ? std::min(*b, size - 1) : size - 1;
  if (b && *b < *a) return std::nullopt;
  return ByteRange{*a, last - *a + 1};
}

}  // namespace

HttpResponse error_response(int status, std::string_view code, std::string_view message,
                            std::string_view detail) {
  OrderedJson e = OrderedJson::object();
  e["code"] = code;
  e["message"] = message;
  if (!detail.empty()) e["detail"] = detail;
  OrderedJson body = OrderedJson::object();
  body["errors"] = OrderedJson::array({e});
  return json_response(status, body);
}

Registry::Registry(oci::LayoutRoot root, RegistryPolicy options)
    : root_(std::move(root)), options_(options), manifests_(root_.root()) {}
Registry::~Registry() = default;

bool Registry::streams_body(std::string_view method, const Route& route) {
  if (route.endpoint == Endpoint::upload) return method == "PATCH" || method == "PUT";
  if (route.endpoint == Endpoint::upload_start)
    return method == "POST" && route.query.get("digest").has_value();
  return false;
}

bool Registry::credentials_check_is_slow(const HttpRequest& request) const {
  if (!options_.authenticator || request.credentials_accepted) return false;
  auto header = request.header("authorization");
  if (!header) return false;
  auto credentials = parse_basic_authorization(*header);
  return credentials && !credentials->user.empty() &&
         !options_.authenticator->remembers(credentials->user, credentials->password);
}

bool Registry::accepts_credentials(const HttpRequest& request) const {
  if (!options_.authenticator) return true;
  if (request.credentials_accepted) return *request.credentials_accepted;
  auto header = request.header("authorization");
  if (!header) return false;
  auto credentials = parse_basic_authorization(*header);
  return credentials && !credentials->user.empty() &&
         options_.authenticator->verify(credentials->user, credentials->password);
}

std::optional<HttpResponse> Registry::refuse_unauthenticated(const HttpRequest& request) const {
  if (!options_.authenticator || accepts_credentials(request)) return std::nullopt;
  bool anonymous = true;  // no header, or one without a user name (skopeo's "Basic Og==")
  if (auto header = request.header("authorization")) {
    auto credentials = parse_basic_authorization(*header);
    anonymous = credentials && credentials->user.empty();
    if (!anonymous)
      spdlog::debug("refused the credentials{}",
                    credentials ? fmt::format(" of user \"{}\"", credentials->user)
                                : std::string(" (malformed)"));
  }
  // The answer names no user: the body must stay valid UTF-8 whatever the client sent.
  auto r = error_response(401, "UNAUTHORIZED",
                          anonymous ? "authentication required" : "invalid user name or password");
  r.set("WWW-Authenticate", fmt::format("Basic realm=\"{}\"", kAuthRealm));
  r.set("Docker-Distribution-API-Version", "registry/2.0");
  return r;
}

HttpResponse Registry::handle(const HttpRequest& request, const Route& route) {
  if (auto refused = refuse_unauthenticated(request)) return std::move(*refused);
  const std::string& m = request.method;
  auto not_allowed = [&] {
    return error_response(405, "UNSUPPORTED", fmt::format("{} is not supported here", m));
  };
  if (route.endpoint != Endpoint::base && route.endpoint != Endpoint::catalog &&
      route.endpoint != Endpoint::unknown && !oci::is_valid_repository_name(route.name))
    return error_response(400, "NAME_INVALID", "invalid repository name", route.name);
  switch (route.endpoint) {
    case Endpoint::base:
      if (m != "GET" && m != "HEAD") return not_allowed();
      return json_response(200, OrderedJson::object())
          .set("Docker-Distribution-API-Version", "registry/2.0");
    case Endpoint::catalog:
      if (m != "GET") return not_allowed();
      return catalog(route);
    case Endpoint::tags:
      if (m != "GET") return not_allowed();
      return tags(route);
    case Endpoint::manifest:
      if (m == "GET" || m == "HEAD") return get_manifest(request, route, m == "HEAD");
      if (m == "PUT") return put_manifest(request, route);
      if (m == "DELETE") return delete_manifest(route);
      return not_allowed();
    case Endpoint::blob:
      if (m == "GET" || m == "HEAD") return get_blob(request, route, m == "HEAD");
      if (m == "DELETE") return delete_blob(route);
      return not_allowed();
    case Endpoint::referrers:
      if (m != "GET") return not_allowed();
      return referrers(route);
    case Endpoint::upload_start:
      if (m != "POST") return not_allowed();
      return start_upload(route);
    case Endpoint::upload:
      if (m == "GET") return upload_status(route);
      if (m == "DELETE") return cancel_upload(route);
      return not_allowed();
    case Endpoint::unknown:
      break;
  }
  return error_response(404, "NOT_FOUND", "no such endpoint", request.target);
}

// ---- manifests ----

HttpResponse Registry::get_manifest(const HttpRequest&, const Route& route, bool head) {
  auto answer = [&](std::string bytes, const std::string& media_type, const std::string& digest) {
    HttpResponse r;
    r.head = head;
    r.body = std::move(bytes);
    r.set("Content-Type", media_type);
    r.set("Docker-Content-Digest", digest);
    r.set("ETag", fmt::format("\"{}\"", digest));
    return r;
  };
  if (auto cached = manifests_.find(route.name, route.reference))
    return answer(cached->bytes, cached->media_type, cached->digest);
  if (!root_.has_repository(route.name))
    return error_response(404, "NAME_UNKNOWN", "repository not known", route.name);
  if (route.reference.find(':') != std::string::npos) {
    if (!oci::Digest::parse(route.reference))
      return error_response(400, "DIGEST_INVALID", "invalid digest", route.reference);
  } else if (!oci::is_valid_tag(route.reference)) {
    return error_response(400, "MANIFEST_INVALID", "invalid tag", route.reference);
  }
  // Watched before the store is read: a change from here on is never cached.
  auto generation = manifests_.prepare(route.name);
  auto store = root_.repository(route.name, false);
  if (!store) return error_response(500, "UNKNOWN", store.error().message);
  auto found = (*store)->find_manifest(route.reference);
  if (!found) return error_response(500, "UNKNOWN", found.error().message);
  if (!*found) return error_response(404, "MANIFEST_UNKNOWN", "manifest unknown", route.reference);
  auto doc = (*store)->get_manifest((*found)->digest.str());
  if (!doc) return error_response(500, "UNKNOWN", doc.error().message);
  std::string digest = doc->digest.str();
  if (generation)
    manifests_.store(route.name, route.reference, {doc->bytes, doc->media_type, digest},
                     *generation);
  return answer(std::move(doc->bytes), doc->media_type, digest);
}

HttpResponse Registry::put_manifest(const HttpRequest& request, const Route& route) {
  if (request.body.size() > oci::kMaxManifestBytes)
    return error_response(413, "SIZE_INVALID",
                          fmt::format("manifests are limited to {} bytes", oci::kMaxManifestBytes));
  std::optional<oci::Digest> by_digest;
  std::optional<std::string> tag;
  if (route.reference.find(':') != std::string::npos) {
    auto d = oci::Digest::parse(route.reference);
    if (!d) return error_response(400, "DIGEST_INVALID", "invalid digest", route.reference);
    by_digest = *d;
  } else if (!oci::is_valid_tag(route.reference)) {
    return error_response(400, "MANIFEST_INVALID", "invalid tag", route.reference);
  } else {
    tag = route.reference;
  }
  std::string content_type(request.header("content-type").value_or(""));
  if (auto semi = content_type.find(';'); semi != std::string::npos) content_type.resize(semi);
  auto doc = oci::make_document(request.body, content_type);
  if (!doc) return error_response(400, "MANIFEST_INVALID", "manifest invalid", doc.error().message);
  if (!content_type.empty() && content_type != doc->media_type)
    return error_response(
        400, "MANIFEST_INVALID", "Content-Type does not match the manifest's mediaType",
        fmt::format("Content-Type {}, mediaType {}", content_type, doc->media_type));
  if (by_digest) {
    auto actual = oci::digest_of(request.body, by_digest->algorithm());
    if (actual != *by_digest)
      return error_response(400, "DIGEST_INVALID",
                            "the manifest does not have the digest it was pushed by",
                            fmt::format("expected {}, got {}", by_digest->str(), actual.str()));
    doc->digest = actual;
  }
  auto store = root_.repository(route.name, true);
  if (!store)
    return error_response(400, "NAME_INVALID", "cannot use repository", store.error().message);
  auto missing = (*store)->missing_blobs(*doc);
  if (!missing)
    return error_response(400, "MANIFEST_INVALID", "manifest invalid", missing.error().message);
  if (!missing->empty())
    return error_response(400, "MANIFEST_BLOB_UNKNOWN",
                          "manifest references a blob not in the repository",
                          missing->front().str());
  auto put = (*store)->put_manifest(*doc, tag);
  if (!put && put.error().message.find("MANIFEST_BLOB_UNKNOWN") != std::string::npos)
    return error_response(400, "MANIFEST_BLOB_UNKNOWN",
                          "manifest references a blob not in the repository", put.error().message);
  if (!put) return error_response(500, "UNKNOWN", put.error().message);
  HttpResponse r;
  r.status = 201;
  r.set("Location", fmt::format("/v2/{}/manifests/{}", route.name, doc->digest.str()));
  r.set("Docker-Content-Digest", doc->digest.str());
  // The subject (if any) comes from the document we just validated.
  std::optional<oci::Descriptor> subject;
  if (doc->is_index()) {
    if (auto i = oci::parse_image_index(doc->bytes)) subject = i->subject;
  } else if (auto mf = oci::parse_image_manifest(doc->bytes)) {
    subject = mf->subject;
  }
  if (subject) r.set("OCI-Subject", subject->digest.str());
  return r;
}

HttpResponse Registry::delete_manifest(const Route& route) {
  if (!options_.delete_enabled) return error_response(405, "UNSUPPORTED", "deletes are disabled");
  if (!root_.has_repository(route.name))
    return error_response(404, "NAME_UNKNOWN", "repository not known", route.name);
  auto store = root_.repository(route.name, false);
  if (!store) return error_response(500, "UNKNOWN", store.error().message);
  bool is_digest = route.reference.find(':') != std::string::npos;
  if (is_digest && !oci::Digest::parse(route.reference))
    return error_response(400, "DIGEST_INVALID", "invalid digest", route.reference);
  if (!is_digest && !oci::is_valid_tag(route.reference))
    return error_response(400, "MANIFEST_INVALID", "invalid tag", route.reference);
  auto found = (*store)->find_manifest(route.reference);
  if (!found) return error_response(500, "UNKNOWN", found.error().message);
  if (!*found) return error_response(404, "MANIFEST_UNKNOWN", "manifest unknown", route.reference);
  auto done =
      is_digest ? (*store)->delete_manifest((*found)->digest) : (*store)->untag(route.reference);
  if (!done) return error_response(500, "UNKNOWN", done.error().message);
  HttpResponse r;
  r.status = 202;
  return r;
}

// ---- blobs ----

std::variant<HttpResponse, Registry::FoundBlob> Registry::find_blob(const Route& route) {
  auto digest = oci::Digest::parse(route.reference);
  if (!digest) return error_response(400, "DIGEST_INVALID", "invalid digest", route.reference);
  if (!root_.has_repository(route.name))
    return error_response(404, "NAME_UNKNOWN", "repository not known", route.name);
  auto store = root_.repository(route.name, false);
  if (!store) return error_response(500, "UNKNOWN", store.error().message);
  auto size = (*store)->blob_size(*digest);
  if (!size) return error_response(500, "UNKNOWN", size.error().message);
  if (!*size) return error_response(404, "BLOB_UNKNOWN", "blob unknown to registry", digest->str());
  return FoundBlob{.store = std::move(*store),
                   .digest = std::move(*digest),
                   .size = static_cast<std::uint64_t>(**size)};
}

HttpResponse Registry::get_blob(const HttpRequest& request, const Route& route, bool head) {
  auto found = find_blob(route);
  if (auto* refusal = std::get_if<HttpResponse>(&found)) return std::move(*refusal);
  auto& [store, digest, total] = std::get<FoundBlob>(found);
  HttpResponse r;
  r.head = head;
  r.file = HttpResponse::FileRange{
      store->dir() / "blobs" / std::string(digest.algorithm_name()) / digest.hex(), 0, total};
  r.set("Content-Type", "application/octet-stream");
  r.set("Docker-Content-Digest", digest.str());
  r.set("Accept-Ranges", "bytes");
  r.set("ETag", fmt::format("\"{}\"", digest.str()));
  if (auto range = request.header("range")) {
    bool partial = false;
    auto br = parse_range(*range, total, partial);
    if (!br) {
      auto e = error_response(416, "BLOB_UNKNOWN", "requested range not satisfiable", *range);
      e.set("Content-Range", fmt::format("bytes */{}", total));
      return e;
    }
    if (partial) {
      r.status = 206;
      r.file->offset = br->first;
      r.file->length = br->length;
      r.set("Content-Range",
            fmt::format("bytes {}-{}/{}", br->first, br->first + br->length - 1, total));
    }
  }
  return r;
}

HttpResponse Registry::delete_blob(const Route& route) {
  if (!options_.delete_enabled) return error_response(405, "UNSUPPORTED", "deletes are disabled");
  auto found = find_blob(route);
  if (auto* refusal = std::get_if<HttpResponse>(&found)) return std::move(*refusal);
  auto& [store, digest, size] = std::get<FoundBlob>(found);
  if (auto done = store->delete_blob(digest); !done)
    return error_response(500, "UNKNOWN", done.error().message);
  HttpResponse r;
  r.status = 202;
  r.set("Docker-Content-Digest", digest.str());
  return r;
}

// ---- content discovery ----

HttpResponse Registry::tags(const Route& route) {
  if (!root_.has_repository(route.name))
    return error_response(404, "NAME_UNKNOWN", "repository not known", route.name);
  auto store = root_.repository(route.name, false);
  if (!store) return error_response(500, "UNKNOWN", store.error().message);
  auto all = (*store)->list_tags();
  if (!all) return error_response(500, "UNKNOWN", all.error().message);
  bool more = false, bad_n = false;
  auto page = paginate(*all, route.query, more, bad_n);
  if (bad_n)
    return error_response(400, "PAGINATION_NUMBER_INVALID", "n must be a non-negative number");
  OrderedJson body = OrderedJson::object();
  body["name"] = route.name;
  body["tags"] = page;
  auto r = json_response(200, body);
  if (more)
    r.set("Link", fmt::format("</v2/{}/tags/list?n={}&last={}>; rel=\"next\"", route.name,
                              page.size(), percent_encode(page.back())));
  return r;
}

HttpResponse Registry::referrers(const Route& route) {
  auto digest = oci::Digest::parse(route.reference);
  if (!digest) return error_response(400, "DIGEST_INVALID", "invalid digest", route.reference);
  auto types = route.query.all("artifactType");
  std::vector<oci::Descriptor> list;
  // A repository or subject we do not know has no referrers: 200 with an empty index (the API
  // must never answer 404, which clients take as "no referrers API").
  if (root_.has_repository(route.name)) {
    auto store = root_.repository(route.name, false);
    if (!store) return error_response(500, "UNKNOWN", store.error().message);
    auto found = (*store)->referrers(*digest, std::nullopt);
    if (!found) return error_response(500, "UNKNOWN", found.error().message);
    list = std::move(*found);
  }
  if (!types.empty())
    std::erase_if(list, [&](const oci::Descriptor& d) {
      return std::find(types.begin(), types.end(), d.artifact_type.value_or("")) == types.end();
    });
  OrderedJson body = OrderedJson::object();
  body["schemaVersion"] = 2;
  body["mediaType"] = oci::media_type::kImageIndex;
  OrderedJson manifests = OrderedJson::array();
  for (const auto& d : list) manifests.push_back(oci::descriptor_json(d));
  body["manifests"] = std::move(manifests);
  auto r = json_response(200, body);
  r.headers.clear();
  r.set("Content-Type", std::string(oci::media_type::kImageIndex));
  if (!types.empty()) r.set("OCI-Filters-Applied", "artifactType");
  return r;
}

HttpResponse Registry::catalog(const Route& route) {
  auto all = root_.catalog();
  if (!all) return error_response(500, "UNKNOWN", all.error().message);
  bool more = false, bad_n = false;
  auto page = paginate(*all, route.query, more, bad_n);
  if (bad_n)
    return error_response(400, "PAGINATION_NUMBER_INVALID", "n must be a non-negative number");
  OrderedJson body = OrderedJson::object();
  body["repositories"] = page;
  auto r = json_response(200, body);
  if (more)
    r.set("Link", fmt::format("</v2/_catalog?n={}&last={}>; rel=\"next\"", page.size(),
                              percent_encode(page.back())));
  return r;
}

}  // namespace mos::registry
