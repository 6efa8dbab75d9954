// mosb mkprovision and mkboot: a keyset's provisioning and install media (docs/boot.md, "Boot
// media").
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "boot/boot_media.hpp"
#include "boot/bootkit.hpp"
#include "cli/mosb/commands.hpp"
#include "core/file.hpp"
#include "trust/keyset.hpp"
#include "trust/project.hpp"

namespace mos::cli {

namespace {

// Builds the medium of `project` ("KS:PROJ") and says what was written.
Status write_medium(const Program& program, std::string_view project,
                    boot::BootMediaRequest request, std::string_view what) {
  MOS_TRY_ASSIGN(auto ref, trust::ProjectRef::parse(project));
  MOS_TRY_ASSIGN(auto loaded, trust::load_project(ref));
  request.keyset_dir = loaded.keyset_dir;
  request.keyset = ref.keyset;
  request.project = ref.project;
  MOS_TRY_ASSIGN(request.epoch, boot::media_epoch(loaded.keyset_dir));
  MOS_TRY_ASSIGN(auto report, boot::build_boot_media(request));
  if (!program.quiet())
    std::printf("Wrote the %.*s medium of %s to %s (%.1f MiB; livecd %s)\n",
                static_cast<int>(what.size()), what.data(), ref.str().c_str(),
                report.output.c_str(), static_cast<double>(report.size) / (1024.0 * 1024.0),
                report.livecd_digest.c_str());
  return {};
}

}  // namespace

void add_media_commands(Program& program) {
  struct Args {
    std::string project;
    std::string output = "provision.iso";
    std::string url;
    std::string boot_output;
    bool cdrom = false;
    bool plain_http = false;
  };
  auto args = std::make_shared<Args>();
  auto* mkprovision = program.app().add_subcommand(
      "mkprovision", "Build a keyset's provisioning medium (a bootable ISO)");
  mkprovision->add_option("--project,--product", args->project, "Keyset and project")
      ->type_name("KEYSET:PROJECT")
      ->required();
  mkprovision->add_option("--iso,--out,--outfile", args->output, "The ISO to write")
      ->type_name("FILE")
      ->capture_default_str();
  program.examples(mkprovision,
                   {{"The provisioning ISO of snakeoil's project default",
                     "mosb mkprovision --project snakeoil:default --iso provision.iso"}});
  program.on_run(mkprovision, [args, &program]() -> Status {
    boot::BootMediaRequest request;
    request.action = std::string(boot::kBootActionProvision);
    request.output = args->output;
    return write_medium(program, args->project, request, "provisioning");
  });

  auto* mkboot = program.app().add_subcommand(
      "mkboot", "Build an install medium: a bootable ISO that installs a machine from URL");
  mkboot->add_option("PROJECT", args->project, "Keyset and project")
      ->type_name("KEYSET:PROJECT")
      ->required();
  mkboot->add_option("URL", args->url, "The install manifest the machine installs")
      ->type_name("REF")
      ->required();
  mkboot->add_option("OUT", args->boot_output, "The ISO to write")->type_name("FILE")->required();
  mkboot->add_flag("--cdrom", args->cdrom,
                   "An ISO for a CD drive (always: it also boots as a disk, isohybrid)");
  mkboot->add_flag("--plain-http", args->plain_http,
                   "The machine reaches URL's registry over plain HTTP (no TLS)");
  program.examples(mkboot, {{"A VM installs the walkthrough's system from the host's registry",
                             "mosb mkboot --cdrom --plain-http snakeoil:default "
                             "10.0.2.2:5000/machine/install:1.0.0 install.iso"}});
  program.on_run(mkboot, [args, &program]() -> Status {
    boot::BootMediaRequest request;
    request.action = std::string(boot::kBootActionInstall);
    request.install_url = args->url;
    request.plain_http = args->plain_http;
    request.output = args->boot_output;
    return write_medium(program, args->project, request, "install");
  });
}

}  // namespace mos::cli
