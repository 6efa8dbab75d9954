// Config and manifest documents of built stacker images.
#include "stacker/image_assembly.hpp"

#include <ctime>

#include "core/json.hpp"
#include "oci/media_types.hpp"

namespace mos::stacker {
namespace {

constexpr std::string_view kDefaultPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

}  // namespace

std::string rfc3339_utc(std::int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

std::string_view host_architecture() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#else
  return "unknown";
#endif
}

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
  doc["created"] = rfc3339_utc(inputs.created);
  doc["author"] = inputs.author;
  doc["architecture"] =
      layer.arch.value_or(doc.value("architecture", std::string(host_architecture())));
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
    entry["created"] = rfc3339_utc(inputs.created);
    entry["created_by"] = l.created_by;
    entry["author"] = inputs.author;
    history.push_back(entry);
  }
  OrderedJson empty = OrderedJson::object();
  empty["created"] = rfc3339_utc(inputs.created);
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
