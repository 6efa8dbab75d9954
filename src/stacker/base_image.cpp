// Bases of stacker images: fetched, carried over or repacked into the output layout.
#include "stacker/base_image.hpp"

#include <spdlog/spdlog.h>

#include "core/file.hpp"
#include "core/json.hpp"
#include "image/build_image.hpp"
#include "oci/copy.hpp"
#include "oci/media_types.hpp"
#include "oci/reference.hpp"
#include "stacker/layer_tree.hpp"

namespace mos::stacker {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxConfig = 4 << 20;

// A base cached under a tag made from its whole reference (stacker uses the last path component
// only, so that ubuntu:20.04 and ubuntu:22.04 overwrite each other).
std::string cache_tag(std::string_view reference) {
  std::string tag;
  for (char c : reference) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    tag.push_back(ok ? c : '_');
  }
  if (tag.size() > 100) tag = oci::digest_of(reference).hex();
  if (tag.empty() || tag.front() == '.' || tag.front() == '-') tag.insert(0, "b");
  return tag;
}

// The manifest of an index that matches linux/<arch> (the image's own otherwise).
Result<std::string> pick_platform(oci::Repository& repo, const oci::Document& doc,
                                  std::string_view arch, std::string_view reference) {
  auto index = oci::parse_image_index(doc.bytes);
  if (!index) return std::string(reference);
  for (const auto& m : index->manifests) {
    if (!m.platform || !m.platform->is_object()) continue;
    if (m.platform->value("os", "") == "linux" && m.platform->value("architecture", "") == arch)
      return m.digest.str();
  }
  (void)repo;
  return fail("{} has no image for linux/{}", reference, arch);
}

// Makes the blob `layer` of `from` present in `to` (copied and verified on the way).
Status carry_blob(oci::LayoutStore& from, oci::LayoutStore& to, const oci::Descriptor& layer) {
  MOS_TRY_ASSIGN(bool present, to.has_blob(layer));
  if (present) return {};
  MOS_TRY_ASSIGN(auto reader, from.open_blob(layer));
  return to.put_blob(layer, *reader);
}

Result<BaseImage> fetched_base(const LayerSpec& layer, const BaseSources& sources) {
  const LayerFrom& from = layer.from;
  std::string text = from.type == FromType::oci ? "oci:" + from.url : from.url;
  MOS_TRY_ASSIGN(auto ref, oci::Reference::parse(text));
  oci::OpenOptions open = sources.open;
  if (from.insecure) {
    open.registry.plain_http = true;
    open.registry.tls_verify = false;
  }
  auto where = [&](Error e) {
    return context(
        fmt::format("{}:{}: image {}: base {}", layer.file, layer.line, layer.name, text),
        std::move(e));
  };
  auto source = oci::open_repository(ref, open);
  if (!source) return where(source.error());
  auto top = (*source)->get_manifest(ref.tag_or_digest());
  if (!top) return where(top.error());
  auto chosen =
      pick_platform(**source, *top, layer.arch.value_or(std::string(image::host_architecture())),
                    ref.tag_or_digest());
  if (!chosen) return where(chosen.error());
  MOS_TRY_ASSIGN(auto bases, oci::LayoutStore::open(sources.bases_dir, true));
  oci::CopyOptions copy;
  auto copied = oci::copy_image(**source, *chosen, *bases, cache_tag(text), copy);
  if (!copied) return where(copied.error());
  BaseImage base;
  base.key = copied->manifest.digest.str();
  MOS_TRY_ASSIGN(auto state, read_image_state(*bases, copied->manifest.digest.str()));
  if (state.diff_ids.size() != state.layers.size())
    return where(Error{fmt::format("its config lists {} diff_ids for {} layers",
                                   state.diff_ids.size(), state.layers.size())});
  for (LayerType type : sources.types) {
    ImageState converted;
    converted.config = state.config;
    converted.annotations = state.annotations;
    for (std::size_t i = 0; i < state.layers.size(); ++i) {
      const auto& l = state.layers[i];
      if (layer_is_of_type(l.media_type, type)) {
        MOS_TRY(carry_blob(*bases, sources.output, l));
        converted.layers.push_back(l);
        converted.diff_ids.push_back(state.diff_ids[i]);
        continue;
      }
      spdlog::info("image {}: repacking base layer {} as {}", layer.name, l.digest.str(),
                   layer_type_name(type));
      MOS_TRY_ASSIGN(auto tree, unpacked_layer(*bases, l, sources.layers_dir));
      PackOptions pack;
      MOS_TRY_ASSIGN(auto packed, pack_layer(tree, type, pack, sources.output));
      // The repacked layer unpacks to the same tree: a link, not a second unpacking.
      std::error_code ec;
      fs::create_symlink(tree.filename(), sources.layers_dir / packed.descriptor.digest.hex(), ec);
      converted.layers.push_back(packed.descriptor);
      converted.diff_ids.push_back(packed.diff_id);
    }
    base.states[type] = std::move(converted);
  }
  return base;
}

}  // namespace

Result<ImageState> read_image_state(oci::Repository& store, std::string_view reference) {
  MOS_TRY_ASSIGN(auto doc, store.get_manifest(reference));
  MOS_TRY_ASSIGN(auto manifest, oci::parse_image_manifest(doc.bytes));
  ImageState state;
  state.layers = manifest.layers;
  state.annotations = manifest.annotations;
  MOS_TRY_ASSIGN(state.config, oci::fetch_small_blob(store, manifest.config, kMaxConfig));
  MOS_TRY_ASSIGN(auto config, parse_json_strict(state.config, "the image config"));
  if (config.is_object() && config.contains("rootfs") && config["rootfs"].is_object() &&
      config["rootfs"].contains("diff_ids") && config["rootfs"]["diff_ids"].is_array())
    for (const auto& d : config["rootfs"]["diff_ids"])
      if (d.is_string()) state.diff_ids.push_back(d.get<std::string>());
  return state;
}

Result<BaseImage> resolve_base(const LayerSpec& layer, const BaseSources& sources) {
  BaseImage base;
  switch (layer.from.type) {
    case FromType::scratch:
      base.key = "scratch";
      for (LayerType type : sources.types) base.states[type] = ImageState{};
      return base;
    case FromType::built: {
      auto it = sources.built.find(layer.from.tag);
      if (it == sources.built.end())
        return fail("{}:{}: image {}: base {} was not built", layer.file, layer.line, layer.name,
                    layer.from.tag);
      base.key = "built " + it->second.key;
      base.states = it->second.states;
      return base;
    }
    case FromType::tar: {
      auto where = [&](const Error& e) {
        return fail("{}:{}: image {}: tar base {}: {}", layer.file, layer.line, layer.name,
                    layer.from.url, e.message);
      };
      bool local = layer.from.url.find("://") == std::string::npos;
      auto fetched = fetch_source(local ? fs::absolute(layer.from.url).string() : layer.from.url,
                                  std::nullopt, sources.tar_scratch, sources.fetch);
      if (!fetched) return where(fetched.error());
      fs::path tarball = *fetched;
      auto content = oci::digest_of_file(tarball);
      if (!content) return where(content.error());
      base.key = "tar " + content->str();
      base.tarball = tarball;
      for (LayerType type : sources.types) base.states[type] = ImageState{};
      return base;
    }
    case FromType::docker:
    case FromType::oci:
      return fetched_base(layer, sources);
  }
  return fail("unknown from type");
}

}  // namespace mos::stacker
