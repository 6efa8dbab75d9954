#include "trust/names.hpp"

namespace mos::trust {

namespace {

// Shows control characters as \xNN so the message itself stays on one readable line.
std::string printable(std::string_view name) {
  std::string out;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

}  // namespace

Status validate_name(std::string_view kind, std::string_view name) {
  if (name.empty()) return fail("invalid {} '': it is empty", kind);
  if (name.size() > 255)
    return fail("invalid {} '{}...': longer than 255 bytes", kind, name.substr(0, 32));
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f)
      return fail("invalid {} '{}': it contains a control character", kind, printable(name));
    if (c == '/') return fail("invalid {} '{}': it contains '/'", kind, name);
  }
  if (name.find("..") != std::string_view::npos)
    return fail("invalid {} '{}': it contains '..'", kind, name);
  if (name.front() == '.') return fail("invalid {} '{}': it starts with '.'", kind, name);
  // ':' separates keyset and project in "KS:PROJ" references.
  if (name.find(':') != std::string_view::npos)
    return fail("invalid {} '{}': it contains ':'", kind, name);
  return {};
}

}  // namespace mos::trust
