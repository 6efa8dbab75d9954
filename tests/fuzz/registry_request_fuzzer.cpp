// libFuzzer target: whole requests to the registry logic (no sockets). The input's first line
// is "METHOD TARGET [CONTENT-TYPE]", the rest the body. Runs against one temporary root; must
// never crash and must answer every error with an OCI error body.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/file.hpp"
#include "core/json.hpp"
#include "registry/registry.hpp"

namespace {
mos::registry::Registry& registry() {
  static mos::TempDir dir = mos::TempDir::create({}, "mos-fuzz-registry-").value();
  static mos::registry::Registry r(mos::oci::LayoutRoot::open(dir.path(), true).value(), {});
  return r;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto newline = text.find('\n');
  std::string line = text.substr(0, newline);
  mos::registry::HttpRequest request;
  request.body = newline == std::string::npos ? std::string() : text.substr(newline + 1);
  auto space = line.find(' ');
  if (space == std::string::npos) return 0;
  request.method = line.substr(0, space);
  request.target = line.substr(space + 1);
  if (auto type = request.target.find(' '); type != std::string::npos) {
    request.headers.emplace_back("content-type", request.target.substr(type + 1));
    request.target.resize(type);
  }
  auto route = mos::registry::parse_route(request.target);
  if (mos::registry::Registry::streams_body(request.method, route)) return 0;
  auto response = registry().handle(request, route);
  if (response.status >= 400) {
    auto body = mos::parse_json_strict(response.body, "error body");
    if (!body || !body->contains("errors")) __builtin_trap();
  }
  return 0;
}
