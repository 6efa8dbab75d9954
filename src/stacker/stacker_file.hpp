#pragma once
// stacker.yaml, as stacker reads it (spec: stacker.md §1-§3): a text pass of ${{KEY}} and
// ${{KEY:default}} substitutions, then a strict parse of every image's directives with
// file:line:column errors for what stacker rejects, and warnings for what it ignores.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace mos::stacker {

enum class FromType { docker, oci, tar, built, scratch };

struct LayerFrom {
  FromType type = FromType::scratch;
  std::string url;  // docker: a reference; oci: LAYOUT:TAG; tar: a path or URL
  std::string tag;  // built: the image of this build it starts from
  bool insecure = false;
};

struct ImportSpec {
  std::string path;                 // as written: a path (relative to the file), URL, stacker://
  std::optional<std::string> hash;  // sha256, lowercase hex
  std::optional<std::string> dest;  // absolute: the import becomes a layer of the image
  std::optional<std::uint32_t> mode;
  std::optional<std::uint32_t> uid, gid;
  int line = 0;
  bool is_url() const { return path.starts_with("http://") || path.starts_with("https://"); }
  bool is_built() const { return path.starts_with("stacker://"); }
};

struct OverlayDir {
  std::string source;  // absolute after parsing
  std::string dest = "/";
};

struct Bind {
  std::string source, dest;  // source absolute after parsing
};

struct LayerSpec {
  std::string name;
  std::string file;  // the stacker file it comes from (messages)
  int line = 0;
  LayerFrom from;
  std::vector<ImportSpec> imports;
  bool legacy_import = false;  // written as `import:` (stacker < 1.0's form)
  std::vector<std::string> run;
  bool build_only = false;
  std::optional<std::vector<std::string>> cmd, entrypoint, full_command;
  std::vector<std::pair<std::string, std::string>> environment;
  std::vector<std::string> volumes;
  std::map<std::string, std::string> labels, annotations, build_env;
  std::optional<std::string> working_dir, runtime_user, os, arch;
  std::vector<OverlayDir> overlay_dirs;
  std::vector<Bind> binds;
  std::optional<std::vector<std::string>> build_env_passthrough;
  std::vector<std::string> generate_labels;
  std::string canonical;  // the directives as parsed, re-emitted: part of the cache key
  std::vector<std::string> warnings;

  // Images of this build it needs first: its `built` tag and the hosts of stacker:// sources.
  std::vector<std::string> dependencies() const;
};

struct StackerFile {
  std::filesystem::path path;  // absolute
  std::string text;            // after substitution (the stacker_yaml annotation)
  std::vector<std::filesystem::path> prerequisites;
  std::vector<LayerSpec> layers;  // file order
};

using Substitutions = std::map<std::string, std::string, std::less<>>;

// --substitute K=V (split at the first '=') over the YAML maps of --substitute-file (on a clash
// the flag wins).
Result<Substitutions> read_substitutions(const std::vector<std::string>& flags,
                                         const std::vector<std::filesystem::path>& files);

// Replaces every ${{KEY}} / ${{KEY:default}}; a key with no value and no default (unless
// `missing` gives one: stacker's publish uses "dummy"), and `$KEY` or `${KEY}` written for a key
// that has a value, are errors naming the line.
Result<std::string> substitute(std::string_view text, const Substitutions& values,
                               std::string_view file, const std::string* missing = nullptr);

// Parses substituted text; relative paths resolve against the file's directory.
Result<StackerFile> parse_stacker_file(std::string_view text, const std::filesystem::path& path);

// Splits a command written as one string the way stacker does (shell words: quotes and
// backslashes, no expansion).
Result<std::vector<std::string>> split_shell_words(std::string_view text);

// Reads `path` and its prerequisites (recursively), substituting each. The result lists
// prerequisites before the files that need them; a cycle or a layer name used twice is an error.
Result<std::vector<StackerFile>> load_stacker_files(const std::filesystem::path& path,
                                                    const Substitutions& values,
                                                    const std::string* missing = nullptr);

// Every layer of `files` in the order stacker builds them: file order, each image after the
// images it needs. A missing image or a cycle is an error.
Result<std::vector<const LayerSpec*>> build_order(const std::vector<StackerFile>& files);

}  // namespace mos::stacker
