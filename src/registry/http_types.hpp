#pragma once
// Transport-neutral HTTP request and response, so the registry's logic is testable without
// sockets and the Beast server stays a thin layer.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mos::registry {

struct HttpRequest {
  std::string method;                                        // "GET", "HEAD", "PUT", ...
  std::string target;                                        // path and query as sent
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercase
  std::string body;  // small bodies only (manifests); blob uploads are streamed
  // Set by a transport that checked the credentials itself, off its I/O threads (a slow hash).
  std::optional<bool> credentials_accepted = std::nullopt;
  std::optional<std::string_view> header(std::string_view lowercase_name) const {
    for (const auto& [k, v] : headers)
      if (k == lowercase_name) return std::string_view(v);
    return std::nullopt;
  }
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // A blob range sent from disk after the headers (sendfile), instead of body.
  struct FileRange {
    std::filesystem::path path;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
  };
  std::optional<FileRange> file;
  // HEAD: headers (with Content-Length) as for GET, no body.
  bool head = false;
  std::uint64_t content_length() const { return file ? file->length : body.size(); }
  HttpResponse& set(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  std::optional<std::string_view> header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return std::string_view(v);
    return std::nullopt;
  }
};

}  // namespace mos::registry
