// zstd_compress: the kernel's zstd decompressor must get the exact cpio back; `zstd -d` (Debian's
// zstd, the reference implementation) stands in for it.
#include "boot/initramfs_compression.hpp"

#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/process.hpp"

namespace mos::boot {
namespace {

std::string sample(std::size_t size) {
  std::mt19937 random(7);
  std::string data(size, '\0');
  // Half repetitive, half noise: both paths of the compressor.
  for (std::size_t i = 0; i < size; ++i)
    data[i] = i % 2 ? static_cast<char>(random()) : static_cast<char>('a' + i % 13);
  return data;
}

TEST(InitramfsCompression, ZstdDecompressesToTheSameBytes) {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{3 << 20}}) {
    auto data = sample(size);
    auto compressed = zstd_compress(data);
    ASSERT_TRUE(compressed) << compressed.error().message;
    // zstd's frame magic, which the kernel looks for.
    ASSERT_GE(compressed->size(), 4u);
    EXPECT_EQ(compressed->substr(0, 4), std::string("\x28\xb5\x2f\xfd", 4));
    ProcessRun run;
    run.argv = {"zstd", "-d", "-c", "-q"};
    run.input = *compressed;
    run.max_output = 8 << 20;
    auto back = run_checked(run);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, data) << "size " << size;
  }
}

TEST(InitramfsCompression, IsDeterministicAndSmaller) {
  auto data = sample(1 << 20);
  auto a = zstd_compress(data);
  auto b = zstd_compress(data);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  EXPECT_LT(a->size(), data.size());
}

}  // namespace
}  // namespace mos::boot
