#pragma once
// --help of every command, in the layout crane, oras and notation users know: description,
// usage line with named arguments, Arguments, Options, Global options, Commands, Examples, notes.
// The man page generator uses the same pieces (usage_line, option_label, option_help).
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/common/command_tree.hpp"

namespace mos::cli {

// "mosb oci copy [OPTIONS] SRC DST", "mosb oci COMMAND"
std::string usage_line(const CLI::App& app);
// "-j, --parallel N", "--referrers", "SRC"
std::string option_label(const CLI::Option& option);
// The description, then the other spellings, "required" and the default value.
std::string option_help(const CLI::Option& option);

class HelpFormatter : public CLI::Formatter {
 public:
  explicit HelpFormatter(std::shared_ptr<const CommandDocs> docs) : docs_(std::move(docs)) {}
  std::string make_help(const CLI::App* app, std::string name,
                        CLI::AppFormatMode mode) const override;

 private:
  std::shared_ptr<const CommandDocs> docs_;
};

}  // namespace mos::cli
