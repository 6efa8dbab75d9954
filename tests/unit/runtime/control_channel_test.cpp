#include "runtime/control_channel.hpp"

#include <sys/socket.h>

#include <filesystem>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/support/test_support.hpp"

namespace mos::runtime {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

fs::path socket_path(const char* name) {
  auto dir = fs::path(testing::TempDir()) / "control-channel-test";
  fs::create_directories(dir);
  auto p = dir / name;
  fs::remove(p);
  return p;
}

// Answers one request the way boot does: the command echoed, or an error for "fail".
void answer_one(int listener) {
  int connection = -1;
  for (int i = 0; i < 500 && connection < 0; ++i) {
    connection = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(connection, 0);
  UniqueFd owned(connection);
  auto request = read_request(connection);
  ASSERT_TRUE(request) << request.error().message;
  auto command = (*request)["command"].get<std::string>();
  send_answer(connection, command == "fail" ? Json{{"ok", false}, {"error", "it failed"}}
                                            : Json{{"ok", true}, {"echo", command}});
}

TEST(ControlChannel, OneRequestOneAnswer) {
  auto path = socket_path("a.sock");
  auto listener = listen_for_control(path);
  ASSERT_TRUE(listener) << listener.error().message;
  std::thread server(answer_one, listener->get());
  auto answer = ask_boot(path, Json{{"command", "status"}}, "/root-dir");
  server.join();
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ((*answer)["echo"], "status");

  std::thread failing(answer_one, listener->get());
  EXPECT_THAT(test::error_of(ask_boot(path, Json{{"command", "fail"}}, "/root-dir")),
              HasSubstr("it failed"));
  failing.join();
}

TEST(ControlChannel, NoBootIsSaidSoAndASecondListenerIsRefused) {
  auto path = socket_path("b.sock");
  EXPECT_THAT(test::error_of(ask_boot(path, Json{{"command", "status"}}, "/root-dir")),
              HasSubstr("no mosctl boot is running for /root-dir"));
  EXPECT_FALSE(boot_is_running(path));
  auto first = listen_for_control(path);
  ASSERT_TRUE(first);
  EXPECT_TRUE(boot_is_running(path));
  EXPECT_THAT(test::error_of(listen_for_control(path)), HasSubstr("already runs"));
  first->reset();
  // A stale socket file of a boot that died is replaced.
  EXPECT_TRUE(listen_for_control(path));
}

TEST(ControlChannel, MalformedRequestsAreRefused) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  std::string bad = "{\"command\": 7}\n";
  ASSERT_EQ(::write(a.get(), bad.data(), bad.size()), static_cast<ssize_t>(bad.size()));
  EXPECT_THAT(test::error_of(read_request(b.get())), HasSubstr("\"command\" string"));
  std::string garbage = "not json\n";
  ASSERT_EQ(::write(a.get(), garbage.data(), garbage.size()), static_cast<ssize_t>(garbage.size()));
  EXPECT_FALSE(read_request(b.get()));
}

}  // namespace
}  // namespace mos::runtime
