// mosb oci: copy images between registries and layouts, inspect manifests, list referrers.
#include <cstdio>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

#include "cli/common/access_flags.hpp"
#include "cli/mosb/commands.hpp"
#include "core/json.hpp"
#include "core/progress.hpp"
#include "oci/copy.hpp"
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
  CopyOptions options;
  options.parallel = parallel;
  options.referrers = referrers;
  options.progress = !program.quiet() && Progress::stderr_is_terminal();
  MOS_TRY_ASSIGN(auto result, copy_image(*src, src_ref.tag_or_digest(), *dst, dst_tag, options));
  spdlog::info("copied {} to {}{}: {} blobs copied ({}), {} already present, {}{} manifests{}",
               result.manifest.digest.str(), dst->describe(), dst_tag ? ":" + *dst_tag : "",
               result.blobs_copied, format_bytes(static_cast<double>(result.bytes_copied)),
               result.blobs_skipped,
               result.blobs_mounted
                   ? fmt::format("{} mounted from {}, ", result.blobs_mounted, src->describe())
                   : "",
               result.manifests, referrers ? fmt::format(", {} referrers", result.referrers) : "");
  return {};
}

void print_descriptor_line(const Descriptor& d) {
  std::printf("  %s  %lld  %s%s\n", d.digest.str().c_str(), static_cast<long long>(d.size),
              d.media_type.c_str(), d.artifact_type ? (" (" + *d.artifact_type + ")").c_str() : "");
}

void print_annotations(const Annotations& a) {
  if (a.empty()) return;
  std::printf("Annotations:\n");
  for (const auto& [k, v] : a) std::printf("  %s: %s\n", k.c_str(), v.c_str());
}

Status inspect_command(const AccessFlags& flags, const std::string& text, bool raw,
                       bool config_only) {
  MOS_TRY_ASSIGN(auto ref, Reference::parse(text));
  MOS_TRY_ASSIGN(auto options, open_options(flags, false));
  MOS_TRY_ASSIGN(auto repo, open_repository(ref, options));
  MOS_TRY_ASSIGN(auto doc, repo->get_manifest(ref.tag_or_digest()));
  if (raw && !config_only) {
    std::fwrite(doc.bytes.data(), 1, doc.bytes.size(), stdout);
    return {};
  }
  if (doc.is_index()) {
    if (config_only) return fail("{} is an image index, it has no config", text);
    MOS_TRY_ASSIGN(auto index, parse_image_index(doc.bytes));
    std::printf("Reference: %s\nDigest: %s\nMediaType: %s\nSize: %zu\n", ref.str().c_str(),
                doc.digest.str().c_str(), doc.media_type.c_str(), doc.bytes.size());
    if (index.artifact_type) std::printf("ArtifactType: %s\n", index.artifact_type->c_str());
    std::printf("Manifests:\n");
    for (const auto& m : index.manifests) {
      print_descriptor_line(m);
      if (m.platform) std::printf("    platform: %s\n", m.platform->dump().c_str());
    }
    if (index.subject) std::printf("Subject: %s\n", index.subject->digest.str().c_str());
    print_annotations(index.annotations);
    return {};
  }
  MOS_TRY_ASSIGN(auto manifest, parse_image_manifest(doc.bytes));
  auto config = fetch_small_blob(*repo, manifest.config, 4 * 1024 * 1024);
  if (config_only) {
    if (!config) return std::unexpected(config.error());
    if (raw) {
      std::fwrite(config->data(), 1, config->size(), stdout);
    } else if (auto json = parse_json_strict(*config, "config"); json) {
      std::printf("%s\n", json->dump(2).c_str());
    } else {
      std::fwrite(config->data(), 1, config->size(), stdout);
    }
    return {};
  }
  std::printf("Reference: %s\nDigest: %s\nMediaType: %s\nSize: %zu\n", ref.str().c_str(),
              doc.digest.str().c_str(), doc.media_type.c_str(), doc.bytes.size());
  if (manifest.artifact_type) std::printf("ArtifactType: %s\n", manifest.artifact_type->c_str());
  std::printf("Config:\n");
  print_descriptor_line(manifest.config);
  if (config) {
    auto json = parse_json_strict(*config, "config");
    if (json && json->is_object()) {
      for (const char* key : {"architecture", "os", "created"})
        if (auto it = json->find(key); it != json->end() && it->is_string())
          std::printf("    %s: %s\n", key, it->get<std::string>().c_str());
    }
  } else {
    return std::unexpected(config.error());
  }
  std::int64_t total = 0;
  std::printf("Layers:\n");
  for (const auto& l : manifest.layers) {
    print_descriptor_line(l);
    total += l.size;
  }
  std::printf("LayersSize: %lld (%s)\n", static_cast<long long>(total),
              format_bytes(static_cast<double>(total)).c_str());
  if (manifest.subject) std::printf("Subject: %s\n", manifest.subject->digest.str().c_str());
  print_annotations(manifest.annotations);
  return {};
}

Status referrers_command(const AccessFlags& flags, const std::string& text,
                         const std::string& artifact_type) {
  MOS_TRY_ASSIGN(auto ref, Reference::parse(text));
  MOS_TRY_ASSIGN(auto options, open_options(flags, false));
  MOS_TRY_ASSIGN(auto repo, open_repository(ref, options));
  MOS_TRY_ASSIGN(auto subject, repo->resolve(ref.tag_or_digest()));
  std::optional<std::string> type;
  if (!artifact_type.empty()) type = artifact_type;
  MOS_TRY_ASSIGN(auto list, repo->referrers(subject.digest, type));
  for (const auto& d : list)
    std::printf("%s\t%s\t%lld\n", d.digest.str().c_str(), d.artifact_type.value_or("-").c_str(),
                static_cast<long long>(d.size));
  return {};
}

}  // namespace

void add_oci_commands(Program& program) {
  auto* oci = program.app().add_subcommand(
      "oci", "Copy and inspect OCI images and artifacts (docs/oci.md)");
  oci->require_subcommand(1);
  oci->fallthrough();
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
      ->default_val(4)
      ->check(CLI::Range(1, 16));
  copy->add_flag("--referrers", with_referrers,
                 "Also copy the manifests referring to the copied one (signatures, ...)");
  add_access_flags(copy, copy_flags);
  program.on_run(copy, [&program] {
    return copy_command(program, copy_flags, copy_src, copy_dst, parallel, with_referrers);
  });

  static AccessFlags inspect_flags;
  static std::string inspect_ref;
  static bool raw = false, config = false;
  auto* inspect =
      oci->add_subcommand("inspect", "Show a manifest or index: digest, config and layers");
  inspect->footer(kRefs);
  inspect->fallthrough();
  inspect->add_option("REF", inspect_ref, "Reference to inspect")->required();
  inspect->add_flag("--raw", raw,
                    "Print the exact manifest bytes (with --config: the exact config bytes)");
  inspect->add_flag("--config", config, "Print the image config");
  add_access_flags(inspect, inspect_flags);
  program.on_run(inspect, [] { return inspect_command(inspect_flags, inspect_ref, raw, config); });

  static AccessFlags referrers_flags;
  static std::string referrers_ref, artifact_type;
  auto* referrers = oci->add_subcommand(
      "referrers", "List the manifests whose subject is REF: DIGEST, artifactType, size");
  referrers->footer(kRefs);
  referrers->fallthrough();
  referrers->add_option("REF", referrers_ref, "Subject reference")->required();
  referrers->add_option("--artifact-type", artifact_type, "Only referrers of this artifactType");
  add_access_flags(referrers, referrers_flags);
  program.on_run(referrers,
                 [] { return referrers_command(referrers_flags, referrers_ref, artifact_type); });
}

}  // namespace mos::cli
