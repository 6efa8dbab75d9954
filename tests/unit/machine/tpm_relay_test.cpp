// The VM's TPM as its firmware sees it: the PCR allocation query answered with the active banks
// only (pure, on a response libtpms gives), and the relay between a qemu-like client and a real
// swtpm set up as machine sets it up (unix control socket, the data channel handed over with
// CMD_SET_DATAFD, as qemu's tpm_emulator does).
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/unix_socket.hpp"
#include "machine/detached_process.hpp"
#include "machine/tpm_emulator.hpp"
#include "machine/tpm_pcr_banks.hpp"
#include "unit/support/test_support.hpp"

namespace mos::machine {
namespace {

using Bytes = std::vector<std::uint8_t>;
using namespace std::chrono_literals;
using test::error_of;

const Bytes kPcrQuery = {0x80, 0x01, 0, 0, 0, 22, 0, 0, 0x01, 0x7A, 0,
                         0,    0,    5, 0, 0, 0,  0, 0, 0,    0,    1};

// libtpms's answer after swtpm_setup --pcr-banks sha256: four banks, only SHA-256's selected.
Bytes four_banks_answer() {
  Bytes r = {0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, /*moreData*/ 0, 0, 0, 0, 5, 0, 0, 0, 4};
  for (std::uint16_t alg : {0x0004, 0x000B, 0x000C, 0x000D}) {
    std::uint8_t bits = alg == 0x000B ? 0xFF : 0;
    r.insert(r.end(), {std::uint8_t(alg >> 8), std::uint8_t(alg), 3, bits, bits, bits});
  }
  r[5] = static_cast<std::uint8_t>(r.size());
  return r;
}

TEST(TpmPcrBanks, TheAllocationQueryIsRecognisedAndNothingElse) {
  EXPECT_TRUE(asks_pcr_allocation(kPcrQuery));
  Bytes handles = kPcrQuery;
  handles[13] = 1;  // TPM_CAP_HANDLES
  EXPECT_FALSE(asks_pcr_allocation(handles));
  Bytes sessions = kPcrQuery;
  sessions[1] = 0x02;
  EXPECT_FALSE(asks_pcr_allocation(sessions));
  EXPECT_FALSE(asks_pcr_allocation(Bytes(kPcrQuery.begin(), kPcrQuery.end() - 1)));
  EXPECT_EQ(tpm_frame_size(kPcrQuery), 22u);
  EXPECT_EQ(tpm_frame_size(Bytes(9, 0)), std::nullopt);
}

TEST(TpmPcrBanks, OnlyTheActiveBanksAreListedWithTheSizesFixed) {
  auto answer = with_active_pcr_banks_only(four_banks_answer());
  ASSERT_TRUE(answer);
  Bytes expected = {0x80, 0x01, 0, 0, 0, 25, 0, 0,    0, 0,    0,    0,   0,
                    0,    5,    0, 0, 0, 1,  0, 0x0B, 3, 0xFF, 0xFF, 0xFF};
  EXPECT_EQ(*answer, expected);
  // Already only active banks: the same bytes.
  EXPECT_EQ(with_active_pcr_banks_only(expected), expected);
}

TEST(TpmPcrBanks, AnythingElseIsLeftToPassUnchanged) {
  auto good = four_banks_answer();
  auto failed = good;
  failed[9] = 0x84;  // an error code
  EXPECT_EQ(with_active_pcr_banks_only(failed), std::nullopt);
  auto truncated = Bytes(good.begin(), good.end() - 2);
  truncated[5] = static_cast<std::uint8_t>(truncated.size());
  EXPECT_EQ(with_active_pcr_banks_only(truncated), std::nullopt);
  auto trailing = good;
  trailing.push_back(0);
  trailing[5] = static_cast<std::uint8_t>(trailing.size());
  EXPECT_EQ(with_active_pcr_banks_only(trailing), std::nullopt);
  auto many = good;
  many[18] = 200;  // more banks than the answer holds
  EXPECT_EQ(with_active_pcr_banks_only(many), std::nullopt);
  auto none_active = good;
  std::fill(none_active.begin() + 19 + 9, none_active.begin() + 19 + 12, 0);
  EXPECT_EQ(with_active_pcr_banks_only(none_active), std::nullopt);
  auto wrong_size = good;
  wrong_size[5] += 1;
  EXPECT_EQ(with_active_pcr_banks_only(wrong_size), std::nullopt);
}

// qemu's side: the control channel to the relay and the data channel handed over on it.
class QemuSide {
 public:
  explicit QemuSide(UniqueFd control) : control_(std::move(control)) {}

  // CMD_SET_DATAFD (16): the other end of a new socket pair goes with the message.
  bool hand_data_channel() {
    std::array<int, 2> pair;
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair.data()) < 0) return false;
    data_ = UniqueFd(pair[0]);
    const char command[] = {0, 0, 0, 16};
    bool sent = bool(send_with_descriptor(control_.get(), {command, 4}, pair[1]));
    ::close(pair[1]);
    return sent && control_result() == 0;
  }
  // CMD_INIT (2) with no flags.
  bool init() {
    std::array<std::uint8_t, 8> command = {0, 0, 0, 2, 0, 0, 0, 0};
    return ::send(control_.get(), command.data(), command.size(), MSG_NOSIGNAL) == 8 &&
           control_result() == 0;
  }
  Bytes transact(const Bytes& command) {
    if (!send_all(data_.get(), {reinterpret_cast<const char*>(command.data()), command.size()}))
      return {};
    Bytes response;
    while (!tpm_frame_size(response) || response.size() < *tpm_frame_size(response)) {
      std::array<std::uint8_t, 4096> chunk;
      if (!readable(data_.get())) return {};
      ssize_t n = ::read(data_.get(), chunk.data(), chunk.size());
      if (n <= 0) return {};
      response.insert(response.end(), chunk.begin(), chunk.begin() + n);
    }
    return response;
  }
  void close_control() { control_ = UniqueFd(); }

 private:
  static bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 10000) == 1;
  }
  std::int64_t control_result() {
    std::array<std::uint8_t, 4> result;
    if (!readable(control_.get()) || ::read(control_.get(), result.data(), 4) != 4) return -1;
    return std::int64_t{result[0]} << 24 | result[1] << 16 | result[2] << 8 | result[3];
  }
  UniqueFd control_;
  UniqueFd data_;
};

// A TPM 2.0 laid out as machine lays out a VM's, in `dir`.
TpmFiles relayed_tpm(const fs::path& dir) {
  return TpmFiles{.state_dir = dir / "tpm",
                  .socket = dir / "tpm.sock",
                  .swtpm_socket = dir / "swtpm.sock",
                  .pidfile = dir / "tpm" / "swtpm.pid"};
}

bool ends_within(pid_t pid, std::chrono::seconds limit) {
  auto fd = open_pidfd(pid);
  return !fd || wait_for_exit(fd->get(), limit);
}

TEST(TpmRelay, TheFirmwareSeesTheSha256BankAndTheRelayEndsWithQemu) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  auto tpm = relayed_tpm(dir->path());
  ASSERT_TRUE(setup_tpm(tpm)) << error_of(setup_tpm(tpm));
  auto swtpm = start_tpm(tpm);
  ASSERT_TRUE(swtpm) << swtpm.error().message;
  auto control = connect_unix(tpm.socket);
  ASSERT_TRUE(control) << control.error().message;
  QemuSide qemu(std::move(*control));
  ASSERT_TRUE(qemu.init());
  ASSERT_TRUE(qemu.hand_data_channel());
  // TPM2_Startup(SU_CLEAR), then the query OVMF makes.
  auto started = qemu.transact({0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0});
  ASSERT_EQ(started.size(), 10u);
  EXPECT_EQ(started[9], 0);
  auto answer = qemu.transact(kPcrQuery);
  ASSERT_GE(answer.size(), 19u);
  EXPECT_EQ(answer[9], 0);
  EXPECT_EQ(answer[18], 1) << "banks listed";
  ASSERT_EQ(answer.size(), 19u + 3 + answer[21]);
  EXPECT_EQ(answer[19] << 8 | answer[20], 0x000B) << "SHA-256";
  // Other commands pass unchanged: TPM2_GetRandom(8) answers 8 bytes.
  auto random = qemu.transact({0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 8});
  ASSERT_EQ(random.size(), 20u);
  EXPECT_EQ(random[9], 0);
  // qemu goes: the relay closes swtpm's channel and swtpm (--terminate) ends.
  qemu.close_control();
  EXPECT_TRUE(ends_within(*swtpm, 10s));
  EXPECT_FALSE(running_tpm(tpm));
}

TEST(TpmRelay, ARelayWhoseSwtpmEndsBeforeQemuCameEndsToo) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  auto tpm = relayed_tpm(dir->path());
  ASSERT_TRUE(setup_tpm(tpm));
  auto swtpm = start_tpm(tpm);
  ASSERT_TRUE(swtpm) << swtpm.error().message;
  ::kill(*swtpm, SIGTERM);
  ASSERT_TRUE(ends_within(*swtpm, 10s));
  // The relay's listening socket goes with it: qemu would be refused, not left waiting.
  bool refused = false;
  for (int i = 0; i < 100 && !refused; ++i) {
    refused = !connect_unix(tpm.socket);
    if (!refused) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(refused);
}

}  // namespace
}  // namespace mos::machine
