#include "runtime/service_log.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "unit/support/test_support.hpp"

namespace mos::runtime {
namespace {

namespace fs = std::filesystem;
using testing::ElementsAre;
using testing::HasSubstr;

std::uint64_t total_size(const fs::path& dir) {
  std::uint64_t total = 0;
  for (const auto& name : test::dir_entries(dir)) total += fs::file_size(dir / name);
  return total;
}

TEST(ServiceLog, RotationKeepsAtMostCountPlusOneFilesWithinTheirBound) {
  auto dir = TempDir::create().value();
  fs::path path = dir.path() / "logs" / "zot.log";  // the directory is made too
  auto log = ServiceLog::open(path, 100, 2).value();
  std::string written;
  for (int i = 0; i < 400; ++i) {
    // Lines of varying length, some chunks several lines, one far over the limit.
    std::string chunk =
        fmt::format("line {} {}\n", i, std::string(static_cast<size_t>(i % 37), 'x'));
    if (i % 5 == 0) chunk += fmt::format("more {}\n", i);
    if (i == 200) chunk += std::string(350, 'B');
    ASSERT_TRUE(log.append(chunk)) << i;
    written += chunk;
    auto names = test::dir_entries(path.parent_path());
    ASSERT_LE(names.size(), 3u) << i;
    for (const auto& name : names) ASSERT_LE(fs::file_size(path.parent_path() / name), 100u);
    ASSERT_LE(total_size(path.parent_path()), 300u);
  }
  EXPECT_THAT(test::dir_entries(path.parent_path()),
              ElementsAre("zot.log", "zot.log.1", "zot.log.2"));
  // Split at the limit, so what is kept is exactly the end of what was written.
  auto kept = read_log_tail(path, kUnlimited).value();
  EXPECT_GT(kept.size(), 200u);
  EXPECT_EQ(kept, written.substr(written.size() - kept.size()));
}

TEST(ServiceLog, TheTailIsReadAcrossRotationsOldestFirst) {
  auto dir = TempDir::create().value();
  fs::path path = dir.path() / "web.log";
  auto log = ServiceLog::open(path, 10, 2).value();
  for (auto chunk : {"aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc", "dd"})
    ASSERT_TRUE(log.append(chunk));
  // "a"s fell off with the third rotation.
  EXPECT_EQ(test::read_text(log_rotation(path, 2)), "bbbbbbbbbb");
  EXPECT_EQ(test::read_text(log_rotation(path, 1)), "cccccccccc");
  EXPECT_EQ(test::read_text(path), "dd");
  EXPECT_EQ(read_log_tail(path, 1000).value(), "bbbbbbbbbbccccccccccdd");
  EXPECT_EQ(read_log_tail(path, 15).value(), "bbbccccccccccdd");
  EXPECT_EQ(read_log_tail(path, 5).value(), "cccdd");
  EXPECT_EQ(read_log_tail(path, 0).value(), "");
}

TEST(ServiceLog, AChunkOverTheLimitIsSplitAndKeepsItsEnd) {
  auto dir = TempDir::create().value();
  fs::path path = dir.path() / "big.log";
  auto log = ServiceLog::open(path, 10, 2).value();
  std::string chunk;
  for (int i = 0; i < 45; ++i) chunk += static_cast<char>('A' + i % 26);
  ASSERT_TRUE(log.append(chunk));
  EXPECT_EQ(test::read_text(path), chunk.substr(40));
  EXPECT_EQ(read_log_tail(path, kUnlimited).value(), chunk.substr(20));
}

TEST(ServiceLog, ReopeningAppendsAndDropsRotationsBeyondTheCount) {
  auto dir = TempDir::create().value();
  fs::path path = dir.path() / "db.log";
  {
    auto log = ServiceLog::open(path, 10, 4).value();
    ASSERT_TRUE(log.append(std::string(45, 'o')));
    EXPECT_EQ(test::dir_entries(dir.path()).size(), 5u);
  }
  auto log = ServiceLog::open(path, 10, 1).value();
  EXPECT_THAT(test::dir_entries(dir.path()), ElementsAre("db.log", "db.log.1"));
  ASSERT_TRUE(log.append("new"));  // fills the 5 bytes left, no rotation
  EXPECT_EQ(test::read_text(path), "ooooonew");
  ASSERT_TRUE(log.append("abc"));  // 2 more fit, then a rotation
  EXPECT_EQ(test::read_text(log_rotation(path, 1)), "ooooonewab");
  EXPECT_EQ(test::read_text(path), "c");
}

TEST(ServiceLog, ErrorsNameTheLog) {
  auto dir = TempDir::create().value();
  EXPECT_THAT(test::error_of(read_log_tail(dir.path() / "none.log", 100)),
              HasSubstr("there is no log at " + (dir.path() / "none.log").string()));
  EXPECT_THAT(test::error_of(ServiceLog::open(dir.path() / "x.log", 0)),
              HasSubstr("x.log: its size limit must be above 0"));
}

// What a follower has seen, and a wait for it that gives up only after a generous time.
class Seen {
 public:
  bool add(std::string_view bytes) {
    std::lock_guard lock(mutex_);
    text_ += bytes;
    changed_.notify_all();
    return true;
  }
  std::string wait_for(const std::string& expected) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, std::chrono::seconds(30),
                      [&] { return text_.size() >= expected.size(); });
    return text_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string text_;
};

TEST(ServiceLog, FollowSeesBytesBeforeAndAfterRotations) {
  auto dir = TempDir::create().value();
  fs::path path = dir.path() / "zot.log";
  auto log = ServiceLog::open(path, 100, 2).value();
  Seen seen;
  Status followed;
  std::jthread follower([&](std::stop_token stop) {
    followed = follow_log(path, [&](std::string_view bytes) { return seen.add(bytes); },
                          {.poll = std::chrono::milliseconds(5), .from_start = true, .stop = stop});
  });
  std::string expected;
  // Each step ends with at most one rotation and waits for the follower, so none of it depends
  // on how fast the follower polls.
  auto step = [&](std::initializer_list<std::string> chunks) {
    std::jthread writer([&] {
      for (const auto& chunk : chunks) ASSERT_TRUE(log.append(chunk));
    });
    writer.join();
    for (const auto& chunk : chunks) expected += chunk;
    return seen.wait_for(expected);
  };
  EXPECT_EQ(step({std::string(30, 'a')}), expected);
  // 30 more in the old file, then 40 of the 50 fill it, a rotation, 10 + 20 in the new one: the
  // follower has to finish the renamed file before it goes on.
  EXPECT_EQ(step({std::string(30, 'b'), std::string(50, 'c'), std::string(20, 'd')}), expected);
  EXPECT_EQ(step({std::string(80, 'e')}), expected);  // 70 fill it, a rotation, 10 in the next
  EXPECT_EQ(step({"after\n"}), expected);
  follower.request_stop();
  follower.join();
  EXPECT_TRUE(followed) << followed.error().message;
}

TEST(ServiceLog, FollowWaitsForTheLogAndEndsWhenTheSinkIsDone) {
  auto dir = TempDir::create().value();
  fs::path path = dir.path() / "late.log";
  std::string seen;
  std::jthread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto log = ServiceLog::open(path, 100, 2).value();
    ASSERT_TRUE(log.append("hello\n"));
    ASSERT_TRUE(log.append("more\n"));
  });
  // Only against a hang: a follow that never ends is stopped after a generous time.
  std::stop_source give_up;
  std::jthread watchdog([&](std::stop_token done) {
    std::mutex mutex;
    std::condition_variable_any never;
    std::unique_lock lock(mutex);
    never.wait_for(lock, done, std::chrono::seconds(30), [] { return false; });
    if (!done.stop_requested()) give_up.request_stop();
  });
  // Ends by itself: the sink wants nothing after the first line. from_start, so that a log made
  // before the follower looked is read whole too.
  auto done = follow_log(
      path,
      [&](std::string_view bytes) {
        seen += bytes;
        return seen.find('\n') == std::string::npos;
      },
      {.poll = std::chrono::milliseconds(5), .from_start = true, .stop = give_up.get_token()});
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_FALSE(give_up.stop_requested()) << "the follow did not end by itself";
  EXPECT_THAT(seen, testing::StartsWith("hello\n"));
}

TEST(ServiceLog, FollowStopsWhenAsked) {
  auto dir = TempDir::create().value();
  std::stop_source stop;
  stop.request_stop();
  auto done = follow_log(dir.path() / "never.log", [](std::string_view) { return true; },
                         {.stop = stop.get_token()});
  EXPECT_TRUE(done);
}

}  // namespace
}  // namespace mos::runtime
