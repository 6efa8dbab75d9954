// mosctl gc: removes from atomfs-store/mos what no kept system uses. Kept systems are the
// current one, the one rollback would return to and the one a boot trial would return to.
// Unreferenced manifests leave index.json first, then unreferenced blobs are unlinked, then staging
// files of killed copies; a kill at any point leaves every kept system complete (nothing it
// references is ever touched).
#include <algorithm>
#include <filesystem>
#include <set>

#include <spdlog/spdlog.h>

#include "oci/descriptor.hpp"
#include "sysroot/boot_trial.hpp"
#include "sysroot/change_session.hpp"
#include "sysroot/crash_point.hpp"
#include "sysroot/system_operations.hpp"

namespace mos::sysroot {
namespace {

// Adds a target image's manifest and every blob it names (children of an index too).
Status mark_image(oci::LayoutStore& store, const oci::Digest& digest, std::set<oci::Digest>& live,
                  int depth = 0) {
  if (depth > 4) return fail("image {}: index nesting too deep", digest.str());
  if (!live.insert(digest).second) return {};
  auto doc = store.get_manifest(digest.str());
  if (!doc) return context(fmt::format("reading {} from the store", digest.str()), doc.error());
  if (doc->is_index()) {
    MOS_TRY_ASSIGN(auto index, oci::parse_image_index(doc->bytes));
    for (const auto& child : index.manifests)
      MOS_TRY(mark_image(store, child.digest, live, depth + 1));
    return {};
  }
  MOS_TRY_ASSIGN(auto image, oci::parse_image_manifest(doc->bytes));
  live.insert(image.config.digest);
  for (const auto& layer : image.layers) live.insert(layer.digest);
  return {};
}

}  // namespace

Result<GcReport> gc(const SysrootOptions& options) {
  SysrootPaths paths(options.root);
  MOS_TRY_ASSIGN(auto policy, load_trust_policy(paths, options));
  if (!SystemHistory::exists(paths.history))
    return fail("no system is installed in {}", paths.root.string());
  MOS_TRY_ASSIGN(auto session, open_change_session(paths, options, false));
  GcReport report;
  std::vector<std::string> kept;
  if (session.head) kept.push_back(*session.head);
  MOS_TRY_ASSIGN(auto previous, previous_system(session.history));
  if (previous) kept.push_back(*previous);
  MOS_TRY_ASSIGN(auto trial, read_boot_trial(paths));
  if (trial && std::find(kept.begin(), kept.end(), trial->previous) == kept.end())
    kept.push_back(trial->previous);

  // What the kept systems reference. The current system must verify completely; the previous
  // one is only read for its references (it may already lack content), and if it cannot be
  // read at all nothing is removed.
  std::set<oci::Digest> live;
  for (const auto& commit : kept) {
    auto system = load_system(session.history, commit, policy,
                              commit == kept.front() ? session.store.get() : nullptr);
    if (!system)
      return context("gc removes nothing: a kept system does not verify", system.error());
    for (const auto& t : system->targets) {
      if (auto s = mark_image(*session.store, *t.target.digest, live); !s) {
        if (commit == kept.front()) return context("gc removes nothing", s.error());
        spdlog::warn("system {} cannot be rolled back to any more: {}", commit.substr(0, 12),
                     s.error().message);
      }
    }
    report.kept_systems.push_back(commit);
  }
  crash_point("gc-planned");

  MOS_TRY_ASSIGN(auto index, session.store->read_index());
  std::set<oci::Digest> listed_dead;
  for (const auto& d : index->manifests)
    if (!live.contains(d.digest)) listed_dead.insert(d.digest);
  for (const auto& digest : listed_dead) {
    MOS_TRY_ASSIGN(auto size, session.store->blob_size(digest));
    MOS_TRY(session.store->delete_manifest(digest));
    ++report.manifests_removed;
    report.bytes_freed += size.value_or(0);
    crash_point("gc-manifest-removed");
  }
  std::error_code ec;
  for (auto algorithm : {oci::DigestAlgorithm::sha256, oci::DigestAlgorithm::sha512}) {
    auto name = algorithm == oci::DigestAlgorithm::sha256 ? "sha256" : "sha512";
    auto dir = paths.store / "blobs" / name;
    if (!std::filesystem::is_directory(dir, ec)) continue;
    std::vector<std::pair<oci::Digest, std::uint64_t>> dead;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      auto digest =
          oci::Digest::parse(fmt::format("{}:{}", name, entry.path().filename().string()));
      if (!digest) continue;  // not a blob of ours; left alone
      if (live.contains(*digest)) continue;
      dead.emplace_back(*digest, entry.file_size(ec));
    }
    if (ec) return fail("listing {}: {}", dir.string(), ec.message());
    for (const auto& [digest, size] : dead) {
      MOS_TRY(session.store->delete_blob(digest));
      ++report.blobs_removed;
      report.bytes_freed += size;
      crash_point("gc-blob-removed");
    }
  }
  // Staging files of copies a kill interrupted (the exclusive lock excludes live ones; this
  // session's own committed blobs are linked first).
  MOS_TRY(session.store->flush_blobs());
  auto uploads = paths.store / ".uploads";
  if (std::filesystem::is_directory(uploads, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(uploads, ec)) {
      auto size = entry.is_regular_file(ec) ? entry.file_size(ec) : 0;
      if (std::filesystem::remove_all(entry.path(), ec) > 0) {
        ++report.staging_files_removed;
        report.bytes_freed += size;
      }
    }
  }
  crash_point("gc-done");
  return report;
}

}  // namespace mos::sysroot
