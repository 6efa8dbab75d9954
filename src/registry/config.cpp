#include "registry/config.hpp"

#include <cctype>
#include <charconv>

#include "core/file.hpp"
#include "core/json.hpp"
#include "core/text.hpp"

namespace mos::registry {

namespace {

Result<const Json*> object_member(const Json& parent, std::string_view key,
                                  std::string_view where) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return nullptr;
  if (!it->is_object())
    return fail("{}: \"{}\" must be an object, not {}", where, key, it->type_name());
  return &*it;
}

Result<std::optional<bool>> optional_bool(const Json& object, std::string_view key,
                                          std::string_view where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::optional<bool>{};
  if (!it->is_boolean())
    return fail("{}: \"{}\" must be true or false, not {}", where, key, it->type_name());
  return std::optional<bool>{it->get<bool>()};
}

}  // namespace

Result<std::chrono::seconds> parse_go_duration(std::string_view text) {
  if (text.empty()) return fail("empty duration");
  double total = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::size_t digits = 0;
    while (digits < rest.size() &&
           (std::isdigit(static_cast<unsigned char>(rest[digits])) || rest[digits] == '.'))
      ++digits;
    if (digits == 0) return fail("invalid duration \"{}\" (use e.g. 1h, 30m, 10s)", text);
    double value = 0;
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + digits, value);
    if (ec != std::errc() || ptr != rest.data() + digits)
      return fail("invalid duration \"{}\"", text);
    rest.remove_prefix(digits);
    std::size_t unit_len = 0;
    while (unit_len < rest.size() && std::isalpha(static_cast<unsigned char>(rest[unit_len])))
      ++unit_len;
    std::string_view unit = rest.substr(0, unit_len);
    rest.remove_prefix(unit_len);
    if (unit == "h")
      total += value * 3600;
    else if (unit == "m")
      total += value * 60;
    else if (unit == "s")
      total += value;
    else if (unit == "ms")
      total += value / 1000;
    else if (unit == "us" || unit == "µs" || unit == "ns")
      total += 0;
    else
      return fail("invalid duration \"{}\": unknown unit \"{}\"", text, unit);
  }
  return std::chrono::seconds(static_cast<std::int64_t>(total));
}

Result<RegistryConfig> parse_registry_config(std::string_view text, std::string_view path) {
  MOS_TRY_ASSIGN(auto doc, parse_json_strict(text, path, {.max_bytes = 1 << 20, .max_depth = 32}));
  if (!doc.is_object()) return fail("{}: the configuration must be a JSON object", path);
  RegistryConfig config;
  MOS_TRY_ASSIGN(auto version, json_optional_string(doc, "distSpecVersion", path));
  if (version) config.dist_spec_version = *version;

  std::string where = fmt::format("{}: storage", path);
  MOS_TRY_ASSIGN(const Json* storage, object_member(doc, "storage", path));
  if (!storage) return fail("{}: missing \"storage\" (with \"rootDirectory\")", path);
  MOS_TRY_ASSIGN(auto root, json_string(*storage, "rootDirectory", where));
  if (root.empty()) return fail("{}: \"rootDirectory\" must not be empty", where);
  config.root_directory = root;
  MOS_TRY_ASSIGN(auto gc, optional_bool(*storage, "gc", where));
  if (gc) config.gc = *gc;
  for (auto [key, field] :
       {std::pair{"gcDelay", &config.gc_delay}, std::pair{"gcInterval", &config.gc_interval}}) {
    MOS_TRY_ASSIGN(auto value, json_optional_string(*storage, key, where));
    if (value) {
      auto d = parse_go_duration(*value);
      if (!d) return fail("{}: \"{}\": {}", where, key, d.error().message);
      *field = *d;
    }
  }

  where = fmt::format("{}: http", path);
  MOS_TRY_ASSIGN(const Json* http, object_member(doc, "http", path));
  if (http) {
    MOS_TRY_ASSIGN(auto address, json_optional_string(*http, "address", where));
    if (address) config.address = *address;
    if (auto it = http->find("port"); it != http->end() && !it->is_null()) {
      // zot writes the port as a string ("5000"); accept a number too.
      std::int64_t port = -1;
      if (it->is_number_integer()) {
        port = it->get<std::int64_t>();
      } else if (it->is_string()) {
        auto parsed = parse_unsigned(it->get<std::string>(), 65535);
        port = parsed ? static_cast<std::int64_t>(*parsed) : -1;
      }
      if (port < 0 || port > 65535)
        return fail("{}: \"port\" must be a port number (0-65535)", where);
      config.port = static_cast<std::uint16_t>(port);
    }
    MOS_TRY_ASSIGN(const Json* auth, object_member(*http, "auth", where));
    if (auth) {
      MOS_TRY_ASSIGN(const Json* htpasswd, object_member(*auth, "htpasswd", where + ".auth"));
      if (htpasswd) {
        MOS_TRY_ASSIGN(auto p, json_string(*htpasswd, "path", where + ".auth.htpasswd"));
        config.htpasswd = p;
      }
    }
    MOS_TRY_ASSIGN(const Json* tls, object_member(*http, "tls", where));
    if (tls) {
      MOS_TRY_ASSIGN(auto cert, json_string(*tls, "cert", where + ".tls"));
      MOS_TRY_ASSIGN(auto key, json_string(*tls, "key", where + ".tls"));
      config.tls_cert = cert;
      config.tls_key = key;
    }
  }

  MOS_TRY_ASSIGN(const Json* log, object_member(doc, "log", path));
  if (log) {
    MOS_TRY_ASSIGN(auto level, json_optional_string(*log, "level", fmt::format("{}: log", path)));
    if (level) {
      if (*level != "debug" && *level != "info" && *level != "warn" && *level != "error" &&
          *level != "panic" && *level != "fatal" && *level != "trace")
        return fail("{}: log.level \"{}\" is not one of debug, info, warn, error", path, *level);
      config.log_level = *level;
    }
  }
  return config;
}

Result<RegistryConfig> load_registry_config(const std::filesystem::path& path) {
  MOS_TRY_ASSIGN(auto text, read_file(path, 1 << 20));
  return parse_registry_config(text, path.string());
}

}  // namespace mos::registry
