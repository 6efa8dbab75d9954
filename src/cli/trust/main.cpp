// trust: keysets, projects, SUDI certificates and detached signatures (docs/trust.md).
#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cli/common/program.hpp"
#include "core/file.hpp"
#include "trust/certificate.hpp"
#include "trust/keys.hpp"
#include "trust/keyset.hpp"
#include "trust/names.hpp"
#include "trust/project.hpp"
#include "trust/signing.hpp"
#include "trust/sudi.hpp"

namespace {

using namespace mos;
using namespace mos::trust;

constexpr std::size_t kMaxShownFile = 1 << 20;

void print_lines(const std::vector<std::string>& lines) {
  for (const auto& line : lines) std::printf("%s\n", line.c_str());
}

Result<fs::path> keyset_dir(const std::string& name) { return find_keyset(name); }

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
  return fail("unknown key '{}': expected one of manifest-ca, sudi-ca, uefi-pk, uefi-kek, uefi-db, "
              "uki-production, uki-limited, uki-tpm, tpmpol-admin, tpmpol-luks, pcr7data or manifest:PROJECT",
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

Status keyset_show(const std::string& name, const std::string& key, const std::string& item, bool path_only,
                   bool value_only) {
  if (path_only && value_only) return fail("--path and --value exclude each other");
  MOS_TRY_ASSIGN(fs::path keyset, keyset_dir(name));
  if (key.empty()) return show_tree(keyset, path_only);
  MOS_TRY_ASSIGN(fs::path dir, key_dir(keyset, key));
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return fail("keyset {} has no {} ({} is missing)", name, key, dir.string());
  if (!item.empty()) {
    MOS_TRY(validate_name("item name", item));
    if (!fs::is_regular_file(dir / item, ec))
      return fail("keyset {} has no item {} in {} ({} is missing)", name, item, key, (dir / item).string());
    return show_file(dir / item, path_only, value_only);
  }
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) files.push_back(it->path());
  }
  if (ec) return fail("cannot list {}: {}", dir.string(), ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) MOS_TRY(show_file(file, path_only, value_only));
  return {};
}

Status project_show(const std::string& keyset, const std::string& project) {
  MOS_TRY_ASSIGN(fs::path dir, keyset_dir(keyset));
  MOS_TRY_ASSIGN(ProjectKey key, load_project(dir, project));
  MOS_TRY_ASSIGN(CertificateInfo info, certificate_info(key.cert_pem));
  auto sudi = list_sudi(dir, project);
  std::printf("keyset: %s\nproject: %s\nuuid: %s\ndirectory: %s\nsubject: %s\nissuer: %s\n"
              "key: %s\nserial: %s\nnot before: %s\nnot after: %s\nsudi: %zu\n",
              key.keyset.c_str(), key.project.c_str(), key.uuid.c_str(), key.dir.c_str(), info.subject.c_str(),
              info.issuer.c_str(), info.key.c_str(), info.serial.c_str(), format_time(info.not_before).c_str(),
              format_time(info.not_after).c_str(), sudi ? sudi->size() : std::size_t{0});
  return {};
}

// --keyset KS --project P, or --project KS:P.
Result<ProjectKey> chosen_project(const std::string& keyset, const std::string& project) {
  if (project.empty()) return fail("--project is required (with --keyset, or as KEYSET:PROJECT)");
  if (keyset.empty()) {
    MOS_TRY_ASSIGN(ProjectRef ref, ProjectRef::parse(project));
    return load_project(ref);
  }
  MOS_TRY_ASSIGN(fs::path dir, keyset_dir(keyset));
  return load_project(dir, project);
}

Status sign_command(const std::string& keyset, const std::string& project, const std::string& file,
                    std::string output, bool quiet) {
  MOS_TRY_ASSIGN(ProjectKey key, chosen_project(keyset, project));
  MOS_TRY_ASSIGN(std::string signature, sign_file(key.private_key_path, file));
  if (output.empty()) output = file + ".signed";
  MOS_TRY(write_file_atomic(output, signature, 0640));
  if (!quiet) std::printf("Signed %s with %s:%s into %s\n", file.c_str(), key.keyset.c_str(), key.project.c_str(),
                          output.c_str());
  return {};
}

Status verify_command(const std::string& cert, const std::string& ca, const std::string& keyset,
                      const std::string& project, const std::string& signature_path, const std::string& file,
                      bool quiet) {
  std::string cert_pem;
  std::string ca_pem;
  if (!cert.empty()) {
    if (!keyset.empty() || !project.empty()) return fail("give either --cert or --keyset/--project, not both");
    MOS_TRY_ASSIGN(cert_pem, read_file(cert, kMaxShownFile));
  } else {
    MOS_TRY_ASSIGN(ProjectKey key, chosen_project(keyset, project));
    cert_pem = key.cert_pem;
    ca_pem = key.manifest_ca_pem;  // a keyset's project is also checked against its CA
  }
  if (!ca.empty()) {
    MOS_TRY_ASSIGN(ca_pem, read_file(ca, kMaxShownFile));
  }
  MOS_TRY_ASSIGN(std::string signature, read_file(signature_path, 64 * 1024));
  if (!ca_pem.empty()) MOS_TRY(verify_certificate(cert_pem, ca_pem));
  if (auto ok = verify_file_signature(cert_pem, signature, file); !ok)
    return context(fmt::format("verifying {} with signature {}", file, signature_path), ok.error());
  if (!quiet) std::printf("Verified OK\n");
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  mos::cli::Program program("trust", "Keysets, projects, device identities and signatures of Project Machine");
  CLI::App& app = program.app();

  auto* keyset = app.add_subcommand("keyset", "Manage keysets")->require_subcommand(1);
  auto* keyset_list = keyset->add_subcommand("list", "List keysets");
  program.on_run(keyset_list, [] () -> Status {
    MOS_TRY_ASSIGN(fs::path root, keysets_root());
    MOS_TRY_ASSIGN(auto names, list_keysets(root));
    print_lines(names);
    return {};
  });

  static std::string name, algorithm = "rsa2048";
  static std::vector<std::string> orgs;
  auto* keyset_add = keyset->add_subcommand("add", "Create a keyset with all its keys and the project 'default'");
  keyset_add->add_option("name", name, "Keyset name")->required();
  keyset_add->add_option("--org,--Org,--organization", orgs, "X.509 organization (O) of the certificates");
  keyset_add->add_option("--algorithm", algorithm, "Key of the default project: rsa2048, rsa4096, ecdsa-p256");
  program.on_run(keyset_add, [&program] () -> Status {
    MOS_TRY_ASSIGN(KeyAlgorithm alg, parse_key_algorithm(algorithm));
    MOS_TRY_ASSIGN(fs::path root, keysets_root());
    MOS_TRY_ASSIGN(fs::path dir, create_keyset(name, KeysetOptions{orgs, alg, 0}, root));
    if (!program.quiet()) std::printf("Created keyset %s in %s\n", name.c_str(), dir.c_str());
    return {};
  });

  static std::string show_key, show_item;
  static bool show_path = false, show_value = false;
  auto* keyset_show_cmd = keyset->add_subcommand("show", "Show a keyset, one of its keys, or one file");
  keyset_show_cmd->add_option("name", name, "Keyset name")->required();
  keyset_show_cmd->add_option("key", show_key, "Key directory (e.g. manifest-ca, manifest:default)");
  keyset_show_cmd->add_option("item", show_item, "File of the key (cert.pem, privkey.pem, guid, uuid)");
  keyset_show_cmd->add_flag("--path", show_path, "Print paths only");
  keyset_show_cmd->add_flag("--value", show_value, "Print contents only");
  program.on_run(keyset_show_cmd, [] { return keyset_show(name, show_key, show_item, show_path, show_value); });

  static std::string project_name;
  auto* project = app.add_subcommand("project", "Manage the projects of a keyset")->require_subcommand(1);
  auto* project_add = project->add_subcommand("add", "Create a project (product UUID and manifest signing key)");
  project_add->add_option("keyset", name, "Keyset name")->required();
  project_add->add_option("project", project_name, "Project name")->required();
  project_add->add_option("--algorithm", algorithm, "Manifest signing key: rsa2048, rsa4096, ecdsa-p256");
  program.on_run(project_add, [&program] () -> Status {
    MOS_TRY_ASSIGN(KeyAlgorithm alg, parse_key_algorithm(algorithm));
    MOS_TRY_ASSIGN(fs::path dir, keyset_dir(name));
    MOS_TRY_ASSIGN(fs::path created, create_project(dir, project_name, alg));
    MOS_TRY_ASSIGN(std::string uuid, read_uuid_file(created / "uuid"));
    if (!program.quiet()) std::printf("Created project %s in keyset %s (uuid %s)\n", project_name.c_str(),
                                      name.c_str(), uuid.c_str());
    return {};
  });
  auto* project_list = project->add_subcommand("list", "List the projects of a keyset");
  project_list->add_option("keyset", name, "Keyset name")->required();
  program.on_run(project_list, [] () -> Status {
    MOS_TRY_ASSIGN(fs::path dir, keyset_dir(name));
    MOS_TRY_ASSIGN(auto names, list_projects(dir));
    print_lines(names);
    return {};
  });
  auto* project_show_cmd = project->add_subcommand("show", "Show a project's uuid and certificate");
  project_show_cmd->add_option("keyset", name, "Keyset name")->required();
  project_show_cmd->add_option("project", project_name, "Project name")->required();
  program.on_run(project_show_cmd, [] { return project_show(name, project_name); });

  static std::optional<std::string> serial;
  auto* sudi = app.add_subcommand("sudi", "Manage device identities (SUDI) of a project")->require_subcommand(1);
  auto* sudi_add = sudi->add_subcommand("add", "Create a device certificate signed by sudi-ca");
  sudi_add->add_option("keyset", name, "Keyset name")->required();
  sudi_add->add_option("project", project_name, "Project name")->required();
  sudi_add->add_option("serial", serial, "Device serial (default: a random UUID)");
  program.on_run(sudi_add, [&program] () -> Status {
    MOS_TRY_ASSIGN(fs::path dir, keyset_dir(name));
    MOS_TRY_ASSIGN(fs::path created, create_sudi(dir, project_name, serial));
    if (!program.quiet()) std::printf("Created SUDI %s in %s\n", created.filename().c_str(), created.c_str());
    return {};
  });
  auto* sudi_list = sudi->add_subcommand("list", "List the device certificates of a project");
  sudi_list->add_option("keyset", name, "Keyset name")->required();
  sudi_list->add_option("project", project_name, "Project name")->required();
  program.on_run(sudi_list, [] () -> Status {
    MOS_TRY_ASSIGN(fs::path dir, keyset_dir(name));
    MOS_TRY_ASSIGN(auto serials, list_sudi(dir, project_name));
    print_lines(serials);
    return {};
  });

  static std::string sign_keyset, sign_project, file, output, cert, ca, signature;
  auto* sign = app.add_subcommand("sign", "Sign a file with a project's key (openssl dgst -sha256 -sign)");
  sign->add_option("--keyset", sign_keyset, "Keyset name");
  sign->add_option("--project", sign_project, "Project name, or KEYSET:PROJECT")->required();
  sign->add_option("file", file, "File to sign")->required();
  sign->add_option("-o,--output", output, "Signature file (default FILE.signed)");
  program.on_run(sign, [&program] { return sign_command(sign_keyset, sign_project, file, output, program.quiet()); });

  auto* verify = app.add_subcommand("verify", "Verify a file's signature (openssl dgst -sha256 -verify)");
  verify->add_option("--cert", cert, "Signer certificate PEM");
  verify->add_option("--ca", ca, "Also check that the certificate chains to this CA (PEM)");
  verify->add_option("--keyset", sign_keyset, "Keyset name (instead of --cert)");
  verify->add_option("--project", sign_project, "Project name or KEYSET:PROJECT (instead of --cert)");
  verify->add_option("--signature", signature, "Signature file")->required();
  verify->add_option("file", file, "Signed file")->required();
  program.on_run(verify, [&program] {
    return verify_command(cert, ca, sign_keyset, sign_project, signature, file, program.quiet());
  });

  return program.run(argc, argv);
}
