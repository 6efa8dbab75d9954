// Storage volumes for real (root, loop devices, ext4; CI runs as root): persistence or not,
// the size enforced, the root owned by the nsgroup's range, growth without data loss, and
// nothing left mounted or attached after unmount.
#include "runtime/storage_volumes.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "atomfs/mount_image.hpp"
#include "core/file.hpp"
#include "core/process.hpp"
#include "sysroot/uid_allocation.hpp"
#include "unit/support/test_support.hpp"

namespace mos::runtime {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

bool can_mount() {
  return ::geteuid() == 0 && fs::exists("/dev/loop-control");
}

VolumeSpec volume(std::string label, bool persistent, std::uint64_t size_mib,
                  std::optional<sysroot::UidRange> ids = std::nullopt) {
  return VolumeSpec{{std::move(label), persistent, ids ? ids->nsgroup : "", size_mib}, ids};
}

sysroot::UidRange range(std::string nsgroup, std::uint64_t hostid) {
  return {std::move(nsgroup), hostid, sysroot::kRangeSize};
}

class StorageVolumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!can_mount()) GTEST_SKIP() << "needs root and loop devices";
    dirs_ = {dir_.path() / "scratch-writes" / "volumes", dir_.path() / "run" / "volumes"};
  }
  void TearDown() override {
    if (!can_mount()) return;
    for (const auto& label : test::dir_entries(dirs_.mounts)) (void)unmount_volume(label, dirs_);
  }
  fs::path mount(const VolumeSpec& spec) {
    auto point = mount_volume(spec, dirs_);
    EXPECT_TRUE(point) << point.error().message;
    return point ? *point : fs::path();
  }
  void unmount(const std::string& label) {
    auto done = unmount_volume(label, dirs_);
    EXPECT_TRUE(done) << done.error().message;
  }
  std::uint64_t total_bytes(const fs::path& point) {
    struct statvfs st{};
    EXPECT_EQ(::statvfs(point.c_str(), &st), 0);
    return std::uint64_t{st.f_blocks} * st.f_frsize;
  }

  TempDir dir_ = std::move(*TempDir::create());
  VolumeDirs dirs_;
};

TEST_F(StorageVolumeTest, PersistentVolumeKeepsItsFilesAcrossMounts) {
  auto spec = volume("data", true, 8);
  auto point = mount(spec);
  EXPECT_EQ(point, fs::canonical(dirs_.mounts / "data"));
  EXPECT_TRUE(*atomfs::is_mount_point(point));
  ASSERT_TRUE(write_file_atomic(point / "kept.txt", "still here\n"));
  unmount("data");
  point = mount(spec);
  EXPECT_EQ(*read_file(point / "kept.txt"), "still here\n");
  EXPECT_THAT(test::dir_entries(dirs_.images), ElementsAre(".lock", "data.ext4"))
      << "one image per volume and no temporary left";
}

TEST_F(StorageVolumeTest, NonPersistentVolumeComesBackEmpty) {
  auto spec = volume("cache", false, 8);
  auto point = mount(spec);
  ASSERT_TRUE(write_file_atomic(point / "gone.txt", "only for this boot\n"));
  unmount("cache");
  point = mount(spec);
  EXPECT_THAT(test::dir_entries(point), ElementsAre("lost+found"));
}

TEST_F(StorageVolumeTest, SizeIsEnforced) {
  auto point = mount(volume("small", true, 4));
  int fd = ::open((point / "fill").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  std::vector<char> block(64 * 1024, 'x');
  std::uint64_t written = 0;
  int error = 0;
  while (written <= 8 * 1024 * 1024) {
    ssize_t n = ::write(fd, block.data(), block.size());
    if (n < 0) {
      error = errno;
      break;
    }
    written += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  EXPECT_EQ(error, ENOSPC);
  EXPECT_LT(written, 4u * 1024 * 1024);
  // The host's file stays at its size whatever happens inside.
  EXPECT_EQ(fs::file_size(volume_image(dirs_, "small")), 4u * 1024 * 1024);
}

TEST_F(StorageVolumeTest, RootBelongsToTheRangeBaseEvenWhenTheRangeChanges) {
  auto point = mount(volume("shared", true, 4, range("web", 100000)));
  struct stat st{};
  ASSERT_EQ(::stat(point.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 100000u);
  EXPECT_EQ(st.st_gid, 100000u);
  ASSERT_EQ(::mkdir((point / "inner").c_str(), 0755), 0);
  unmount("shared");

  point = mount(volume("shared", true, 4, range("web", 165536)));
  ASSERT_EQ(::stat(point.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 165536u);
  EXPECT_EQ(st.st_gid, 165536u);
  ASSERT_EQ(::stat((point / "inner").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u) << "only the root directory changes hands";
  unmount("shared");

  // No nsgroup: host root.
  point = mount(volume("shared", true, 4));
  ASSERT_EQ(::stat(point.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
}

TEST_F(StorageVolumeTest, PersistentVolumeGrowsButNeverShrinks) {
  auto point = mount(volume("grows", true, 8));
  ASSERT_TRUE(write_file_atomic(point / "kept.txt", "data\n"));
  EXPECT_LT(total_bytes(point), 9u * 1024 * 1024);
  unmount("grows");

  point = mount(volume("grows", true, 32));
  EXPECT_EQ(*read_file(point / "kept.txt"), "data\n");
  EXPECT_GT(total_bytes(point), 24u * 1024 * 1024);
  EXPECT_EQ(fs::file_size(volume_image(dirs_, "grows")), 32u * 1024 * 1024);
  unmount("grows");

  point = mount(volume("grows", true, 8));
  EXPECT_EQ(*read_file(point / "kept.txt"), "data\n");
  EXPECT_GT(total_bytes(point), 24u * 1024 * 1024) << "kept at its size, not shrunk";
}

TEST_F(StorageVolumeTest, LabelsThatAreNotOneFileNameAreRefused) {
  for (std::string label : {"a/b", "..", ".", "", "../escape"}) {
    EXPECT_THAT(error_of(mount_volume(volume(label, true, 4), dirs_)), HasSubstr("storage label"))
        << label;
    EXPECT_THAT(error_of(unmount_volume(label, dirs_)), HasSubstr("storage label")) << label;
  }
  EXPECT_FALSE(fs::exists(dirs_.images));
}

TEST_F(StorageVolumeTest, UnmountLeavesNothingMountedOrAttached) {
  auto point = mount(volume("data", true, 4));
  auto image = fs::canonical(volume_image(dirs_, "data"));
  auto losetup = [] { return *run_checked({.argv = {"losetup", "-a"}}); };
  EXPECT_THAT(losetup(), HasSubstr(image.string()));
  EXPECT_THAT(error_of(mount_volume(volume("data", true, 4), dirs_)),
              HasSubstr("storage volume data: already mounted at"));
  unmount("data");
  EXPECT_FALSE(fs::exists(point));
  auto points = atomfs::mount_points();
  ASSERT_TRUE(points);
  for (const auto& p : *points) EXPECT_FALSE(p.string().starts_with(dir_.path().string())) << p;
  EXPECT_THAT(losetup(), Not(HasSubstr(image.string())));
  // Unmounting what is not mounted is no error (a boot cleaning up after a crash).
  unmount("data");
  unmount("never-mounted");
}

TEST_F(StorageVolumeTest, ImageWithoutAFilesystemIsRefusedNamingIt) {
  ASSERT_TRUE(make_dirs(dirs_.images));
  ASSERT_TRUE(write_file_atomic(volume_image(dirs_, "broken"), std::string(8192, '\0')));
  auto message = error_of(mount_volume(volume("broken", true, 4), dirs_));
  EXPECT_THAT(message, HasSubstr("storage volume broken"));
  EXPECT_THAT(message, HasSubstr("broken.ext4 holds no ext4 filesystem"));
}

TEST_F(StorageVolumeTest, DamageThatPreenCannotRepairStopsTheMount) {
  mount(volume("damaged", true, 4));
  unmount("damaged");
  auto image = volume_image(dirs_, "damaged").string();
  // No root directory, and the filesystem marked unclean so that e2fsck -p looks at it.
  for (const char* request : {"clri <2>", "ssv state 0"})
    ASSERT_TRUE(run_checked({.argv = {"debugfs", "-w", "-R", request, image}}));
  auto message = error_of(mount_volume(volume("damaged", true, 4), dirs_));
  EXPECT_THAT(message, HasSubstr("storage volume damaged: "));
  EXPECT_THAT(message, HasSubstr("damaged.ext4 has filesystem errors that e2fsck cannot repair"));
  EXPECT_FALSE(*atomfs::is_mount_point(fs::canonical(dirs_.mounts / "damaged")));
}

}  // namespace
}  // namespace mos::runtime
