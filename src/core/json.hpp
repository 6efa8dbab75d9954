#pragma once
// Strict JSON reading shared by every parser: duplicate keys, excessive nesting and oversized
// documents are errors (nlohmann's default keeps the last duplicate silently), and typed field
// access gives messages naming the field and the expected type.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/result.hpp"

namespace mos {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

struct JsonLimits {
  std::size_t max_bytes = 4 * 1024 * 1024;
  std::size_t max_depth = 64;
};

// Parses text as one JSON value; `what` names the document in error messages.
Result<Json> parse_json_strict(std::string_view text, std::string_view what,
                               JsonLimits limits = {});

// Typed access to object members; `where` names the object for messages ("manifest", "layers[2]").
Result<std::string> json_string(const Json& object, std::string_view key, std::string_view where);
Result<std::optional<std::string>> json_optional_string(const Json& object, std::string_view key,
                                                        std::string_view where);
Result<std::int64_t> json_int(const Json& object, std::string_view key, std::string_view where);
const char* json_type_name(const Json& value);

}  // namespace mos
