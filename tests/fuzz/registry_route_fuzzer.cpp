// libFuzzer target: request targets as clients send them (path, name, reference, query).
#include <cstddef>
#include <cstdint>
#include <string>

#include "registry/routes.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto route = mos::registry::parse_route(text);
  // A recognised repository route always has the name and reference inside the target.
  if (!route.name.empty() && text.find(route.name) == std::string::npos) __builtin_trap();
  if (mos::registry::percent_decode(mos::registry::percent_encode(text)) != text) __builtin_trap();
  (void)route.query.get("n");
  return 0;
}
