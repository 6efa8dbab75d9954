#include "core/json.hpp"

#include <set>
#include <vector>

namespace mos {

const char* json_type_name(const Json& value) {
  return value.type_name();
}

Result<Json> parse_json_strict(std::string_view text, std::string_view what, JsonLimits limits) {
  if (text.size() > limits.max_bytes)
    return fail("{} is {} bytes, more than the limit of {} bytes", what, text.size(),
                limits.max_bytes);
  // One key set per open object (arrays push an empty marker so the stack follows nesting).
  std::vector<std::set<std::string>> open;
  std::string problem;
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) -> bool {
    if (!problem.empty()) return false;
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        open.emplace_back();
        if (static_cast<std::size_t>(depth) >= limits.max_depth) {
          problem = fmt::format("nesting deeper than {} levels", limits.max_depth);
          return false;
        }
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        if (!open.empty()) open.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open.empty()) {
          auto key = parsed.get<std::string>();
          if (!open.back().insert(key).second) {
            problem = fmt::format("duplicate key \"{}\"", key);
            return false;
          }
        }
        break;
      default:
        break;
    }
    return true;
  };
  Json value;
  try {
    value = Json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                        /*ignore_comments=*/false);
  } catch (const Json::exception& e) {
    if (!problem.empty()) return fail("{} is not valid: {}", what, problem);
    std::string message = e.what();
    // nlohmann prefixes "[json.exception.parse_error.101] "; keep the readable part.
    if (auto pos = message.find("] "); pos != std::string::npos) message = message.substr(pos + 2);
    return fail("{} is not valid JSON: {}", what, message);
  }
  if (!problem.empty()) return fail("{} is not valid: {}", what, problem);
  if (value.is_discarded()) return fail("{} is not valid JSON", what);
  return value;
}

Result<std::string> json_string(const Json& object, std::string_view key, std::string_view where) {
  auto it = object.find(key);
  if (it == object.end()) return fail("{}: missing \"{}\"", where, key);
  if (!it->is_string())
    return fail("{}: \"{}\" must be a string, not {}", where, key, it->type_name());
  return it->get<std::string>();
}

Result<std::optional<std::string>> json_optional_string(const Json& object, std::string_view key,
                                                        std::string_view where) {
  auto it = object.find(key);
  if (it == object.end()) return std::optional<std::string>{};
  if (!it->is_string())
    return fail("{}: \"{}\" must be a string, not {}", where, key, it->type_name());
  return std::optional<std::string>{it->get<std::string>()};
}

Result<std::int64_t> json_int(const Json& object, std::string_view key, std::string_view where) {
  auto it = object.find(key);
  if (it == object.end()) return fail("{}: missing \"{}\"", where, key);
  if (!it->is_number_integer())
    return fail("{}: \"{}\" must be an integer, not {}", where, key, it->type_name());
  return it->get<std::int64_t>();
}

}  // namespace mos
