// The container monitor's contract with boot: its arguments, its exit status as the container's
// init ended, and its hand-over to the container reaper once the container runs (the built
// mos-lxc-monitor and mos-container-reaper beside this test, a busybox container).
#include "runtime/container_monitor.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/process.hpp"
#include "core/program_paths.hpp"
#include "runtime/container_reaper.hpp"
#include "runtime/container_teardown.hpp"
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
              HasSubstr("usage: mos-lxc-monitor NAME LXCPATH CONFIG REAPER -- COMMAND"));
  char* no_dashes[] = {name, a, a, a, a, dash, a, nullptr};
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(run_container_monitor(7, no_dashes), 125);
  ::testing::internal::GetCapturedStderr();
}

TEST(ContainerMonitor, BootSaysWhenTheProgramIsMissing) {
  ContainerStart start{"web", "/nonexistent", "/nonexistent/config", {"/bin/true"}, 1, {}, {}};
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
    reaper_ = find_installed_companion(kContainerReaperProgram);
    if (monitor_.empty() || reaper_.empty())
      GTEST_SKIP() << "no mos-lxc-monitor and mos-container-reaper beside this test";
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
                                              "lxc.console.path = none\n"
                                              "lxc.cgroup.dir.container = {}\n"
                                              "lxc.cgroup.dir.monitor = {}\n",
                                              rootfs.string(), kCgroups.payload, kCgroups.monitor),
                                  0644));
  }

  // What liblxc's monitor would have removed at the container's end, had it not handed over.
  void TearDown() override {
    if (!dir_) return;
    EXPECT_TRUE(remove_container_cgroups(kCgroups));
    for (const auto& dir : cgroup_dirs()) EXPECT_FALSE(fs::exists(dir)) << dir;
  }

  static std::vector<fs::path> cgroup_dirs() {
    auto own = read_file("/proc/1/cgroup", 1 << 16);
    auto mountinfo = read_file("/proc/self/mountinfo", 4 << 20);
    if (!own || !mountinfo) return {};
    return container_cgroup_dirs(cgroup_places(*own, *mountinfo), kCgroups);
  }

  std::vector<std::string> argv(const std::string& script, const fs::path& config,
                                const fs::path& reaper) {
    return {monitor_.string(),
            "montest",
            (dir_->path() / "lxc").string(),
            config.empty() ? config_.string() : config.string(),
            reaper.empty() ? "-" : reaper.string(),
            "--",
            "/bin/busybox",
            "sh",
            "-c",
            script};
  }

  ProcessResult run(const std::string& script, const fs::path& config = {}) {
    ProcessRun run;
    run.argv = argv(script, config, {});
    run.timeout = std::chrono::seconds(60);
    auto result = run_process(run);
    EXPECT_TRUE(result) << result.error().message;
    return result ? *result : ProcessResult{};
  }

  // Starts the monitor with the reaper; returns its pid once it has become the reaper (0 if it
  // did not within 20 s).
  pid_t start_until_handed_over(const std::string& script) {
    auto words = argv(script, {}, reaper_);
    std::vector<char*> args;
    for (auto& word : words) args.push_back(word.data());
    args.push_back(nullptr);
    pid_t pid = 0;
    if (::posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return 0;
    // Its command line, not /proc/PID/exe: during the exec the kernel names the new program
    // before it has set up its arguments, which container_init_pid reads.
    std::string handed_over = reaper_.string() + '\0';
    for (int i = 0; i < 2000; ++i) {
      auto cmdline = read_file(fmt::format("/proc/{}/cmdline", pid), 4096);
      if (cmdline && cmdline->starts_with(handed_over)) return pid;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return 0;
  }

  static int exit_code_of(pid_t pid) {
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
  }

  inline static const ContainerCgroupNames kCgroups = container_cgroup_names("unit", "montest");
  fs::path monitor_, reaper_, config_;
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

TEST_F(MonitorRun, BecomesTheReaperOnceItsContainerRunsWhichEndsWithTheContainersStatus) {
  pid_t pid = start_until_handed_over("sleep 1; exit 7");
  ASSERT_GT(pid, 0) << "the monitor did not become the reaper";
  // The container's init is still the same process's child, now the reaper's.
  EXPECT_GT(container_init_pid(pid, "montest", dir_->path() / "lxc"), 1);
  // Its cgroups are where the teardown looks for them (it removes them after each test).
  auto dirs = cgroup_dirs();
  ASSERT_FALSE(dirs.empty());
  for (const auto& dir : dirs) EXPECT_TRUE(fs::exists(dir)) << dir;
  EXPECT_EQ(exit_code_of(pid), 7);
}

TEST_F(MonitorRun, TheReaperPassesSigtermOnToTheContainer) {
  pid_t pid = start_until_handed_over("exec sleep 60");
  ASSERT_GT(pid, 0) << "the monitor did not become the reaper";
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  EXPECT_EQ(exit_code_of(pid), 128 + SIGTERM);
}

TEST_F(MonitorRun, KillingTheReaperKillsTheContainer) {
  pid_t pid = start_until_handed_over("exec sleep 60");
  ASSERT_GT(pid, 0) << "the monitor did not become the reaper";
  pid_t init = container_init_pid(pid, "montest", dir_->path() / "lxc");
  ASSERT_GT(init, 1);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_EQ(exit_code_of(pid), 1000 + SIGKILL);
  // liblxc's PDEATHSIG on the init: it goes too (reparented, then reaped by init or a subreaper).
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    auto stat = read_file(fmt::format("/proc/{}/stat", init), 4096);
    gone = !stat || stat->find(") Z ") != std::string::npos;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone) << "the container's init outlived its reaper";
}

TEST(ContainerReaper, RefusesAnythingButOnePid) {
  char name[] = "mos-container-reaper", word[] = "12x", one[] = "1";
  char* bad[] = {name, word, nullptr};
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(run_container_reaper(2, bad), kContainerGone);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), HasSubstr("usage: mos-container-reaper"));
  char* init[] = {name, one, nullptr};
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(run_container_reaper(2, init), kContainerGone);
  ::testing::internal::GetCapturedStderr();
}

TEST(ContainerReaper, StatusCodesAsAShellReportsThem) {
  EXPECT_EQ(container_status_code(0), 0);
  EXPECT_EQ(container_status_code(7 << 8), 7);
  EXPECT_EQ(container_status_code(SIGTERM), 128 + SIGTERM);
  EXPECT_EQ(container_status_code(SIGKILL), 128 + SIGKILL);
}

}  // namespace
}  // namespace mos::runtime
