// The verity tree against the real veritysetup (cryptsetup 2.6.1): byte-identical output for
// the same salt and UUID at every level-count edge, and each side accepts what the other wrote.
#include "image/verity.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "core/file.hpp"
#include "image/tool_process.hpp"

namespace mos::image {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& p) {
  return *read_file(p);
}

void write_random(const fs::path& p, std::uint64_t size, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string data(size, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  ASSERT_TRUE(write_file_atomic(p, data));
}

void flip_byte(const fs::path& p, std::uint64_t offset) {
  int fd = ::open(p.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  unsigned char c = 0;
  ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(offset)), 1);
  c ^= 0x01;
  ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(offset)), 1);
  ::close(fd);
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

  auto out =
      run_tool({{"veritysetup", "format", theirs.string(), theirs.string(),
                 "--hash-offset=" + std::to_string(d), "--data-blocks=" + std::to_string(blocks),
                 "--salt=" + hex_encode(params.salt), "--uuid=" + uuid_text(params.uuid)},
                {},
                {}});
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_NE(out->find("Root hash:      \t" + hex_encode(*root)), std::string::npos) << *out;
  EXPECT_EQ(fs::file_size(ours), verity_geometry(d, blocks).end());
  EXPECT_TRUE(read_all(ours) == read_all(theirs)) << "our file differs from veritysetup's";

  // veritysetup accepts ours, we accept veritysetup's.
  auto verify = run_tool({{"veritysetup", "verify", ours.string(), ours.string(), hex_encode(*root),
                           "--hash-offset=" + std::to_string(d)},
                          {},
                          {}});
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
  for (std::uint64_t offset :
       {std::uint64_t{0}, d / 2, d - 1, d + 100, d + 2000, geometry.tree_offset,
        geometry.tree_offset + 4096 + 5, size - 4087, size - 1}) {
    SCOPED_TRACE(offset);
    flip_byte(file, offset);
    auto s = verify_verity(file, d, *root);
    EXPECT_FALSE(s);
    flip_byte(file, offset);
  }
  EXPECT_TRUE(verify_verity(file, d, *root));
  // The same flip in the leaf block is also caught by veritysetup (as atomfs' own test does).
  flip_byte(file, size - 4087);
  auto theirs = run_tool({{"veritysetup", "verify", file.string(), file.string(), hex_encode(*root),
                           "--hash-offset=" + std::to_string(d)},
                          {},
                          {}});
  EXPECT_FALSE(theirs);
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
  EXPECT_NE(s.error().message.find("root hash"), std::string::npos) << s.error().message;
  EXPECT_FALSE(verify_verity(file, d - kVerityBlockSize, *root));  // wrong offset
  fs::resize_file(file, fs::file_size(file) + 1);
  EXPECT_FALSE(verify_verity(file, d, *root));
  fs::resize_file(file, fs::file_size(file) - 2);
  EXPECT_FALSE(verify_verity(file, d, *root));
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
  EXPECT_TRUE(read_all(a) == read_all(b));
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
  EXPECT_FALSE(with(0, 'X'));   // signature
  EXPECT_FALSE(with(8, 2));     // version
  EXPECT_FALSE(with(12, 0));    // hash type 0 (chrome os)
  EXPECT_FALSE(with(32, 'm'));  // algorithm
  EXPECT_FALSE(with(65, 2));    // data block size 512+...
  EXPECT_FALSE(with(81, 2));    // salt size > 256
  EXPECT_FALSE(with(400, 1));   // padding
  EXPECT_FALSE(parse_verity_superblock(span(bytes.substr(0, 100))));
  std::string zero_blocks = bytes;
  for (int i = 72; i < 80; ++i) zero_blocks[i] = 0;
  EXPECT_FALSE(parse_verity_superblock(span(zero_blocks)));
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
  EXPECT_FALSE(parse_root_hash(std::string(64, 'A')));
  EXPECT_FALSE(parse_root_hash(std::string(63, 'a')));
  EXPECT_FALSE(parse_root_hash(std::string(64, 'g')));
}

}  // namespace
}  // namespace mos::image
