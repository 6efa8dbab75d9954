// stacker's text pass over a stacker file before it is parsed, and its word splitting of
// commands written as one string.
#include <yaml-cpp/yaml.h>

#include "core/file.hpp"
#include "stacker/stacker_file.hpp"

namespace mos::stacker {
namespace {

int line_of(std::string_view text, std::size_t pos) {
  int line = 1;
  for (std::size_t i = 0; i < pos && i < text.size(); ++i) line += text[i] == '\n';
  return line;
}

bool is_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

// `$KEY` or `${KEY}` where KEY is a substitution: stacker refuses these, since the author almost
// certainly meant ${{KEY}} (and a shell would see an empty variable). Like stacker this is a
// substring test: `$KEYS` also matches KEY.
Status check_shell_style(std::string_view text, const Substitutions& values,
                         std::string_view file) {
  for (const auto& [key, value] : values) {
    for (const std::string& form : {"$" + key, "${" + key + "}"}) {
      auto pos = text.find(form);
      if (pos != std::string_view::npos)
        return fail(
            "{}:{}: \"{}\" is shell syntax for a value given as a substitution: write "
            "${{{{{}}}}} to substitute it",
            file, line_of(text, pos), form, key);
    }
  }
  return {};
}

}  // namespace

Result<Substitutions> read_substitutions(const std::vector<std::string>& flags,
                                         const std::vector<std::filesystem::path>& files) {
  Substitutions values;
  for (const auto& file : files) {
    MOS_TRY_ASSIGN(auto text, read_file(file, 1 << 20));
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      return fail("--substitute-file {}: {}", file.string(), e.what());
    }
    if (root.IsNull()) continue;
    if (!root.IsMap())
      return fail("--substitute-file {}: expected a mapping of names to values", file.string());
    for (const auto& item : root) {
      if (!item.first.IsScalar() || !item.second.IsScalar())
        return fail("--substitute-file {}: line {}: expected NAME: value", file.string(),
                    item.first.Mark().line + 1);
      values[item.first.Scalar()] = item.second.Scalar();
    }
  }
  for (const auto& flag : flags) {
    auto eq = flag.find('=');
    if (eq == std::string::npos || eq == 0)
      return fail("--substitute {}: expected NAME=VALUE", flag);
    values[flag.substr(0, eq)] = flag.substr(eq + 1);
  }
  return values;
}

Result<std::string> substitute(std::string_view text, const Substitutions& values,
                               std::string_view file, const std::string* missing) {
  MOS_TRY(check_shell_style(text, values, file));
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  for (;;) {
    auto start = text.find("${{", pos);
    if (start == std::string_view::npos) break;
    auto end = text.find("}}", start + 3);
    auto inside = end == std::string_view::npos ? std::string_view{}
                                                : text.substr(start + 3, end - start - 3);
    // Not a placeholder (stacker's pattern has no '}' or newline inside): copied as it is.
    if (end == std::string_view::npos || inside.empty() ||
        inside.find_first_of("}\n") != std::string_view::npos) {
      out.append(text.substr(pos, start + 3 - pos));
      pos = start + 3;
      continue;
    }
    out.append(text.substr(pos, start - pos));
    auto colon = inside.find(':');
    std::string_view key = inside.substr(0, colon);
    std::size_t trim = 0;
    while (trim < key.size() && key[trim] == ' ') ++trim;
    key.remove_prefix(trim);
    while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
    bool valid = !key.empty();
    for (char c : key) valid = valid && is_key_char(c);
    if (!valid)
      return fail("{}:{}: \"${{{{{}}}}}\" is not a substitution (a name of letters, digits and _)",
                  file, line_of(text, start), inside);
    if (auto it = values.find(key); it != values.end()) {
      out.append(it->second);
    } else if (colon != std::string_view::npos) {
      out.append(inside.substr(colon + 1));
    } else if (missing) {
      out.append(*missing);
    } else {
      return fail("{}:{}: no value for substitution {} (give --substitute {}=VALUE)", file,
                  line_of(text, start), key, key);
    }
    pos = end + 2;
  }
  out.append(text.substr(pos));
  return out;
}

Result<std::vector<std::string>> split_shell_words(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\\') {
      if (i + 1 == text.size()) return fail("\"{}\" ends with a lone backslash", text);
      word.push_back(text[++i]);
      in_word = true;
    } else if (c == '\'') {
      auto close = text.find('\'', i + 1);
      if (close == std::string_view::npos) return fail("\"{}\" has an unclosed ' quote", text);
      word.append(text.substr(i + 1, close - i - 1));
      i = close;
      in_word = true;
    } else if (c == '"') {
      std::size_t j = i + 1;
      for (; j < text.size() && text[j] != '"'; ++j) {
        if (text[j] == '\\' && j + 1 < text.size() &&
            std::string_view("\\\"$`\n").find(text[j + 1]) != std::string_view::npos)
          ++j;
        word.push_back(text[j]);
      }
      if (j >= text.size()) return fail("\"{}\" has an unclosed \" quote", text);
      i = j;
      in_word = true;
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

}  // namespace mos::stacker
