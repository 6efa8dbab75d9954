// trust project and trust sudi: a keyset's projects and their device identities (docs/trust.md).
#include <cstdio>
#include <optional>
#include <string>

#include "cli/trust/commands.hpp"
#include "core/json.hpp"
#include "trust/certificate.hpp"
#include "trust/keys.hpp"
#include "trust/keyset.hpp"
#include "trust/project.hpp"
#include "trust/sudi.hpp"

namespace mos::cli {
namespace {

using namespace mos::trust;

Status project_show(const std::string& keyset, const std::string& project, bool json) {
  MOS_TRY_ASSIGN(fs::path dir, find_keyset(keyset));
  MOS_TRY_ASSIGN(ProjectKey key, load_project(dir, project));
  MOS_TRY_ASSIGN(CertificateInfo info, certificate_info(key.cert_pem));
  auto sudi = list_sudi(dir, project);
  if (json) {
    Json out{{"keyset", key.keyset},
             {"project", key.project},
             {"uuid", key.uuid},
             {"directory", key.dir.string()},
             {"certificate",
              {{"subject", info.subject},
               {"issuer", info.issuer},
               {"key", info.key},
               {"serial", info.serial},
               {"not_before", format_time(info.not_before)},
               {"not_after", format_time(info.not_after)}}},
             {"sudi", sudi ? *sudi : std::vector<std::string>{}}};
    std::printf("%s\n", out.dump(2).c_str());
    return {};
  }
  std::printf(
      "keyset: %s\nproject: %s\nuuid: %s\ndirectory: %s\nsubject: %s\nissuer: %s\n"
      "key: %s\nserial: %s\nnot before: %s\nnot after: %s\nsudi: %zu\n",
      key.keyset.c_str(), key.project.c_str(), key.uuid.c_str(), key.dir.c_str(),
      info.subject.c_str(), info.issuer.c_str(), info.key.c_str(), info.serial.c_str(),
      format_time(info.not_before).c_str(), format_time(info.not_after).c_str(),
      sudi ? sudi->size() : std::size_t{0});
  return {};
}

}  // namespace

void add_project_commands(Program& program) {
  CLI::App& app = program.app();
  static std::string name, algorithm = "rsa2048";
  static std::string project_name;
  auto* project =
      app.add_subcommand("project", "Manage the projects of a keyset")->require_subcommand(1);
  program.examples(project,
                   {{"Add a project to the keyset snakeoil", "trust project add snakeoil edge"},
                    {"Its uuid and certificate", "trust project show snakeoil edge"}});
  auto* project_add =
      project->add_subcommand("add", "Create a project (product UUID and manifest signing key)");
  project_add->add_option("KEYSET", name, "Keyset name")->required();
  project_add->add_option("PROJECT", project_name, "Project name")->required();
  program.choices(project_add
                      ->add_option("--algorithm", algorithm,
                                   "Manifest signing key: rsa2048, rsa4096, ecdsa-p256")
                      ->type_name("ALG"),
                  {"rsa2048", "rsa4096", "ecdsa-p256"});
  program.examples(project_add,
                   {{"A project edge in the keyset snakeoil", "trust project add snakeoil edge"},
                    {"With an ECDSA P-256 signing key",
                     "trust project add --algorithm ecdsa-p256 snakeoil edge"}});
  program.on_run(project_add, [&program]() -> Status {
    MOS_TRY_ASSIGN(KeyAlgorithm alg, parse_key_algorithm(algorithm));
    MOS_TRY_ASSIGN(fs::path dir, find_keyset(name));
    MOS_TRY_ASSIGN(fs::path created, create_project(dir, project_name, alg));
    MOS_TRY_ASSIGN(std::string uuid, read_uuid_file(created / "uuid"));
    if (!program.quiet())
      std::printf("Created project %s in keyset %s (uuid %s)\n", project_name.c_str(), name.c_str(),
                  uuid.c_str());
    return {};
  });
  auto* project_list = project->add_subcommand("list", "List the projects of a keyset");
  project_list->add_option("KEYSET", name, "Keyset name")->required();
  program.examples(project_list,
                   {{"The projects of the keyset snakeoil", "trust project list snakeoil"},
                    {"Their uuids",
                     "for p in $(trust project list snakeoil); do trust keyset show "
                     "snakeoil manifest:$p uuid --value; echo; done"}});
  program.on_run(project_list, []() -> Status {
    MOS_TRY_ASSIGN(fs::path dir, find_keyset(name));
    MOS_TRY_ASSIGN(auto names, list_projects(dir));
    print_lines(names);
    return {};
  });
  auto* project_show_cmd = project->add_subcommand("show", "Show a project's uuid and certificate");
  project_show_cmd->add_option("KEYSET", name, "Keyset name")->required();
  project_show_cmd->add_option("PROJECT", project_name, "Project name")->required();
  program.examples(
      project_show_cmd,
      {{"uuid, certificate subject, issuer and validity of project default",
        "trust project show snakeoil default"},
       {"Only its uuid", "trust project show snakeoil default | sed -n 's/^uuid: //p'"}});
  static bool show_json = false;
  project_show_cmd->add_flag("--json", show_json, "Print JSON for programs");
  program.on_run(project_show_cmd, [] { return project_show(name, project_name, show_json); });

  static std::optional<std::string> serial;
  auto* sudi = app.add_subcommand("sudi", "Manage device identities (SUDI) of a project")
                   ->require_subcommand(1);
  program.examples(
      sudi, {{"A device certificate with a random serial", "trust sudi add snakeoil default"},
             {"The devices of project default", "trust sudi list snakeoil default"}});
  auto* sudi_add = sudi->add_subcommand("add", "Create a device certificate signed by sudi-ca");
  sudi_add->add_option("KEYSET", name, "Keyset name")->required();
  sudi_add->add_option("PROJECT", project_name, "Project name")->required();
  sudi_add->add_option("SERIAL", serial, "Device serial (default: a random UUID)");
  program.examples(
      sudi_add, {{"A device certificate with a random serial", "trust sudi add snakeoil default"},
                 {"For the device with serial SN0001", "trust sudi add snakeoil default SN0001"}});
  program.on_run(sudi_add, [&program]() -> Status {
    MOS_TRY_ASSIGN(fs::path dir, find_keyset(name));
    MOS_TRY_ASSIGN(fs::path created, create_sudi(dir, project_name, serial));
    if (!program.quiet())
      std::printf("Created SUDI %s in %s\n", created.filename().c_str(), created.c_str());
    return {};
  });
  auto* sudi_list = sudi->add_subcommand("list", "List the device certificates of a project");
  sudi_list->add_option("KEYSET", name, "Keyset name")->required();
  sudi_list->add_option("PROJECT", project_name, "Project name")->required();
  program.examples(sudi_list,
                   {{"The device serials of project default", "trust sudi list snakeoil default"},
                    {"How many there are", "trust sudi list snakeoil default | wc -l"}});
  program.on_run(sudi_list, []() -> Status {
    MOS_TRY_ASSIGN(fs::path dir, find_keyset(name));
    MOS_TRY_ASSIGN(auto serials, list_sudi(dir, project_name));
    print_lines(serials);
    return {};
  });
}

}  // namespace mos::cli
