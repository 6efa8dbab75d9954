#include "oci/registry_protocol.hpp"

#include <algorithm>
#include <cctype>

#include "core/json.hpp"
#include "core/text.hpp"
#include "oci/media_types.hpp"

namespace mos::oci {
namespace {

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void skip_spaces(std::string_view text, std::size_t& i) {
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
}

std::string_view read_token(std::string_view text, std::size_t& i) {
  std::size_t start = i;
  while (i < text.size() && is_token_char(text[i])) ++i;
  return text.substr(start, i - start);
}

// A quoted-string starting at text[i] == '"'; handles backslash escapes.
Result<std::string> read_quoted(std::string_view text, std::size_t& i) {
  std::string out;
  ++i;
  while (i < text.size()) {
    char c = text[i++];
    if (c == '"') return out;
    if (c == '\\') {
      if (i >= text.size()) break;
      c = text[i++];
    }
    out += c;
  }
  return fail("unterminated quoted string");
}

}  // namespace

Result<std::vector<AuthChallenge>> parse_www_authenticate(std::string_view text) {
  std::vector<AuthChallenge> out;
  std::size_t i = 0;
  auto bad = [&](std::string_view why) {
    return fail("malformed WWW-Authenticate header \"{}\": {}", text.substr(0, 200), why);
  };
  while (true) {
    skip_spaces(text, i);
    while (i < text.size() && text[i] == ',') {
      ++i;
      skip_spaces(text, i);
    }
    if (i >= text.size()) break;
    auto scheme = read_token(text, i);
    if (scheme.empty()) return bad("expected an authentication scheme");
    AuthChallenge challenge{to_lower_ascii(scheme), {}};
    // Parameters: name=value pairs separated by commas, until the next scheme (a token not
    // followed by '=').
    while (true) {
      skip_spaces(text, i);
      std::size_t save = i;
      auto name = read_token(text, i);
      skip_spaces(text, i);
      if (name.empty() || i >= text.size() || text[i] != '=') {
        i = save;
        break;
      }
      ++i;
      skip_spaces(text, i);
      std::string value;
      if (i < text.size() && text[i] == '"') {
        auto quoted = read_quoted(text, i);
        if (!quoted) return bad(quoted.error().message);
        value = std::move(*quoted);
      } else {
        value = std::string(read_token(text, i));
        // token68 (e.g. base64 with trailing '='): accept trailing '='.
        while (i < text.size() && text[i] == '=') value += text[i++];
      }
      challenge.params[to_lower_ascii(name)] = std::move(value);
      skip_spaces(text, i);
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      break;
    }
    out.push_back(std::move(challenge));
    skip_spaces(text, i);
    if (i < text.size() && text[i] != ',' && !is_token_char(text[i]))
      return bad("unexpected character");
  }
  if (out.empty()) return bad("no challenge");
  return out;
}

Result<std::optional<std::string>> parse_next_link(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    skip_spaces(text, i);
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (i >= text.size()) break;
    if (text[i] != '<')
      return fail("malformed Link header \"{}\": expected '<'", text.substr(0, 200));
    auto close = text.find('>', i);
    if (close == std::string_view::npos)
      return fail("malformed Link header \"{}\": missing '>'", text.substr(0, 200));
    std::string target(text.substr(i + 1, close - i - 1));
    i = close + 1;
    bool next = false;
    while (true) {
      skip_spaces(text, i);
      if (i >= text.size() || text[i] != ';') break;
      ++i;
      skip_spaces(text, i);
      auto name = to_lower_ascii(read_token(text, i));
      skip_spaces(text, i);
      std::string value;
      if (i < text.size() && text[i] == '=') {
        ++i;
        skip_spaces(text, i);
        if (i < text.size() && text[i] == '"') {
          auto quoted = read_quoted(text, i);
          if (!quoted) return fail("malformed Link header: {}", quoted.error().message);
          value = std::move(*quoted);
        } else {
          value = std::string(read_token(text, i));
        }
      }
      if (name == "rel") {
        // rel may list several space-separated relation types.
        std::string_view rels(value);
        while (!rels.empty()) {
          auto sp = rels.find(' ');
          if (to_lower_ascii(rels.substr(0, sp)) == "next") next = true;
          if (sp == std::string_view::npos) break;
          rels.remove_prefix(sp + 1);
        }
      }
    }
    if (next)
      return target.empty() ? fail("malformed Link header: empty target")
                            : Result<std::optional<std::string>>(target);
    skip_spaces(text, i);
    if (i < text.size() && text[i] != ',')
      return fail("malformed Link header \"{}\": unexpected character", text.substr(0, 200));
  }
  return std::nullopt;
}

std::string describe_registry_error(long status, std::string_view body) {
  auto json = parse_json_strict(body, "error body", {.max_bytes = 64 * 1024, .max_depth = 16});
  if (json && json->is_object()) {
    auto it = json->find("errors");
    if (it != json->end() && it->is_array() && !it->empty()) {
      std::string out;
      for (const auto& e : *it) {
        if (!e.is_object()) continue;
        std::string part;
        if (auto c = e.find("code"); c != e.end() && c->is_string()) part = c->get<std::string>();
        if (auto m = e.find("message");
            m != e.end() && m->is_string() && !m->get<std::string>().empty())
          part += (part.empty() ? "" : ": ") + m->get<std::string>();
        if (auto d = e.find("detail"); d != e.end() && !d->is_null()) {
          std::string detail = d->is_string() ? d->get<std::string>() : d->dump();
          if (detail.size() > 200) detail = detail.substr(0, 200) + "…";
          if (!detail.empty()) part += " (" + detail + ")";
        }
        if (part.empty()) continue;
        if (!out.empty()) out += "; ";
        out += part;
      }
      // Registry text goes on one terminal line: no control characters.
      for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
      if (out.size() > 600) out = out.substr(0, 600) + "…";
      if (!out.empty()) return fmt::format("{} (HTTP {})", out, status);
    }
  }
  // Not an OCI error body: the first printable line, if short enough to be a message.
  std::string line;
  for (char c : body) {
    if (c == '\n' || c == '\r') {
      if (!line.empty()) break;
      continue;
    }
    line += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    if (line.size() > 160) break;
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  if (line.empty() || line.front() == '<' || line.front() == '{')
    return fmt::format("HTTP {}", status);
  return fmt::format("HTTP {}: {}", status, line);
}

std::string referrers_tag(const Digest& subject) {
  return fmt::format("{}-{}", subject.algorithm_name(), subject.hex().substr(0, 64));
}

Result<std::optional<std::string>> add_to_referrers_index(
    const std::optional<std::string>& index_bytes, const Descriptor& entry) {
  OrderedJson index;
  if (index_bytes) {
    // Parsed strictly first (so a malformed index is reported), then kept as ordered JSON so
    // that its other fields survive the rewrite.
    MOS_TRY_ASSIGN(auto parsed, parse_image_index(*index_bytes));
    for (const auto& d : parsed.manifests)
      if (d.digest == entry.digest) return std::nullopt;
    index = OrderedJson::parse(*index_bytes);
  } else {
    index = OrderedJson::object();
    index["schemaVersion"] = 2;
    index["mediaType"] = std::string(media_type::kImageIndex);
    index["manifests"] = OrderedJson::array();
  }
  if (!index.contains("manifests") || index["manifests"].is_null())
    index["manifests"] = OrderedJson::array();
  index["manifests"].push_back(descriptor_json(entry));
  return encode_compact(index);
}

std::vector<Descriptor> filter_referrers(std::vector<Descriptor> list,
                                         const std::optional<std::string>& artifact_type) {
  if (!artifact_type) return list;
  std::erase_if(list, [&](const Descriptor& d) { return d.artifact_type != artifact_type; });
  return list;
}

}  // namespace mos::oci
