// The verity tree against the real veritysetup (cryptsetup 2.6.1): byte-identical output for
// the same salt and UUID at every level-count edge, and each side accepts what the other wrote.
#include "image/verity.hpp"

#include <filesystem>
#include <fstream>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/process.hpp"
#include "unit/support/test_support.hpp"

namespace mos::image {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::flip_byte;
using test::read_text;
using ::testing::HasSubstr;

void write_random(const fs::path& p, std::uint64_t size, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string data(size, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  ASSERT_TRUE(write_file_atomic(p, data));
}

std::string uuid_text(const std::array<std::uint8_t, 16>& u) {
  std::string h = hex_encode(u);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

VerityParams fixed_params() {
  std::vector<std::uint8_t> digest(32, 7);
  return derived_verity_params(digest);
}

class VerityTest : public ::testing::Test {
 protected:
  TempDir dir_ = std::move(*TempDir::create());
};

// 1 block (no tree), 128 (one leaf block), 129 (two levels), 16384 and 16385 (third level).
class VerityEdgeTest : public VerityTest, public ::testing::WithParamInterface<std::uint64_t> {};

TEST_P(VerityEdgeTest, MatchesVeritysetupFormatByteForByte) {
  std::uint64_t blocks = GetParam();
  std::uint64_t d = blocks * kVerityBlockSize;
  fs::path ours = dir_.path() / "ours", theirs = dir_.path() / "theirs";
  write_random(ours, d, static_cast<unsigned>(blocks));
  fs::copy_file(ours, theirs);
  VerityParams params = fixed_params();
  auto root = append_verity(ours, d, params);
  ASSERT_TRUE(root) << root.error().message;

  auto out = run_checked(
      {.argv = {"veritysetup", "format", theirs.string(), theirs.string(),
                "--hash-offset=" + std::to_string(d), "--data-blocks=" + std::to_string(blocks),
                "--salt=" + hex_encode(params.salt), "--uuid=" + uuid_text(params.uuid)}});
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_THAT(*out, HasSubstr("Root hash:      \t" + hex_encode(*root)));
  EXPECT_EQ(fs::file_size(ours), verity_geometry(d, blocks).end());
  EXPECT_TRUE(read_text(ours) == read_text(theirs)) << "our file differs from veritysetup's";

  // veritysetup accepts ours, we accept veritysetup's.
  auto verify = run_checked({.argv = {"veritysetup", "verify", ours.string(), ours.string(),
                                      hex_encode(*root), "--hash-offset=" + std::to_string(d)}});
  EXPECT_TRUE(verify) << verify.error().message;
  auto ok = verify_verity(theirs, d, *root);
  EXPECT_TRUE(ok) << ok.error().message;
}

INSTANTIATE_TEST_SUITE_P(Edges, VerityEdgeTest, ::testing::Values(1, 2, 128, 129, 16384, 16385));

TEST_F(VerityTest, AnyFlippedByteIsDetected) {
  std::uint64_t blocks = 300, d = blocks * kVerityBlockSize;
  fs::path file = dir_.path() / "f";
  write_random(file, d, 1);
  auto root = append_verity(file, d, fixed_params());
  ASSERT_TRUE(root);
  ASSERT_TRUE(verify_verity(file, d, *root));
  auto geometry = verity_geometry(d, blocks);
  std::uint64_t size = geometry.end();
  // data start/middle/end, superblock (salt), the uncovered gap, top level, leaf level, last byte
  struct {
    std::uint64_t offset;
    std::string reason;
  } flips[] = {{0, "level 1 (of 2, leaf = 0) does not match"},
               {d / 2, "level 1 (of 2, leaf = 0) does not match"},
               {d - 1, "level 1 (of 2, leaf = 0) does not match"},
               {d + 100, "level 1 (of 2, leaf = 0) does not match"},
               {d + 2000, "the bytes after the verity superblock are not zero"},
               {geometry.tree_offset, "level 1 (of 2, leaf = 0) does not match"},
               {geometry.tree_offset + 4096 + 5, "level 0 (of 2, leaf = 0) does not match"},
               {size - 4087, "level 0 (of 2, leaf = 0) does not match"},
               {size - 1, "level 0 (of 2, leaf = 0) does not match"}};
  for (const auto& flip : flips) {
    SCOPED_TRACE(flip.offset);
    flip_byte(file, flip.offset);
    EXPECT_THAT(error_of(verify_verity(file, d, *root)), HasSubstr(flip.reason));
    flip_byte(file, flip.offset);
  }
  EXPECT_TRUE(verify_verity(file, d, *root));
  // The same flip in the leaf block is also caught by veritysetup (as atomfs' own test does).
  flip_byte(file, size - 4087);
  auto theirs = run_checked({.argv = {"veritysetup", "verify", file.string(), file.string(),
                                      hex_encode(*root), "--hash-offset=" + std::to_string(d)}});
  EXPECT_THAT(error_of(theirs), HasSubstr("Verification failed"));
}

TEST_F(VerityTest, WrongRootTruncationAndExtraBytesFail) {
  std::uint64_t d = 10 * kVerityBlockSize;
  fs::path file = dir_.path() / "f";
  write_random(file, d, 2);
  auto root = append_verity(file, d, fixed_params());
  ASSERT_TRUE(root);
  Sha256Bytes other = *root;
  other[0] ^= 1;
  auto s = verify_verity(file, d, other);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, HasSubstr("root hash"));
  EXPECT_THAT(error_of(verify_verity(file, d - kVerityBlockSize, *root)),  // wrong offset
              HasSubstr("no verity superblock"));
  fs::resize_file(file, fs::file_size(file) + 1);
  EXPECT_THAT(error_of(verify_verity(file, d, *root)), HasSubstr("bytes, expected"));
  fs::resize_file(file, fs::file_size(file) - 2);
  EXPECT_THAT(error_of(verify_verity(file, d, *root)), HasSubstr("bytes, expected"));
}

TEST_F(VerityTest, ThreadCountDoesNotChangeTheTree) {
  std::uint64_t d = 5000 * kVerityBlockSize;
  fs::path a = dir_.path() / "a", b = dir_.path() / "b";
  write_random(a, d, 3);
  fs::copy_file(a, b);
  VerityParams one = fixed_params(), many = fixed_params();
  one.threads = 1;
  many.threads = 3;
  auto ra = append_verity(a, d, one), rb = append_verity(b, d, many);
  ASSERT_TRUE(ra && rb);
  EXPECT_EQ(*ra, *rb);
  EXPECT_TRUE(read_text(a) == read_text(b));
}

TEST(VeritySuperblock, RoundTripAndRefusals) {
  VeritySuperblock sb;
  sb.data_blocks = 733;
  sb.salt.assign(32, 0xab);
  sb.uuid.fill(3);
  std::string bytes = encode_verity_superblock(sb);
  ASSERT_EQ(bytes.size(), kVeritySuperblockSize);
  auto span = [](const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); };
  auto parsed = parse_verity_superblock(span(bytes));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->data_blocks, 733u);
  EXPECT_EQ(parsed->salt, sb.salt);
  EXPECT_EQ(parsed->uuid, sb.uuid);
  auto with = [&](std::size_t at, char value) {
    std::string b = bytes;
    b[at] = value;
    return parse_verity_superblock(span(b));
  };
  EXPECT_THAT(error_of(with(0, 'X')), HasSubstr("signature \"verity\" missing"));
  EXPECT_THAT(error_of(with(8, 2)), HasSubstr("version 2 is not supported"));
  EXPECT_THAT(error_of(with(12, 0)), HasSubstr("hash type 0 is not supported"));  // chrome os
  EXPECT_THAT(error_of(with(32, 'm')), HasSubstr("hash algorithm \"mha256\" is not supported"));
  EXPECT_THAT(error_of(with(65, 2)), HasSubstr("block sizes 512/4096 are not supported"));
  EXPECT_THAT(error_of(with(81, 2)), HasSubstr("salt size 544 exceeds 256"));
  EXPECT_THAT(error_of(with(400, 1)), HasSubstr("non-zero padding"));
  EXPECT_THAT(error_of(parse_verity_superblock(span(bytes.substr(0, 100)))),
              HasSubstr("superblock is 100 bytes, expected 512"));
  std::string zero_blocks = bytes;
  for (int i = 72; i < 80; ++i) zero_blocks[i] = 0;
  EXPECT_THAT(error_of(parse_verity_superblock(span(zero_blocks))),
              HasSubstr("superblock names 0 data blocks"));
}

TEST(VerityGeometry, LevelsAsVeritysetup) {
  EXPECT_TRUE(verity_geometry(4096, 1).level_blocks.empty());
  EXPECT_EQ(verity_geometry(128 * 4096, 128).level_blocks, (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(verity_geometry(129 * 4096, 129).level_blocks, (std::vector<std::uint64_t>{2, 1}));
  // The spec's example: 733 blocks -> superblock block + 1 top + 6 leaf blocks.
  auto g = verity_geometry(3002368, 733);
  EXPECT_EQ(g.level_blocks, (std::vector<std::uint64_t>{6, 1}));
  EXPECT_EQ(g.end(), 3035136u);
}

TEST(RootHash, ParseAndHex) {
  auto r = parse_root_hash(std::string(64, 'a'));
  ASSERT_TRUE(r);
  EXPECT_EQ(hex_encode(*r), std::string(64, 'a'));
  EXPECT_THAT(error_of(parse_root_hash(std::string(64, 'A'))), HasSubstr("not lowercase hex"));
  EXPECT_THAT(error_of(parse_root_hash(std::string(63, 'a'))), HasSubstr("not 64 hex characters"));
  EXPECT_THAT(error_of(parse_root_hash(std::string(64, 'g'))), HasSubstr("not lowercase hex"));
}

}  // namespace
}  // namespace mos::image
