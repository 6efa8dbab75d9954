#pragma once
// Command groups of mosb. Each group registers its subcommands on the program; main.cpp only
// calls these functions, so a new group is one new file plus one line in main.cpp.
#include "cli/common/program.hpp"

namespace mos::cli {

// mosb oci copy|inspect|referrers (oci_commands.cpp; docs/oci.md)
void add_oci_commands(Program& program);

// mosb manifest publish|verify|inspect (manifest_commands.cpp; docs/manifest.md)
void add_manifest_commands(Program& program);

// mosb image build|verify|mount|umount (image_commands.cpp; docs/image.md)
void add_image_commands(Program& program);

// mosb mkprovision (media_commands.cpp; docs/boot.md)
void add_media_commands(Program& program);

// mosb login|logout (login_commands.cpp; docs/oci.md)
void add_login_commands(Program& program);

}  // namespace mos::cli
