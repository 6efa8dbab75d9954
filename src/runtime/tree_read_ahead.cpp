#include "runtime/tree_read_ahead.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/unique_fd.hpp"

namespace mos::runtime {

namespace fs = std::filesystem;

ReadAheadCount read_ahead_trees(const std::vector<fs::path>& trees, std::uint64_t budget,
                                std::stop_token stop) {
  ReadAheadCount count;
  for (const auto& tree : trees) {
    std::error_code ec;
    // Links are not followed: a copy's symlinks point inside the container's root, not here.
    for (fs::recursive_directory_iterator
             it(tree, fs::directory_options::skip_permission_denied, ec),
         end;
         !ec && it != end; it.increment(ec)) {
      if (stop.stop_requested() || count.bytes >= budget) return count;
      if (!it->is_regular_file(ec)) continue;
      UniqueFd fd(::open(it->path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
      struct stat st{};
      if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      auto size =
          std::min<std::uint64_t>(static_cast<std::uint64_t>(st.st_size), budget - count.bytes);
      if (::posix_fadvise(fd.get(), 0, static_cast<off_t>(size), POSIX_FADV_WILLNEED) != 0)
        continue;
      ++count.files;
      count.bytes += size;
    }
  }
  return count;
}

TreeReadAhead TreeReadAhead::start(std::vector<fs::path> trees, std::uint64_t budget) {
  std::erase_if(trees, [](const fs::path& tree) {
    std::error_code ec;
    return !fs::is_directory(tree, ec);
  });
  if (trees.empty()) return {};
  return TreeReadAhead(std::jthread([trees = std::move(trees), budget](std::stop_token stop) {
    (void)read_ahead_trees(trees, budget, stop);
  }));
}

}  // namespace mos::runtime
