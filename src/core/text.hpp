#pragma once
// Small text helpers every module needs, written once: ASCII case folding (HTTP header names,
// auth schemes), strict unsigned numbers (header values, config fields: "12abc" is no number),
// the UUID shape of product and SUDI identifiers, and a text's lines.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mos {

// ASCII lower-casing; bytes outside A-Z are kept as they are.
std::string to_lower_ascii(std::string_view text);

// ASCII character classes, independent of the C locale (unlike <cctype>).
constexpr bool is_ascii_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_ascii_digit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool is_ascii_hex(char c) {
  return is_ascii_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

// Case-insensitive ASCII comparison, as HTTP compares header names and tokens.
bool equals_ignoring_case(std::string_view a, std::string_view b);

// The whole of `text` as a decimal unsigned number no larger than `max`: no sign, no spaces, no
// trailing characters, no overflow. Anything else is nullopt.
std::optional<std::uint64_t> parse_unsigned(std::string_view text, std::uint64_t max = UINT64_MAX);

// "1 blob", "2 blobs": a count with its noun, plural by an "s" unless n is 1.
std::string count_of(std::uint64_t n, std::string_view singular);

// For YAML parsers on yaml-cpp, which lets a quoted scalar that never closes run to the end of the
// text (swallowing every key after it): the quote character (' or ") that opens a scalar at
// `start` of `text` when that scalar never closes; 0 when it closes or is not quoted.
char unclosed_quote_at(std::string_view text, std::size_t start);

// 8-4-4-4-12 hexadecimal digits with dashes (either case), as uuidgen prints.
bool is_uuid(std::string_view text);

// The fields of `text` between each `separator`, empty ones included ("a::b" is 3 fields, "" is 1),
// as /etc/passwd, /proc/PID/cgroup and mountinfo lay theirs out.
std::vector<std::string_view> split_fields(std::string_view text, char separator);

// Calls f(line) for each line of `text`, split at '\n' (not included); a last line without one
// counts too, an empty text has no line.
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  while (!text.empty()) {
    auto end = text.find('\n');
    f(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

}  // namespace mos
