#pragma once
// Runs an external tool (mksquashfs, tar) to completion with a controlled environment and its
// output captured for error messages; no shell is involved, so arguments are never re-parsed.
#include <string>
#include <vector>

#include "core/result.hpp"

namespace mos::image {

struct ToolRun {
  std::vector<std::string> argv;       // argv[0] is looked up in PATH
  std::vector<std::string> unset_env;  // variables removed from the inherited environment
  std::vector<std::string> set_env;    // NAME=VALUE added
};

// Returns the tool's combined stdout and stderr (the last 64 KiB); fails with that output when
// it cannot be started or exits non-zero.
Result<std::string> run_tool(const ToolRun& run);

}  // namespace mos::image
