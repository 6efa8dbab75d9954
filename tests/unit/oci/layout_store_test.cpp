#include "oci/layout_store.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/json.hpp"
#include "core/lock.hpp"
#include "oci/media_types.hpp"
#include "unit/support/test_support.hpp"

using namespace mos;
using namespace mos::oci;
using test::descriptor_of;
using test::dir_entries;
using test::error_of;
using test::FakeBlobReader;
using test::read_text;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

namespace {

// Writes the empty config and one layer with `content`, returns the manifest document.
Document image(LayoutStore& store, std::string_view content, std::optional<Descriptor> subject = {},
               std::optional<std::string> artifact_type = {}) {
  EXPECT_TRUE(store.put_blob_bytes(empty_descriptor(), kEmptyJson));
  auto layer = descriptor_of(content);
  EXPECT_TRUE(store.put_blob_bytes(layer, content));
  ImageManifest m;
  m.media_type = std::string(media_type::kImageManifest);
  m.artifact_type = artifact_type;
  m.config = empty_descriptor();
  m.layers.push_back(layer);
  m.subject = std::move(subject);
  auto doc = make_document(encode_manifest(m));
  EXPECT_TRUE(doc) << doc.error().message;
  return *doc;
}

class LayoutStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir::create({}, "mos-layout-test-").value();
    store_ = LayoutStore::open(dir_->path() / "layout", true).value();
    ASSERT_TRUE(store_->ensure_exists());
  }
  std::optional<TempDir> dir_;
  std::unique_ptr<LayoutStore> store_;
};

}  // namespace

TEST_F(LayoutStoreTest, CreatesAnEmptyLayout) {
  auto d = store_->dir();
  EXPECT_EQ(read_text(d / "oci-layout"), R"({"imageLayoutVersion":"1.0.0"})");
  EXPECT_EQ(read_text(d / "index.json"), R"({"schemaVersion":2,"manifests":[]})");
  EXPECT_TRUE(fs::is_directory(d / "blobs" / "sha256"));
  EXPECT_TRUE(LayoutStore::open(d, false));
  auto missing = LayoutStore::open(dir_->path() / "nope", false);
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("does not exist"));
  fs::create_directory(dir_->path() / "plain");
  auto plain = LayoutStore::open(dir_->path() / "plain", false);
  ASSERT_FALSE(plain);
  EXPECT_THAT(plain.error().message, HasSubstr("not an OCI image layout"));
}

TEST_F(LayoutStoreTest, StoresTagsAsRefNameAnnotations) {
  auto doc = image(*store_, "layer one");
  ASSERT_TRUE(store_->put_manifest(doc, "1.0.0"));
  auto resolved = store_->resolve("1.0.0");
  ASSERT_TRUE(resolved) << resolved.error().message;
  EXPECT_EQ(resolved->digest, doc.digest);
  auto got = store_->get_manifest(doc.digest.str());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->bytes, doc.bytes);
  EXPECT_EQ(got->media_type, media_type::kImageManifest);
  auto index = parse_json_strict(read_text(store_->dir() / "index.json"), "index").value();
  ASSERT_EQ(index["manifests"].size(), 1u);
  EXPECT_EQ(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "1.0.0");
  EXPECT_EQ(index["manifests"][0]["size"], doc.bytes.size());
  EXPECT_EQ(read_text(store_->dir() / "blobs/sha256" / doc.digest.hex()), doc.bytes);

  // An untagged push is listed without the annotation, as zot lists referrers.
  auto other = image(*store_, "layer two");
  ASSERT_TRUE(store_->put_manifest(other, std::nullopt));
  index = parse_json_strict(read_text(store_->dir() / "index.json"), "index").value();
  ASSERT_EQ(index["manifests"].size(), 2u);
  EXPECT_FALSE(index["manifests"][1].contains("annotations"));
  // Tagging it later reuses the untagged entry.
  ASSERT_TRUE(store_->put_manifest(other, "2.0.0"));
  EXPECT_EQ(store_->read_index().value()->manifests.size(), 2u);
  EXPECT_EQ(store_->list_tags().value(), (std::vector<std::string>{"1.0.0", "2.0.0"}));
  // Same put again changes nothing.
  auto before = read_text(store_->dir() / "index.json");
  ASSERT_TRUE(store_->put_manifest(other, "2.0.0"));
  EXPECT_EQ(read_text(store_->dir() / "index.json"), before);
}

TEST_F(LayoutStoreTest, RetagKeepsOldManifestUntaggedAndUntagDeleteWork) {
  auto a = image(*store_, "a");
  auto b = image(*store_, "b");
  ASSERT_TRUE(store_->put_manifest(a, "latest"));
  ASSERT_TRUE(store_->put_manifest(b, "latest"));
  EXPECT_EQ(store_->resolve("latest")->digest, b.digest);
  EXPECT_TRUE(store_->find_manifest(a.digest.str()).value().has_value());
  EXPECT_EQ(store_->read_index().value()->manifests.size(), 2u);

  ASSERT_TRUE(store_->untag("latest"));
  EXPECT_FALSE(store_->find_manifest("latest").value().has_value());
  EXPECT_TRUE(store_->find_manifest(b.digest.str()).value().has_value());
  EXPECT_THAT(error_of(store_->untag("latest")), HasSubstr("tag latest not found"));

  ASSERT_TRUE(store_->delete_manifest(b.digest));
  EXPECT_FALSE(store_->find_manifest(b.digest.str()).value().has_value());
  EXPECT_FALSE(fs::exists(store_->dir() / "blobs/sha256" / b.digest.hex()));
  EXPECT_THAT(error_of(store_->delete_manifest(b.digest)),
              HasSubstr("manifest " + b.digest.str() + " not found"));
  EXPECT_EQ(store_->read_index().value()->manifests.size(), 1u);
}

TEST_F(LayoutStoreTest, RefusesManifestsNamingMissingBlobs) {
  ImageManifest m;
  m.media_type = std::string(media_type::kImageManifest);
  m.config = empty_descriptor();
  m.layers.push_back(descriptor_of("never written"));
  auto doc = make_document(encode_manifest(m)).value();
  auto put = store_->put_manifest(doc, "x");
  ASSERT_FALSE(put);
  EXPECT_THAT(put.error().message, HasSubstr("manifest names missing blob"));
  EXPECT_EQ(store_->read_index().value()->manifests.size(), 0u);
  EXPECT_FALSE(fs::exists(store_->dir() / "blobs/sha256" / doc.digest.hex()));
}

TEST_F(LayoutStoreTest, RefusesOversizedAndMislabelledManifests) {
  Document big;
  big.media_type = std::string(media_type::kImageManifest);
  big.bytes = std::string(kMaxManifestBytes + 1, ' ');
  big.digest = digest_of(big.bytes);
  auto put = store_->put_manifest(big, "big");
  ASSERT_FALSE(put);
  EXPECT_THAT(put.error().message, HasSubstr("limit"));

  auto doc = image(*store_, "x");
  doc.digest = digest_of("something else");
  EXPECT_THAT(error_of(store_->put_manifest(doc, "x")),
              HasSubstr("the bytes do not have that digest"));
  EXPECT_THAT(error_of(store_->put_manifest(image(*store_, "y"), "bad tag!")),
              HasSubstr("invalid tag \"bad tag!\""));
  EXPECT_EQ(store_->read_index().value()->manifests.size(), 0u);
}

TEST_F(LayoutStoreTest, BlobMismatchLeavesNothing) {
  auto d = descriptor_of("the real content");
  EXPECT_THAT(error_of(store_->put_blob_bytes(d, "other content!!!")),
              HasSubstr("the bytes have digest " + digest_of("other content!!!").str()));
  FakeBlobReader wrong("other content!!!");
  auto put = store_->put_blob(d, wrong);
  ASSERT_FALSE(put);
  EXPECT_THAT(put.error().message, HasSubstr("digest"));
  FakeBlobReader longer("the real content and more");
  EXPECT_THAT(error_of(store_->put_blob(d, longer)),
              HasSubstr("the source sent more than the 16 bytes"));
  FakeBlobReader shorter("the real");
  EXPECT_THAT(error_of(store_->put_blob(d, shorter)), HasSubstr("has 8 bytes, expected 16"));
  EXPECT_THAT(dir_entries(store_->dir() / "blobs/sha256"), IsEmpty());
  EXPECT_THAT(dir_entries(store_->dir() / ".uploads"), IsEmpty());

  FakeBlobReader right("the real content");
  ASSERT_TRUE(store_->put_blob(d, right));
  EXPECT_TRUE(store_->has_blob(d).value());
  EXPECT_THAT(dir_entries(store_->dir() / ".uploads"), IsEmpty());
  EXPECT_EQ(store_->blob_path(d.digest).value(), store_->dir() / "blobs/sha256" / d.digest.hex());
}

// With deferred durability (a copy), committed blobs stay staged and unnamed in blobs/ until
// the index is about to name them; this store sees them meanwhile; its end links what is left.
TEST_F(LayoutStoreTest, DeferredBlobsAreLinkedBeforeTheIndexNamesThem) {
  store_->defer_blob_sync();
  auto blobs = store_->dir() / "blobs/sha256";
  auto doc = image(*store_, "layer bytes");
  auto layer = descriptor_of("layer bytes");
  EXPECT_THAT(dir_entries(blobs), IsEmpty());
  EXPECT_EQ(dir_entries(store_->dir() / ".uploads").size(), 2u);  // config, layer
  EXPECT_TRUE(store_->has_blob(layer).value());
  EXPECT_EQ(store_->blob_size(layer.digest).value(), layer.size);
  auto reader = store_->open_blob(layer);
  ASSERT_TRUE(reader) << reader.error().message;
  FakeBlobReader again("layer bytes");
  ASSERT_TRUE(store_->put_blob(layer, again));  // already there (pending): nothing staged twice
  EXPECT_EQ(dir_entries(store_->dir() / ".uploads").size(), 2u);

  ASSERT_TRUE(store_->put_manifest(doc, "v1"));
  EXPECT_EQ(dir_entries(blobs).size(), 3u);  // config, layer, manifest
  EXPECT_THAT(dir_entries(store_->dir() / ".uploads"), IsEmpty());
  EXPECT_EQ(store_->blob_path(layer.digest).value(), blobs / layer.digest.hex());

  auto other = descriptor_of("committed by a copy that then failed");
  ASSERT_TRUE(store_->put_blob_bytes(other, "committed by a copy that then failed"));
  EXPECT_FALSE(fs::exists(blobs / other.digest.hex()));
  store_.reset();
  EXPECT_TRUE(fs::exists(blobs / other.digest.hex()));
  EXPECT_THAT(dir_entries(dir_->path() / "layout/.uploads"), IsEmpty());
}

// A source that checks the digest itself is not hashed again: the store relies on its read()
// failing at the end when the bytes are wrong, and nothing is left behind when it does.
TEST_F(LayoutStoreTest, ASelfVerifyingSourceIsTrustedOnlyForItsDigestAndOnlyToItsEnd) {
  auto d = descriptor_of("the real content");
  // Wrong bytes, and the source says so at the end: nothing stored.
  FakeBlobReader caught("other content!!!");
  caught.vouch_for(d.digest).at_end(
      []() -> Status { return fail("the source's digest mismatch"); });
  EXPECT_THAT(error_of(store_->put_blob(d, caught)), HasSubstr("the source's digest mismatch"));
  EXPECT_THAT(dir_entries(store_->dir() / "blobs/sha256"), IsEmpty());
  EXPECT_THAT(dir_entries(store_->dir() / ".uploads"), IsEmpty());
  // A source verifying another digest is hashed as usual, so its wrong bytes are refused.
  FakeBlobReader other("other content!!!");
  other.vouch_for(digest_of("something else"));
  EXPECT_THAT(error_of(store_->put_blob(d, other)),
              HasSubstr("blob content has digest " + digest_of("other content!!!").str()));
  EXPECT_THAT(dir_entries(store_->dir() / "blobs/sha256"), IsEmpty());
  // The right bytes from a source verifying this digest are stored, sizes still checked.
  FakeBlobReader shorter("the real");
  shorter.vouch_for(d.digest);
  EXPECT_THAT(error_of(store_->put_blob(d, shorter)), HasSubstr("has 8 bytes, expected 16"));
  FakeBlobReader right("the real content");
  right.vouch_for(d.digest);
  ASSERT_TRUE(store_->put_blob(d, right));
  EXPECT_EQ(read_file(store_->blob_path(d.digest).value()).value(), "the real content");
  EXPECT_THAT(dir_entries(store_->dir() / ".uploads"), IsEmpty());
}

TEST_F(LayoutStoreTest, ReadersDetectCorruptBlobs) {
  auto d = descriptor_of("0123456789");
  ASSERT_TRUE(store_->put_blob_bytes(d, "0123456789"));
  auto path = store_->blob_path(d.digest).value();
  fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "0123456780";
  auto reader = store_->open_blob(d).value();
  std::vector<std::byte> buffer(4);
  Result<std::size_t> n;
  do {
    n = reader->read(buffer);
  } while (n && *n > 0);
  ASSERT_FALSE(n);
  EXPECT_THAT(n.error().message, HasSubstr("digest"));
  auto sized = d;
  sized.size = 11;
  EXPECT_THAT(error_of(store_->open_blob(sized)),
              HasSubstr("has 10 bytes, its descriptor says 11"));
}

TEST_F(LayoutStoreTest, CorruptIndexIsAClearErrorNamingTheFile) {
  std::ofstream(store_->dir() / "index.json", std::ios::trunc)
      << R"({"schemaVersion":2,"manifests":[{"x":1}]})";
  auto tags = store_->list_tags();
  ASSERT_FALSE(tags);
  EXPECT_THAT(tags.error().message, HasSubstr((store_->dir() / "index.json").string()));
  std::ofstream(store_->dir() / "index.json", std::ios::trunc) << "{\"schemaVersion\":2,";
  EXPECT_THAT(error_of(store_->resolve("latest")), HasSubstr("not valid JSON"));
  std::ofstream(store_->dir() / "index.json", std::ios::trunc)
      << R"({"schemaVersion":2,"manifests":[],"manifests":[]})";
  EXPECT_THAT(error_of(store_->list_tags()), HasSubstr("duplicate key \"manifests\""));
}

TEST_F(LayoutStoreTest, ReferrersAreIndexedAndFiltered) {
  auto subject = image(*store_, "subject");
  // The subject need not exist when its referrer arrives.
  auto sig = image(*store_, "signature", subject.descriptor(), "application/vnd.machine.signature");
  auto cert = image(*store_, "cert", subject.descriptor(), "application/vnd.machine.pubkeycrt");
  ASSERT_TRUE(store_->put_manifest(sig, std::nullopt));
  ASSERT_TRUE(store_->put_manifest(subject, "1.0.0"));
  ASSERT_TRUE(store_->put_manifest(cert, std::nullopt));

  auto all = store_->referrers(subject.digest, std::nullopt).value();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].digest, sig.digest);
  EXPECT_EQ(all[0].artifact_type, "application/vnd.machine.signature");
  auto certs =
      store_->referrers(subject.digest, std::string("application/vnd.machine.pubkeycrt")).value();
  ASSERT_EQ(certs.size(), 1u);
  EXPECT_EQ(certs[0].digest, cert.digest);
  EXPECT_TRUE(store_->referrers(cert.digest, std::nullopt).value().empty());
  EXPECT_TRUE(
      fs::exists(store_->dir() / ".referrers" / ("sha256-" + subject.digest.hex() + ".json")));

  ASSERT_TRUE(store_->delete_manifest(sig.digest));
  all = store_->referrers(subject.digest, std::nullopt).value();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].digest, cert.digest);

  // Without the sidecar (a layout written by zot or skopeo) the answer comes from a scan.
  fs::remove_all(store_->dir() / ".referrers");
  all = store_->referrers(subject.digest, std::nullopt).value();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].digest, cert.digest);
}

TEST_F(LayoutStoreTest, StaleReferrersIndexIsRebuilt) {
  auto subject = image(*store_, "subject");
  ASSERT_TRUE(store_->put_manifest(subject, "v1"));
  ASSERT_TRUE(store_->referrers(subject.digest, std::nullopt).value().empty());
  // Another tool appends a referrer to index.json without knowing our sidecar files.
  auto sig = image(*store_, "sig", subject.descriptor(), "application/vnd.machine.signature");
  ASSERT_TRUE(store_->put_blob_bytes(sig.descriptor(), sig.bytes));
  auto text = read_text(store_->dir() / "index.json");
  auto json = parse_json_strict(text, "index").value();
  json["manifests"].push_back(
      {{"mediaType", sig.media_type}, {"digest", sig.digest.str()}, {"size", sig.bytes.size()}});
  std::ofstream(store_->dir() / "index.json", std::ios::trunc) << json.dump() << "\n\n";
  auto all = store_->referrers(subject.digest, std::nullopt).value();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].digest, sig.digest);

  // A writer that died between sidecar and index writes leaves no stamp: a bogus sidecar is
  // not believed.
  fs::remove(store_->dir() / ".referrers/stamp");
  std::ofstream(store_->dir() / ".referrers" / ("sha256-" + subject.digest.hex() + ".json"),
                std::ios::trunc)
      << R"({"schemaVersion":2,"manifests":[]})";
  EXPECT_EQ(store_->referrers(subject.digest, std::nullopt).value().size(), 1u);
}

TEST_F(LayoutStoreTest, ParallelPutsFromThreadsKeepEveryEntry) {
  constexpr int kThreads = 8, kPerThread = 12;
  std::vector<Document> docs;
  for (int i = 0; i < kThreads * kPerThread; ++i)
    docs.push_back(image(*store_, fmt::format("layer {}", i)));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread opens its own store object, as the registry does per request.
      auto store = LayoutStore::open(store_->dir(), false).value();
      for (int i = 0; i < kPerThread; ++i) {
        int n = t * kPerThread + i;
        if (!store->put_manifest(docs[n], fmt::format("t{}", n))) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(store_->list_tags().value().size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (int n = 0; n < kThreads * kPerThread; ++n)
    EXPECT_EQ(store_->resolve(fmt::format("t{}", n))->digest, docs[n].digest);
}

TEST_F(LayoutStoreTest, ParallelPutsFromProcessesKeepEveryEntry) {
  constexpr int kProcesses = 4, kPerProcess = 10;
  std::vector<Document> docs;
  for (int i = 0; i < kProcesses * kPerProcess; ++i)
    docs.push_back(image(*store_, fmt::format("p {}", i)));
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // A fresh thread gets freshly seeded temp-name generators (a forked main thread would
      // repeat the parent's sequence; real writers are separate programs).
      int bad = 0;
      std::thread([&] {
        auto store = LayoutStore::open(store_->dir(), false);
        bad = store ? 0 : 1;
        for (int i = 0; store && i < kPerProcess; ++i) {
          int n = p * kPerProcess + i;
          if (auto put = (*store)->put_manifest(docs[n], fmt::format("p{}", n)); !put) {
            fmt::print(stderr, "{}\n", put.error().message);
            bad = 1;
          }
        }
      }).join();
      ::_exit(bad);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(store_->list_tags().value().size(), static_cast<std::size_t>(kProcesses * kPerProcess));
}

TEST_F(LayoutStoreTest, AbandonedWritersLeaveNoPartialBlobOrIndexEntry) {
  auto d = descriptor_of(std::string(3 << 20, 'x'));
  auto index_before = read_text(store_->dir() / "index.json");
  // A writer process dies half-way through a blob...
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    FakeBlobReader dying(std::string(2 << 20, 'x'));
    dying.at_end([]() -> Status { ::_exit(3); });
    (void)store_->put_blob(d, dying);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3);
  EXPECT_FALSE(store_->has_blob(d).value());
  EXPECT_FALSE(fs::exists(store_->dir() / "blobs/sha256" / d.digest.hex()));

  // ...another dies holding the index lock (the kernel releases flock locks of dead processes),
  // leaving a half-written temp index beside index.json.
  pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto lock = FileLock::acquire(store_->dir() / ".mos-index.lock", FileLock::Mode::exclusive);
    std::ofstream(store_->dir() / ".index.json.tmp-dead", std::ios::trunc)
        << R"({"schemaVersion":2,"manif)";
    ::_exit(lock ? 4 : 5);
  }
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 4);
  EXPECT_EQ(read_text(store_->dir() / "index.json"), index_before);
  EXPECT_TRUE(store_->list_tags().value().empty());
  // The layout stays writable.
  auto doc = image(*store_, "after the crash");
  ASSERT_TRUE(store_->put_manifest(doc, "ok"));
  EXPECT_EQ(store_->list_tags().value(), std::vector<std::string>{"ok"});
}

TEST(LayoutRoot, ValidatesNamesAndListsRepositories) {
  auto tmp = TempDir::create({}, "mos-root-test-").value();
  auto root = LayoutRoot::open(tmp.path() / "zot", true).value();
  for (auto bad :
       {"..", "../etc", "/abs", "a//b", "Upper", "a/../b", "a/", ".uploads", "a/.referrers", ""})
    EXPECT_THAT(error_of(root.repository(bad, true)),
                HasSubstr(fmt::format("invalid repository name \"{}\"", bad)));
  EXPECT_FALSE(fs::exists(tmp.path() / "etc"));
  // A repository is made by its first write (see layout_create_test.cpp).
  for (auto name : {"machine/install", "zot", "a-b/c_d/e.f"}) {
    auto repository = root.repository(name, true);
    ASSERT_TRUE(repository) << repository.error().message;
    ASSERT_TRUE((*repository)->put_blob_bytes(empty_descriptor(), kEmptyJson));
  }
  EXPECT_THAT(error_of(root.repository("zot/blobs", true)),
              HasSubstr("zot is already a repository"));
  EXPECT_THAT(error_of(root.repository("nothere", false)), HasSubstr("does not exist"));
  EXPECT_TRUE(root.has_repository("zot"));
  EXPECT_FALSE(root.has_repository("nothere"));
  EXPECT_EQ(root.catalog().value(),
            (std::vector<std::string>{"a-b/c_d/e.f", "machine/install", "zot"}));
  EXPECT_TRUE(fs::exists(tmp.path() / "zot/machine/install/index.json"));
}
