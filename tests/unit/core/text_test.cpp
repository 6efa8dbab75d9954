#include "core/text.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mos {
namespace {

TEST(Text, LowerCasesAsciiOnly) {
  EXPECT_EQ(to_lower_ascii("Content-Length"), "content-length");
  EXPECT_EQ(to_lower_ascii("\xC3\x84Z"), "\xC3\x84z");  // UTF-8 bytes are left alone
}

TEST(Text, ComparesIgnoringCase) {
  EXPECT_TRUE(equals_ignoring_case("100-Continue", "100-continue"));
  EXPECT_FALSE(equals_ignoring_case("100-continue ", "100-continue"));
  EXPECT_FALSE(equals_ignoring_case("basic", "basik"));
}

TEST(Text, ParsesOnlyWholeUnsignedNumbers) {
  EXPECT_EQ(parse_unsigned("0"), 0u);
  EXPECT_EQ(parse_unsigned("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parse_unsigned("65535", 65535), 65535u);
  for (const char* bad : {"", "12abc", " 12", "12 ", "+12", "-1", "0x10", "18446744073709551616"})
    EXPECT_EQ(parse_unsigned(bad), std::nullopt) << '"' << bad << '"';
  EXPECT_EQ(parse_unsigned("65536", 65535), std::nullopt);
}

TEST(Text, RecognisesUuids) {
  EXPECT_TRUE(is_uuid("5a3d0a2e-3b8e-4f64-9e7a-0c1f1c2d3e4f"));
  EXPECT_TRUE(is_uuid("5A3D0A2E-3B8E-4F64-9E7A-0C1F1C2D3E4F"));
  EXPECT_FALSE(is_uuid("5a3d0a2e3b8e4f649e7a0c1f1c2d3e4f"));
  EXPECT_FALSE(is_uuid("5a3d0a2e-3b8e-4f64-9e7a-0c1f1c2d3e4g"));
  EXPECT_FALSE(is_uuid("5a3d0a2e-3b8e-4f64-9e7a-0c1f1c2d3e4f0"));
}

}  // namespace
}  // namespace mos

namespace mos {
namespace {

TEST(Text, CountsWithTheirNoun) {
  EXPECT_EQ(count_of(0, "manifest"), "0 manifests");
  EXPECT_EQ(count_of(1, "manifest"), "1 manifest");
  EXPECT_EQ(count_of(2, "blob"), "2 blobs");
}

}  // namespace
}  // namespace mos

namespace mos {
namespace {

TEST(Text, GoesThroughEachLine) {
  auto lines_of = [](std::string_view text) {
    std::vector<std::string> lines;
    for_each_line(text, [&](std::string_view line) { lines.emplace_back(line); });
    return lines;
  };
  EXPECT_EQ(lines_of("a\nb\n"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(lines_of("a\n\nlast"), (std::vector<std::string>{"a", "", "last"}));
  EXPECT_TRUE(lines_of("").empty());
}

TEST(Text, SplitsFieldsKeepingEmptyOnes) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(split_fields("root:x:0:0", ':'), (V{"root", "x", "0", "0"}));
  EXPECT_EQ(split_fields("a::b:", ':'), (V{"a", "", "b", ""}));
  EXPECT_EQ(split_fields("", ':'), (V{""}));
}

}  // namespace
}  // namespace mos
