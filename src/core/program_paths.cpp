#include "core/program_paths.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/file.hpp"

namespace mos {

namespace fs = std::filesystem;

fs::path find_installed_companion(std::string_view name) {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  for (const auto& dir : {self.parent_path(), self.parent_path().parent_path() / "libexec" / "mos"})
    if (::access((dir / name).c_str(), X_OK) == 0) return dir / name;
  return {};
}

fs::path find_companion_program(std::string_view name) {
  if (auto found = find_installed_companion(name); !found.empty()) return found;
  const char* path = std::getenv("PATH");
  if (!path) return {};
  std::string_view rest(path);
  while (!rest.empty()) {
    auto colon = rest.find(':');
    fs::path candidate = fs::path(rest.substr(0, colon)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return {};
}

Status become_program(const fs::path& program) {
  MOS_TRY_ASSIGN(std::string cmdline, read_file("/proc/self/cmdline", 1 << 20));
  std::vector<char*> argv;
  for (std::size_t at = 0; at < cmdline.size(); at += std::strlen(cmdline.data() + at) + 1)
    argv.push_back(cmdline.data() + at);
  if (argv.empty()) return fail("/proc/self/cmdline is empty");
  argv.push_back(nullptr);
  ::execv(program.c_str(), argv.data());
  return fail("cannot run {}: {}", program.string(), errno_message(errno));
}

}  // namespace mos
