#include "registry/gc.hpp"

#include <fstream>

#include <gtest/gtest.h>

#include "core/file.hpp"
#include "oci/media_types.hpp"
#include "unit/support/test_support.hpp"

using namespace mos;
using namespace mos::oci;

namespace {

Descriptor put(LayoutStore& store, std::string_view bytes) {
  auto d = test::descriptor_of(bytes);
  EXPECT_TRUE(store.put_blob_bytes(d, bytes));
  return d;
}

Document manifest(LayoutStore& store, std::string_view layer,
                  std::optional<Descriptor> subject = {}) {
  put(store, kEmptyJson);
  ImageManifest m;
  m.media_type = std::string(media_type::kImageManifest);
  m.artifact_type = "application/vnd.example";
  m.config = empty_descriptor();
  m.layers.push_back(put(store, layer));
  m.subject = std::move(subject);
  return make_document(encode_manifest(m)).value();
}

void age(const fs::path& p) {
  fs::last_write_time(p, fs::file_time_type::clock::now() - std::chrono::hours(2));
}

}  // namespace

TEST(GarbageCollection, RemovesOnlyOldUnreferencedBlobsAndStaleUploads) {
  auto tmp = TempDir::create({}, "mos-gc-test-").value();
  auto root = LayoutRoot::open(tmp.path(), true).value();
  auto store = root.repository("app", true).value();
  auto image = manifest(*store, "image layer");
  ASSERT_TRUE(store->put_manifest(image, "v1"));
  // A referrer of the live image, listed untagged as zot lists it: kept with its blobs.
  auto sig = manifest(*store, "signature", image.descriptor());
  ASSERT_TRUE(store->put_manifest(sig, std::nullopt));
  auto old_orphan = put(*store, "old orphan");
  auto young_orphan = put(*store, "young orphan");
  auto uploads = store->uploads_dir().value();
  std::ofstream(uploads / "0123456789abcdef0123456789abcdef") << "stale";
  std::ofstream(uploads / "fedcba9876543210fedcba9876543210") << "active";
  for (const auto& entry : fs::recursive_directory_iterator(store->dir() / "blobs"))
    age(entry.path());
  age(uploads / "0123456789abcdef0123456789abcdef");
  fs::last_write_time(store->blob_path(young_orphan.digest).value(),
                      fs::file_time_type::clock::now());

  auto report = registry::collect_garbage(root, std::chrono::hours(1));
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->blobs_removed, 1u);
  EXPECT_EQ(report->uploads_removed, 1u);
  EXPECT_FALSE(store->blob_size(old_orphan.digest).value());
  EXPECT_TRUE(store->blob_size(young_orphan.digest).value());
  EXPECT_TRUE(store->get_manifest("v1"));
  EXPECT_TRUE(store->get_manifest(sig.digest.str()));
  EXPECT_EQ(store->referrers(image.digest, std::nullopt).value().size(), 1u);
  EXPECT_TRUE(store->blob_size(digest_of("signature")).value());
  EXPECT_TRUE(store->blob_size(digest_of("image layer")).value());
  EXPECT_TRUE(fs::exists(uploads / "fedcba9876543210fedcba9876543210"));
}
