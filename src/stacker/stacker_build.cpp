// The build of a stacker file: order, cache, imports, the run container, packing, tags.
#include "stacker/stacker_build.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>

#include <spdlog/spdlog.h>

#include "core/file.hpp"
#include "core/lock.hpp"
#include "image/build_image.hpp"
#include "oci/layout_store.hpp"
#include "oci/media_types.hpp"
#include "stacker/base_image.hpp"
#include "stacker/build_cache.hpp"
#include "stacker/build_container.hpp"
#include "stacker/image_assembly.hpp"
#include "stacker/import_staging.hpp"
#include "stacker/layer_tree.hpp"

namespace mos::stacker {
namespace {

namespace fs = std::filesystem;

// Part of every cache key: a change to what a build does changes it.
constexpr std::string_view kBuildRecipe = "mos stacker build 1";

std::string author_name(bool reproducible) {
  if (reproducible) return "stacker";
  std::string user;
  if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo) user = sudo;
  if (user.empty()) {
    if (const passwd* pw = ::getpwuid(::geteuid())) user = pw->pw_name;
  }
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return fmt::format("{}@{}", user.empty() ? "root" : user, host);
}

// The run lines as one script: stacker's `#!/bin/sh -xe` unless the first line has its own.
std::string run_script(const std::vector<std::string>& run) {
  std::string script;
  for (const auto& line : run) script += line + "\n";
  if (!script.starts_with("#!")) script.insert(0, "#!/bin/sh -xe\n");
  return script;
}

class StackerBuild {
 public:
  StackerBuild(const StackerBuildOptions& options, oci::LayoutStore& output,
               std::optional<std::int64_t> epoch)
      : options_(options),
        output_(output),
        epoch_(epoch),
        created_(epoch ? *epoch
                       : std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count()),
        author_(author_name(epoch.has_value())),
        // Trees unpacked in a user namespace carry user.overlay.* marks: kept apart from root's.
        layers_dir_(options.stacker_dir /
                    (overlay_marks_in_user_xattrs() ? "layers-userns" : "layers")),
        cache_(BuildCache::load(options.stacker_dir / "build.cache")) {
    types_ =
        options.layer_types.empty() ? std::vector<LayerType>{LayerType::tar} : options.layer_types;
  }

  Result<BuiltImage> build(const LayerSpec& layer, const StackerFile& file) {
    for (const auto& w : layer.warnings) spdlog::warn("{}", w);
    spdlog::info("building image {}", layer.name);
    ImportSources import_sources;
    import_sources.download_cache = options_.stacker_dir / "downloads";
    import_sources.require_hash = options_.require_hash;
    import_sources.from_built = [this](const std::string& image, const std::string& path,
                                       const fs::path& dest) {
      return copy_out(image, path, dest);
    };
    BaseSources sources{
        output_,        options_.stacker_dir / "layer-bases" / "oci",
        layers_dir_,    types_,
        options_.open,  built_,
        import_sources, options_.stacker_dir / "layer-bases" / ("tar-" + layer.name)};
    MOS_TRY_ASSIGN(auto base, resolve_base(layer, sources));
    MOS_TRY_ASSIGN(auto imports, stage_imports(layer, options_.stacker_dir / "imports" / layer.name,
                                               import_sources));

    oci::Hasher key;
    key.update(fmt::format("{}\n{}\n{}\n{}\n{}\n{}\n", kBuildRecipe, layer.canonical, base.key,
                           epoch_ ? std::to_string(*epoch_) : "-", imports.fingerprint,
                           options_.annotations_namespace));
    for (LayerType t : types_) key.update(fmt::format("type {}\n", layer_type_name(t)));
    for (const auto& dir : layer.overlay_dirs) {
      MOS_TRY_ASSIGN(auto fingerprint, tree_fingerprint(dir.source));
      key.update(fmt::format("overlay {} {} {}\n", dir.source, dir.dest, fingerprint));
    }
    std::string cache_key = key.finish().hex();
    if (layer.binds.empty()) {
      MOS_TRY_ASSIGN(auto hit, cached(layer, cache_key));
      if (hit) return *hit;
    }

    std::map<LayerType, std::vector<NewLayer>> added;
    MOS_TRY(add_trees(layer, imports, added));
    MOS_TRY(run_and_pack(layer, base, imports, added));

    BaseImage result;
    result.key = cache_key;
    BuiltImage built;
    built.name = layer.name;
    built.build_only = layer.build_only;
    CacheEntry entry;
    entry.key = cache_key;
    std::vector<oci::Descriptor> finished = base.states[types_.front()].layers;
    for (const auto& l : added[types_.front()]) finished.push_back(l.descriptor);
    MOS_TRY_ASSIGN(auto labels, generated_labels(layer, finished, imports));
    for (LayerType type : types_) {
      const ImageState& from = base.states[type];
      ConfigInputs inputs{created_, author_, labels};
      MOS_TRY_ASSIGN(auto config_bytes, assemble_config(from, layer, added[type], inputs));
      oci::Descriptor config;
      config.media_type = std::string(oci::media_type::kImageConfig);
      config.digest = oci::digest_of(config_bytes);
      config.size = static_cast<std::int64_t>(config_bytes.size());
      MOS_TRY(output_.put_blob_bytes(config, config_bytes));
      ImageState state = from;
      state.config = config_bytes;
      for (const auto& l : added[type]) {
        state.layers.push_back(l.descriptor);
        state.diff_ids.push_back(l.diff_id);
      }
      MOS_TRY_ASSIGN(auto doc, oci::make_document(
                                   assemble_manifest(config, state.layers, from.annotations, layer,
                                                     file.text, options_.annotations_namespace)));
      MOS_TRY(tag(layer, type, doc));
      state.annotations = oci::parse_image_manifest(doc.bytes)->annotations;
      result.states[type] = std::move(state);
      entry.manifests[std::string(layer_type_name(type))] = doc.digest.str();
      built.tags.emplace_back(label(layer, type), doc.digest);
    }
    MOS_TRY(cache_.store(layer.name, entry));
    built_[layer.name] = std::move(result);
    return built;
  }

 private:
  std::string label(const LayerSpec& layer, LayerType type) const {
    return layer.build_only ? fmt::format("{} (build only, {})", layer.name, layer_type_name(type))
                            : image_tag(layer.name, type);
  }

  Status tag(const LayerSpec& layer, LayerType type, const oci::Document& doc) {
    if (layer.build_only) return output_.put_manifest(doc, std::nullopt);
    return output_.put_manifest(doc, image_tag(layer.name, type));
  }

  // The previous build's images when nothing that goes into them changed.
  Result<std::optional<BuiltImage>> cached(const LayerSpec& layer, const std::string& key) {
    if (options_.no_cache) return std::nullopt;
    auto entry = cache_.find(layer.name, key);
    if (!entry) return std::nullopt;
    BaseImage result;
    result.key = key;
    BuiltImage built;
    built.name = layer.name;
    built.build_only = layer.build_only;
    built.cached = true;
    for (LayerType type : types_) {
      auto it = entry->manifests.find(std::string(layer_type_name(type)));
      if (it == entry->manifests.end()) return std::nullopt;
      // The layout must still hold the manifest and every blob it names (a layout cleaned by
      // hand is a miss, not an error).
      MOS_TRY_ASSIGN(auto found, output_.find_manifest(it->second));
      if (!found) return std::nullopt;
      MOS_TRY_ASSIGN(auto doc, output_.get_manifest(it->second));
      MOS_TRY_ASSIGN(auto missing, output_.missing_blobs(doc));
      if (!missing.empty()) return std::nullopt;
      MOS_TRY_ASSIGN(result.states[type], read_image_state(output_, it->second));
      MOS_TRY(tag(layer, type, doc));
      built.tags.emplace_back(label(layer, type), doc.digest);
    }
    spdlog::info("found cached layer {}", layer.name);
    built_[layer.name] = std::move(result);
    return built;
  }

  // Packs `tree` as a layer of every type, keeping the tree as the unpacked form of the first.
  Status add_layer(const fs::path& tree, const PackOptions& pack, const std::string& created_by,
                   std::map<LayerType, std::vector<NewLayer>>& added) {
    std::optional<std::string> first;
    for (LayerType type : types_) {
      MOS_TRY_ASSIGN(auto packed, pack_layer(tree, type, pack, output_));
      if (!first) first = packed.descriptor.digest.hex();
      added[type].push_back({packed.descriptor, packed.diff_id, created_by});
      if (type != types_.front()) {
        std::error_code ec;
        fs::create_symlink(*first, layers_dir_ / packed.descriptor.digest.hex(), ec);
      }
    }
    MOS_TRY(make_dirs(layers_dir_));
    fs::path keep = layers_dir_ / *first;
    std::error_code ec;
    if (fs::exists(fs::symlink_status(keep, ec)) || ::rename(tree.c_str(), keep.c_str()) != 0)
      fs::remove_all(tree, ec);
    return {};
  }

  // overlay_dirs (owners not kept, as stacker) and imports with dest: one layer each.
  Status add_trees(const LayerSpec& layer, const StagedImports& imports,
                   std::map<LayerType, std::vector<NewLayer>>& added) {
    std::size_t n = 0;
    for (const auto& dir : layer.overlay_dirs) {
      fs::path tree =
          options_.stacker_dir / "imports" / fmt::format("{}-overlay-{}", layer.name, n++);
      std::error_code ec;
      fs::remove_all(tree, ec);
      fs::path target = tree / fs::path(dir.dest).relative_path();
      MOS_TRY(make_dirs(target));
      MOS_TRY(copy_directory_contents(dir.source, target));
      MOS_TRY(add_layer(tree, PackOptions{created_, false},
                        fmt::format("stacker overlay dir for {}", layer.name), added));
    }
    for (const auto& tree : imports.dest_trees)
      MOS_TRY(add_layer(tree, PackOptions{created_, true},
                        fmt::format("stacker overlay dir for {}", layer.name), added));
    return {};
  }

  Status copy_directory_contents(const fs::path& from, const fs::path& to) {
    std::error_code ec;
    if (!fs::is_directory(from, ec))
      return fail("overlay_dirs source {} is not a directory", from.string());
    fs::copy(from, to,
             fs::copy_options::recursive | fs::copy_options::copy_symlinks |
                 fs::copy_options::overwrite_existing,
             ec);
    if (ec) return fail("copying {} to {}: {}", from.string(), to.string(), ec.message());
    return {};
  }

  // The build container of `layer` over `layers` (bottom first), its upper and work under
  // `roots`, running the script `script_name` written into the imports.
  Result<BuildContainer> container_for(const LayerSpec& layer,
                                       const std::vector<oci::Descriptor>& layers,
                                       const fs::path& roots, const StagedImports& imports,
                                       const std::string& script_name,
                                       const std::vector<std::string>& script,
                                       std::vector<fs::path>& lowers_abs) {
    if (::geteuid() != 0)
      return fail(
          "{}:{}: image {}: running its scripts needs root, of the host or of a user namespace "
          "(the stacker and mosb programs enter one for an ordinary user)",
          layer.file, layer.line, layer.name);
    BuildContainer c;
    c.name = layer.name;
    c.work_dir = fs::absolute(layers_dir_);
    MOS_TRY(make_dirs(c.work_dir));
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
      MOS_TRY_ASSIGN(auto tree, unpacked_layer(output_, *it, layers_dir_));
      c.lowers.push_back(tree.filename());
      lowers_abs.push_back(fs::absolute(tree));
    }
    c.upper = roots / "overlay";
    c.overlay_work = roots / "work";
    c.rootfs = roots / "rootfs";
    for (const auto& dir : {c.upper, c.overlay_work, c.rootfs}) MOS_TRY(make_dirs(dir));
    c.imports = fs::absolute(imports.dir);
    // `import:` (stacker before 1.0) mounted the imports at /stacker; a link imports -> . in
    // them keeps /stacker/imports/NAME working too, as the walkthrough's file reads them.
    c.imports_at = layer.legacy_import ? "/stacker" : "/stacker/imports";
    MOS_TRY(write_file_atomic(imports.dir / script_name, run_script(script), 0755));
    c.argv = {c.imports_at + "/" + script_name};
    for (const auto& b : layer.binds) c.binds.push_back({b.source, b.dest});
    std::vector<std::pair<std::string, std::string>> build_env(layer.build_env.begin(),
                                                               layer.build_env.end());
    if (epoch_) build_env.insert(build_env.begin(), {"SOURCE_DATE_EPOCH", std::to_string(*epoch_)});
    MOS_TRY_ASSIGN(
        c.environment,
        run_environment(layer.name, build_env,
                        layer.build_env_passthrough ? &*layer.build_env_passthrough : nullptr));
    return c;
  }

  Status run_and_pack(const LayerSpec& layer, const BaseImage& base, const StagedImports& imports,
                      std::map<LayerType, std::vector<NewLayer>>& added) {
    if (layer.run.empty() && !base.tarball) return {};
    fs::path roots = fs::absolute(options_.roots_dir / layer.name);
    std::error_code ec;
    fs::remove_all(roots, ec);
    fs::path upper = roots / "overlay";
    MOS_TRY(make_dirs(upper));
    if (base.tarball) MOS_TRY(unpack_tar_layer(*base.tarball, upper));
    if (!layer.run.empty()) {
      // The image's layers and those added from imports, top first.
      std::vector<oci::Descriptor> below = base.states.at(types_.front()).layers;
      for (const auto& l : added[types_.front()]) below.push_back(l.descriptor);
      std::vector<fs::path> lowers_abs;
      MOS_TRY_ASSIGN(auto c, container_for(layer, below, roots, imports, ".stacker-run.sh",
                                           layer.run, lowers_abs));
      MOS_TRY_ASSIGN(auto run, run_build_container(c));
      if (run.exit_code != 0)
        return fail(
            "{}:{}: image {}: run commands failed with exit status {}; their last "
            "output:\n{}",
            layer.file, layer.line, layer.name, run.exit_code, run.output_tail);
      MOS_TRY_ASSIGN(bool changed, tidy_upper(upper, lowers_abs, run.created));
      if (!changed) {
        spdlog::info("image {}: the run changed nothing: no layer", layer.name);
        fs::remove_all(roots, ec);
        return {};
      }
    } else if (fs::is_empty(upper, ec)) {
      fs::remove_all(roots, ec);
      return {};
    }
    MOS_TRY(add_layer(upper, PackOptions{created_, true},
                      fmt::format("stacker build of {}", layer.name), added));
    fs::remove_all(roots, ec);
    return {};
  }

  // generate_labels: its script runs over the finished layers in a throwaway upper; each file
  // it writes as /stacker/oci-labels/NAME is label NAME.
  Result<std::map<std::string, std::string>> generated_labels(
      const LayerSpec& layer, const std::vector<oci::Descriptor>& layers,
      const StagedImports& imports) {
    std::map<std::string, std::string> labels;
    if (layer.generate_labels.empty()) return labels;
    fs::path roots = fs::absolute(options_.roots_dir / (layer.name + ".labels"));
    std::error_code ec;
    fs::remove_all(roots, ec);
    fs::path out = roots / "oci-labels";
    MOS_TRY(make_dirs(out));
    std::vector<fs::path> lowers_abs;
    MOS_TRY_ASSIGN(auto c, container_for(layer, layers, roots, imports, ".stacker-labels.sh",
                                         layer.generate_labels, lowers_abs));
    c.binds.push_back({out, "/stacker/oci-labels"});
    MOS_TRY_ASSIGN(auto run, run_build_container(c));
    if (run.exit_code != 0)
      return fail(
          "{}:{}: image {}: generate_labels failed with exit status {}; its last "
          "output:\n{}",
          layer.file, layer.line, layer.name, run.exit_code, run.output_tail);
    for (const auto& entry : fs::directory_iterator(out, ec)) {
      if (!entry.is_regular_file()) continue;
      MOS_TRY_ASSIGN(labels[entry.path().filename().string()], read_file(entry.path(), 1 << 20));
    }
    fs::remove_all(roots, ec);
    return labels;
  }

  // stacker://IMAGE/PATH: the file as IMAGE's layers show it, top layer first.
  Status copy_out(const std::string& image, const std::string& path, const fs::path& dest) {
    auto it = built_.find(image);
    if (it == built_.end()) return fail("image {} was not built before this one", image);
    const auto& layers = it->second.states.at(types_.front()).layers;
    fs::path relative = fs::path(path).relative_path();
    for (auto l = layers.rbegin(); l != layers.rend(); ++l) {
      MOS_TRY_ASSIGN(auto tree, unpacked_layer(output_, *l, layers_dir_));
      struct stat st{};
      if (::lstat((tree / relative).c_str(), &st) != 0) continue;
      if (is_whiteout(st)) break;  // deleted in this layer
      std::error_code ec;
      fs::copy(tree / relative, dest, fs::copy_options::recursive | fs::copy_options::copy_symlinks,
               ec);
      if (ec) return fail("copying {} out of {}: {}", path, image, ec.message());
      return {};
    }
    return fail("image {} has no {}", image, path);
  }

  const StackerBuildOptions& options_;
  oci::LayoutStore& output_;
  std::optional<std::int64_t> epoch_;
  std::int64_t created_;
  std::string author_;
  fs::path layers_dir_;
  BuildCache cache_;
  std::vector<LayerType> types_;
  std::map<std::string, BaseImage> built_;
};

}  // namespace

Result<std::vector<BuiltImage>> build_stacker_file(const StackerBuildOptions& options) {
  MOS_TRY_ASSIGN(auto values, read_substitutions(options.substitute, options.substitute_files));
  auto builtin = [&](const char* name, const fs::path& path) {
    values.emplace(name, path.string());
  };
  builtin("STACKER_ROOTFS_DIR", fs::absolute(options.roots_dir));
  builtin("STACKER_STACKER_DIR", fs::absolute(options.stacker_dir));
  builtin("STACKER_OCI_DIR", fs::absolute(options.oci_dir));
  builtin("STACKER_WORK_DIR", fs::current_path());
  MOS_TRY_ASSIGN(
      auto files,
      load_stacker_files(options.file, values,
                         options.missing_substitution ? &*options.missing_substitution : nullptr));
  MOS_TRY_ASSIGN(auto order, build_order(files));
  std::vector<BuiltImage> built;
  if (options.order_only) {
    for (const auto* layer : order) built.push_back({layer->name, layer->build_only, false, {}});
    return built;
  }
  MOS_TRY_ASSIGN(auto epoch, image::source_date_epoch_if_set());
  MOS_TRY(make_dirs(options.stacker_dir));
  auto lock = FileLock::acquire(options.stacker_dir / ".lock", FileLock::Mode::exclusive,
                                FileLock::Wait::no_wait);
  if (!lock)
    return context(fmt::format("couldn't acquire lock on {}", options.stacker_dir.string()),
                   lock.error());
  if (options.no_cache) {
    std::error_code ec;
    fs::remove(options.stacker_dir / "build.cache", ec);
    fs::remove_all(options.stacker_dir / "layers", ec);
    fs::remove_all(options.stacker_dir / "layers-userns", ec);
  }
  MOS_TRY_ASSIGN(auto output, oci::LayoutStore::open(options.oci_dir, true));
  StackerBuild build(options, *output, epoch);
  for (const auto* layer : order) {
    const StackerFile* file = nullptr;
    for (const auto& f : files)
      if (f.path.string() == layer->file) file = &f;
    MOS_TRY_ASSIGN(auto image, build.build(*layer, *file));
    built.push_back(std::move(image));
  }
  return built;
}

Status clean_stacker_dirs(const StackerBuildOptions& options) {
  std::error_code ec;
  std::optional<FileLock> lock;
  if (fs::is_directory(options.stacker_dir, ec)) {
    auto held = FileLock::acquire(options.stacker_dir / ".lock", FileLock::Mode::exclusive,
                                  FileLock::Wait::no_wait);
    if (!held)
      return context(fmt::format("couldn't acquire lock on {}", options.stacker_dir.string()),
                     held.error());
    lock.emplace(std::move(*held));
  }
  for (const auto& dir : {options.roots_dir, options.oci_dir, options.stacker_dir}) {
    fs::remove_all(dir, ec);
    if (ec) return fail("removing {}: {}", dir.string(), ec.message());
  }
  return {};
}

}  // namespace mos::stacker
