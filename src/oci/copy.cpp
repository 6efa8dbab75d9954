#include "oci/copy.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/progress.hpp"
#include "oci/registry_repository.hpp"

namespace mos::oci {
namespace {

// Counts bytes into the progress display as they pass.
class CountingReader final : public BlobReader {
 public:
  CountingReader(BlobReader& inner, Progress& progress) : inner_(inner), progress_(progress) {}
  bool verifies(const Digest& digest) const override { return inner_.verifies(digest); }
  Result<std::size_t> read(std::span<std::byte> buffer) override {
    MOS_TRY_ASSIGN(auto n, inner_.read(buffer));
    progress_.add(static_cast<std::int64_t>(n));
    return n;
  }

 private:
  BlobReader& inner_;
  Progress& progress_;
};

// Everything one copy moves: manifests in push order (children before parents) and blobs.
struct Plan {
  std::vector<Document> manifests;
  std::vector<Descriptor> blobs;
  std::set<Digest> seen_blobs;
  std::set<Digest> seen_manifests;
};

Status plan_document(Repository& src, const Document& doc, Plan& plan, int depth) {
  if (depth > 8) return fail("{}: indexes nested more than 8 levels deep", src.describe());
  if (!plan.seen_manifests.insert(doc.digest).second) return {};
  auto add_blob = [&](const Descriptor& d) {
    if (plan.seen_blobs.insert(d.digest).second) plan.blobs.push_back(d);
  };
  if (doc.is_index()) {
    MOS_TRY_ASSIGN(auto index, parse_image_index(doc.bytes));
    for (const auto& child : index.manifests) {
      if (plan.seen_manifests.contains(child.digest)) continue;
      auto child_doc = src.get_manifest(child.digest.str());
      if (!child_doc)
        return context(fmt::format("reading {} of index {}", child.digest.str(), doc.digest.str()),
                       child_doc.error());
      if (static_cast<std::int64_t>(child_doc->bytes.size()) != child.size)
        return fail("manifest {} in {} is {} bytes, its index says {}", child.digest.str(),
                    src.describe(), child_doc->bytes.size(), child.size);
      MOS_TRY(plan_document(src, *child_doc, plan, depth + 1));
    }
  } else {
    MOS_TRY_ASSIGN(auto manifest, parse_image_manifest(doc.bytes));
    add_blob(manifest.config);
    for (const auto& layer : manifest.layers) add_blob(layer);
  }
  plan.manifests.push_back(doc);
  return {};
}

struct Mount {
  RegistryRepository* dst = nullptr;
  std::string from;
};

std::optional<Mount> mount_between(Repository& src, Repository& dst) {
  auto* s = dynamic_cast<RegistryRepository*>(&src);
  auto* d = dynamic_cast<RegistryRepository*>(&dst);
  if (!s || !d || s->client()->host() != d->client()->host() || s->repo() == d->repo())
    return std::nullopt;
  return Mount{d, s->repo()};
}

Status copy_blobs(Repository& src, Repository& dst, const std::vector<Descriptor>& blobs,
                  const CopyOptions& options, Progress& progress, CopyResult& result) {
  auto mount = mount_between(src, dst);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::optional<Error> first_error;
  auto one = [&](const Descriptor& blob) -> Status {
    MOS_TRY_ASSIGN(auto present, dst.has_blob(blob));
    if (present) {
      progress.add(blob.size);
      std::lock_guard lock(mutex);
      ++result.blobs_skipped;
      return {};
    }
    MOS_TRY_ASSIGN(auto reader, src.open_blob(blob));
    CountingReader counting(*reader, progress);
    bool mounted = false;
    if (mount) {
      MOS_TRY_ASSIGN(mounted, mount->dst->put_blob_mounting(blob, counting, mount->from));
    } else {
      MOS_TRY(dst.put_blob(blob, counting));
    }
    std::lock_guard lock(mutex);
    if (mounted) {
      progress.add(blob.size);
      ++result.blobs_mounted;
      return {};
    }
    ++result.blobs_copied;
    result.bytes_copied += blob.size;
    return {};
  };
  auto worker = [&] {
    while (!stop.load()) {
      std::size_t i = next.fetch_add(1);
      if (i >= blobs.size()) return;
      auto ok = one(blobs[i]);
      if (!ok) {
        std::lock_guard lock(mutex);
        if (!first_error) first_error = ok.error();
        stop = true;
      }
    }
  };
  int threads = std::clamp<int>(options.parallel, 1, 16);
  threads = std::min<int>(threads, static_cast<int>(blobs.size()));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (first_error) return std::unexpected(*first_error);
  return {};
}

Result<CopyResult> copy_one(Repository& src, std::string_view src_reference, Repository& dst,
                            const std::optional<std::string>& dst_tag, const CopyOptions& options,
                            std::set<Digest>& copied) {
  auto where = [&](const Error& e) {
    return context(
        fmt::format("copying {}:{} to {}", src.describe(), src_reference, dst.describe()), e);
  };
  auto top = src.get_manifest(src_reference);
  if (!top) return where(top.error());
  Plan plan;
  if (auto ok = plan_document(src, *top, plan, 0); !ok) return where(ok.error());
  CopyResult result;
  result.manifest = top->descriptor();
  std::int64_t total = 0;
  for (const auto& b : plan.blobs) total += b.size;
  {
    Progress progress(fmt::format("{}", src_reference.substr(0, 24)), total, options.progress);
    if (auto ok = copy_blobs(src, dst, plan.blobs, options, progress, result); !ok)
      return where(ok.error());
    progress.finish();
  }
  for (const auto& doc : plan.manifests) {
    bool is_top = doc.digest == top->digest;
    if (auto ok = dst.put_manifest(doc, is_top ? dst_tag : std::nullopt); !ok)
      return where(ok.error());
    ++result.manifests;
  }
  copied.insert(top->digest);
  if (options.referrers) {
    auto list = src.referrers(top->digest, std::nullopt);
    if (!list) return where(list.error());
    for (const auto& referrer : *list) {
      if (copied.contains(referrer.digest)) continue;
      auto sub = copy_one(src, referrer.digest.str(), dst, std::nullopt, options, copied);
      if (!sub) return std::unexpected(sub.error());
      result.referrers += 1 + sub->referrers;
      result.blobs_copied += sub->blobs_copied;
      result.blobs_skipped += sub->blobs_skipped;
      result.bytes_copied += sub->bytes_copied;
    }
  }
  return result;
}

}  // namespace

Result<CopyResult> copy_image(Repository& src, std::string_view src_reference, Repository& dst,
                              const std::optional<std::string>& dst_tag,
                              const CopyOptions& options) {
  std::set<Digest> copied;
  return copy_one(src, src_reference, dst, dst_tag, options, copied);
}

}  // namespace mos::oci
