#include "sysroot/booted_system.hpp"

#include <unistd.h>

#include <cerrno>

#include "core/file.hpp"
#include "core/json.hpp"
#include "manifest/manifest.hpp"
#include "oci/base64.hpp"
#include "sysroot/system_manifest.hpp"

namespace mos::sysroot {
namespace {

// A system's files are a manifest.json and a few triples of a few KiB each.
constexpr std::size_t kMaxRecordBytes = 16 * 1024 * 1024;

}  // namespace

BootedSystem booted_system_of(const InstalledSystem& system) {
  std::map<std::string, SignedTriple> triples;
  for (const auto& [source, verified] : system.sources) triples.emplace(source, verified.files);
  return BootedSystem{system.commit, system_files(system.record, triples)};
}

Status write_booted_system(const std::filesystem::path& file, const BootedSystem& system) {
  Json files = Json::object();
  for (const auto& [name, bytes] : system.files) files[name] = oci::base64_encode(bytes);
  Json doc{{"commit", system.commit}, {"files", std::move(files)}};
  MOS_TRY(make_dirs(file.parent_path(), 0755));
  return with_context(write_file_atomic(file, doc.dump() + "\n", 0600),
                      fmt::format("handing the booted system over in {}", file.string()));
}

Result<BootedSystem> parse_booted_system(std::string_view text) {
  MOS_TRY_ASSIGN(auto doc,
                 parse_json_strict(text, "booted system", {.max_bytes = kMaxRecordBytes}));
  if (!doc.is_object())
    return fail("booted system: expected an object, got {}", json_type_name(doc));
  BootedSystem out;
  MOS_TRY_ASSIGN(out.commit, json_string(doc, "commit", "booted system"));
  if (out.commit.size() != 40 ||
      out.commit.find_first_not_of("0123456789abcdef") != std::string::npos)
    return fail("booted system: commit \"{}\" is not a commit id", out.commit);
  auto files = doc.find("files");
  if (files == doc.end() || !files->is_object())
    return fail("booted system: \"files\" must be an object");
  for (const auto& [name, value] : files->items()) {
    if (!value.is_string()) return fail("booted system: file {} is not a string", name);
    auto bytes = oci::base64_decode(value.get<std::string>());
    if (!bytes) return fail("booted system: file {}: {}", name, bytes.error().message);
    out.files.emplace(name, std::move(*bytes));
  }
  return out;
}

Result<std::optional<BootedSystem>> take_booted_system(const std::filesystem::path& file) {
  auto text = read_file(file, kMaxRecordBytes);
  if (!text) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) return std::optional<BootedSystem>{};
    return std::unexpected(text.error());
  }
  if (::unlink(file.c_str()) != 0 && errno != ENOENT)
    return fail("removing {}: {}", file.string(), errno_message(errno));
  auto parsed = parse_booted_system(*text);
  if (!parsed) return context(file.string(), parsed.error());
  return std::optional<BootedSystem>{std::move(*parsed)};
}

Result<InstalledSystem> load_booted_system(const BootedSystem& booted) {
  auto parse_only = [](const std::string& source,
                       const SignedTriple& files) -> Result<VerifiedTriple> {
    if (!is_source_name(source))
      return fail("\"{}\" is not an install manifest name (<sha256 hex>.json)", source);
    auto manifest = manifest::parse_install_json(files.install_json);
    if (!manifest) return context(source, manifest.error());
    return VerifiedTriple{source, files, std::move(*manifest), {}};
  };
  return system_from_files(booted.commit, booted.files, parse_only, nullptr);
}

}  // namespace mos::sysroot
