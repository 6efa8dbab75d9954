#include "atomfs/loop_device.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/unique_fd.hpp"
#include "unit/support/test_support.hpp"

using namespace mos;
using namespace mos::atomfs;
namespace fs = std::filesystem;

namespace {

bool can_attach() {
  return ::geteuid() == 0 && fs::exists("/dev/loop-control");
}

// What the kernel says of the device: "1" when it reads its file with direct I/O.
std::string sysfs_dio(const std::string& device) {
  std::ifstream in("/sys/block/" + fs::path(device).filename().string() + "/loop/dio");
  std::string value;
  in >> value;
  return value;
}

// Whether files in dir can be opened with O_DIRECT (tmpfs before Linux 6.6 cannot).
bool direct_io_possible(const fs::path& dir) {
  auto probe = dir / "probe";
  std::ofstream(probe).close();
  UniqueFd fd(::open(probe.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
  fs::remove(probe);
  return static_cast<bool>(fd);
}

std::string file_of(const TempDir& dir, std::size_t size) {
  auto path = dir.path() / "image";
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 7 + i / 4096);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(size));
  return bytes;
}

}  // namespace

TEST(LoopDevice, ReadOnlyDevicesReadTheirFileWithDirectIoWhereItCan) {
  if (!can_attach()) GTEST_SKIP() << "needs root and loop devices";
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  auto bytes = file_of(*dir, 1 << 20);
  UniqueFd file(::open((dir->path() / "image").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(file);
  auto loop = LoopDevice::attach_read_only(file.get(), 512 << 10);
  ASSERT_TRUE(loop) << loop.error().message;
  EXPECT_EQ(sysfs_dio(loop->path()), direct_io_possible(dir->path()) ? "1" : "0");

  // What it reads is the file's first size_limit bytes, whichever way it reads them.
  auto read = read_file(loop->path(), 1 << 20);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(read->size(), std::size_t{512 << 10});
  EXPECT_TRUE(*read == bytes.substr(0, 512 << 10));
}

TEST(LoopDevice, WritableDevicesStayBuffered) {
  if (!can_attach()) GTEST_SKIP() << "needs root and loop devices";
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  file_of(*dir, 1 << 20);
  UniqueFd file(::open((dir->path() / "image").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(file);
  auto loop = LoopDevice::attach(file.get(), 0, true);
  ASSERT_TRUE(loop) << loop.error().message;
  EXPECT_EQ(sysfs_dio(loop->path()), "0");
}
