#include "core/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace mos {

std::string format_bytes(double bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f} {}", bytes, units[unit])
                   : fmt::format("{:.1f} {}", bytes, units[unit]);
}

bool Progress::stderr_is_terminal() {
  return ::isatty(STDERR_FILENO) == 1;
}

Progress::Progress(std::string label, std::int64_t total_bytes, bool enabled)
    : label_(std::move(label)),
      total_(total_bytes),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()) {
  if (!enabled_) return;
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!finished_) {
      if (stop_.wait_for(lock, std::chrono::milliseconds(250), [this] { return finished_; })) break;
      draw(false);
    }
  });
}

Progress::~Progress() {
  finish();
}

void Progress::finish() {
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
  }
  stop_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (enabled_) {
    draw(true);
    std::fputc('\n', stderr);
  }
}

void Progress::draw(bool final) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  auto done = static_cast<double>(done_.load(std::memory_order_relaxed));
  auto total = static_cast<double>(total_.load(std::memory_order_relaxed));
  double rate = elapsed > 0 ? done / elapsed : 0;
  int width = 24;
  int filled = total > 0 ? static_cast<int>(width * std::min(1.0, done / total)) : width;
  std::string bar = std::string(static_cast<std::size_t>(filled), '#') +
                    std::string(static_cast<std::size_t>(width - filled), '-');
  std::string eta;
  if (final) {
    eta = fmt::format("in {:.1f}s", elapsed);
  } else if (rate > 0 && total > done) {
    eta = fmt::format("ETA {:.0f}s", (total - done) / rate);
  }
  std::fprintf(stderr, "\r%s [%s] %s / %s  %s/s  %s\033[K", label_.c_str(), bar.c_str(),
               format_bytes(done).c_str(), format_bytes(total).c_str(), format_bytes(rate).c_str(),
               eta.c_str());
  std::fflush(stderr);
}

}  // namespace mos
