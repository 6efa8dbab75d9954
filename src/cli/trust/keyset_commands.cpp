// trust keyset: create, list and show keysets (docs/trust.md); keyset pcr7data is in
// tpm_commands.cpp.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/trust/commands.hpp"
#include "core/file.hpp"
#include "tpm/pcr7data_writer.hpp"
#include "trust/keyset.hpp"
#include "trust/names.hpp"

namespace mos::cli {
namespace {

using namespace mos::trust;

constexpr std::size_t kMaxShownFile = 1 << 20;

// KEY of `keyset show`: one of the key directories, or manifest:PROJECT.
Result<fs::path> key_dir(const fs::path& keyset, const std::string& key) {
  if (key.starts_with("manifest:")) {
    std::string project = key.substr(9);
    MOS_TRY(validate_name("project name", project));
    return keyset / "manifest" / project;
  }
  if (key == "manifest") return fail("key 'manifest' needs a project: manifest:PROJECT");
  for (auto known : kKeysetKeyDirs)
    if (key == known) return keyset / key;
  return fail(
      "unknown key '{}': expected one of manifest-ca, sudi-ca, uefi-pk, uefi-kek, uefi-db, "
      "uki-production, uki-limited, uki-tpm, tpmpol-admin, tpmpol-luks, pcr7data or "
      "manifest:PROJECT",
      key);
}

Status show_tree(const fs::path& keyset, bool paths) {
  std::vector<std::string> lines;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(keyset, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    bool dir = it->is_directory(type_ec);
    if (paths && !dir) continue;
    std::string rel = it->path().lexically_relative(keyset).string();
    lines.push_back(paths ? it->path().string() : rel + (dir ? "/" : ""));
  }
  if (ec) return fail("cannot list {}: {}", keyset.string(), ec.message());
  std::sort(lines.begin(), lines.end());
  print_lines(lines);
  return {};
}

Status show_file(const fs::path& path, bool path_only, bool value_only) {
  if (path_only) {
    std::printf("%s\n", path.c_str());
    return {};
  }
  MOS_TRY_ASSIGN(std::string content, read_file(path, kMaxShownFile));
  if (!value_only) std::printf("%s:\n", path.c_str());
  std::fwrite(content.data(), 1, content.size(), stdout);
  if (!value_only && !content.empty() && content.back() != '\n') std::printf("\n");
  return {};
}

bool is_private_key(const fs::path& file) {
  auto content = read_file(file, kMaxShownFile);
  return !content || content->find("PRIVATE KEY-----") != std::string::npos;
}

// A key's files, each shown in full, but for private keys: those only with --private (or when
// the file is named), so a look at a key never puts its secret on a screen or in a log.
Status keyset_show(const std::string& name, const std::string& key, const std::string& item,
                   bool path_only, bool value_only, bool show_private) {
  if (path_only && value_only) return fail("--path and --value exclude each other");
  MOS_TRY_ASSIGN(fs::path keyset, find_keyset(name));
  if (key.empty()) return show_tree(keyset, path_only);
  MOS_TRY_ASSIGN(fs::path dir, key_dir(keyset, key));
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return fail("keyset {} has no {} ({} is missing)", name, key, dir.string());
  if (!item.empty()) {
    MOS_TRY(validate_name("item name", item));
    if (!fs::is_regular_file(dir / item, ec))
      return fail("keyset {} has no item {} in {} ({} is missing)", name, item, key,
                  (dir / item).string());
    return show_file(dir / item, path_only, value_only);
  }
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) files.push_back(it->path());
  }
  if (ec) return fail("cannot list {}: {}", dir.string(), ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    if (!path_only && !show_private && is_private_key(file)) {
      if (!value_only)
        std::printf(
            "%s: private key, not shown (add --private, or name it: trust keyset show "
            "%s %s %s)\n",
            file.c_str(), name.c_str(), key.c_str(), file.filename().c_str());
      continue;
    }
    MOS_TRY(show_file(file, path_only, value_only));
  }
  return {};
}

}  // namespace

void add_keyset_commands(Program& program) {
  CLI::App& app = program.app();
  auto* keyset = app.add_subcommand("keyset", "Manage keysets")->require_subcommand(1);
  program.examples(keyset,
                   {{"Create the walkthrough's keyset", "trust keyset add snakeoil"},
                    {"The files of its manifest CA", "trust keyset show snakeoil manifest-ca"}});
  auto* keyset_list = keyset->add_subcommand("list", "List keysets");
  program.examples(keyset_list, {{"The keysets of this user, one per line", "trust keyset list"},
                                 {"Whether the keyset snakeoil exists",
                                  "trust keyset list | grep -qx snakeoil"}});
  program.on_run(keyset_list, []() -> Status {
    MOS_TRY_ASSIGN(fs::path root, keysets_root());
    MOS_TRY_ASSIGN(auto names, list_keysets(root));
    print_lines(names);
    return {};
  });

  static std::string name, algorithm = "rsa2048";
  static std::vector<std::string> orgs;
  static bool no_bootkit = false, development = false;
  static boot::BootkitSources bootkit_sources;
  auto* keyset_add =
      keyset->add_subcommand("add", "Create a keyset with all its keys and the project 'default'");
  keyset_add->add_option("KEYSET", name, "Keyset name")->required();
  keyset_add
      ->add_option("--org,--Org,--organization", orgs, "X.509 organization (O) of the certificates")
      ->type_name("ORG");
  program.choices(keyset_add
                      ->add_option("--algorithm", algorithm,
                                   "Key of the default project: rsa2048, rsa4096, ecdsa-p256")
                      ->type_name("ALG"),
                  {"rsa2048", "rsa4096", "ecdsa-p256"});
  keyset_add->add_flag("--dev", development,
                       "A development keyset: its machines accept a console login (root, "
                       "passw0rd); snakeoil always is one");
  keyset_add->add_flag(
      "--no-bootkit", no_bootkit,
      "Do not build the bootkit (OVMF vars, shim, UKI; trust keyset bootkit does later)");
  add_bootkit_source_options(keyset_add, bootkit_sources);
  program.examples(
      keyset_add,
      {{"The walkthrough's keyset, with its project default", "trust keyset add snakeoil"},
       {"An organization in the certificates, an ECDSA key for project default",
        "trust keyset add --org \"Acme Inc\" --algorithm ecdsa-p256 acme"},
       {"Keys only, no bootkit (tests, or a host without a kernel package)",
        "trust keyset add --no-bootkit acme"}});
  program.on_run(keyset_add, [&program]() -> Status {
    MOS_TRY_ASSIGN(KeyAlgorithm alg, parse_key_algorithm(algorithm));
    MOS_TRY_ASSIGN(fs::path root, keysets_root());
    KeysetOptions options{orgs, alg, 0};
    options.development = development || name == "snakeoil";
    // The keyset's bootkit (unless --no-bootkit) and its pcr7data are part of the keyset from
    // the start: a keyset whose bootkit cannot be built is not created, and says why. The
    // pcr7data is predicted for the bootkit's own chain, or without a bootkit with the
    // original's assumptions (docs/trust.md, "TPM").
    options.add_contents = [](const fs::path& staging) -> Status {
      if (no_bootkit) {
        MOS_TRY(tpm::write_predicted_pcr7data(staging, name));
        return {};
      }
      return build_keyset_bootkit(staging, name, bootkit_sources, /*quiet=*/true);
    };
    MOS_TRY_ASSIGN(fs::path dir, create_keyset(name, options, root));
    if (!program.quiet())
      std::printf("Created keyset %s in %s%s\n", name.c_str(), dir.c_str(),
                  no_bootkit ? "" : " (with its bootkit)");
    return {};
  });

  static std::string show_key, show_item;
  static bool show_path = false, show_value = false, show_private = false;
  auto* keyset_show_cmd =
      keyset->add_subcommand("show", "Show a keyset, one of its keys, or one file");
  keyset_show_cmd->add_option("KEYSET", name, "Keyset name")->required();
  keyset_show_cmd->add_option("KEY", show_key,
                              "Key directory (e.g. manifest-ca, manifest:default)");
  keyset_show_cmd->add_option("ITEM", show_item,
                              "File of the key (cert.pem, privkey.pem, guid, uuid)");
  program.examples(keyset_show_cmd, {{"Every file of the keyset", "trust keyset show snakeoil"},
                                     {"The product uuid of project default, alone",
                                      "trust keyset show snakeoil manifest:default uuid --value"},
                                     {"Where the UEFI PK certificate is",
                                      "trust keyset show snakeoil uefi-pk cert.pem --path"}});
  keyset_show_cmd->add_flag("--path", show_path, "Print paths only");
  keyset_show_cmd->add_flag("--value", show_value, "Print contents only");
  keyset_show_cmd->add_flag("--private", show_private,
                            "Also print private keys (never printed otherwise, unless named)");
  program.on_run(keyset_show_cmd, [] {
    return keyset_show(name, show_key, show_item, show_path, show_value, show_private);
  });
}

}  // namespace mos::cli
