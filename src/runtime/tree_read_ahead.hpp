#pragma once
// Reading the services' shifted copies into the page cache while the service manager sets up the
// rest. A kernel that cannot idmap squashfs runs each service from a copy of its image on the
// scratch partition (atomfs/shifted_copy.hpp): its program and libraries come from disk at the
// service's start, cold after a boot, and under emulation that read is most of the second
// between "service started" and the service's answer. The kernel is asked for the files
// (POSIX_FADV_WILLNEED, which queues the reads and returns) from a thread of its own, from the
// moment the services are known, so that the reads overlap the network's setup.
#include <cstdint>
#include <filesystem>
#include <thread>
#include <vector>

namespace mos::runtime {

class TreeReadAhead {
 public:
  TreeReadAhead() = default;
  // Starts on the trees that exist, in order, up to `budget` bytes in all (a big image is not
  // worth evicting the boot's other pages for).
  static TreeReadAhead start(std::vector<std::filesystem::path> trees, std::uint64_t budget);
  TreeReadAhead(TreeReadAhead&&) = default;
  TreeReadAhead& operator=(TreeReadAhead&&) = default;
  ~TreeReadAhead() = default;  // the jthread stops the walk and joins

 private:
  explicit TreeReadAhead(std::jthread worker) : worker_(std::move(worker)) {}
  std::jthread worker_;
};

// What one walk asked for: the files and bytes it queued (the thread's work, run inline).
struct ReadAheadCount {
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
};
ReadAheadCount read_ahead_trees(const std::vector<std::filesystem::path>& trees,
                                std::uint64_t budget, std::stop_token stop = {});

}  // namespace mos::runtime
