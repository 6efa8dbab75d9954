#include "manifest/describe.hpp"

#include "oci/media_types.hpp"

namespace mos::manifest {

namespace {

Json describe_layer(const oci::Descriptor& d) {
  auto title = d.annotations.find(std::string(oci::annotation::kTitle));
  return Json{{"title", title == d.annotations.end() ? "" : title->second},
              {"digest", d.digest.str()},
              {"mediaType", d.media_type},
              {"size", d.size}};
}

Json describe_layers(const std::vector<oci::Descriptor>& layers) {
  Json out = Json::array();
  for (const auto& l : layers) out.push_back(describe_layer(l));
  return out;
}

Json describe_target(const Target& t) {
  Json ports = Json::array();
  for (const auto& p : t.network.ports)
    ports.push_back({{"host", p.host}, {"container", p.container}});
  Json storage = Json::array();
  for (const auto& s : t.storage) storage.push_back({{"dest", s.dest}, {"label", s.label}});
  return Json{{"service_name", t.service_name},
              {"version", t.version},
              {"service_type", std::string(to_string(t.service_type))},
              {"nsgroup", t.nsgroup},
              {"network",
               {{"type", std::string(to_string(t.network.type))},
                {"ipv4", t.network.ipv4},
                {"ipv6", t.network.ipv6},
                {"ports", ports}}},
              {"storage", storage},
              {"digest", t.digest ? t.digest->str() : ""},
              {"size", t.size.value_or(0)}};
}

}  // namespace

Json describe_manifest(const Manifest& manifest) {
  Json storage = Json::array();
  for (const auto& s : manifest.storage)
    storage.push_back({{"label", s.label},
                       {"persistent", s.persistent},
                       {"nsgroup", s.nsgroup},
                       {"size_mib", s.size_mib}});
  Json targets = Json::array();
  for (const auto& t : manifest.targets) targets.push_back(describe_target(t));
  return Json{{"product", manifest.product},
              {"update_type", std::string(to_string(manifest.update_type))},
              {"storage", storage},
              {"targets", targets}};
}

Json describe_verification(const oci::Reference& reference, const VerifiedInstall& verified) {
  return Json{{"reference", reference.str()},
              {"verified", true},
              {"install_manifest",
               {{"digest", verified.install_manifest.digest.str()},
                {"size", verified.install_manifest.bytes.size()}}},
              {"install_json",
               {{"digest", oci::digest_of(verified.install_json).str()},
                {"size", verified.install_json.size()}}},
              {"certificate",
               {{"subject", verified.certificate_subject},
                {"not_after", verified.certificate_not_after},
                {"product_uuid", verified.product_uuid ? Json(*verified.product_uuid) : Json()}}},
              {"install", describe_manifest(verified.manifest)}};
}

Result<Json> inspect_install(oci::Repository& repository, const oci::Reference& reference) {
  MOS_TRY_ASSIGN(auto doc, repository.get_manifest(reference.tag_or_digest()));
  if (doc.is_index()) return fail("{} is an image index, not an install manifest", reference.str());
  MOS_TRY_ASSIGN(auto manifest, oci::parse_image_manifest(doc.bytes));
  Json out{{"reference", reference.str()},
           {"verified", false},
           {"manifest",
            {{"digest", doc.digest.str()},
             {"mediaType", doc.media_type},
             {"artifactType", manifest.artifact_type ? Json(*manifest.artifact_type) : Json()},
             {"size", doc.bytes.size()}}},
           {"layers", describe_layers(manifest.layers)},
           {"referrers", Json::array()}};
  MOS_TRY_ASSIGN(auto referrers, repository.referrers(doc.digest, std::nullopt));
  for (const auto& r : referrers) {
    Json entry{{"digest", r.digest.str()},
               {"artifactType", r.artifact_type ? Json(*r.artifact_type) : Json()},
               {"layers", Json::array()}};
    auto child = repository.get_manifest(r.digest.str());
    if (child && !child->is_index())
      if (auto parsed = oci::parse_image_manifest(child->bytes))
        entry["layers"] = describe_layers(parsed->layers);
    out["referrers"].push_back(std::move(entry));
  }
  if (manifest.layers.size() == 1) {
    auto bytes = oci::fetch_small_blob(repository, manifest.layers[0], kMaxInstallJsonBytes);
    Result<Manifest> install = std::unexpected(Error{});
    if (bytes)
      install = parse_install_json(*bytes);
    else
      install = std::unexpected(bytes.error());
    out["install"] =
        install ? describe_manifest(*install) : Json{{"error", install.error().message}};
  }
  return out;
}

}  // namespace mos::manifest
