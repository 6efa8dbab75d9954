#include "sysroot/crash_point.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include <fmt/format.h>

namespace mos::sysroot {
namespace {

struct CrashConfig {
  const char* at = std::getenv("MOS_CRASH_AT");
  const char* log = std::getenv("MOS_CRASH_LOG");
  bool active() const { return (at && *at) || (log && *log); }
};

const CrashConfig& config() {
  static const CrashConfig c;
  return c;
}

}  // namespace

void crash_point(std::string_view name) {
  const auto& c = config();
  if (!c.active()) return;
  static std::mutex mutex;
  static std::map<std::string, int, std::less<>> hits;
  std::lock_guard lock(mutex);
  int n = ++hits[std::string(name)];
  std::string numbered = fmt::format("{}#{}", name, n);
  if (c.log && *c.log) {
    int fd = ::open(c.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      std::string line = numbered + "\n";
      [[maybe_unused]] auto written = ::write(fd, line.data(), line.size());
      ::close(fd);
    }
  }
  if (c.at && *c.at && (numbered == c.at || (n == 1 && name == c.at))) {
    ::raise(SIGKILL);
    ::_exit(137);  // not reached
  }
}

}  // namespace mos::sysroot
