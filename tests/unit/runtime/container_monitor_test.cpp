// The container monitor's contract with boot: its arguments, and its exit status as the
// container's init ended (the built mos-lxc-monitor beside this test, a busybox container).
#include "runtime/container_monitor.hpp"

#include <unistd.h>

#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/process.hpp"
#include "core/program_paths.hpp"
#include "runtime/lxc_container.hpp"
#include "unit/support/test_support.hpp"

namespace mos::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(ContainerMonitor, RefusesArgumentsItWasNotStartedWith) {
  char name[] = "mos-lxc-monitor", a[] = "web", dash[] = "-x";
  char* few[] = {name, a, nullptr};
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(run_container_monitor(2, few), 125);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(),
              HasSubstr("usage: mos-lxc-monitor NAME LXCPATH CONFIG -- COMMAND"));
  char* no_dashes[] = {name, a, a, a, dash, a, nullptr};
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(run_container_monitor(6, no_dashes), 125);
  ::testing::internal::GetCapturedStderr();
}

TEST(ContainerMonitor, BootSaysWhenTheProgramIsMissing) {
  ContainerStart start{"web", "/nonexistent", "/nonexistent/config", {"/bin/true"}, 1, {}};
  EXPECT_THAT(test::error_of(start_container(start)),
              HasSubstr("the monitor program mos-lxc-monitor was not found"));
}

TEST(FirstLxcError, TheFirstErrorLinesMessage) {
  auto dir = TempDir::create({}, "mos-lxclog-test-").value();
  auto log = dir.path() / "web.lxc.log";
  EXPECT_EQ(first_lxc_error(log), "") << "no log";
  ASSERT_TRUE(write_file_atomic(
      log,
      "lxc web 20261201 WARN start - start.c:2:b - A warning\n"
      "lxc web 20261201 ERROR apparmor - lsm/apparmor.c:3:c - Failed to load \x1b[0m profile\n"
      "lxc web 20261201 ERROR start - start.c:4:d - Failed to spawn container \"web\"\n",
      0644));
  EXPECT_EQ(first_lxc_error(log), "Failed to load  [0m profile");
  ASSERT_TRUE(write_file_atomic(log, "lxc web 20261201 WARN start - start.c:4:d - fine\n", 0644));
  EXPECT_EQ(first_lxc_error(log), "");
}

// A busybox container whose command ends as told: the monitor ends with its status.
class MonitorRun : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "liblxc needs root here";
    monitor_ = find_installed_companion(kContainerMonitorProgram);
    if (monitor_.empty()) GTEST_SKIP() << "no mos-lxc-monitor beside this test";
    if (!fs::exists("/bin/busybox")) GTEST_SKIP() << "no /bin/busybox";
    dir_.emplace(TempDir::create({}, "mos-monitor-test-").value());
    fs::path rootfs = dir_->path() / "rootfs";
    for (const char* sub : {"bin", "proc", "sys", "dev", "tmp"})
      fs::create_directories(rootfs / sub);
    fs::copy_file("/bin/busybox", rootfs / "bin/busybox");
    fs::create_directories(dir_->path() / "lxc");
    config_ = dir_->path() / "config";
    ASSERT_TRUE(write_file_atomic(config_,
                                  fmt::format("lxc.uts.name = montest\n"
                                              "lxc.rootfs.path = dir:{}\n"
                                              "lxc.net.0.type = empty\n"
                                              "lxc.mount.auto = proc:mixed sys:mixed\n"
                                              "lxc.autodev = 1\n"
                                              "lxc.apparmor.profile = unchanged\n"
                                              "lxc.console.path = none\n",
                                              rootfs.string()),
                                  0644));
  }

  ProcessResult run(const std::string& script, const fs::path& config = {}) {
    ProcessRun run;
    run.argv = {monitor_.string(),
                "montest",
                (dir_->path() / "lxc").string(),
                config.empty() ? config_.string() : config.string(),
                "--",
                "/bin/busybox",
                "sh",
                "-c",
                script};
    run.timeout = std::chrono::seconds(60);
    auto result = run_process(run);
    EXPECT_TRUE(result) << result.error().message;
    return result ? *result : ProcessResult{};
  }

  fs::path monitor_, config_;
  std::optional<TempDir> dir_;
};

TEST_F(MonitorRun, EndsWithTheStatusOfTheContainersCommand) {
  auto ok = run("echo inside $$");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("inside "));
  EXPECT_EQ(run("exit 7").exit_code, 7);
  // Killed by a signal: 128 + its number, as a shell reports it.
  EXPECT_EQ(run("kill -TERM $$; sleep 5").exit_code, 128 + 15);
}

TEST_F(MonitorRun, AContainerLiblxcCannotStartEndsIt125WithTheReasonInItsLog) {
  auto broken = dir_->path() / "broken-config";
  auto log = dir_->path() / "broken.lxc.log";
  ASSERT_TRUE(write_file_atomic(broken,
                                fmt::format("lxc.uts.name = montest\n"
                                            "lxc.rootfs.path = dir:{}/no-such-rootfs\n"
                                            "lxc.net.0.type = empty\n"
                                            "lxc.apparmor.profile = unchanged\n"
                                            "lxc.console.path = none\n"
                                            "lxc.log.file = {}\n"
                                            "lxc.log.level = WARN\n",
                                            dir_->path().string(), log.string()),
                                0644));
  auto result = run("true", broken);
  EXPECT_EQ(result.exit_code, kContainerNotStarted);
  EXPECT_THAT(result.err, HasSubstr("liblxc could not start montest"));
  EXPECT_NE(first_lxc_error(log), "");
}

}  // namespace
}  // namespace mos::runtime
