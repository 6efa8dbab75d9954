// Mounting images for real (root, loop devices, squashfs, overlayfs; CI runs as root): files
// readable, writes go to the upper only when writable, tampering refused, nothing left mounted
// or attached afterwards.
#include "atomfs/mount_image.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "atomfs/verity_device.hpp"
#include "core/file.hpp"
#include "core/process.hpp"
#include "image/build_image.hpp"
#include "image/layer_format.hpp"
#include "oci/layout_store.hpp"
#include "oci/media_types.hpp"
#include "unit/support/test_support.hpp"

namespace mos::atomfs {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::flip_byte;
using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

bool can_mount() {
  return ::geteuid() == 0 && fs::exists("/dev/loop-control");
}

class MountImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!can_mount()) GTEST_SKIP() << "needs root and loop devices";
    store_ = std::move(*oci::LayoutStore::open(dir_.path() / "layout", true));
    ASSERT_TRUE(make_dirs(rootfs() / "www"));
    ASSERT_TRUE(write_file_atomic(rootfs() / "www" / "index.html", "hello from the image\n"));
    ASSERT_TRUE(make_dirs(dest()));
    options_.run_dir = dir_.path() / "run";
    // The same checks on every host: the kernel's dm-verity (a booted machine) has its own test.
    options_.verity = VerityCheck::userspace;
  }
  void TearDown() override {
    if (can_mount()) (void)unmount_image(dest(), options_.run_dir);
  }
  fs::path rootfs() { return dir_.path() / "rootfs"; }
  fs::path dest() { return dir_.path() / "mnt"; }
  image::ImageBuildResult build(const std::string& tag) {
    image::ImageBuildOptions o;
    o.from = rootfs();
    auto r = image::build_image(o, *store_, {tag});
    EXPECT_TRUE(r) << r.error().message;
    return *r;
  }
  std::string losetup_list() { return *run_checked({.argv = {"losetup", "-a"}}); }
  void expect_nothing_left(const fs::path& blob) {
    auto points = mount_points();
    ASSERT_TRUE(points);
    for (const auto& p : *points) {
      EXPECT_NE(p, fs::canonical(dest()));
      EXPECT_FALSE(p.string().starts_with(options_.run_dir.string())) << p;
    }
    // A loop device set to clear itself goes when its last user does, which the kernel may
    // finish just after umount returns: waited for, a bounded while.
    std::string loops = losetup_list();
    for (int i = 0; i < 100 && loops.find(blob.string()) != std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      loops = losetup_list();
    }
    EXPECT_THAT(loops, Not(HasSubstr(blob.string())));
    EXPECT_THAT(test::dir_entries(options_.run_dir), AnyOf(IsEmpty(), ElementsAre(".lock")));
  }

  TempDir dir_ = std::move(*TempDir::create());
  std::unique_ptr<oci::LayoutStore> store_;
  MountOptions options_;
};

TEST_F(MountImageTest, WritableMountReadsAndWritesThenLeavesNothing) {
  auto built = build("v1");
  auto mounted = mount_image(*store_, "v1", dest(), options_);
  ASSERT_TRUE(mounted) << mounted.error().message;
  ASSERT_EQ(mounted->layer_verified, std::vector<bool>{true});
  EXPECT_EQ(*read_file(dest() / "www" / "index.html"), "hello from the image\n");
  ASSERT_TRUE(write_file_atomic(dest() / "www" / "new.txt", "written\n"));
  EXPECT_EQ(*read_file(dest() / "www" / "new.txt"), "written\n");
  EXPECT_TRUE(*is_mount_point(fs::canonical(dest())));
  // A second mount on the same destination is refused.
  EXPECT_THAT(error_of(mount_image(*store_, "v1", dest(), options_)),
              HasSubstr("already has a mounted image"));
  auto blob = *store_->blob_path(built.layer.digest);
  EXPECT_THAT(losetup_list(), HasSubstr(blob.string()));
  ASSERT_TRUE(unmount_image(dest(), options_.run_dir));
  EXPECT_FALSE(fs::exists(dest() / "www"));
  expect_nothing_left(blob);
  // The blob itself was never written to: it still verifies.
  int fd = ::open(blob.c_str(), O_RDONLY);
  auto check = check_layer(fd, built.layer, false);
  ::close(fd);
  EXPECT_TRUE(check && check->verity_verified);
}

TEST_F(MountImageTest, ReadOnlyMountRefusesWrites) {
  auto built = build("v1");
  options_.read_only = true;
  auto mounted = mount_image(*store_, "v1", dest(), options_);
  ASSERT_TRUE(mounted) << mounted.error().message;
  EXPECT_EQ(*read_file(dest() / "www" / "index.html"), "hello from the image\n");
  int fd = ::open((dest() / "www" / "new.txt").c_str(), O_WRONLY | O_CREAT, 0644);
  EXPECT_LT(fd, 0);
  EXPECT_EQ(errno, EROFS);
  if (fd >= 0) ::close(fd);
  ASSERT_TRUE(unmount_image(dest(), options_.run_dir));
  expect_nothing_left(*store_->blob_path(built.layer.digest));
}

TEST_F(MountImageTest, ScratchUpperSurvivesUnmount) {
  build("v1");
  options_.scratch = dir_.path() / "scratch";
  auto mounted = mount_image(*store_, "v1", dest(), options_);
  ASSERT_TRUE(mounted) << mounted.error().message;
  ASSERT_TRUE(write_file_atomic(dest() / "kept", "persist\n"));
  ASSERT_TRUE(unmount_image(dest(), options_.run_dir));
  EXPECT_EQ(*read_file(dir_.path() / "scratch" / "upper" / "kept"), "persist\n");
  EXPECT_FALSE(fs::exists(dir_.path() / "scratch" / "upper" / "www" / "index.html"));
}

// One flipped byte anywhere (squashfs data, verity superblock, top of the tree, leaf level):
// the mount is refused and nothing stays mounted.
TEST_F(MountImageTest, TamperedLayerIsRefused) {
  auto built = build("v1");
  auto blob = *store_->blob_path(built.layer.digest);
  auto size = fs::file_size(blob);
  std::int64_t d = 0;
  {
    int fd = ::open(blob.c_str(), O_RDONLY);
    std::array<std::byte, image::kSquashfsSuperblockSize> head{};
    ASSERT_EQ(::pread(fd, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
    ::close(fd);
    d = static_cast<std::int64_t>(image::parse_squashfs_superblock(head)->padded_size());
  }
  for (std::uint64_t offset : {std::uint64_t{200}, static_cast<std::uint64_t>(d) - 1,
                               static_cast<std::uint64_t>(d) + 90, size - 4087, size - 1}) {
    SCOPED_TRACE(offset);
    flip_byte(blob, offset);
    auto refused = error_of(mount_image(*store_, "v1", dest(), options_));
    EXPECT_THAT(refused, HasSubstr(built.layer.digest.str()));
    EXPECT_THAT(refused, HasSubstr("verity"));
    flip_byte(blob, offset);
    expect_nothing_left(blob);
  }
  auto mounted = mount_image(*store_, "v1", dest(), options_);
  ASSERT_TRUE(mounted) << mounted.error().message;
}

// Asked for the kernel's verification: where device-mapper exists (a booted machine), every
// layer is mounted through dm-verity, and the devices go with the unmount; elsewhere (these build
// hosts) the mount is refused with the reason, and nothing is mounted.
TEST_F(MountImageTest, KernelVerificationMountsThroughDmVerityOrSaysWhyNot) {
  auto built = build("v1");
  auto blob = *store_->blob_path(built.layer.digest);
  options_.verity = VerityCheck::kernel;
  auto mounted = mount_image(*store_, "v1", dest(), options_);
  if (!device_mapper_available()) {
    ASSERT_FALSE(mounted);
    EXPECT_THAT(mounted.error().message, HasSubstr("device-mapper is not available"));
    expect_nothing_left(blob);
    return;
  }
  ASSERT_TRUE(mounted) << mounted.error().message;
  EXPECT_TRUE(mounted->kernel_verity);
  EXPECT_EQ(*read_file(dest() / "www" / "index.html"), "hello from the image\n");
  ASSERT_TRUE(unmount_image(dest(), options_.run_dir));
  expect_nothing_left(blob);
  EXPECT_THAT(test::dir_entries("/dev/mapper"),
              Not(::testing::Contains(
                  ::testing::StartsWith("mos-verity-" + built.layer.digest.hex().substr(0, 16)))));
}

// A plain squashfs layer (no verity data, no annotation), as old stacker --no-verity builds.
TEST_F(MountImageTest, LayerWithoutVerityNeedsAllowMissing) {
  fs::path file = dir_.path() / "plain.squashfs";
  ASSERT_TRUE(run_checked(
      {.argv = {"mksquashfs", rootfs().string(), file.string(), "-noappend", "-quiet"}}));
  std::string bytes = *read_file(file);
  auto layer = test::descriptor_of(bytes, "application/vnd.stacker.image.layer.squashfs+zstd");
  ASSERT_TRUE(store_->put_blob_bytes(layer, bytes));
  std::string config = image::encode_image_config({}, 0, layer.digest);
  auto cd = test::descriptor_of(config, oci::media_type::kImageConfig);
  ASSERT_TRUE(store_->put_blob_bytes(cd, config));
  oci::ImageManifest m;
  m.media_type = std::string(oci::media_type::kImageManifest);
  m.config = cd;
  m.layers = {layer};
  auto doc = oci::make_document(oci::encode_manifest(m));
  ASSERT_TRUE(doc);
  ASSERT_TRUE(store_->put_manifest(*doc, std::string("plain")));

  auto refused = mount_image(*store_, "plain", dest(), options_);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("has no root hash"));
  options_.allow_missing_verity = true;
  auto mounted = mount_image(*store_, "plain", dest(), options_);
  ASSERT_TRUE(mounted) << mounted.error().message;
  EXPECT_EQ(mounted->layer_verified, std::vector<bool>{false});
  EXPECT_EQ(*read_file(dest() / "www" / "index.html"), "hello from the image\n");
  ASSERT_TRUE(unmount_image(dest(), options_.run_dir));
  expect_nothing_left(*store_->blob_path(layer.digest));
}

TEST_F(MountImageTest, UnmountOfSomethingElseIsRefused) {
  auto r = unmount_image(dest(), options_.run_dir);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("no image mounted by mos"));
}

}  // namespace
}  // namespace mos::atomfs
