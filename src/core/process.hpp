#pragma once
// Runs an external program to completion (mksquashfs, tar, docker-credential-*, mkfs.*, nft, ip)
// with a controlled environment, optional input on its stdin, its output captured within bounds
// and an optional time limit. No shell is involved, so arguments are never re-parsed. It never
// hangs on the child's pipes: all of them are polled together, input is written without risking
// a SIGPIPE, and a child that outlives its time limit is killed and reaped.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace mos {

struct ProcessRun {
  std::vector<std::string> argv{};       // argv[0] is looked up in $PATH unless it holds a '/'
  std::vector<std::string> unset_env{};  // NAMEs removed from the inherited environment
  std::vector<std::string> set_env{};    // NAME=VALUE added (replacing an inherited NAME)
  std::optional<std::string> input{};    // written to stdin, which then ends; none: /dev/null
  std::chrono::milliseconds timeout{0};  // killed (SIGKILL) after this; 0: no limit
  std::size_t max_output = 1024 * 1024;  // bytes kept per stream; the rest is read, dropped
  bool keep_tail = false;                // keep the last max_output bytes, not the first
  bool merge_stderr = false;             // stderr goes to `out` too (one pipe, in order)
  std::string what{};                    // how messages name the program (default: argv[0])
  // The error when the time runs out (default: "WHAT did not finish within T: stopped it").
  std::string timeout_message{};
};

struct ProcessResult {
  int exit_code = 0;          // the exit status; 128 + N when killed by signal N
  std::optional<int> signal;  // the signal that killed it
  std::string out;            // stdout (and stderr when merged)
  std::string err;            // stderr (empty when merged)
  bool truncated = false;     // a stream had more than max_output bytes: some were dropped
};

// Runs the program until it exits and reports how it ended, whatever its exit status. Fails only
// when it cannot be started ("WHAT is not installed (no such program in $PATH)") or did not end
// within the timeout (it is then killed and reaped). When the program exits while something it
// started still holds its output open, what is already written is read and the rest ignored.
Result<ProcessResult> run_process(const ProcessRun& run);

// run_process for a program that must succeed: its stdout, or an error "WHAT exited with status
// N: ..." / "WHAT was killed by signal N: ..." ending with the last lines of its stderr (of its
// stdout when stderr is empty or merged).
Result<std::string> run_checked(const ProcessRun& run);

}  // namespace mos
