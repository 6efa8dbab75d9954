#pragma once
// Command groups of mosb. Each group registers its subcommands on the program; main.cpp only
// calls these functions, so a new group is one new file plus one line in main.cpp.
#include "cli/common/access_flags.hpp"
#include "cli/common/program.hpp"

namespace mos::cli {

// mosb oci copy|inspect|referrers (oci_commands.cpp; docs/oci.md)
void add_oci_commands(Program& program);

// mosb manifest publish|verify|inspect (manifest_commands.cpp; docs/manifest.md)
void add_manifest_commands(Program& program);

// mosb image build|verify|mount|umount (image_commands.cpp; docs/image.md)
void add_image_commands(Program& program);

// Stacker files (stacker_commands.cpp; docs/stacker.md): -f and its options on `mosb image
// build`, `mosb image publish`, and the commands of mosb started as `stacker`.
// The -f option and the stacker options of `mosb image build`; returns -f.
CLI::Option* add_stacker_file_options(CLI::App* build);
// `mosb image build -f`: `to` (its --to) may name the output layout as oci:DIR.
Status run_stacker_file_build(const AccessFlags& flags, const std::string& to);
void add_stacker_publish_command(Program& program, CLI::App* image);
void add_stacker_program_commands(Program& program);
// mosb mkprovision (media_commands.cpp; docs/boot.md)
void add_media_commands(Program& program);

// mosb login|logout (login_commands.cpp; docs/oci.md)
void add_login_commands(Program& program);

}  // namespace mos::cli
