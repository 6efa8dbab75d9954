#include "oci/reference.hpp"

#include <cctype>

namespace mos::oci {

namespace {

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// path-component = [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
bool is_valid_component(std::string_view c) {
  if (c.empty() || !is_lower_alnum(c.front()) || !is_lower_alnum(c.back())) return false;
  for (std::size_t i = 0; i < c.size();) {
    if (is_lower_alnum(c[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    if (c[i] == '.') {
      j = i + 1;
    } else if (c[i] == '_') {
      j = i + 1;
      if (j < c.size() && c[j] == '_') ++j;
    } else if (c[i] == '-') {
      while (j < c.size() && c[j] == '-') ++j;
    } else {
      return false;
    }
    if (j >= c.size() || !is_lower_alnum(c[j])) return false;
    i = j;
  }
  return true;
}

bool looks_like_host(std::string_view host) {
  if (host == "localhost" || host.starts_with("localhost:")) return true;
  if (host.starts_with('[')) return host.find(']') != std::string_view::npos;
  return host.find('.') != std::string_view::npos || host.find(':') != std::string_view::npos;
}

bool is_valid_host(std::string_view host) {
  if (host.empty()) return false;
  std::string_view name = host;
  std::string_view port;
  if (host.starts_with('[')) {
    auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    name = host.substr(1, close - 1);
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
    for (char c : name)
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
  } else {
    if (auto colon = host.find(':'); colon != std::string_view::npos) {
      name = host.substr(0, colon);
      port = host.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (name.empty()) return false;
    for (char c : name)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return false;
  }
  if (port.size() > 5) return false;
  for (char c : port)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

Result<Reference> parse_layout(std::string_view text, std::string_view rest) {
  Reference ref;
  ref.transport = Reference::Transport::layout;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    auto digest = Digest::parse(rest.substr(at + 1));
    if (!digest) return fail("invalid reference \"{}\": {}", text, digest.error().message);
    ref.digest = *digest;
    rest = rest.substr(0, at);
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    std::string_view tag = rest.substr(colon + 1);
    if (tag.find('/') == std::string_view::npos) {
      if (!is_valid_tag(tag))
        return fail(
            "invalid reference \"{}\": \"{}\" is not a valid tag "
            "([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})",
            text, tag);
      ref.tag = std::string(tag);
      rest = rest.substr(0, colon);
    }
  }
  if (rest.empty())
    return fail("invalid reference \"{}\": oci: needs a directory (oci:DIR[:TAG])", text);
  ref.layout_dir = std::string(rest);
  return ref;
}

}  // namespace

bool is_valid_repository_name(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  std::size_t start = 0;
  for (;;) {
    auto slash = name.find('/', start);
    std::string_view component =
        name.substr(start, slash == std::string_view::npos ? name.npos : slash - start);
    if (!is_valid_component(component)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool is_valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  auto ok_first = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!ok_first(tag.front())) return false;
  for (char c : tag.substr(1))
    if (!ok_first(c) && c != '.' && c != '-') return false;
  return true;
}

Result<std::string> validate_tag_or_digest(std::string_view reference) {
  if (reference.find(':') != std::string_view::npos) {
    MOS_TRY_ASSIGN(auto digest, Digest::parse(reference));
    return digest.str();
  }
  if (!is_valid_tag(reference))
    return fail("invalid tag \"{}\": tags match [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}", reference);
  return std::string(reference);
}

Result<Reference> Reference::parse(std::string_view text) {
  if (text.starts_with("oci:")) return parse_layout(text, text.substr(4));
  std::string_view rest = text;
  if (rest.starts_with("docker://")) {
    rest.remove_prefix(9);
  } else if (auto scheme = rest.find("://"); scheme != std::string_view::npos) {
    return fail(
        "invalid reference \"{}\": the transport \"{}://\" is not supported (use "
        "docker://HOST/REPO:TAG, HOST:PORT/REPO:TAG or oci:DIR:TAG)",
        text, rest.substr(0, scheme));
  }
  // "oci-archive:x.tar", "dir:/x", "containers-storage:..." are transports of other tools: a word
  // before the first colon that is no host (no dot, followed by no port number).
  if (auto colon = rest.find(':');
      colon != std::string_view::npos && colon > 0 &&
      rest.substr(0, colon).find_first_of("./[") == std::string_view::npos &&
      (colon + 1 == rest.size() || rest[colon + 1] < '0' || rest[colon + 1] > '9'))
    return fail(
        "invalid reference \"{}\": the transport \"{}:\" is not supported (use "
        "docker://HOST/REPO:TAG, HOST:PORT/REPO:TAG or oci:DIR:TAG)",
        text, rest.substr(0, colon));
  Reference ref;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    auto digest = Digest::parse(rest.substr(at + 1));
    if (!digest) return fail("invalid reference \"{}\": {}", text, digest.error().message);
    ref.digest = *digest;
    rest = rest.substr(0, at);
  }
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || !looks_like_host(rest.substr(0, slash)))
    return fail(
        "invalid reference \"{}\": expected HOST[:PORT]/REPOSITORY[:TAG] with a registry "
        "host (such as 127.0.0.1:5000/machine/install:1.0.0)",
        text);
  std::string_view host = rest.substr(0, slash);
  if (!is_valid_host(host))
    return fail("invalid reference \"{}\": \"{}\" is not a valid registry host", text, host);
  std::string_view path = rest.substr(slash + 1);
  auto last_slash = path.rfind('/');
  auto colon = path.rfind(':');
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    std::string_view tag = path.substr(colon + 1);
    if (!is_valid_tag(tag))
      return fail(
          "invalid reference \"{}\": \"{}\" is not a valid tag "
          "([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})",
          text, tag);
    ref.tag = std::string(tag);
    path = path.substr(0, colon);
  }
  if (!is_valid_repository_name(path))
    return fail(
        "invalid reference \"{}\": \"{}\" is not a valid repository name (lowercase "
        "components of [a-z0-9] joined by '.', '_', '__' or '-', separated by '/')",
        text, path);
  ref.registry = std::string(host);
  ref.repository = std::string(path);
  return ref;
}

std::string Reference::tag_or_digest() const {
  if (digest) return digest->str();
  return tag.value_or("latest");
}

std::string Reference::location() const {
  if (is_layout()) return "oci:" + layout_dir;
  return registry + "/" + repository;
}

std::string Reference::str() const {
  std::string out = is_layout() ? location() : fmt::format("docker://{}", location());
  if (tag) out += fmt::format(":{}", *tag);
  if (digest) out += fmt::format("@{}", digest->str());
  return out;
}

}  // namespace mos::oci
