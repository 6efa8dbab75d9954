#include "registry/routes.hpp"

#include <cctype>

namespace mos::registry {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    auto slash = path.find('/', start);
    parts.push_back(
        path.substr(start, slash == std::string_view::npos ? path.npos : slash - start));
    if (slash == std::string_view::npos) return parts;
    start = slash + 1;
  }
}

std::string join(const std::vector<std::string_view>& parts, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < to; ++i) {
    if (i > from) out += '/';
    out += parts[i];
  }
  return out;
}

}  // namespace

std::optional<std::string> Query::get(std::string_view key) const {
  for (const auto& [k, v] : params)
    if (k == key) return v;
  return std::nullopt;
}

std::vector<std::string> Query::all(std::string_view key) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : params)
    if (k == key) out.push_back(v);
  return out;
}

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool is_valid_upload_id(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Route parse_route(std::string_view target) {
  Route route;
  std::string_view path = target;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      auto amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
      if (pair.empty()) continue;
      auto eq = pair.find('=');
      std::string key = percent_decode(pair.substr(0, eq));
      std::string value =
          eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
      route.query.params.emplace_back(std::move(key), std::move(value));
    }
  }
  if (path == "/v2" || path == "/v2/") {
    route.endpoint = Endpoint::base;
    return route;
  }
  if (!path.starts_with("/v2/")) return route;
  if (path == "/v2/_catalog") {
    route.endpoint = Endpoint::catalog;
    return route;
  }
  auto parts = split_path(path.substr(4));
  std::size_t n = parts.size();
  // Matched from the end: repository names may themselves contain "blobs" or "manifests".
  if (n >= 3 && parts[n - 2] == "tags" && parts[n - 1] == "list") {
    route.endpoint = Endpoint::tags;
    route.name = join(parts, 0, n - 2);
  } else if (n >= 3 && parts[n - 2] == "uploads" && parts[n - 3] == "blobs" && n >= 4) {
    route.endpoint = parts[n - 1].empty() ? Endpoint::upload_start : Endpoint::upload;
    route.name = join(parts, 0, n - 3);
    route.reference = std::string(parts[n - 1]);
  } else if (n >= 3 && parts[n - 1] == "uploads" && parts[n - 2] == "blobs") {
    route.endpoint = Endpoint::upload_start;
    route.name = join(parts, 0, n - 2);
  } else if (n >= 3 && parts[n - 2] == "manifests") {
    route.endpoint = Endpoint::manifest;
  } else if (n >= 3 && parts[n - 2] == "blobs") {
    route.endpoint = Endpoint::blob;
  } else if (n >= 3 && parts[n - 2] == "referrers") {
    route.endpoint = Endpoint::referrers;
  } else {
    return route;
  }
  if (route.endpoint == Endpoint::manifest || route.endpoint == Endpoint::blob ||
      route.endpoint == Endpoint::referrers) {
    route.name = join(parts, 0, n - 2);
    route.reference = std::string(parts[n - 1]);
  }
  return route;
}

}  // namespace mos::registry
