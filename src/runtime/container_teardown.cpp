#include "runtime/container_teardown.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "core/file.hpp"
#include "core/text.hpp"

namespace mos::runtime {
namespace {

namespace fs = std::filesystem;

// mountinfo writes a space, tab, newline or backslash in a path as \ooo.
std::string unescaped(std::string_view field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() &&
        std::all_of(field.begin() + i + 1, field.begin() + i + 4,
                    [](char c) { return c >= '0' && c <= '7'; })) {
      out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                               (field[i + 3] - '0'));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

struct CgroupMount {
  std::string root, mount_point, type;
  std::vector<std::string_view> options;
};

std::vector<CgroupMount> cgroup_mounts(std::string_view mountinfo) {
  std::vector<CgroupMount> mounts;
  for_each_line(mountinfo, [&](std::string_view line) {
    // ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER_OPTIONS
    auto fields = split_fields(line, ' ');
    auto dash = std::ranges::find(fields, std::string_view("-"));
    if (fields.size() < 6 || dash == fields.end() || fields.end() - dash < 4) return;
    std::string_view type = dash[1];
    if (type != "cgroup" && type != "cgroup2") return;
    mounts.push_back({unescaped(fields[3]), unescaped(fields[4]), std::string(type),
                      split_fields(dash[3], ',')});
  });
  return mounts;
}

// Deepest first: a cgroup's children are cgroups too, and only empty ones can go.
Status remove_cgroup_tree(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec) && !it->is_symlink(ec)) MOS_TRY(remove_cgroup_tree(it->path()));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (::rmdir(dir.c_str()) != 0) {
    if (errno == ENOENT) return {};
    if (errno != EBUSY || std::chrono::steady_clock::now() >= deadline)
      return fail("removing the cgroup {}: {}", dir.string(), errno_message(errno));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return {};
}

}  // namespace

std::vector<CgroupPlace> cgroup_places(std::string_view proc_cgroup, std::string_view mountinfo) {
  auto mounts = cgroup_mounts(mountinfo);
  std::vector<CgroupPlace> places;
  for_each_line(proc_cgroup, [&](std::string_view line) {
    // ID:CONTROLLERS:PATH; v2's is 0::PATH
    auto first = line.find(':');
    auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) return;
    auto controllers = line.substr(first + 1, second - first - 1);
    std::string own(line.substr(second + 1));
    for (const auto& m : mounts) {
      bool matches = controllers.empty()
                         ? m.type == "cgroup2"
                         : m.type == "cgroup" &&
                               std::ranges::all_of(split_fields(controllers, ','), [&](auto c) {
                                 return std::ranges::find(m.options, c) != m.options.end();
                               });
      if (!matches) continue;
      // The mount shows the hierarchy from m.root down: our cgroup must be under it.
      std::string_view rest(own);
      std::string_view root(m.root);
      if (root != "/") {
        if (!rest.starts_with(root) || (rest.size() > root.size() && rest[root.size()] != '/'))
          continue;
        rest.remove_prefix(root.size());
      }
      while (rest.starts_with('/')) rest.remove_prefix(1);
      places.push_back({m.mount_point, std::string(rest)});
      break;
    }
  });
  return places;
}

std::vector<fs::path> container_cgroup_dirs(const std::vector<CgroupPlace>& places,
                                            const ContainerCgroupNames& names) {
  std::vector<fs::path> dirs;
  for (const auto& place : places)
    for (const auto* name : {&names.payload, &names.monitor})
      dirs.push_back(place.mount / place.own / *name);
  return dirs;
}

Status remove_container_cgroups(const ContainerCgroupNames& names) {
  // Where liblxc put them (cgfsng's __initialize_cgroups): pid 1's cgroups for root.
  MOS_TRY_ASSIGN(auto own,
                 read_file(::geteuid() == 0 ? "/proc/1/cgroup" : "/proc/self/cgroup", 1 << 16));
  MOS_TRY_ASSIGN(auto mountinfo, read_file("/proc/self/mountinfo", 4 << 20));
  Status result;
  for (const auto& dir : container_cgroup_dirs(cgroup_places(own, mountinfo), names)) {
    if (auto s = remove_cgroup_tree(dir); !s && result) result = s;
  }
  return result;
}

}  // namespace mos::runtime
