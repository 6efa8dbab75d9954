#pragma once
// A one-line progress display on stderr for long transfers: bytes done of total, rate and ETA,
// redrawn a few times a second by its own thread. Disabled (no output at all) when stderr is not
// a terminal or the user asked for quiet; counting stays cheap either way (an atomic add).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace mos {

class Progress {
 public:
  Progress(std::string label, std::int64_t total_bytes, bool enabled);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void add(std::int64_t bytes) { done_.fetch_add(bytes, std::memory_order_relaxed); }
  void add_total(std::int64_t bytes) { total_.fetch_add(bytes, std::memory_order_relaxed); }
  // Draws the final state and ends the line.
  void finish();
  std::int64_t done() const { return done_.load(std::memory_order_relaxed); }

  static bool stderr_is_terminal();

 private:
  void draw(bool final);
  std::string label_;
  std::atomic<std::int64_t> total_;
  std::atomic<std::int64_t> done_{0};
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
  std::condition_variable stop_;
  std::thread thread_;
};

// "1.5 GiB", "512 KiB", "17 B"
std::string format_bytes(double bytes);

}  // namespace mos
