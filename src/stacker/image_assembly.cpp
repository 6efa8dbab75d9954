// Config and manifest documents of built stacker images.
#include "stacker/image_assembly.hpp"

#include "core/json.hpp"
#include "image/build_image.hpp"
#include "oci/media_types.hpp"

namespace mos::stacker {
namespace {

constexpr std::string_view kDefaultPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

}  // namespace

Result<std::string> assemble_config(const ImageState& base, const LayerSpec& layer,
                                    const std::vector<NewLayer>& added,
                                    const ConfigInputs& inputs) {
  OrderedJson doc = OrderedJson::object();
  if (!base.config.empty()) {
    try {
      doc = OrderedJson::parse(base.config);
    } catch (const std::exception& e) {
      return fail("the base image's config is not JSON: {}", e.what());
    }
    if (!doc.is_object()) return fail("the base image's config is not a JSON object");
  }
  doc["created"] = image::rfc3339_utc(inputs.created);
  doc["author"] = inputs.author;
  doc["architecture"] =
      layer.arch.value_or(doc.value("architecture", std::string(image::host_architecture())));
  doc["os"] = layer.os.value_or(doc.value("os", std::string("linux")));
  if (!doc.contains("config") || !doc["config"].is_object()) doc["config"] = OrderedJson::object();
  OrderedJson& config = doc["config"];

  OrderedJson env =
      config.contains("Env") && config["Env"].is_array() ? config["Env"] : OrderedJson::array();
  for (const auto& [k, v] : layer.environment) env.push_back(k + "=" + v);
  bool has_path = false;
  for (const auto& e : env)
    has_path = has_path || (e.is_string() && e.get<std::string>().starts_with("PATH="));
  if (!has_path) env.push_back(kDefaultPath);
  config["Env"] = env;

  config.erase("Cmd");
  config.erase("Entrypoint");
  if (layer.full_command) {
    config["Entrypoint"] = *layer.full_command;
  } else {
    if (layer.entrypoint) config["Entrypoint"] = *layer.entrypoint;
    if (layer.cmd) config["Cmd"] = *layer.cmd;
  }
  if (!layer.volumes.empty()) {
    OrderedJson& volumes = config["Volumes"];
    if (!volumes.is_object()) volumes = OrderedJson::object();
    for (const auto& v : layer.volumes) volumes[v] = OrderedJson::object();
  }
  if (!layer.labels.empty() || !inputs.generated_labels.empty()) {
    OrderedJson& labels = config["Labels"];
    if (!labels.is_object()) labels = OrderedJson::object();
    for (const auto& [k, v] : layer.labels) labels[k] = v;
    for (const auto& [k, v] : inputs.generated_labels) labels[k] = v;
  }
  if (layer.working_dir) config["WorkingDir"] = *layer.working_dir;
  if (layer.runtime_user) config["User"] = *layer.runtime_user;

  OrderedJson rootfs = OrderedJson::object();
  rootfs["type"] = "layers";
  rootfs["diff_ids"] = OrderedJson::array();
  for (const auto& d : base.diff_ids) rootfs["diff_ids"].push_back(d);
  for (const auto& l : added) rootfs["diff_ids"].push_back(l.diff_id);
  doc["rootfs"] = rootfs;

  OrderedJson& history = doc["history"];
  if (!history.is_array()) history = OrderedJson::array();
  for (const auto& l : added) {
    OrderedJson entry = OrderedJson::object();
    entry["created"] = image::rfc3339_utc(inputs.created);
    entry["created_by"] = l.created_by;
    entry["author"] = inputs.author;
    history.push_back(entry);
  }
  OrderedJson empty = OrderedJson::object();
  empty["created"] = image::rfc3339_utc(inputs.created);
  empty["created_by"] = "stacker build";
  empty["author"] = inputs.author;
  empty["empty_layer"] = true;
  history.push_back(empty);
  return oci::encode_compact(doc);
}

std::string assemble_manifest(const oci::Descriptor& config,
                              const std::vector<oci::Descriptor>& layers,
                              const oci::Annotations& base_annotations, const LayerSpec& layer,
                              std::string_view stacker_yaml,
                              std::string_view annotations_namespace) {
  oci::ImageManifest manifest;
  manifest.media_type = std::string(oci::media_type::kImageManifest);
  manifest.config = config;
  manifest.layers = layers;
  manifest.annotations = base_annotations;
  for (const auto& [k, v] : layer.annotations) manifest.annotations[k] = v;
  manifest.annotations[fmt::format("{}.stacker.stacker_yaml", annotations_namespace)] =
      std::string(stacker_yaml);
  manifest.annotations[fmt::format("{}.stacker.stacker_version", annotations_namespace)] =
      "mos-" MOS_VERSION;
  return oci::encode_manifest(manifest);
}

}  // namespace mos::stacker
