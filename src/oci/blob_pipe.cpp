#include "oci/blob_pipe.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace mos::oci {
namespace {

struct PipeState {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::byte> ring;
  std::size_t head = 0;  // next byte to read
  std::size_t used = 0;
  bool finished = false;
  bool cancelled = false;
  Status result;
};

class PipeSink final : public BlobSink {
 public:
  explicit PipeSink(PipeState& state) : state_(state) {}
  Status write(std::span<const std::byte> bytes) override {
    std::unique_lock lock(state_.mutex);
    while (!bytes.empty()) {
      state_.changed.wait(lock,
                          [&] { return state_.cancelled || state_.used < state_.ring.size(); });
      if (state_.cancelled) return fail("the reader stopped reading");
      std::size_t cap = state_.ring.size();
      std::size_t tail = (state_.head + state_.used) % cap;
      std::size_t n = std::min({bytes.size(), cap - state_.used, cap - tail});
      std::memcpy(state_.ring.data() + tail, bytes.data(), n);
      state_.used += n;
      bytes = bytes.subspan(n);
      state_.changed.notify_all();
    }
    return {};
  }

 private:
  PipeState& state_;
};

class PipeReader final : public BlobReader {
 public:
  PipeReader(std::function<Status(BlobSink&)> producer, std::size_t buffer_bytes,
             std::optional<Digest> verified)
      : producer_(std::move(producer)),
        buffer_bytes_(std::max<std::size_t>(buffer_bytes, 4096)),
        verified_(std::move(verified)) {}
  bool verifies(const Digest& digest) const override { return verified_ && *verified_ == digest; }
  ~PipeReader() override {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(state_.mutex);
      state_.cancelled = true;
      state_.changed.notify_all();
    }
    thread_.join();
  }
  Result<std::size_t> read(std::span<std::byte> buffer) override {
    if (!thread_.joinable()) start();
    std::unique_lock lock(state_.mutex);
    state_.changed.wait(lock, [&] { return state_.used > 0 || state_.finished; });
    if (state_.used == 0) {
      if (!state_.result) return std::unexpected(state_.result.error());
      return 0;
    }
    std::size_t cap = state_.ring.size();
    std::size_t n = std::min({buffer.size(), state_.used, cap - state_.head});
    std::memcpy(buffer.data(), state_.ring.data() + state_.head, n);
    state_.head = (state_.head + n) % cap;
    state_.used -= n;
    state_.changed.notify_all();
    return n;
  }

 private:
  void start() {
    state_.ring.resize(buffer_bytes_);
    thread_ = std::thread([this, producer = std::move(producer_)] {
      PipeSink sink(state_);
      Status result = producer(sink);
      std::lock_guard lock(state_.mutex);
      state_.result = std::move(result);
      state_.finished = true;
      state_.changed.notify_all();
    });
  }

  std::function<Status(BlobSink&)> producer_;
  std::size_t buffer_bytes_;
  std::optional<Digest> verified_;
  PipeState state_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<BlobReader> make_blob_pipe(std::function<Status(BlobSink&)> producer,
                                           std::size_t buffer_bytes,
                                           std::optional<Digest> verified) {
  return std::make_unique<PipeReader>(std::move(producer), buffer_bytes, std::move(verified));
}

}  // namespace mos::oci
