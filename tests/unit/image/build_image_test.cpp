// Building images with the real mksquashfs into a real layout: reproducible digests, layers
// that unsquashfs and veritysetup accept, the config fields, tar input, and the layer format
// readers for every media-type and annotation generation.
#include "image/build_image.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/json.hpp"
#include "core/process.hpp"
#include "image/layer_format.hpp"
#include "oci/layout_store.hpp"
#include "unit/support/test_support.hpp"

namespace mos::image {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

void make_tree(const fs::path& root) {
  ASSERT_TRUE(make_dirs(root / "etc"));
  ASSERT_TRUE(make_dirs(root / "www" / "sub"));
  ASSERT_TRUE(write_file_atomic(root / "etc" / "hostname", "service\n"));
  ASSERT_TRUE(write_file_atomic(root / "www" / "index.html", "<h1>hello</h1>\n"));
  ASSERT_TRUE(write_file_atomic(root / "www" / "sub" / "big", std::string(300000, 'x')));
  fs::create_symlink("index.html", root / "www" / "link");
}

class BuildImageTest : public ::testing::Test {
 protected:
  TempDir dir_ = std::move(*TempDir::create());
  fs::path rootfs() { return dir_.path() / "rootfs"; }
  std::unique_ptr<oci::LayoutStore> layout(const std::string& name) {
    return std::move(*oci::LayoutStore::open(dir_.path() / name, true));
  }
  ImageBuildOptions options() {
    ImageBuildOptions o;
    o.from = rootfs();
    o.timestamp = 1700000000;
    o.config.entrypoint = std::vector<std::string>{"/bin/httpd", "-f"};
    o.config.cmd = std::vector<std::string>{"-p", "8080"};
    o.config.env = {"A=1"};
    o.config.workdir = "/www";
    o.config.user = "1000:1000";
    return o;
  }
};

TEST_F(BuildImageTest, ReproducibleAndAcceptedByRealTools) {
  make_tree(rootfs());
  auto a = layout("a"), b = layout("b");
  auto ra = build_image(options(), *a, {"v1"});
  ASSERT_TRUE(ra) << ra.error().message;
  // Touch the tree's times: fixed timestamps make them irrelevant.
  fs::last_write_time(rootfs() / "etc" / "hostname", fs::file_time_type::clock::now());
  auto rb = build_image(options(), *b, {"v1", "extra"});
  ASSERT_TRUE(rb) << rb.error().message;
  EXPECT_EQ(ra->manifest.digest, rb->manifest.digest);
  EXPECT_EQ(ra->layer.digest, rb->layer.digest);
  EXPECT_EQ(ra->root_hash, rb->root_hash);
  ASSERT_TRUE(b->resolve("extra"));
  EXPECT_EQ(b->resolve("extra")->digest, rb->manifest.digest);

  // A different timestamp gives a different image.
  auto o = options();
  o.timestamp = 1;
  auto c = layout("c");
  auto rc = build_image(o, *c, {"v1"});
  ASSERT_TRUE(rc);
  EXPECT_NE(rc->layer.digest, ra->layer.digest);

  EXPECT_EQ(ra->layer.media_type, "application/vnd.stacker.image.layer.squashfs+zstd");
  EXPECT_EQ(ra->layer.annotations.at("io.stackeroci.stacker.atomfs_verity_root_hash"),
            hex_encode(ra->root_hash));
  auto blob = a->blob_path(ra->layer.digest);
  ASSERT_TRUE(blob);
  EXPECT_EQ(static_cast<std::int64_t>(fs::file_size(*blob)), ra->layer.size);
  // unsquashfs lists the files; veritysetup verifies the appended tree.
  auto listing = run_checked({.argv = {"unsquashfs", "-l", blob->string()}});
  ASSERT_TRUE(listing) << listing.error().message;
  EXPECT_THAT(*listing, HasSubstr("squashfs-root/www/index.html"));
  int fd = ::open(blob->c_str(), O_RDONLY);
  std::array<std::byte, kSquashfsSuperblockSize> head{};
  ASSERT_EQ(::pread(fd, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
  ::close(fd);
  auto sb = parse_squashfs_superblock(head);
  ASSERT_TRUE(sb);
  EXPECT_EQ(sb->mkfs_time, 1700000000u);
  auto verify = run_checked(
      {.argv = {"veritysetup", "verify", blob->string(), blob->string(), hex_encode(ra->root_hash),
                "--hash-offset=" + std::to_string(sb->padded_size())}});
  EXPECT_TRUE(verify) << verify.error().message;
  EXPECT_TRUE(verify_verity(*blob, sb->padded_size(), ra->root_hash));

  // The config carries the fields, diff_id = layer digest.
  auto config = oci::fetch_small_blob(*a, ra->config, 1 << 20);
  ASSERT_TRUE(config);
  auto json = *parse_json_strict(*config, "config");
  EXPECT_EQ(json["rootfs"]["diff_ids"][0], ra->layer.digest.str());
  EXPECT_EQ(json["config"]["Entrypoint"], Json::array({"/bin/httpd", "-f"}));
  EXPECT_EQ(json["config"]["Cmd"], Json::array({"-p", "8080"}));
  EXPECT_EQ(json["config"]["WorkingDir"], "/www");
  EXPECT_EQ(json["config"]["User"], "1000:1000");
  EXPECT_EQ(json["config"]["Env"][1], "A=1");
  EXPECT_EQ(json["created"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(json["os"], "linux");
}

TEST_F(BuildImageTest, TarInputGivesTheSameFiles) {
  make_tree(rootfs());
  fs::path tar = dir_.path() / "rootfs.tar";
  ASSERT_TRUE(run_checked({.argv = {"tar", "-cf", tar.string(), "-C", rootfs().string(), "."}}));
  auto o = options();
  o.from = tar;
  auto store = layout("t");
  auto r = build_image(o, *store, {"t"});
  ASSERT_TRUE(r) << r.error().message;
  auto blob = store->blob_path(r->layer.digest);
  auto listing = run_checked({.argv = {"unsquashfs", "-lls", blob->string()}});
  ASSERT_TRUE(listing);
  EXPECT_THAT(*listing, HasSubstr("squashfs-root/www/sub/big"));
  EXPECT_THAT(*listing, HasSubstr("squashfs-root/www/link -> index.html"));
  // The scratch space inside the layout is gone.
  auto uploads = store->uploads_dir();
  ASSERT_TRUE(uploads);
  EXPECT_THAT(test::dir_entries(*uploads), IsEmpty());
}

TEST_F(BuildImageTest, CompressionLevelReachesTheImage) {
  make_tree(rootfs());
  auto level_of = [](const fs::path& blob) {
    auto stats = run_checked({.argv = {"unsquashfs", "-s", blob.string()}});
    EXPECT_TRUE(stats);
    return stats ? *stats : std::string();
  };
  auto default_store = layout("d");
  auto d = build_image(options(), *default_store, {"d"});
  ASSERT_TRUE(d) << d.error().message;
  auto o = options();
  o.compression_level = kFastSquashfsLevel;
  auto fast_store = layout("f");
  auto f = build_image(o, *fast_store, {"f"});
  ASSERT_TRUE(f) << f.error().message;
  // mksquashfs records a level other than its default in the image's compressor options.
  EXPECT_THAT(level_of(*fast_store->blob_path(f->layer.digest)), HasSubstr("compression-level 9"));
  EXPECT_THAT(level_of(*default_store->blob_path(d->layer.digest)),
              ::testing::Not(HasSubstr("compression-level")));
  EXPECT_NE(f->layer.digest, d->layer.digest);
}

// A squashfs that is no layer (the bootkit's initramfs tools): LZ4 HC, the same bytes from the
// same tree, no verity data after the (4 KiB padded) filesystem, and what unsquashfs reads back.
TEST_F(BuildImageTest, SquashfsFileIsLz4ReproducibleAndPlain) {
  make_tree(rootfs());
  auto a = dir_.path() / "a.squashfs", b = dir_.path() / "b.squashfs";
  ASSERT_TRUE(build_squashfs_file(rootfs(), a));
  ASSERT_TRUE(build_squashfs_file(rootfs(), b));
  EXPECT_EQ(*read_file(a, 1 << 24), *read_file(b, 1 << 24));
  auto stats = run_checked({.argv = {"unsquashfs", "-s", a.string()}});
  ASSERT_TRUE(stats);
  EXPECT_THAT(*stats, HasSubstr("Compression lz4"));
  EXPECT_THAT(*stats, HasSubstr("High Compression option specified"));
  auto bytes = *read_file(a, 1 << 24);
  ASSERT_GE(bytes.size(), kSquashfsSuperblockSize);
  auto sb =
      parse_squashfs_superblock(std::as_bytes(std::span(bytes.data(), kSquashfsSuperblockSize)));
  ASSERT_TRUE(sb) << sb.error().message;
  EXPECT_EQ(sb->padded_size(), bytes.size());
  ASSERT_TRUE(
      run_checked({.argv = {"unsquashfs", "-d", (dir_.path() / "out").string(), a.string()}}));
  EXPECT_EQ(*read_file(dir_.path() / "out" / "www" / "index.html", 1024), "<h1>hello</h1>\n");
  auto missing = build_squashfs_file(dir_.path() / "nope", dir_.path() / "c.squashfs");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("not a directory"));
}

TEST_F(BuildImageTest, RefusesMissingSource) {
  auto o = options();
  o.from = dir_.path() / "nope";
  auto store = layout("x");
  auto r = build_image(o, *store, {"t"});
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("nope does not exist"));
}

TEST(LayerFormat, EveryMediaTypeGeneration) {
  for (const char* t :
       {"application/vnd.oci.image.layer.squashfs", "application/vnd.stacker.image.layer.squashfs",
        "application/vnd.stacker.image.layer.squashfs+gzip",
        "application/vnd.stacker.image.layer.squashfs+zstd",
        "application/vnd.stacker.image.layer.squashfs+zstd+verity",
        "application/vnd.stacker.image.layer.squashfs+gzip+verity"})
    EXPECT_EQ(layer_filesystem(t), LayerFilesystem::squashfs) << t;
  EXPECT_EQ(layer_filesystem("application/vnd.stacker.image.layer.erofs+zstd"),
            LayerFilesystem::erofs);
  EXPECT_EQ(layer_filesystem("application/vnd.oci.image.layer.v1.tar+gzip"),
            LayerFilesystem::other);
  EXPECT_TRUE(media_type_says_verity("application/vnd.stacker.image.layer.squashfs+zstd+verity"));
  EXPECT_FALSE(media_type_says_verity("application/vnd.stacker.image.layer.squashfs+zstd"));
}

TEST(LayerFormat, RootHashUnderEitherKey) {
  std::string h(64, 'c'), other(64, 'd');
  oci::Descriptor d;
  EXPECT_FALSE(*layer_root_hash(d));
  d.annotations["io.stackeroci.stacker.squashfs_verity_root_hash"] = h;
  ASSERT_TRUE(*layer_root_hash(d));
  EXPECT_EQ(hex_encode(**layer_root_hash(d)), h);
  d.annotations["io.stackeroci.stacker.atomfs_verity_root_hash"] = h;
  EXPECT_TRUE(*layer_root_hash(d));
  d.annotations["io.stackeroci.stacker.atomfs_verity_root_hash"] = other;
  EXPECT_THAT(error_of(layer_root_hash(d)), HasSubstr("has two different root hashes"));
  d.annotations.erase("io.stackeroci.stacker.squashfs_verity_root_hash");
  d.annotations["io.stackeroci.stacker.atomfs_verity_root_hash"] = "XYZ";
  EXPECT_THAT(error_of(layer_root_hash(d)), HasSubstr("root hash \"XYZ\" is not 64 hex"));
}

TEST(LayerFormat, SquashfsSuperblockRefusals) {
  std::array<std::byte, kSquashfsSuperblockSize> b{};
  EXPECT_THAT(error_of(parse_squashfs_superblock(b)), HasSubstr("magic \"hsqs\" missing"));
  std::memcpy(b.data(), "hsqs", 4);
  b[12] = std::byte{0};
  b[14] = std::byte{2};  // block size 128 KiB
  b[28] = std::byte{4};  // 4.0
  b[40] = std::byte{0};
  b[41] = std::byte{0x10};  // bytes_used 4096
  auto sb = parse_squashfs_superblock(b);
  ASSERT_TRUE(sb) << sb.error().message;
  EXPECT_EQ(sb->bytes_used, 4096u);
  EXPECT_EQ(sb->padded_size(), 4096u);
  b[40] = std::byte{1};
  EXPECT_EQ(parse_squashfs_superblock(b)->padded_size(), 8192u);
  b[28] = std::byte{3};
  EXPECT_THAT(error_of(parse_squashfs_superblock(b)), HasSubstr("version 3.0 is not supported"));
}

}  // namespace
}  // namespace mos::image
