#include "image/image_config.hpp"

#include "core/json.hpp"

namespace mos::image {

namespace {

constexpr std::size_t kMaxConfigBytes = 4 * 1024 * 1024;

Result<std::optional<std::vector<std::string>>> string_list(const Json& object,
                                                            std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::optional<std::vector<std::string>>{};
  if (!it->is_array()) return fail("config.{} must be a list of strings", key);
  std::vector<std::string> out;
  for (const auto& item : *it) {
    if (!item.is_string()) return fail("config.{} must be a list of strings", key);
    out.push_back(item.get<std::string>());
  }
  return std::optional<std::vector<std::string>>{std::move(out)};
}

Result<std::optional<std::string>> optional_text(const Json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string()) return fail("config.{} must be a string", key);
  auto text = it->get<std::string>();
  if (text.empty()) return std::optional<std::string>{};
  return std::optional<std::string>{std::move(text)};
}

}  // namespace

Result<ImageConfigFields> parse_image_config(std::string_view bytes) {
  if (bytes.size() > kMaxConfigBytes)
    return fail("the image config is larger than {} bytes", kMaxConfigBytes);
  MOS_TRY_ASSIGN(auto document, parse_json_strict(bytes, "image config"));
  if (!document.is_object()) return fail("the image config is not a JSON object");
  ImageConfigFields fields;
  auto config = document.find("config");
  if (config == document.end() || config->is_null()) return fields;
  if (!config->is_object()) return fail("the image config's \"config\" is not an object");
  MOS_TRY_ASSIGN(fields.entrypoint, string_list(*config, "Entrypoint"));
  MOS_TRY_ASSIGN(fields.cmd, string_list(*config, "Cmd"));
  MOS_TRY_ASSIGN(auto env, string_list(*config, "Env"));
  if (env) {
    for (const auto& e : *env)
      if (e.find('=') == std::string::npos || e.front() == '=')
        return fail("config.Env entry \"{}\" is not NAME=VALUE", e);
    fields.env = std::move(*env);
  }
  MOS_TRY_ASSIGN(fields.workdir, optional_text(*config, "WorkingDir"));
  MOS_TRY_ASSIGN(fields.user, optional_text(*config, "User"));
  return fields;
}

std::vector<std::string> command_of(const ImageConfigFields& config) {
  std::vector<std::string> command = config.entrypoint.value_or(std::vector<std::string>{});
  if (config.cmd) command.insert(command.end(), config.cmd->begin(), config.cmd->end());
  return command;
}

}  // namespace mos::image
