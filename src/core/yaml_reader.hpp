#pragma once
// Strict reading of YAML documents that users write (manifest.yaml, stacker.yaml). yaml-cpp keeps
// duplicate keys and accepts any scalar for any type, so every mapping is walked by hand: unknown
// and duplicate keys, wrong types and bad values are reported with the file, line and column of
// the offending node.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/result.hpp"

namespace mos {

class YamlReader {
 public:
  explicit YamlReader(std::string_view file) : file_(file) {}

  template <class... Args>
  std::unexpected<Error> error(const YAML::Node& node, fmt::format_string<Args...> format,
                               Args&&... args) const {
    return located(node, fmt::format(format, std::forward<Args>(args)...));
  }
  // "FILE:LINE:COLUMN: message" (or "FILE: message" for a node without a position).
  std::unexpected<Error> located(const YAML::Node& node, std::string message) const;

  // Checks that node is a mapping with only `allowed` keys, each at most once. `unknown` names
  // what an unknown key is ("key", "directive").
  Status check_mapping(const YAML::Node& node, std::string_view what,
                       std::initializer_list<std::string_view> allowed,
                       std::string_view unknown = "key") const;
  Status check_mapping(const YAML::Node& node, std::string_view what,
                       const std::vector<std::string_view>& allowed,
                       std::string_view unknown = "key") const;

  Result<std::string> string(const YAML::Node& node, std::string_view what) const;
  // A quoted scalar ("80") is a string, not a number.
  Result<std::int64_t> integer(const YAML::Node& node, std::string_view what) const;
  Result<bool> boolean(const YAML::Node& node, std::string_view what) const;
  // A null node is an empty list.
  Result<std::vector<YAML::Node>> sequence(const YAML::Node& node, std::string_view what) const;

  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

}  // namespace mos
