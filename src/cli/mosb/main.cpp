// mosb: builds and publishes machine content. Command groups register themselves from their own
// files (commands.hpp).
#include <string_view>

#include "cli/mosb/commands.hpp"

int main(int argc, char** argv) {
  // Started as `stacker` (a link to mosb): stacker's own command line, for stacker.yaml builds.
  std::string_view self = argc > 0 ? argv[0] : "mosb";
  if (auto slash = self.rfind('/'); slash != std::string_view::npos) self.remove_prefix(slash + 1);
  if (self == "stacker") {
    mos::cli::Program stacker("stacker", "Build OCI images from stacker.yaml (mosb's stacker)");
    mos::cli::add_stacker_program_commands(stacker);
    return stacker.run(argc, argv);
  }
  mos::cli::Program program("mosb", "Build, copy and publish OCI content for Project Machine");
  mos::cli::add_manifest_commands(program);
  mos::cli::add_oci_commands(program);
  mos::cli::add_image_commands(program);
  mos::cli::add_login_commands(program);
  mos::cli::add_media_commands(program);
  program.examples(
      &program.app(),
      {{"Compile, sign and publish manifest.yaml (the walkthrough)",
        "mosb manifest publish --project snakeoil:default --repo 127.0.0.1:5000 "
        "--name machine/install:1.0.0 manifest.yaml"},
       {"Verify the published install manifest",
        "mosb manifest verify --keyset snakeoil 127.0.0.1:5000/machine/install:1.0.0"},
       {"Mirror it with its signature into a layout",
        "mosb oci copy --referrers 127.0.0.1:5000/machine/install:1.0.0 oci:/tmp/mirror:1.0.0"}});
  return program.run(argc, argv);
}
