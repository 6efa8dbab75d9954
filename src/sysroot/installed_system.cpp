#include "sysroot/installed_system.hpp"

#include <algorithm>
#include <set>

#include "oci/media_types.hpp"
#include "sysroot/uid_allocation.hpp"
#include "trust/signing.hpp"

namespace mos::sysroot {

std::string signature_file(const std::string& source) {
  return source + ".signed";
}
std::string certificate_file(const std::string& source) {
  return source.substr(0, source.size() - 5) + ".pem";
}

Result<VerifiedTriple> verify_triple(const std::string& source, const SignedTriple& files,
                                     const manifest::TrustPolicy& policy) {
  if (!is_source_name(source))
    return fail("\"{}\" is not an install manifest name (<sha256 hex>.json)", source);
  if (source_name(files.install_json) != source)
    return fail("{}: the content does not hash to its name (expected sha256 {}, got {})", source,
                source.substr(0, 64), oci::digest_of(files.install_json).hex());
  auto signed_install = manifest::verify_signed_install(files.install_json, files.signature,
                                                        files.certificate_pem, policy);
  if (!signed_install) return context(source, signed_install.error());
  VerifiedTriple v{source, files, std::move(signed_install->manifest),
                   std::move(signed_install->certificate)};
  if (!v.certificate.product_uuid)
    return fail("{}: the signing certificate (CN \"{}\") names no product", source,
                v.certificate.common_name);
  return v;
}

Result<std::string> installed_product_uuid(const InstalledSystem& system) {
  std::optional<std::string> product;
  for (const auto& [source, triple] : system.sources) {
    const auto& named = triple.certificate.product_uuid;
    if (!named) return fail("{}: the signing certificate names no product", source);
    if (product && *product != *named)
      return fail("system {} mixes products {} and {}", system.commit.substr(0, 12), *product,
                  *named);
    product = named;
  }
  if (!product) return fail("system {} has no install manifest", system.commit.substr(0, 12));
  return *product;
}

FileSet system_files(const SystemManifest& record,
                     const std::map<std::string, SignedTriple>& triples) {
  FileSet files;
  files.emplace(std::string(kSystemManifestFile), encode_system_manifest(record));
  for (const auto& [source, t] : triples) {
    files.emplace(source, t.install_json);
    files.emplace(signature_file(source), t.signature);
    files.emplace(certificate_file(source), t.certificate_pem);
  }
  return files;
}

Status check_target_in_store(oci::LayoutStore& store, const manifest::Target& target) {
  if (!target.digest || !target.size)
    return fail("target {} has no digest or size", target.service_name);
  const auto& digest = *target.digest;
  auto found = store.resolve(digest.str());
  if (!found)
    return fail("target {}: image {} is missing from {}: {}", target.service_name, digest.str(),
                store.describe(), found.error().message);
  if (found->size != *target.size)
    return fail("target {}: image {} in {} is {} bytes, the signed size is {}", target.service_name,
                digest.str(), store.describe(), found->size, *target.size);
  if (!oci::media_type::is_manifest(found->media_type))
    return fail("target {}: image {} has media type {}, expected {}", target.service_name,
                digest.str(), found->media_type, oci::media_type::kImageManifest);
  auto doc = store.get_manifest(digest.str());
  if (!doc)
    return fail("target {}: image {}: {}", target.service_name, digest.str(), doc.error().message);
  auto image = oci::parse_image_manifest(doc->bytes);
  if (!image)
    return fail("target {}: image {}: {}", target.service_name, digest.str(),
                image.error().message);
  std::vector<oci::Descriptor> blobs{image->config};
  blobs.insert(blobs.end(), image->layers.begin(), image->layers.end());
  for (const auto& blob : blobs) {
    if (!blob.urls.empty()) continue;
    auto size = store.blob_size(blob.digest);
    if (!size) return fail("target {}: {}", target.service_name, size.error().message);
    if (!*size)
      return fail("target {}: blob {} of image {} is missing from {}", target.service_name,
                  blob.digest.str(), digest.str(), store.describe());
    if (**size != blob.size)
      return fail("target {}: blob {} of image {} is {} bytes, expected {}", target.service_name,
                  blob.digest.str(), digest.str(), **size, blob.size);
  }
  return {};
}

Result<InstalledSystem> load_system(const SystemHistory& history, const std::string& commit,
                                    const manifest::TrustPolicy& policy, oci::LayoutStore* store) {
  auto files =
      history.read(commit, std::max(manifest::kMaxInstallJsonBytes, kMaxSystemManifestBytes));
  if (!files) return context(fmt::format("system {}", commit.substr(0, 12)), files.error());
  return system_from_files(
      commit, *files,
      [&](const std::string& source, const SignedTriple& triple) {
        return verify_triple(source, triple, policy);
      },
      store);
}

Result<InstalledSystem> system_from_files(const std::string& commit, const FileSet& files,
                                          const TripleCheck& check, oci::LayoutStore* store) {
  auto in_commit = [&](const Error& e) {
    return context(fmt::format("system {}", commit.substr(0, 12)), e);
  };
  InstalledSystem system;
  system.commit = commit;
  auto record_file = files.find(std::string(kSystemManifestFile));
  if (record_file == files.end()) return in_commit(Error{"manifest.json is missing"});
  auto record = parse_system_manifest(record_file->second);
  if (!record) return in_commit(record.error());
  system.record = std::move(*record);

  std::set<std::string> sources{system.record.install.source};
  for (const auto& t : system.record.targets) sources.insert(t.source);
  for (const auto& s : system.record.storage) sources.insert(s.source);
  std::set<std::string> expected_files{std::string(kSystemManifestFile)};
  for (const auto& source : sources) {
    SignedTriple triple;
    for (auto [name, slot] : {std::pair{source, &triple.install_json},
                              std::pair{signature_file(source), &triple.signature},
                              std::pair{certificate_file(source), &triple.certificate_pem}}) {
      auto it = files.find(name);
      if (it == files.end()) return in_commit(Error{fmt::format("{} is missing", name)});
      *slot = it->second;
      expected_files.insert(name);
    }
    auto verified = check(source, triple);
    if (!verified) return in_commit(verified.error());
    if (verified->manifest.product != system.record.product)
      return in_commit(Error{fmt::format("{} is for product {}, the system for product {}", source,
                                         verified->manifest.product, system.record.product)});
    system.sources.emplace(source, std::move(*verified));
  }
  for (const auto& [name, bytes] : files)
    if (!expected_files.contains(name))
      return in_commit(Error{fmt::format("unexpected file {}", name)});

  std::vector<manifest::Target> targets;
  std::vector<manifest::StorageItem> storage;
  for (const auto& t : system.record.targets) {
    const auto* found = system.sources.at(t.source).manifest.find_target(t.name);
    if (!found) return in_commit(Error{fmt::format("target {} is not in {}", t.name, t.source)});
    system.targets.push_back({*found, t.source});
    targets.push_back(*found);
  }
  for (const auto& s : system.record.storage) {
    const auto& list = system.sources.at(s.source).manifest.storage;
    auto it = std::find_if(list.begin(), list.end(),
                           [&](const manifest::StorageItem& i) { return i.label == s.name; });
    if (it == list.end())
      return in_commit(Error{fmt::format("storage {} is not in {}", s.name, s.source)});
    system.storage.push_back({*it, s.source});
    storage.push_back(*it);
  }
  std::vector<std::string> mapped;
  for (const auto& r : system.record.uidmaps) mapped.push_back(r.nsgroup);
  std::sort(mapped.begin(), mapped.end());
  if (mapped != nsgroups_in_use(targets, storage))
    return in_commit(Error{"uidmaps do not match the nsgroups of its targets and storage"});
  if (store) {
    for (const auto& t : system.targets)
      if (auto s = check_target_in_store(*store, t.target); !s) return in_commit(s.error());
  }
  return system;
}

std::string describe_targets(const std::vector<manifest::Target>& targets) {
  std::string text;
  for (const auto& t : targets)
    text += fmt::format("{}{} {}", text.empty() ? "" : ", ", t.service_name, t.version);
  return text;
}

}  // namespace mos::sysroot
