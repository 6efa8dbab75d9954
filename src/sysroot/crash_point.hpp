#pragma once
// Test-only crash injection for the crash-safety tests of install, update, rollback and gc.
//
//   MOS_CRASH_AT=NAME      the process kills itself (SIGKILL, as kill -9) the first time it
//                          reaches the point NAME
//   MOS_CRASH_AT=NAME#N    ... the N-th time (points inside loops)
//   MOS_CRASH_LOG=FILE     every point reached is appended to FILE as "NAME#N" (tests use it to
//                          enumerate the points of a run)
//
// Without these variables a crash point costs one branch.
#include <string_view>

namespace mos::sysroot {

void crash_point(std::string_view name);

}  // namespace mos::sysroot
