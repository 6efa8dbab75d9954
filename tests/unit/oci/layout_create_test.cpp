// A layout opened with create=true is made by its first write, not when opened.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "oci/layout_store.hpp"

namespace mos::oci {
namespace {

namespace fs = std::filesystem;

TEST(LayoutCreate, AMissingLayoutReadsEmptyAndIsMadeByTheFirstWrite) {
  auto tmp = TempDir::create(fs::temp_directory_path(), "layout-create-").value();
  fs::path dir = tmp.path() / "new";
  auto store = LayoutStore::open(dir, true).value();
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_TRUE(store->list_tags().value().empty());
  auto missing = store->resolve("latest");
  ASSERT_FALSE(missing.has_value());
  EXPECT_THAT(missing.error().message, testing::HasSubstr("latest"));
  Descriptor blob;
  blob.media_type = "application/octet-stream";
  blob.digest = digest_of("hello");
  blob.size = 5;
  EXPECT_FALSE(store->has_blob(blob).value());
  EXPECT_TRUE(store->referrers(blob.digest, std::nullopt).value().empty());
  EXPECT_FALSE(fs::exists(dir)) << "reading must not create the layout";

  ASSERT_TRUE(store->put_blob_bytes(blob, "hello"));
  EXPECT_TRUE(fs::is_regular_file(dir / "oci-layout"));
  EXPECT_TRUE(fs::is_regular_file(dir / "index.json"));
  EXPECT_TRUE(store->has_blob(blob).value());
  // Another store opened on it now sees a real layout.
  EXPECT_TRUE(LayoutStore::open(dir, false).has_value());
}

TEST(LayoutCreate, AFileInTheWayIsRefusedAtOnce) {
  auto tmp = TempDir::create(fs::temp_directory_path(), "layout-create-").value();
  ASSERT_TRUE(write_file_atomic(tmp.path() / "file", "x"));
  auto store = LayoutStore::open(tmp.path() / "file", true);
  ASSERT_FALSE(store.has_value());
  EXPECT_THAT(store.error().message, testing::HasSubstr("is not a directory"));
}

}  // namespace
}  // namespace mos::oci
