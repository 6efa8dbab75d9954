#include "cli/common/program.hpp"

#include <cstdio>
#include <string_view>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/common/completion.hpp"
#include "cli/common/help_format.hpp"
#include "cli/common/man_page.hpp"
#include "cli/common/usage_error.hpp"

namespace mos::cli {
namespace {

void print_to(std::FILE* stream, const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stream);
}

// Every command accepts the options of the commands above it (the global flags), wherever they
// stand on the command line.
void fall_through(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    sub->fallthrough();
    fall_through(*sub);
  }
}

}  // namespace

Program::Program(std::string name, std::string description)
    : name_(std::move(name)),
      docs_(std::make_shared<CommandDocs>(CommandDocs{name_, MOS_VERSION, {}, {}})),
      app_(std::move(description), name_) {
  // Set before any command exists: commands inherit the formatter.
  app_.formatter(std::make_shared<HelpFormatter>(docs_));
  app_.set_help_flag("-h,--help", "Print this help and exit");
  app_.set_version_flag("--version", fmt::format("{} {}", name_, MOS_VERSION),
                        "Print the program's name and version and exit");
  app_.add_flag("--debug", debug_, "Log every step (HTTP requests, files written)");
  app_.add_flag("-q,--quiet", quiet_, "Print only errors");
  app_.require_subcommand(1);
}

void Program::on_run(CLI::App* command, std::function<Status()> action) {
  command->callback([this, action = std::move(action)] { status_ = action(); });
}

void Program::examples(CLI::App* command, std::vector<Example> examples) {
  docs_->examples[command] = std::move(examples);
}

void Program::choices(CLI::Option* option, std::vector<std::string> values) {
  docs_->choices[option] = std::move(values);
}

void Program::finish_definitions() {
  auto* completion = app_.add_subcommand(
      "completion", "Print a bash or zsh completion script of " + name_ + " (docs/cli.md)");
  auto* shell = completion->add_option("SHELL", completion_shell_, "bash or zsh")
                    ->required()
                    ->check(CLI::IsMember({"bash", "zsh"}));
  choices(shell, {"bash", "zsh"});
  examples(completion, {{"Complete " + name_ + " in this bash session",
                         "source <(" + name_ + " completion bash)"},
                        {"Install it for zsh (a directory of $fpath)",
                         name_ + " completion zsh > ~/.zsh/completions/_" + name_}});
  on_run(completion, [this]() -> Status {
    print_to(stdout, completion_shell_ == "zsh" ? zsh_completion(app_, *docs_)
                                                : bash_completion(app_, *docs_));
    return {};
  });
  fall_through(app_);
}

int Program::run(int argc, char** argv) {
  finish_definitions();
  // The build writes completions and man pages with `PROG __generate DIR` (not a command users
  // see: no help, completion or man page lists it).
  if (argc == 3 && std::string_view(argv[1]) == "__generate") {
    auto written = write_generated_files(app_, *docs_, argv[2]);
    if (!written) {
      std::fprintf(stderr, "%s: error: %s\n", name_.c_str(), written.error().message.c_str());
      return kExitFailure;
    }
    return 0;
  }
  auto logger = spdlog::stderr_color_st(name_);
  logger->set_pattern("%n: %v");
  spdlog::set_default_logger(logger);
  // Logging must be configured before any command callback runs, so the flags are read first.
  app_.parse_complete_callback([this] {
    spdlog::set_level(debug_   ? spdlog::level::debug
                      : quiet_ ? spdlog::level::err
                               : spdlog::level::info);
  });
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    print_to(stdout, app_.help());
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    print_to(stdout, app_.help());
    return 0;
  } catch (const CLI::CallForVersion& e) {
    print_to(stdout, std::string(e.what()) + "\n");
    return 0;
  } catch (const CLI::ParseError& e) {
    UsageError usage = describe_usage_error(app_, e);
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", name_.c_str(), usage.message.c_str());
    if (usage.help_of != nullptr) {
      const CLI::App* parent = usage.help_of->get_parent();
      print_to(stderr, "\n" + usage.help_of->help(parent ? command_path(*parent) : ""));
    }
    return kExitUsage;
  }
  if (!status_) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", name_.c_str(), status_.error().message.c_str());
    return kExitFailure;
  }
  return 0;
}

}  // namespace mos::cli
