// The strict parse of a substituted stacker file (spec: stacker.md §1-§3).
#include "stacker/stacker_file.hpp"

#include <charconv>
#include <set>

#include <yaml-cpp/yaml.h>

#include "core/text.hpp"
#include "core/yaml_reader.hpp"

namespace mos::stacker {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string_view> kDirectives = {
    "from",       "imports", "import",          "overlay_dirs", "run",
    "build_only", "cmd",     "entrypoint",      "full_command", "environment",
    "volumes",    "labels",  "working_dir",     "runtime_user", "annotations",
    "os",         "arch",    "generate_labels", "build_env",    "build_env_passthrough",
    "binds",      "bom"};

constexpr std::pair<std::string_view, FromType> kFromTypes[] = {{"docker", FromType::docker},
                                                                {"oci", FromType::oci},
                                                                {"tar", FromType::tar},
                                                                {"built", FromType::built},
                                                                {"scratch", FromType::scratch}};

class LayerParser {
 public:
  LayerParser(const YamlReader& r, const fs::path& dir) : r_(r), dir_(dir) {}

  Result<LayerSpec> parse(const YAML::Node& key, const YAML::Node& node) {
    LayerSpec layer;
    layer.name = key.Scalar();
    layer.file = r_.file();
    layer.line = key.Mark().line + 1;
    if (layer.name.empty()) return r_.error(key, "an image needs a name");
    if (layer.name.find(':') != std::string::npos)
      return r_.error(key, "image name \"{}\" contains ':', which stacker does not allow",
                      layer.name);
    if (!node.IsMap())
      return r_.error(node, "image {} must be a mapping of directives", layer.name);
    MOS_TRY(r_.check_mapping(node, fmt::format("image {}", layer.name), kDirectives, "directive"));
    if (node["imports"] && node["import"])
      return r_.error(node["import"], "image {} has both imports and import: use imports",
                      layer.name);
    if (!node["from"]) return r_.error(key, "image {} has no from", layer.name);
    MOS_TRY_ASSIGN(layer.from, from(node["from"]));
    for (const char* k : {"imports", "import"}) {
      if (!node[k]) continue;
      layer.legacy_import = std::string_view(k) == "import";
      MOS_TRY_ASSIGN(layer.imports, imports(node[k], layer.warnings));
    }
    if (node["run"]) {
      MOS_TRY_ASSIGN(layer.run, string_or_list(node["run"], "run"));
    }
    if (node["generate_labels"]) {
      MOS_TRY_ASSIGN(layer.generate_labels,
                     string_or_list(node["generate_labels"], "generate_labels"));
    }
    if (node["build_only"]) {
      MOS_TRY_ASSIGN(layer.build_only, r_.boolean(node["build_only"], "build_only"));
    }
    for (auto [k, out] : {std::pair{"cmd", &layer.cmd}, std::pair{"entrypoint", &layer.entrypoint},
                          std::pair{"full_command", &layer.full_command}}) {
      if (!node[k]) continue;
      MOS_TRY_ASSIGN(*out, command(node[k], k));
    }
    if (node["environment"]) {
      MOS_TRY_ASSIGN(auto env, string_map(node["environment"], "environment"));
      layer.environment.assign(env.begin(), env.end());
    }
    if (node["labels"]) {
      MOS_TRY_ASSIGN(layer.labels, string_map(node["labels"], "labels"));
    }
    if (node["annotations"]) {
      MOS_TRY_ASSIGN(layer.annotations, string_map(node["annotations"], "annotations"));
    }
    if (node["build_env"]) {
      MOS_TRY_ASSIGN(layer.build_env, string_map(node["build_env"], "build_env"));
    }
    if (node["volumes"]) {
      MOS_TRY_ASSIGN(layer.volumes, string_list(node["volumes"], "volumes"));
    }
    if (node["build_env_passthrough"]) {
      MOS_TRY_ASSIGN(layer.build_env_passthrough,
                     string_list(node["build_env_passthrough"], "build_env_passthrough"));
    }
    for (auto [k, out] : {std::pair{"working_dir", &layer.working_dir},
                          std::pair{"runtime_user", &layer.runtime_user},
                          std::pair{"os", &layer.os}, std::pair{"arch", &layer.arch}}) {
      if (!node[k]) continue;
      MOS_TRY_ASSIGN(*out, r_.string(node[k], k));
      if ((*out)->empty() && (std::string_view(k) == "os" || std::string_view(k) == "arch"))
        return r_.error(node[k], "{} must not be empty", k);
    }
    if (node["overlay_dirs"]) {
      MOS_TRY_ASSIGN(layer.overlay_dirs, overlay_dirs(node["overlay_dirs"]));
    }
    if (node["binds"]) {
      MOS_TRY_ASSIGN(layer.binds, binds(node["binds"]));
    }
    if (node["bom"])
      layer.warnings.push_back(fmt::format("{}: bom is ignored", where(node["bom"])));
    layer.canonical = YAML::Dump(node);
    return layer;
  }

 private:
  std::string where(const YAML::Node& node) const {
    return fmt::format("{}:{}", r_.file(), node.Mark().line + 1);
  }

  std::string absolute(const std::string& p) const {
    return fs::path(p).is_absolute() ? p : (dir_ / p).lexically_normal().string();
  }

  Result<LayerFrom> from(const YAML::Node& node) {
    MOS_TRY(r_.check_mapping(node, "from", {"type", "url", "tag", "insecure"}));
    if (!node["type"])
      return r_.error(node, "from needs a type (docker, oci, tar, built, scratch)");
    LayerFrom from;
    MOS_TRY_ASSIGN(auto type, r_.string(node["type"], "from type"));
    bool known = false;
    for (auto [name, value] : kFromTypes)
      if (type == name) from.type = value, known = true;
    if (!known)
      return r_.error(node["type"],
                      "from type \"{}\" is not one of docker, oci, tar, built, scratch", type);
    if (node["url"]) {
      MOS_TRY_ASSIGN(from.url, r_.string(node["url"], "from url"));
    }
    if (node["tag"]) {
      MOS_TRY_ASSIGN(from.tag, r_.string(node["tag"], "from tag"));
    }
    if (node["insecure"]) {
      MOS_TRY_ASSIGN(from.insecure, r_.boolean(node["insecure"], "from insecure"));
    }
    bool needs_url =
        from.type == FromType::docker || from.type == FromType::oci || from.type == FromType::tar;
    if (needs_url && from.url.empty()) return r_.error(node, "from type {} needs a url", type);
    if (from.type == FromType::built && from.tag.empty())
      return r_.error(node, "from type built needs a tag (the image of this file it starts from)");
    if (from.type == FromType::oci && from.url.find(':') == std::string::npos)
      return r_.error(node["url"], "from url \"{}\" of type oci must be LAYOUT:TAG", from.url);
    return from;
  }

  Result<std::vector<std::string>> string_or_list(const YAML::Node& node, std::string_view what) {
    if (node.IsScalar()) return std::vector<std::string>{node.Scalar()};
    return string_list(node, what);
  }

  Result<std::vector<std::string>> string_list(const YAML::Node& node, std::string_view what) {
    MOS_TRY_ASSIGN(auto items, r_.sequence(node, what));
    std::vector<std::string> out;
    for (const auto& item : items) {
      MOS_TRY_ASSIGN(auto s, r_.string(item, fmt::format("an item of {}", what)));
      out.push_back(std::move(s));
    }
    return out;
  }

  Result<std::vector<std::string>> command(const YAML::Node& node, std::string_view what) {
    if (node.IsScalar()) {
      auto words = split_shell_words(node.Scalar());
      if (!words) return r_.error(node, "{}: {}", what, words.error().message);
      return *words;
    }
    return string_list(node, what);
  }

  Result<std::map<std::string, std::string>> string_map(const YAML::Node& node,
                                                        std::string_view what) {
    std::map<std::string, std::string> out;
    if (node.IsNull()) return out;
    if (!node.IsMap()) return r_.error(node, "{} must be a mapping", what);
    for (const auto& item : node) {
      MOS_TRY_ASSIGN(auto key, r_.string(item.first, fmt::format("a key of {}", what)));
      MOS_TRY_ASSIGN(auto value, r_.string(item.second, fmt::format("{} {}", what, key)));
      if (!out.emplace(key, value).second)
        return r_.error(item.first, "duplicate key \"{}\" in {}", key, what);
    }
    return out;
  }

  Result<std::uint32_t> small_number(const YAML::Node& node, std::string_view what, int base_hint) {
    if (!node.IsScalar()) return r_.error(node, "{} must be a number", what);
    std::string_view text = node.Scalar();
    int base = base_hint;
    // YAML 1.1 (what stacker's parser reads): 0755 and 0o755 are octal.
    if (text.starts_with("0o")) {
      text.remove_prefix(2);
      base = 8;
    } else if (text.size() > 1 && text.front() == '0') {
      base = 8;
    }
    std::uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size())
      return r_.error(node, "{} must be a number, not \"{}\"", what, node.Scalar());
    return value;
  }

  Result<std::vector<ImportSpec>> imports(const YAML::Node& node,
                                          std::vector<std::string>& warnings) {
    std::vector<YAML::Node> items;
    if (node.IsScalar()) {
      items.push_back(node);
    } else {
      MOS_TRY_ASSIGN(items, r_.sequence(node, "imports"));
    }
    std::vector<ImportSpec> out;
    for (const auto& item : items) {
      ImportSpec spec;
      spec.line = item.Mark().line + 1;
      if (item.IsScalar()) {
        spec.path = item.Scalar();
      } else if (item.IsMap()) {
        for (const auto& kv : item) {
          auto key = kv.first.Scalar();
          if (key == "path") {
            MOS_TRY_ASSIGN(spec.path, r_.string(kv.second, "import path"));
          } else if (key == "hash") {
            MOS_TRY_ASSIGN(auto hash, r_.string(kv.second, "import hash"));
            hash = to_lower_ascii(hash);
            bool hex = hash.size() == 64;
            for (char c : hash) hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
            if (!hex)
              return r_.error(kv.second,
                              "import hash \"{}\" is not valid (64 hex digits of sha256)",
                              kv.second.Scalar());
            spec.hash = hash;
          } else if (key == "dest") {
            MOS_TRY_ASSIGN(spec.dest, r_.string(kv.second, "import dest"));
            if (!spec.dest->starts_with('/'))
              return r_.error(kv.second, "import dest \"{}\" must be an absolute path", *spec.dest);
          } else if (key == "mode") {
            MOS_TRY_ASSIGN(spec.mode, small_number(kv.second, "import mode", 10));
            if (*spec.mode > 07777) return r_.error(kv.second, "import mode is above 07777");
          } else if (key == "uid" || key == "gid") {
            MOS_TRY_ASSIGN(auto id, r_.integer(kv.second, fmt::format("import {}", key)));
            if (id < 0 || id > 0xfffffffe)
              return r_.error(kv.second, "import {} {} is not a valid id", key, id);
            (key == "uid" ? spec.uid : spec.gid) = static_cast<std::uint32_t>(id);
          } else {
            // What stacker ignores is a warning here, so that a typo does not go unseen.
            warnings.push_back(
                fmt::format("{}: unknown import key \"{}\" is ignored", where(kv.first), key));
          }
        }
        if (spec.path.empty()) return r_.error(item, "an import needs a path");
      } else {
        return r_.error(item, "an import is a path or a mapping with path");
      }
      if (!spec.is_url() && !spec.is_built()) {
        bool dir_contents = spec.path.ends_with('/');
        spec.path = absolute(spec.path);
        if (dir_contents && !spec.path.ends_with('/')) spec.path.push_back('/');
      }
      out.push_back(std::move(spec));
    }
    return out;
  }

  Result<std::vector<OverlayDir>> overlay_dirs(const YAML::Node& node) {
    MOS_TRY_ASSIGN(auto items, r_.sequence(node, "overlay_dirs"));
    std::vector<OverlayDir> out;
    for (const auto& item : items) {
      MOS_TRY(r_.check_mapping(item, "an overlay_dirs entry", {"source", "dest"}));
      if (!item["source"]) return r_.error(item, "an overlay_dirs entry needs a source");
      OverlayDir dir;
      MOS_TRY_ASSIGN(dir.source, r_.string(item["source"], "overlay_dirs source"));
      dir.source = absolute(dir.source);
      if (item["dest"]) {
        MOS_TRY_ASSIGN(dir.dest, r_.string(item["dest"], "overlay_dirs dest"));
      }
      out.push_back(std::move(dir));
    }
    return out;
  }

  Result<std::vector<Bind>> binds(const YAML::Node& node) {
    MOS_TRY_ASSIGN(auto items, r_.sequence(node, "binds"));
    std::vector<Bind> out;
    for (const auto& item : items) {
      Bind bind;
      if (item.IsScalar()) {
        const auto& text = item.Scalar();
        auto arrow = text.find(" -> ");
        bind.source = text.substr(0, arrow);
        bind.dest = arrow == std::string::npos ? bind.source : text.substr(arrow + 4);
      } else {
        MOS_TRY(r_.check_mapping(item, "a binds entry", {"source", "dest"}));
        if (!item["source"] || !item["dest"])
          return r_.error(item, "a binds entry needs source and dest");
        MOS_TRY_ASSIGN(bind.source, r_.string(item["source"], "bind source"));
        MOS_TRY_ASSIGN(bind.dest, r_.string(item["dest"], "bind dest"));
      }
      bind.source = absolute(bind.source);
      std::error_code ec;
      if (!fs::exists(bind.source, ec))
        return r_.error(item, "bind source {} does not exist", bind.source);
      out.push_back(std::move(bind));
    }
    return out;
  }

  const YamlReader& r_;
  fs::path dir_;
};

}  // namespace

std::vector<std::string> LayerSpec::dependencies() const {
  std::vector<std::string> out;
  if (from.type == FromType::built) out.push_back(from.tag);
  auto host_of = [](std::string_view url) {
    url.remove_prefix(std::string_view("stacker://").size());
    return std::string(url.substr(0, url.find('/')));
  };
  if (from.type == FromType::tar && from.url.starts_with("stacker://"))
    out.push_back(host_of(from.url));
  for (const auto& i : imports)
    if (i.is_built()) out.push_back(host_of(i.path));
  return out;
}

Result<StackerFile> parse_stacker_file(std::string_view text, const fs::path& path) {
  YamlReader r(path.string());
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return fail("{}:{}:{}: {}", path.string(), e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  StackerFile file;
  file.path = path;
  file.text = std::string(text);
  if (root.IsNull()) return file;
  if (!root.IsMap()) return r.error(root, "a stacker file is a mapping of image names");
  LayerParser parser(r, path.parent_path());
  std::set<std::string> names;
  for (const auto& item : root) {
    if (!item.first.IsScalar()) return r.error(item.first, "an image name must be a string");
    if (!names.insert(item.first.Scalar()).second)
      return r.error(item.first, "duplicate layer name {}", item.first.Scalar());
    if (item.first.Scalar() == "config") {
      MOS_TRY(r.check_mapping(item.second, "config", {"prerequisites"}));
      MOS_TRY_ASSIGN(auto list, r.sequence(item.second["prerequisites"], "prerequisites"));
      for (const auto& p : list) {
        MOS_TRY_ASSIGN(auto s, r.string(p, "a prerequisite"));
        fs::path pre(s);
        file.prerequisites.push_back(
            pre.is_absolute() ? pre : (path.parent_path() / pre).lexically_normal());
      }
      continue;
    }
    MOS_TRY_ASSIGN(auto layer, parser.parse(item.first, item.second));
    file.layers.push_back(std::move(layer));
  }
  return file;
}

}  // namespace mos::stacker
