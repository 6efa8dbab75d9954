#include "sysroot/version_order.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

#include "core/text.hpp"

namespace mos::sysroot {
namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool identifier_chars(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
  });
}

Result<std::uint64_t> parse_number(std::string_view s, std::string_view whole) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size())
    return fail("version \"{}\": component \"{}\" is not a number", whole, s);
  return value;
}

std::strong_ordering compare_identifier(const std::string& a, const std::string& b) {
  bool na = all_digits(a), nb = all_digits(b);
  if (na && nb) {
    // Compare numerically without overflow: strip leading zeros, then length, then text.
    auto strip = [](const std::string& s) {
      return std::string_view(s).substr(std::min(s.find_first_not_of('0'), s.size()));
    };
    auto sa = strip(a), sb = strip(b);
    if (sa.size() != sb.size()) return sa.size() <=> sb.size();
    return sa.compare(sb) <=> 0;
  }
  if (na != nb) return na ? std::strong_ordering::less : std::strong_ordering::greater;
  return a.compare(b) <=> 0;
}

}  // namespace

Result<Version> parse_version(std::string_view text) {
  std::string_view rest = text;
  if (auto plus = rest.find('+'); plus != std::string_view::npos) {
    for (auto part : split_fields(rest.substr(plus + 1), '.'))
      if (!identifier_chars(part)) return fail("version \"{}\": malformed build metadata", text);
    rest = rest.substr(0, plus);
  }
  Version v;
  if (auto dash = rest.find('-'); dash != std::string_view::npos) {
    for (auto part : split_fields(rest.substr(dash + 1), '.')) {
      if (!identifier_chars(part))
        return fail("version \"{}\": malformed pre-release \"{}\"", text, part);
      v.prerelease.emplace_back(part);
    }
    rest = rest.substr(0, dash);
  }
  if (!rest.empty() && (rest.front() == 'v' || rest.front() == 'V')) rest.remove_prefix(1);
  if (rest.empty()) return fail("version \"{}\": expected numbers such as 1.2.3", text);
  for (auto part : split_fields(rest, '.')) {
    if (!all_digits(part))
      return fail("version \"{}\": component \"{}\" is not a number", text, part);
    MOS_TRY_ASSIGN(auto n, parse_number(part, text));
    v.numbers.push_back(n);
  }
  return v;
}

std::strong_ordering compare_versions(const Version& a, const Version& b) {
  std::size_t n = std::max(a.numbers.size(), b.numbers.size());
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t x = i < a.numbers.size() ? a.numbers[i] : 0;
    std::uint64_t y = i < b.numbers.size() ? b.numbers[i] : 0;
    if (x != y) return x <=> y;
  }
  if (a.prerelease.empty() != b.prerelease.empty())
    return a.prerelease.empty() ? std::strong_ordering::greater : std::strong_ordering::less;
  std::size_t m = std::min(a.prerelease.size(), b.prerelease.size());
  for (std::size_t i = 0; i < m; ++i)
    if (auto c = compare_identifier(a.prerelease[i], b.prerelease[i]); c != 0) return c;
  return a.prerelease.size() <=> b.prerelease.size();
}

Result<Timestamp> parse_rfc3339(std::string_view text) {
  auto bad = [&] {
    return fail("\"{}\" is not an RFC 3339 time (expected 2026-11-28T09:10:11Z)", text);
  };
  auto digits = [&](std::size_t pos, std::size_t count) -> std::optional<int> {
    if (pos + count > text.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':')
    return bad();
  auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2), hour = digits(11, 2),
       minute = digits(14, 2), second = digits(17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return bad();
  std::chrono::year_month_day date{std::chrono::year(*year),
                                   std::chrono::month(static_cast<unsigned>(*month)),
                                   std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok() || *hour > 23 || *minute > 59 || *second > 60) return bad();
  std::size_t pos = 19;
  std::int32_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int count = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (count < 9) nanos = nanos * 10 + (text[pos] - '0');
      ++count;
      ++pos;
    }
    if (count == 0) return bad();
    for (int i = count; i < 9; ++i) nanos *= 10;
  }
  std::int64_t offset = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    auto oh = digits(pos + 1, 2), om = digits(pos + 4, 2);
    if (!oh || !om || pos + 3 >= text.size() || text[pos + 3] != ':' || *oh > 23 || *om > 59)
      return bad();
    offset = (*oh * 60 + *om) * 60 * (text[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != text.size()) return bad();
  std::int64_t seconds = std::chrono::sys_days(date).time_since_epoch().count() * 86400 +
                         *hour * 3600 + *minute * 60 + *second - offset;
  return Timestamp{seconds, nanos};
}

}  // namespace mos::sysroot
