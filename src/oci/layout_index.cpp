// LayoutStore: index.json (read with a cache, rewritten atomically under the layout lock), tags,
// and the referrers index in .referrers/.
//
// The referrers index holds one file per subject (the referrers response as an image index) and
// a stamp naming the index.json (the digest of its bytes) it was built from. Our writers remove the
// stamp, update the subject files, replace index.json and write the new stamp, all under the
// lock: a crash in between leaves no stamp, and a layout changed by another tool (zot, skopeo,
// umoci) leaves a stale one; either way the next reader rebuilds the index by one scan.
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "core/json.hpp"
#include "core/lock.hpp"
#include "oci/layout_store.hpp"
#include "oci/media_types.hpp"
#include "oci/reference.hpp"

namespace mos::oci {

struct LayoutStore::IndexUpdate {
  std::vector<std::pair<Digest, Descriptor>> added;  // subject, referrer descriptor
  std::vector<std::pair<Digest, Digest>> removed;    // subject, referrer digest
};

namespace {

constexpr std::string_view kLockFile = ".mos-index.lock";
constexpr std::string_view kReferrersDir = ".referrers";
constexpr std::string_view kStampFile = "stamp";

// Parses index.json (or a referrers file, which has the same shape) into its descriptors and
// remaining fields.
Result<LayoutIndex> parse_layout_index(std::string_view text, const fs::path& path) {
  std::string what = path.string();
  auto parsed = parse_json_strict(text, what, {.max_bytes = kMaxLayoutIndexBytes, .max_depth = 64});
  if (!parsed) return fail("corrupt OCI layout index {}: {}", what, parsed.error().message);
  Json& doc = *parsed;
  if (!doc.is_object()) return fail("corrupt OCI layout index {}: not a JSON object", what);
  auto version = json_int(doc, "schemaVersion", what);
  if (!version) return fail("corrupt OCI layout index {}: {}", what, version.error().message);
  if (*version != 2)
    return fail("corrupt OCI layout index {}: schemaVersion must be 2, not {}", what, *version);
  LayoutIndex index;
  auto manifests = doc.find("manifests");
  if (manifests != doc.end() && !manifests->is_null()) {
    if (!manifests->is_array())
      return fail("corrupt OCI layout index {}: \"manifests\" must be an array", what);
    for (std::size_t i = 0; i < manifests->size(); ++i) {
      auto d = parse_descriptor((*manifests)[i], fmt::format("manifests[{}]", i));
      if (!d) return fail("corrupt OCI layout index {}: {}", what, d.error().message);
      index.manifests.push_back(std::move(*d));
    }
  }
  for (auto it = doc.begin(); it != doc.end(); ++it)
    if (it.key() != "manifests") index.other_fields[it.key()] = it.value();
  return index;
}

std::string encode_layout_index(const LayoutIndex& index) {
  OrderedJson out = OrderedJson::object();
  out["schemaVersion"] = 2;
  if (auto it = index.other_fields.find("mediaType"); it != index.other_fields.end())
    out["mediaType"] = OrderedJson::parse(it->dump());
  OrderedJson list = OrderedJson::array();
  for (const auto& d : index.manifests) list.push_back(descriptor_json(d));
  out["manifests"] = std::move(list);
  for (auto it = index.other_fields.begin(); it != index.other_fields.end(); ++it)
    if (it.key() != "schemaVersion" && it.key() != "mediaType")
      out[it.key()] = OrderedJson::parse(it->dump());
  return encode_compact(out);
}

// Parsed index.json files by path, valid while the file's bytes are unchanged (compared by
// digest: inode, size and mtime can all repeat when files are replaced quickly). The registry
// answers many manifest requests per index.json write, and hashing is far cheaper than parsing.
class IndexCache {
 public:
  std::shared_ptr<const LayoutIndex> find(const std::string& path, const std::string& stamp) {
    std::lock_guard guard(mutex_);
    auto it = entries_.find(path);
    if (it == entries_.end() || it->second.first != stamp) return nullptr;
    return it->second.second;
  }
  void store(const std::string& path, const std::string& stamp,
             std::shared_ptr<const LayoutIndex> index) {
    std::lock_guard guard(mutex_);
    if (entries_.size() >= 256) entries_.clear();
    entries_[path] = {stamp, std::move(index)};
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::pair<std::string, std::shared_ptr<const LayoutIndex>>>
      entries_;
};

IndexCache& index_cache() {
  static IndexCache cache;
  return cache;
}

const std::string* ref_name(const Descriptor& d) {
  auto it = d.annotations.find(std::string(annotation::kRefName));
  return it == d.annotations.end() ? nullptr : &it->second;
}

Result<std::optional<Digest>> subject_of(const Document& doc) {
  if (doc.is_index()) {
    MOS_TRY_ASSIGN(auto index, parse_image_index(doc.bytes));
    return index.subject ? std::optional<Digest>(index.subject->digest) : std::nullopt;
  }
  MOS_TRY_ASSIGN(auto manifest, parse_image_manifest(doc.bytes));
  return manifest.subject ? std::optional<Digest>(manifest.subject->digest) : std::nullopt;
}

std::string sidecar_name(const Digest& subject) {
  return fmt::format("{}-{}.json", subject.algorithm_name(), subject.hex());
}

}  // namespace

// ---- index.json ----

Result<std::shared_ptr<const LayoutIndex>> LayoutStore::read_index() const {
  if (still_missing()) {
    static const auto empty = std::make_shared<const LayoutIndex>();
    return empty;
  }
  fs::path path = dir_ / "index.json";
  MOS_TRY_ASSIGN(auto text, read_file(path, kMaxLayoutIndexBytes));
  std::string stamp = digest_of(text).str();
  if (auto cached = index_cache().find(path.string(), stamp)) return cached;
  MOS_TRY_ASSIGN(auto index, parse_layout_index(text, path));
  index.stamp = stamp;
  auto shared = std::make_shared<const LayoutIndex>(std::move(index));
  index_cache().store(path.string(), stamp, shared);
  return shared;
}

Status LayoutStore::update_index(
    const std::function<Result<bool>(LayoutIndex&, IndexUpdate&)>& change) {
  MOS_TRY(ensure_exists());
  MOS_TRY(flush_blobs());  // what the index will name is on disk first
  MOS_TRY_ASSIGN(auto lock, FileLock::acquire(dir_ / kLockFile, FileLock::Mode::exclusive));
  fs::path refdir = dir_ / kReferrersDir;
  MOS_TRY_ASSIGN(auto current, read_index());
  auto stored = read_file(refdir / kStampFile, 4096);
  bool referrers_valid = stored && *stored == current->stamp;
  LayoutIndex index = *current;
  IndexUpdate update;
  MOS_TRY_ASSIGN(bool changed, change(index, update));
  if (!changed) return {};

  if (referrers_valid && (!update.added.empty() || !update.removed.empty())) {
    // Without a stamp the files below are not trusted until rewritten with a new one.
    if (::unlink((refdir / kStampFile).c_str()) != 0 && errno != ENOENT) referrers_valid = false;
    std::map<Digest, std::vector<Descriptor>> lists;
    auto list_of = [&](const Digest& subject) -> Result<std::vector<Descriptor>*> {
      auto it = lists.find(subject);
      if (it != lists.end()) return &it->second;
      MOS_TRY_ASSIGN(auto existing, read_referrers_sidecar(subject));
      return &(lists[subject] = existing.value_or(std::vector<Descriptor>{}));
    };
    for (const auto& [subject, referrer] : update.removed) {
      auto list = list_of(subject);
      if (!list) {
        referrers_valid = false;
        break;
      }
      std::erase_if(**list, [&](const Descriptor& d) { return d.digest == referrer; });
    }
    for (const auto& [subject, referrer] : update.added) {
      if (!referrers_valid) break;
      auto list = list_of(subject);
      if (!list) {
        referrers_valid = false;
        break;
      }
      auto& l = **list;
      std::erase_if(l, [&](const Descriptor& d) { return d.digest == referrer.digest; });
      l.push_back(referrer);
    }
    for (const auto& [subject, list] : lists) {
      if (!referrers_valid) break;
      if (!write_referrers_sidecar(subject, list)) referrers_valid = false;
    }
  }

  std::string text = encode_layout_index(index);
  auto written = write_file_atomic(dir_ / "index.json", text);
  if (!written)
    return context(fmt::format("updating the index of {}", describe()), written.error());

  std::string stamp_after = digest_of(text).str();
  if (referrers_valid) {
    if (!write_file_atomic(refdir / kStampFile, stamp_after))
      ::unlink((refdir / kStampFile).c_str());
  } else {
    if (auto rebuilt = rebuild_referrers(stamp_after, index); !rebuilt)
      spdlog::warn("{}: referrers index not rebuilt ({}); it will be rebuilt when read", describe(),
                   rebuilt.error().message);
  }
  return {};
}

// ---- tags and manifests ----

Status LayoutStore::put_manifest(const Document& doc, const std::optional<std::string>& tag) {
  std::string where = fmt::format("storing manifest {} in {}", doc.digest.str(), describe());
  if (doc.bytes.size() > kMaxManifestBytes)
    return fail("{}: it is {} bytes, more than the limit of {}", where, doc.bytes.size(),
                kMaxManifestBytes);
  if (digest_of(doc.bytes, doc.digest.algorithm()) != doc.digest)
    return fail("{}: the bytes do not have that digest", where);
  if (tag && !is_valid_tag(*tag))
    return fail("{}: invalid tag \"{}\" (tags match [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})", where,
                *tag);
  auto missing = missing_blobs(doc);
  if (!missing) return context(where, missing.error());
  if (!missing->empty())
    return fail("{}: manifest names missing blob {} (MANIFEST_BLOB_UNKNOWN: write its blobs first)",
                where, missing->front().str());
  auto subject = subject_of(doc);
  if (!subject) return context(where, subject.error());
  std::optional<Descriptor> referrer;
  if (*subject) {
    auto d = referrer_descriptor(doc);
    if (!d) return context(where, d.error());
    referrer = std::move(*d);
  }
  MOS_TRY(put_blob_bytes(doc.descriptor(), doc.bytes));

  auto status = update_index([&](LayoutIndex& index, IndexUpdate& update) -> Result<bool> {
    // Again under the lock: garbage collection may have removed a blob since the check above.
    MOS_TRY_ASSIGN(auto gone, missing_blobs(doc));
    if (!gone.empty())
      return fail("manifest names missing blob {} (MANIFEST_BLOB_UNKNOWN: write its blobs first)",
                  gone.front().str());
    auto& entries = index.manifests;
    bool changed = false;
    if (tag) {
      auto tagged = std::find_if(entries.begin(), entries.end(), [&](const Descriptor& d) {
        auto name = ref_name(d);
        return name && *name == *tag;
      });
      if (tagged != entries.end() && tagged->digest == doc.digest) return false;
      if (tagged != entries.end()) {
        // The old manifest stays listed (untagged) unless another entry still lists it.
        Digest old = tagged->digest;
        long listed = std::count_if(entries.begin(), entries.end(),
                                    [&](const Descriptor& d) { return d.digest == old; });
        if (listed > 1)
          entries.erase(tagged);
        else
          tagged->annotations.erase(std::string(annotation::kRefName));
      }
      auto untagged = std::find_if(entries.begin(), entries.end(), [&](const Descriptor& d) {
        return d.digest == doc.digest && !ref_name(d);
      });
      if (untagged != entries.end()) {
        untagged->annotations[std::string(annotation::kRefName)] = *tag;
      } else {
        Descriptor d = doc.descriptor();
        d.annotations[std::string(annotation::kRefName)] = *tag;
        entries.push_back(std::move(d));
      }
      changed = true;
    } else if (std::none_of(entries.begin(), entries.end(),
                            [&](const Descriptor& d) { return d.digest == doc.digest; })) {
      entries.push_back(doc.descriptor());
      changed = true;
    }
    if (changed && referrer) update.added.emplace_back(**subject, *referrer);
    return changed;
  });
  if (!status) return context(where, status.error());
  return {};
}

Status LayoutStore::untag(std::string_view tag) {
  return update_index([&](LayoutIndex& index, IndexUpdate&) -> Result<bool> {
    auto& entries = index.manifests;
    auto tagged = std::find_if(entries.begin(), entries.end(), [&](const Descriptor& d) {
      auto name = ref_name(d);
      return name && *name == tag;
    });
    if (tagged == entries.end()) return fail("tag {} not found in {}", tag, describe());
    Digest digest = tagged->digest;
    long listed = std::count_if(entries.begin(), entries.end(),
                                [&](const Descriptor& d) { return d.digest == digest; });
    if (listed > 1)
      entries.erase(tagged);
    else
      tagged->annotations.erase(std::string(annotation::kRefName));
    return true;
  });
}

Status LayoutStore::delete_manifest(const Digest& digest) {
  // The subject decides which referrers list loses this manifest.
  std::optional<Digest> subject;
  MOS_TRY_ASSIGN(auto size, blob_size(digest));
  if (size) {
    Descriptor probe;
    probe.digest = digest;
    probe.size = *size;
    if (auto doc = read_manifest_blob(probe)) {
      if (auto s = subject_of(*doc)) subject = *s;
    }
  }
  bool was_listed = false;
  MOS_TRY(update_index([&](LayoutIndex& index, IndexUpdate& update) -> Result<bool> {
    was_listed =
        std::erase_if(index.manifests, [&](const Descriptor& d) { return d.digest == digest; }) > 0;
    if (was_listed && subject) update.removed.emplace_back(*subject, digest);
    return was_listed;
  }));
  if (!was_listed && !size) return fail("manifest {} not found in {}", digest.str(), describe());
  if (size) {
    fs::path path = dir_ / "blobs" / std::string(digest.algorithm_name()) / digest.hex();
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return fail("cannot delete manifest blob {}: {}", path.string(), errno_message(errno));
  }
  return {};
}

// ---- referrers ----

Result<std::optional<std::vector<Descriptor>>> LayoutStore::read_referrers_sidecar(
    const Digest& subject) const {
  fs::path path = dir_ / kReferrersDir / sidecar_name(subject);
  if (!fs::exists(path)) return std::optional<std::vector<Descriptor>>{};
  MOS_TRY_ASSIGN(auto text, read_file(path, kMaxLayoutIndexBytes));
  MOS_TRY_ASSIGN(auto parsed, parse_layout_index(text, path));
  return std::optional<std::vector<Descriptor>>{std::move(parsed.manifests)};
}

Status LayoutStore::write_referrers_sidecar(const Digest& subject,
                                            const std::vector<Descriptor>& list) {
  fs::path dir = dir_ / kReferrersDir;
  fs::path path = dir / sidecar_name(subject);
  if (list.empty()) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return fail("cannot remove {}: {}", path.string(), errno_message(errno));
    return {};
  }
  MOS_TRY(make_dirs(dir));
  LayoutIndex index;
  index.manifests = list;
  index.other_fields["mediaType"] = std::string(media_type::kImageIndex);
  return write_file_atomic(path, encode_layout_index(index));
}

Result<std::vector<std::pair<Digest, Descriptor>>> LayoutStore::scan_referrers(
    const LayoutIndex& index) const {
  std::vector<std::pair<Digest, Descriptor>> found;
  std::set<Digest> seen;
  for (const auto& d : index.manifests) {
    if (!seen.insert(d.digest).second) continue;
    if (!media_type::is_manifest(d.media_type) && !media_type::is_index(d.media_type)) continue;
    auto doc = read_manifest_blob(d);
    if (!doc) {
      spdlog::warn("{}: skipping unreadable manifest while listing referrers: {}", describe(),
                   doc.error().message);
      continue;
    }
    auto subject = subject_of(*doc);
    if (!subject || !*subject) continue;
    auto referrer = referrer_descriptor(*doc);
    if (referrer) found.emplace_back(**subject, std::move(*referrer));
  }
  return found;
}

Status LayoutStore::rebuild_referrers(const std::string& stamp, const LayoutIndex& index) {
  fs::path dir = dir_ / kReferrersDir;
  MOS_TRY(make_dirs(dir));
  if (::unlink((dir / kStampFile).c_str()) != 0 && errno != ENOENT)
    return fail("cannot remove {}: {}", (dir / kStampFile).string(), errno_message(errno));
  MOS_TRY_ASSIGN(auto found, scan_referrers(index));
  std::map<Digest, std::vector<Descriptor>> lists;
  for (auto& [subject, referrer] : found) lists[subject].push_back(std::move(referrer));
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    auto name = entry.path().filename().string();
    if (name.ends_with(".json")) fs::remove(entry.path(), ec);
  }
  for (const auto& [subject, list] : lists) MOS_TRY(write_referrers_sidecar(subject, list));
  return write_file_atomic(dir / kStampFile, stamp);
}

Result<std::vector<Descriptor>> LayoutStore::referrers(
    const Digest& subject, const std::optional<std::string>& artifact_type) {
  auto filtered = [&](std::vector<Descriptor> list) {
    if (artifact_type)
      std::erase_if(list, [&](const Descriptor& d) {
        return d.artifact_type.value_or("") != *artifact_type;
      });
    return list;
  };
  if (still_missing()) return std::vector<Descriptor>{};
  fs::path stamp_path = dir_ / kReferrersDir / kStampFile;
  MOS_TRY_ASSIGN(auto current, read_index());
  auto stored = read_file(stamp_path, 4096);
  if (!stored || *stored != current->stamp) {
    // Stale or missing: rebuild under the lock, or scan without writing when we cannot lock
    // (a read-only layout).
    auto lock = FileLock::acquire(dir_ / kLockFile, FileLock::Mode::exclusive);
    MOS_TRY_ASSIGN(auto index, read_index());
    stored = read_file(stamp_path, 4096);
    if (!stored || *stored != index->stamp) {
      if (!lock || !rebuild_referrers(index->stamp, *index)) {
        MOS_TRY_ASSIGN(auto found, scan_referrers(*index));
        std::vector<Descriptor> list;
        for (auto& [s, d] : found)
          if (s == subject) list.push_back(std::move(d));
        return filtered(std::move(list));
      }
    }
  }
  MOS_TRY_ASSIGN(auto list, read_referrers_sidecar(subject));
  return filtered(list.value_or(std::vector<Descriptor>{}));
}

}  // namespace mos::oci
