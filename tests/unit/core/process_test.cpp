// run_process and run_checked against real programs (sh, cat, sleep, head, seq, grep): exit
// codes and signals, separate and merged output, input on stdin, output bounds, time limits,
// missing programs and the environment.
#include "core/process.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/text.hpp"
#include "unit/support/test_support.hpp"

namespace mos {
namespace {

using namespace std::chrono_literals;
using test::error_of;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

ProcessRun shell(std::string script) {
  return {.argv = {"sh", "-c", std::move(script)}};
}

// No child is left behind, running or as a zombie (this test program starts no others).
void expect_no_children() {
  int status = 0;
  EXPECT_EQ(::waitpid(-1, &status, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

template <class F>
std::chrono::milliseconds time_of(F&& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

TEST(Process, ReportsExitCodes) {
  auto ok = run_process({.argv = {"true"}});
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->exit_code, 0);
  EXPECT_EQ(ok->signal, std::nullopt);

  auto three = run_process(shell("exit 3"));
  ASSERT_TRUE(three) << three.error().message;
  EXPECT_EQ(three->exit_code, 3);
  EXPECT_EQ(three->signal, std::nullopt);
  expect_no_children();
}

TEST(Process, ReportsTheSignalThatKilledIt) {
  auto killed = run_process(shell("kill -TERM $$; sleep 5"));
  ASSERT_TRUE(killed) << killed.error().message;
  EXPECT_EQ(killed->signal, SIGTERM);
  EXPECT_EQ(killed->exit_code, 128 + SIGTERM);
}

TEST(Process, KeepsStdoutAndStderrApartOrMerged) {
  auto apart = run_process(shell("echo one; echo two >&2; echo three"));
  ASSERT_TRUE(apart) << apart.error().message;
  EXPECT_EQ(apart->out, "one\nthree\n");
  EXPECT_EQ(apart->err, "two\n");

  auto run = shell("echo one; echo two >&2; echo three");
  run.merge_stderr = true;
  auto merged = run_process(run);
  ASSERT_TRUE(merged) << merged.error().message;
  EXPECT_EQ(merged->out, "one\ntwo\nthree\n");
  EXPECT_EQ(merged->err, "");
}

TEST(Process, GivesInputOnStdinAndDevNullOtherwise) {
  auto echoed = run_process({.argv = {"cat"}, .input = "hello\nworld"});
  ASSERT_TRUE(echoed) << echoed.error().message;
  EXPECT_EQ(echoed->out, "hello\nworld");

  auto empty = run_process({.argv = {"cat"}, .input = ""});
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_EQ(empty->out, "");

  // Without input, stdin is /dev/null: cat ends at once instead of waiting for this terminal.
  auto none = run_process({.argv = {"sh", "-c", "cat; ls -l /proc/self/fd/0"}, .timeout = 10s});
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_THAT(none->out, HasSubstr("/dev/null"));
}

TEST(Process, StreamsLargeInputAndOutputAtOnce) {
  // More than any pipe or socket buffer in both directions: cat blocks writing its output
  // unless that is read while the input is still being written.
  std::string input(8 * 1024 * 1024, 'x');
  for (std::size_t i = 0; i < input.size(); i += 4096) input[i] = static_cast<char>('a' + i % 26);
  auto echoed = run_process(
      {.argv = {"cat"}, .input = input, .timeout = 60s, .max_output = 16 * 1024 * 1024});
  ASSERT_TRUE(echoed) << echoed.error().message;
  EXPECT_EQ(echoed->exit_code, 0);
  EXPECT_FALSE(echoed->truncated);
  EXPECT_TRUE(echoed->out == input) << "got " << echoed->out.size() << " bytes";
}

TEST(Process, InputForAChildThatNeverReadsItNeitherHangsNorKillsUs) {
  // SIGPIPE is at its default here: writing to a closed pipe would end this test program.
  std::string input(16 * 1024 * 1024, 'x');
  auto quick = run_process({.argv = {"sh", "-c", "echo bye"}, .input = input});
  ASSERT_TRUE(quick) << quick.error().message;
  EXPECT_EQ(quick->exit_code, 0);
  EXPECT_EQ(quick->out, "bye\n");

  // It closes its stdin and goes on: the rest of the input is dropped at once.
  auto closes =
      run_process({.argv = {"sh", "-c", "exec <&-; sleep 0.2; echo done"}, .input = input});
  ASSERT_TRUE(closes) << closes.error().message;
  EXPECT_EQ(closes->out, "done\n");

  // It keeps stdin open but never reads: the run ends when it does.
  std::chrono::milliseconds took{};
  took = time_of([&] {
    auto slow = run_process({.argv = {"sleep", "0.3"}, .input = input, .timeout = 10s});
    ASSERT_TRUE(slow) << slow.error().message;
    EXPECT_EQ(slow->exit_code, 0);
  });
  EXPECT_LT(took, 5s);
  expect_no_children();
}

TEST(Process, BoundsOutputPerStream) {
  auto head =
      run_process({.argv = {"sh", "-c", "seq 1 200000; seq 1 200000 >&2"}, .max_output = 1000});
  ASSERT_TRUE(head) << head.error().message;
  EXPECT_EQ(head->exit_code, 0);  // everything was read: the program was not stopped early
  EXPECT_TRUE(head->truncated);
  ASSERT_EQ(head->out.size(), 1000u);
  ASSERT_EQ(head->err.size(), 1000u);
  EXPECT_THAT(head->out, StartsWith("1\n2\n3\n"));
  EXPECT_THAT(head->err, StartsWith("1\n2\n3\n"));

  auto tail = run_process({.argv = {"seq", "1", "500000"}, .max_output = 20, .keep_tail = true});
  ASSERT_TRUE(tail) << tail.error().message;
  EXPECT_TRUE(tail->truncated);
  EXPECT_EQ(tail->out.size(), 20u);
  EXPECT_THAT(tail->out, EndsWith("499999\n500000\n"));

  auto fits = run_process({.argv = {"seq", "1", "3"}, .max_output = 6});
  ASSERT_TRUE(fits) << fits.error().message;
  EXPECT_FALSE(fits->truncated);
  EXPECT_EQ(fits->out, "1\n2\n3\n");
}

TEST(Process, TimeoutKillsAndReapsTheChild) {
  Result<ProcessResult> late;
  auto took = time_of([&] { late = run_process({.argv = {"sleep", "60"}, .timeout = 200ms}); });
  EXPECT_EQ(error_of(late), "sleep did not finish within 200 ms: stopped it");
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 700ms);
  expect_no_children();

  auto named = run_process({.argv = {"sleep", "60"},
                            .timeout = 1s,
                            .what = "the sleeper",
                            .timeout_message = "the sleeper overslept"});
  EXPECT_EQ(error_of(named), "the sleeper overslept");
  expect_no_children();
  EXPECT_EQ(error_of(run_process({.argv = {"sleep", "60"}, .timeout = 100ms, .what = "nap"})),
            "nap did not finish within 100 ms: stopped it");
}

TEST(Process, TimeoutAppliesToAChildThatClosedItsOutput) {
  Result<ProcessResult> late;
  auto took = time_of([&] {
    late = run_process(
        {.argv = {"sh", "-c", "exec >&- 2>&-; sleep 60"}, .input = "unread", .timeout = 300ms});
  });
  EXPECT_EQ(error_of(late), "sh did not finish within 300 ms: stopped it");
  EXPECT_LT(took, 800ms);
  expect_no_children();
}

TEST(Process, EndsWhenTheChildEndsEvenIfWhatItStartedHoldsItsOutput) {
  // The background sleep inherits stdout and stderr; the run still ends with the shell.
  Result<ProcessResult> done;
  auto took = time_of([&] { done = run_process(shell("sleep 60 & echo $!")); });
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_LT(took, 5s);
  auto pid = parse_unsigned(std::string_view(done->out).substr(0, done->out.find('\n')));
  ASSERT_TRUE(pid) << done->out;
  ::kill(static_cast<pid_t>(*pid), SIGKILL);
}

TEST(Process, NamesAMissingProgram) {
  EXPECT_EQ(error_of(run_process({.argv = {"mos-no-such-program"}})),
            "mos-no-such-program is not installed (no such program in $PATH)");
  EXPECT_EQ(error_of(run_checked({.argv = {"mos-no-such-program"}, .what = "the frobnicator"})),
            "the frobnicator is not installed (no such program in $PATH)");
  EXPECT_EQ(error_of(run_process({.argv = {"/nonexistent/mos-program"}})),
            "cannot run /nonexistent/mos-program: No such file or directory");
  EXPECT_EQ(error_of(run_process({.argv = {"/etc/passwd"}})),
            "cannot run /etc/passwd: Permission denied");
  EXPECT_EQ(error_of(run_process({})), "no program to run");
  expect_no_children();
}

TEST(Process, SetsAndUnsetsEnvironmentVariables) {
  ASSERT_EQ(::setenv("MOS_PROCESS_TEST_GONE", "inherited", 1), 0);
  ASSERT_EQ(::setenv("MOS_PROCESS_TEST_REPLACED", "old", 1), 0);
  ASSERT_EQ(::setenv("MOS_PROCESS_TEST_KEPT", "kept", 1), 0);
  auto env =
      run_process({.argv = {"env"},
                   .unset_env = {"MOS_PROCESS_TEST_GONE"},
                   .set_env = {"MOS_PROCESS_TEST_REPLACED=new=value", "MOS_PROCESS_TEST_NEW="}});
  ::unsetenv("MOS_PROCESS_TEST_GONE");
  ::unsetenv("MOS_PROCESS_TEST_REPLACED");
  ::unsetenv("MOS_PROCESS_TEST_KEPT");
  ASSERT_TRUE(env) << env.error().message;
  std::string text = "\n" + env->out;
  EXPECT_THAT(text, Not(HasSubstr("MOS_PROCESS_TEST_GONE")));
  EXPECT_THAT(text, Not(HasSubstr("MOS_PROCESS_TEST_REPLACED=old")));
  EXPECT_THAT(text, HasSubstr("\nMOS_PROCESS_TEST_REPLACED=new=value\n"));
  EXPECT_THAT(text, HasSubstr("\nMOS_PROCESS_TEST_NEW=\n"));
  EXPECT_THAT(text, HasSubstr("\nMOS_PROCESS_TEST_KEPT=kept\n"));

  EXPECT_EQ(error_of(run_process({.argv = {"env"}, .set_env = {"NO_VALUE"}})),
            "cannot run env: environment entry \"NO_VALUE\" is not NAME=VALUE");
  EXPECT_EQ(error_of(run_process({.argv = {"env"}, .unset_env = {"A=B"}})),
            "cannot run env: \"A=B\" is not the name of an environment variable");
}

TEST(Process, ChildStartsWithDefaultSignalHandling) {
  // A server ignores SIGPIPE; the programs it runs must not inherit that.
  auto* previous = ::signal(SIGPIPE, SIG_IGN);
  auto status = run_process({.argv = {"grep", "^SigIgn:", "/proc/self/status"}});
  ::signal(SIGPIPE, previous);
  ASSERT_TRUE(status) << status.error().message;
  ASSERT_THAT(status->out, StartsWith("SigIgn:\t"));
  auto ignored = std::stoull(status->out.substr(8), nullptr, 16);
  // Bit N-1 is signal N. glibc's posix_spawn leaves its own signals 32 and 33 (SIGCANCEL,
  // SIGSETXID) ignored; none of the standard ones may be.
  EXPECT_EQ(ignored & 0x7fffffffULL, 0u) << status->out;
}

TEST(ProcessChecked, ReturnsStdoutOrFailsWithTheLastWords) {
  auto out = run_checked(shell("echo result; echo chatter >&2"));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(*out, "result\n");

  EXPECT_EQ(error_of(run_checked(shell("echo partial; echo 'boom: it broke' >&2; exit 3"))),
            "sh exited with status 3: boom: it broke");
  // Nothing on stderr: stdout says what went wrong.
  EXPECT_EQ(error_of(run_checked(shell("echo 'only here'; exit 1"))),
            "sh exited with status 1: only here");
  EXPECT_EQ(error_of(run_checked(shell("exit 2"))), "sh exited with status 2");
  EXPECT_EQ(error_of(run_checked(shell("echo dying >&2; kill -KILL $$"))),
            "sh was killed by signal 9: dying");

  auto merged = shell("echo 'first line'; echo 'second line' >&2; exit 1");
  merged.merge_stderr = true;
  merged.what = "the tool";
  EXPECT_EQ(error_of(run_checked(merged)),
            "the tool exited with status 1: first line\nsecond line");
}

TEST(ProcessChecked, KeepsOnlyTheLastLinesInItsMessage) {
  auto message = error_of(run_checked(shell("seq -f 'line %g' 1 1000 >&2; exit 1")));
  EXPECT_THAT(message, StartsWith("sh exited with status 1: line 981\n"));
  EXPECT_THAT(message, EndsWith("\nline 1000"));

  // One enormous line is cut to its end.
  auto long_line = error_of(run_checked(shell("head -c 100000 /dev/zero | tr '\\0' x; exit 1")));
  EXPECT_LT(long_line.size(), 4200u);
  EXPECT_THAT(long_line, StartsWith("sh exited with status 1: xxx"));
}

}  // namespace
}  // namespace mos
