// mosb: builds and publishes machine content. Command groups register themselves from their own
// files (commands.hpp).
#include "cli/mosb/commands.hpp"

int main(int argc, char** argv) {
  mos::cli::Program program("mosb",
                            "mosb: build, copy and publish OCI content for Project Machine");
  mos::cli::add_manifest_commands(program);
  mos::cli::add_oci_commands(program);
  mos::cli::add_image_commands(program);
  return program.run(argc, argv);
}
