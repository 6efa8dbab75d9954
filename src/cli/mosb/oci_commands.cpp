// mosb oci: copy images between registries and layouts, inspect manifests, list referrers.
#include <cstdio>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

#include "cli/common/access_flags.hpp"
#include "cli/mosb/commands.hpp"
#include "core/json.hpp"
#include "core/progress.hpp"
#include "core/text.hpp"
#include "oci/copy.hpp"
#include "oci/layout_store.hpp"
#include "oci/media_types.hpp"
#include "oci/open.hpp"

namespace mos::cli {
namespace {

using namespace mos::oci;

Status copy_command(const Program& program, const AccessFlags& flags, const std::string& src_text,
                    const std::string& dst_text, int parallel, bool referrers) {
  MOS_TRY_ASSIGN(auto src_ref, Reference::parse(src_text));
  MOS_TRY_ASSIGN(auto dst_ref, Reference::parse(dst_text));
  if (dst_ref.digest) return fail("{}: the destination takes a tag, not a digest", dst_text);
  std::optional<std::string> dst_tag = dst_ref.tag ? dst_ref.tag : src_ref.tag;
  if (!dst_tag && !src_ref.digest) dst_tag = "latest";
  MOS_TRY_ASSIGN(auto src_options, open_options(flags, false));
  MOS_TRY_ASSIGN(auto dst_options, open_options(flags, true));
  MOS_TRY_ASSIGN(auto src, open_repository(src_ref, src_options));
  MOS_TRY_ASSIGN(auto dst, open_repository(dst_ref, dst_options));
  // An image's blobs become durable together, before the index names them (LayoutStore).
  if (auto* layout = dynamic_cast<LayoutStore*>(dst.get())) layout->defer_blob_sync();
  CopyOptions options;
  options.parallel = parallel;
  options.referrers = referrers;
  options.progress = !program.quiet() && Progress::stderr_is_terminal();
  MOS_TRY_ASSIGN(auto result, copy_image(*src, src_ref.tag_or_digest(), *dst, dst_tag, options));
  spdlog::info("copied {} to {}{}: {} copied ({}), {} already present, {}{}{}",
               result.manifest.digest.str(), dst->describe(), dst_tag ? ":" + *dst_tag : "",
               count_of(result.blobs_copied, "blob"),
               format_bytes(static_cast<double>(result.bytes_copied)), result.blobs_skipped,
               result.blobs_mounted
                   ? fmt::format("{} mounted from {}, ", result.blobs_mounted, src->describe())
                   : "",
               count_of(result.manifests, "manifest"),
               referrers ? fmt::format(", {}", count_of(result.referrers, "referrer")) : "");
  return {};
}

// What `oci inspect` reports, as JSON (docs/oci.md) — the text output renders the same document.
Json descriptor_summary(const Descriptor& d) {
  Json out{{"digest", d.digest.str()}, {"mediaType", d.media_type}, {"size", d.size}};
  if (d.artifact_type) out["artifactType"] = *d.artifact_type;
  if (d.platform) out["platform"] = *d.platform;
  if (!d.annotations.empty()) out["annotations"] = d.annotations;
  return out;
}

Result<Json> inspect_document(Repository& repo, const Reference& ref, const Document& doc) {
  Json out{{"reference", ref.str()},
           {"digest", doc.digest.str()},
           {"mediaType", doc.media_type},
           {"size", doc.bytes.size()}};
  if (doc.is_index()) {
    MOS_TRY_ASSIGN(auto index, parse_image_index(doc.bytes));
    if (index.artifact_type) out["artifactType"] = *index.artifact_type;
    out["manifests"] = Json::array();
    for (const auto& m : index.manifests) out["manifests"].push_back(descriptor_summary(m));
    if (index.subject) out["subject"] = descriptor_summary(*index.subject);
    out["annotations"] = index.annotations;
    return out;
  }
  MOS_TRY_ASSIGN(auto manifest, parse_image_manifest(doc.bytes));
  if (manifest.artifact_type) out["artifactType"] = *manifest.artifact_type;
  out["config"] = descriptor_summary(manifest.config);
  MOS_TRY_ASSIGN(auto config, fetch_small_blob(repo, manifest.config, 4 * 1024 * 1024));
  if (auto json = parse_json_strict(config, "config"); json && json->is_object())
    for (const char* key : {"architecture", "os", "created"})
      if (auto it = json->find(key); it != json->end() && it->is_string()) out["config"][key] = *it;
  out["layers"] = Json::array();
  std::int64_t total = 0;
  for (const auto& l : manifest.layers) {
    out["layers"].push_back(descriptor_summary(l));
    total += l.size;
  }
  out["layersSize"] = total;
  if (manifest.subject) out["subject"] = descriptor_summary(*manifest.subject);
  out["annotations"] = manifest.annotations;
  return out;
}

std::string descriptor_line(const Json& d) {
  std::string line = fmt::format("  {}  {}  {}", d["digest"].get<std::string>(),
                                 d["size"].get<std::int64_t>(), d["mediaType"].get<std::string>());
  if (d.contains("artifactType"))
    line += fmt::format(" ({})", d["artifactType"].get<std::string>());
  return line + "\n";
}

std::string render_inspection(const Json& j) {
  std::string out = fmt::format("Reference: {}\nDigest: {}\nMediaType: {}\nSize: {}\n",
                                j["reference"].get<std::string>(), j["digest"].get<std::string>(),
                                j["mediaType"].get<std::string>(), j["size"].get<std::size_t>());
  if (j.contains("artifactType"))
    out += fmt::format("ArtifactType: {}\n", j["artifactType"].get<std::string>());
  if (j.contains("manifests")) {
    out += "Manifests:\n";
    for (const auto& m : j["manifests"]) {
      out += descriptor_line(m);
      if (m.contains("platform")) out += fmt::format("    platform: {}\n", m["platform"].dump());
    }
  } else {
    out += "Config:\n" + descriptor_line(j["config"]);
    for (const char* key : {"architecture", "os", "created"})
      if (j["config"].contains(key))
        out += fmt::format("    {}: {}\n", key, j["config"][key].get<std::string>());
    out += "Layers:\n";
    for (const auto& l : j["layers"]) out += descriptor_line(l);
    auto total = j["layersSize"].get<std::int64_t>();
    out += fmt::format("LayersSize: {} ({})\n", total, format_bytes(static_cast<double>(total)));
  }
  if (j.contains("subject"))
    out += fmt::format("Subject: {}\n", j["subject"]["digest"].get<std::string>());
  if (!j["annotations"].empty()) {
    out += "Annotations:\n";
    for (const auto& [k, v] : j["annotations"].items())
      out += fmt::format("  {}: {}\n", k, v.get<std::string>());
  }
  return out;
}

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

Status inspect_command(const AccessFlags& flags, const std::string& text, bool raw,
                       bool config_only, bool json) {
  MOS_TRY_ASSIGN(auto ref, Reference::parse(text));
  MOS_TRY_ASSIGN(auto options, open_options(flags, false));
  MOS_TRY_ASSIGN(auto repo, open_repository(ref, options));
  MOS_TRY_ASSIGN(auto doc, repo->get_manifest(ref.tag_or_digest()));
  if (raw && !config_only) {
    print(doc.bytes);
    return {};
  }
  if (config_only) {
    if (doc.is_index()) return fail("{} is an image index, it has no config", text);
    MOS_TRY_ASSIGN(auto manifest, parse_image_manifest(doc.bytes));
    MOS_TRY_ASSIGN(auto config, fetch_small_blob(*repo, manifest.config, 4 * 1024 * 1024));
    auto parsed = parse_json_strict(config, "config");
    print(raw || !parsed ? config : parsed->dump(2) + "\n");
    return {};
  }
  MOS_TRY_ASSIGN(auto summary, inspect_document(*repo, ref, doc));
  print(json ? summary.dump(2) + "\n" : render_inspection(summary));
  return {};
}

Status referrers_command(const AccessFlags& flags, const std::string& text,
                         const std::string& artifact_type, bool json) {
  MOS_TRY_ASSIGN(auto ref, Reference::parse(text));
  MOS_TRY_ASSIGN(auto options, open_options(flags, false));
  MOS_TRY_ASSIGN(auto repo, open_repository(ref, options));
  MOS_TRY_ASSIGN(auto subject, repo->resolve(ref.tag_or_digest()));
  std::optional<std::string> type;
  if (!artifact_type.empty()) type = artifact_type;
  MOS_TRY_ASSIGN(auto list, repo->referrers(subject.digest, type));
  if (json) {
    Json out{{"subject", subject.digest.str()}, {"referrers", Json::array()}};
    for (const auto& d : list) out["referrers"].push_back(descriptor_summary(d));
    print(out.dump(2) + "\n");
    return {};
  }
  for (const auto& d : list)
    print(fmt::format("{}\t{}\t{}\n", d.digest.str(), d.artifact_type.value_or("-"), d.size));
  return {};
}

}  // namespace

void add_oci_commands(Program& program) {
  auto* oci = program.app().add_subcommand(
      "oci", "Copy and inspect OCI images and artifacts (docs/oci.md)");
  oci->require_subcommand(1);
  oci->fallthrough();
  program.examples(
      oci,
      {{"Copy an install manifest with its signature and certificate into a layout",
        "mosb oci copy --referrers 127.0.0.1:5000/machine/install:1.0.0 oci:/tmp/mirror:1.0.0"},
       {"Show the manifest of an image", "mosb oci inspect 127.0.0.1:5000/machine/install:1.0.0"}});
  static const char* kRefs =
      "References: docker://HOST[:PORT]/REPO[:TAG|@DIGEST], HOST:PORT/REPO[:TAG|@DIGEST], "
      "oci:DIR[:TAG|@DIGEST]";

  static AccessFlags copy_flags;
  static std::string copy_src, copy_dst;
  static int parallel = 4;
  static bool with_referrers = false;
  auto* copy = oci->add_subcommand(
      "copy", "Copy an image or index with all its blobs from SRC to DST, verifying every byte");
  copy->footer(kRefs);
  copy->fallthrough();
  copy->add_option("SRC", copy_src, "Source reference")->required();
  copy->add_option("DST", copy_dst, "Destination reference (tag defaults to the source's)")
      ->required();
  copy->add_option("-j,--parallel", parallel, "Blob transfers at once")
      ->type_name("N")
      ->default_val(4)
      ->check(CLI::Range(1, 16));
  copy->add_flag("--referrers", with_referrers,
                 "Also copy the manifests referring to the copied one (signatures, ...)");
  add_access_flags(copy, copy_flags);
  program.examples(
      copy,
      {{"Copy the service image from the registry into an OCI layout",
        "mosb oci copy 127.0.0.1:5000/machine/bootkit/demo-zot:0.0.4-squashfs "
        "oci:/tmp/mirror:demo-zot"},
       {"Copy an install manifest with the manifests that refer to it (signature, certificate)",
        "mosb oci copy --referrers 127.0.0.1:5000/machine/install:1.0.0 oci:/tmp/mirror:1.0.0"},
       {"Push an image of a layout to a registry, 8 blobs at once",
        "mosb oci copy -j 8 oci:./img:latest docker://127.0.0.1:5000/machine/img:1.0"}});
  program.on_run(copy, [&program] {
    return copy_command(program, copy_flags, copy_src, copy_dst, parallel, with_referrers);
  });

  static AccessFlags inspect_flags;
  static std::string inspect_ref;
  static bool raw = false, config = false, inspect_json = false;
  auto* inspect =
      oci->add_subcommand("inspect", "Show a manifest or index: digest, config and layers");
  inspect->footer(kRefs);
  inspect->fallthrough();
  inspect->add_option("REF", inspect_ref, "Reference to inspect")->required();
  program.examples(inspect,
                   {{"Digest, config and layers of an image",
                     "mosb oci inspect 127.0.0.1:5000/machine/bootkit/demo-zot:0.0.4-squashfs"},
                    {"The exact manifest bytes (their sha256 is the digest)",
                     "mosb oci inspect --raw docker://127.0.0.1:5000/machine/img:1.0 | sha256sum"},
                    {"The image config of an image in a layout",
                     "mosb oci inspect --config oci:/tmp/mirror:demo-zot"}});
  inspect->add_flag("--raw", raw,
                    "Print the exact manifest bytes (with --config: the exact config bytes)");
  inspect->add_flag("--config", config, "Print the image config");
  inspect->add_flag("--json", inspect_json, "Print the summary as JSON");
  add_access_flags(inspect, inspect_flags);
  program.on_run(inspect, [] {
    return inspect_command(inspect_flags, inspect_ref, raw, config, inspect_json);
  });

  static AccessFlags referrers_flags;
  static std::string referrers_ref, artifact_type;
  static bool referrers_json = false;
  auto* referrers = oci->add_subcommand(
      "referrers", "List the manifests whose subject is REF: DIGEST, artifactType, size");
  referrers->footer(kRefs);
  referrers->fallthrough();
  referrers->add_option("REF", referrers_ref, "Subject reference")->required();
  referrers->add_option("--artifact-type", artifact_type, "Only referrers of this artifactType")
      ->type_name("TYPE");
  program.examples(referrers,
                   {{"The signature and certificate of an install manifest",
                     "mosb oci referrers 127.0.0.1:5000/machine/install:1.0.0"},
                    {"Only its signatures, from a mirror",
                     "mosb oci referrers --artifact-type application/vnd.machine.signature "
                     "oci:/tmp/mirror:1.0.0"}});
  referrers->add_flag("--json", referrers_json, "Print the list as JSON");
  add_access_flags(referrers, referrers_flags);
  program.on_run(referrers, [] {
    return referrers_command(referrers_flags, referrers_ref, artifact_type, referrers_json);
  });
}

}  // namespace mos::cli
