// The producer/consumer pipe behind RegistryRepository::open_blob: bytes arrive in order through
// a buffer much smaller than the blob, producer errors reach the reader after the buffered bytes,
// and a reader dropped early stops the producer.
#include "oci/blob_pipe.hpp"

#include <atomic>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mos::oci {
namespace {

using ::testing::HasSubstr;

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
  return s;
}

Result<std::string> drain(BlobReader& reader) {
  std::string out;
  std::vector<std::byte> buffer(777);
  while (true) {
    MOS_TRY_ASSIGN(auto n, reader.read(buffer));
    if (n == 0) return out;
    out.append(reinterpret_cast<const char*>(buffer.data()), n);
  }
}

TEST(BlobPipe, PassesEveryByteInOrderThroughASmallRing) {
  auto data = pattern(1 << 20);
  auto reader = make_blob_pipe(
      [&](BlobSink& sink) -> Status {
        for (std::size_t off = 0; off < data.size(); off += 10007) {
          auto piece = std::string_view(data).substr(off, 10007);
          MOS_TRY(sink.write(std::as_bytes(std::span(piece.data(), piece.size()))));
        }
        return {};
      },
      4096);
  auto got = drain(*reader);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, data);
}

TEST(BlobPipe, ProducerErrorArrivesAfterTheBufferedBytes) {
  auto reader = make_blob_pipe([](BlobSink& sink) -> Status {
    std::string_view part = "partial";
    MOS_TRY(sink.write(std::as_bytes(std::span(part.data(), part.size()))));
    return fail("digest mismatch: the bytes received have digest sha256:00");
  });
  std::vector<std::byte> buffer(64);
  auto first = reader->read(buffer);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, 7u);
  auto second = reader->read(buffer);
  ASSERT_FALSE(second);
  EXPECT_THAT(second.error().message, HasSubstr("digest mismatch"));
}

TEST(BlobPipe, VouchesOnlyForTheDigestItsProducerChecksAndStartsAtTheFirstRead) {
  std::atomic<bool> started{false};
  auto checked = digest_of("abc");
  auto reader = make_blob_pipe(
      [&](BlobSink& sink) -> Status {
        started = true;
        return sink.write(std::as_bytes(std::span("abc", 3)));
      },
      4096, checked);
  EXPECT_TRUE(reader->verifies(checked));
  EXPECT_FALSE(reader->verifies(digest_of("abd")));
  EXPECT_FALSE(started.load());  // a reader never read (a mounted blob) downloads nothing
  auto got = drain(*reader);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "abc");
  EXPECT_TRUE(started.load());
  auto plain = make_blob_pipe([](BlobSink&) -> Status { return {}; });
  EXPECT_FALSE(plain->verifies(checked));
}

TEST(BlobPipe, DroppingTheReaderStopsTheProducer) {
  std::atomic<bool> stopped_with_error{false};
  {
    auto reader = make_blob_pipe(
        [&](BlobSink& sink) -> Status {
          std::string chunk(1000, 'x');
          while (true) {
            if (auto ok = sink.write(std::as_bytes(std::span(chunk.data(), chunk.size()))); !ok) {
              stopped_with_error = true;
              return ok;
            }
          }
        },
        4096);
    std::vector<std::byte> buffer(100);
    ASSERT_TRUE(reader->read(buffer));
  }  // destruction joins the producer, which must have seen its write fail
  EXPECT_TRUE(stopped_with_error.load());
}

}  // namespace
}  // namespace mos::oci
