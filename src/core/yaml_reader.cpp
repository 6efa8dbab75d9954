// Strict YAML reading with file:line:column messages.
#include "core/yaml_reader.hpp"

#include <charconv>
#include <set>

namespace mos {

std::unexpected<Error> YamlReader::located(const YAML::Node& node, std::string message) const {
  const auto mark = node.Mark();
  if (mark.is_null()) return fail("{}: {}", file_, message);
  return fail("{}:{}:{}: {}", file_, mark.line + 1, mark.column + 1, message);
}

Status YamlReader::check_mapping(const YAML::Node& node, std::string_view what,
                                 std::initializer_list<std::string_view> allowed,
                                 std::string_view unknown) const {
  return check_mapping(node, what, std::vector<std::string_view>(allowed), unknown);
}

Status YamlReader::check_mapping(const YAML::Node& node, std::string_view what,
                                 const std::vector<std::string_view>& allowed,
                                 std::string_view unknown) const {
  if (!node.IsMap()) return error(node, "{} must be a mapping", what);
  std::set<std::string> seen;
  for (const auto& item : node) {
    if (!item.first.IsScalar()) return error(item.first, "{} has a key that is not a string", what);
    auto key = item.first.Scalar();
    bool known = false;
    for (auto a : allowed) known = known || key == a;
    if (!known)
      return error(item.first, "unknown {} \"{}\" in {} (allowed: {})", unknown, key, what,
                   fmt::join(allowed, ", "));
    if (!seen.insert(key).second) return error(item.first, "duplicate key \"{}\" in {}", key, what);
  }
  return {};
}

Result<std::string> YamlReader::string(const YAML::Node& node, std::string_view what) const {
  if (!node.IsScalar()) return error(node, "{} must be a string", what);
  return node.Scalar();
}

Result<std::int64_t> YamlReader::integer(const YAML::Node& node, std::string_view what) const {
  if (!node.IsScalar() || node.Tag() == "!") return error(node, "{} must be an integer", what);
  const std::string& text = node.Scalar();
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size())
    return error(node, "{} must be an integer, not \"{}\"", what, text);
  return value;
}

Result<bool> YamlReader::boolean(const YAML::Node& node, std::string_view what) const {
  if (node.IsScalar() && node.Tag() != "!") {
    const auto& t = node.Scalar();
    if (t == "true" || t == "True" || t == "yes") return true;
    if (t == "false" || t == "False" || t == "no") return false;
  }
  return error(node, "{} must be true or false", what);
}

Result<std::vector<YAML::Node>> YamlReader::sequence(const YAML::Node& node,
                                                     std::string_view what) const {
  if (node.IsNull()) return std::vector<YAML::Node>{};
  if (!node.IsSequence()) return error(node, "{} must be a list", what);
  return std::vector<YAML::Node>(node.begin(), node.end());
}

}  // namespace mos
