// machine init, list, info, edit and delete: the stored definitions (docs/machine.md).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <random>

#include "cli/machine/commands.hpp"
#include "cli/machine/machine_access.hpp"
#include "core/file.hpp"
#include "machine/machine_store.hpp"
#include "machine/vm_instance.hpp"

namespace mos::cli {
namespace {

using machine::MachineDefinition;

// A name for `machine init` without one, as the original's petnames.
std::string pet_name() {
  static const char* adjectives[] = {"brave", "calm",  "eager", "fond",  "glad",  "keen", "lucid",
                                     "merry", "noble", "proud", "quick", "sunny", "tidy", "witty"};
  static const char* animals[] = {"badger", "crane", "dingo", "egret",  "finch", "gecko", "heron",
                                  "ibex",   "koala", "lemur", "marten", "otter", "panda", "quail"};
  std::random_device device;
  std::uniform_int_distribution<std::size_t> a(0, std::size(adjectives) - 1);
  std::uniform_int_distribution<std::size_t> b(0, std::size(animals) - 1);
  return fmt::format("{}-{}", adjectives[a(device)], animals[b(device)]);
}

Result<std::string> read_definition_text(const std::string& file) {
  if (file == "-") {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return text;
  }
  return read_file(file, 1 << 20);
}

// Lets the user edit `text` until it parses (or they give up by leaving it unchanged).
Result<MachineDefinition> edit_definition(const std::string& text, const std::string& name,
                                          const MachineDefinition& base) {
  if (!::isatty(0)) return fail("editing needs a terminal (give the definition with -f FILE)");
  MOS_TRY_ASSIGN(auto dir, TempDir::create({}, "machine-edit-"));
  auto file = dir.path() / fmt::format("{}.yaml", name);
  MOS_TRY(write_file_atomic(file, text, 0600));
  for (;;) {
    MOS_TRY(run_editor(file));
    MOS_TRY_ASSIGN(auto edited, read_file(file, 1 << 20));
    auto definition = machine::parse_machine_yaml(edited, file.string(), base);
    Status valid = definition ? machine::validate_definition(*definition)
                              : Status(std::unexpected(definition.error()));
    if (valid) return *definition;
    std::fprintf(stderr, "machine: %s\nEdit again? [Y/n] ", valid.error().message.c_str());
    std::string answer;
    std::getline(std::cin, answer);
    if (!answer.empty() && (answer[0] == 'n' || answer[0] == 'N'))
      return fail("the definition was not changed");
  }
}

std::string list_table(const machine::MachineHome& home) {
  struct Row {
    std::string name, status, description;
  };
  std::vector<Row> rows{{"NAME", "STATUS", "DESCRIPTION"}, {"----", "------", "-----------"}};
  for (const auto& name : machine::defined_machines(home)) {
    machine::MachinePaths paths(home, name);
    auto definition = machine::load_definition(paths);
    auto status = machine::vm_status(paths);
    rows.push_back({name, definition ? machine::state_name(status.state) : "invalid",
                    definition ? definition->description : definition.error().message});
  }
  std::size_t name_width = 8, status_width = 7;
  for (const auto& row : rows) {
    name_width = std::max(name_width, row.name.size());
    status_width = std::max(status_width, row.status.size());
  }
  std::string out;
  for (const auto& row : rows)
    out += fmt::format("{:<{}}  {:<{}}  {}\n", row.name, name_width, row.status, status_width,
                       row.description);
  return out;
}

}  // namespace

void add_definition_commands(Program& program) {
  auto& app = program.app();
  static std::string name, file, machine_type = "1.0";
  static bool edit = false;

  auto* init = app.add_subcommand("init", "Define a new machine (from its type's template)");
  init->add_option("NAME", name, "Its name (default: a random pet name)");
  init->add_option("-f,--file", file, "machine.yaml to start from ('-': standard input)");
  init->add_flag("-e,--edit", edit, "Edit the definition in $EDITOR before saving it");
  auto* type_option = init->add_option("-m,--machine-type", machine_type,
                                       "The template: 1.0 (secure boot, TPM) or 1.0-insecure")
                          ->capture_default_str();
  program.choices(type_option, {"1.0", "1.0-insecure"});
  program.examples(init,
                   {{"Define vm1 from vm1.yaml", "machine init vm1 -f vm1.yaml"},
                    {"From standard input", "machine init vm1 -f - < vm1.yaml"},
                    {"Without secure boot, edited first", "machine init vm2 -m 1.0-insecure -e"}});
  program.on_run(init, []() -> Status {
    std::string text;
    if (!file.empty()) {
      MOS_TRY_ASSIGN(text, read_definition_text(file));
    }
    auto chosen = name.empty() ? pet_name() : name;
    MOS_TRY_ASSIGN(auto base, machine::machine_type_template(machine_type, chosen));
    MOS_TRY_ASSIGN(auto definition,
                   machine::parse_machine_yaml(text, file.empty() ? "(template)" : file, base));
    if (!name.empty() && definition.name != name)
      return fail("the command names the machine {} but {} names it {}", name, file,
                  definition.name);
    if (edit) {
      MOS_TRY_ASSIGN(definition,
                     edit_definition(machine::machine_yaml(definition), definition.name, base));
    }
    MOS_TRY(machine::resolve_definition_paths(definition, std::filesystem::current_path()));
    MOS_TRY_ASSIGN(auto home, machine_home());
    MOS_TRY_ASSIGN(auto paths, machine_paths(home, definition.name));
    MOS_TRY_ASSIGN(auto lock, lock_machine(paths));
    std::error_code ec;
    if (std::filesystem::exists(paths.definition, ec))
      return fail("machine {} already exists ({})", definition.name, paths.definition.string());
    if (definition.ephemeral) return fail("an ephemeral machine is not stored: use `machine run`");
    MOS_TRY(machine::save_definition(paths, definition));
    std::printf("defined machine %s (%s)\n", definition.name.c_str(), paths.definition.c_str());
    return {};
  });

  auto* list = app.add_subcommand("list", "The defined machines and whether they run");
  program.examples(list, {{"What is defined, and what runs", "machine list"}});
  program.on_run(list, []() -> Status {
    MOS_TRY_ASSIGN(auto home, machine_home());
    std::fputs(list_table(home).c_str(), stdout);
    return {};
  });

  auto* info = app.add_subcommand("info", "A machine's definition and status, as YAML");
  info->add_option("NAME", name, "The machine")->required();
  program.examples(info, {{"vm1's definition", "machine info vm1"}});
  program.on_run(info, []() -> Status {
    MOS_TRY_ASSIGN(auto home, machine_home());
    MOS_TRY_ASSIGN(auto paths, machine_paths(home, name));
    MOS_TRY_ASSIGN(auto definition, machine::load_definition(paths));
    auto status = machine::vm_status(paths);
    std::fputs(machine::machine_yaml(definition, machine::state_name(status.state)).c_str(),
               stdout);
    if (status.state == machine::VmState::failed)
      std::fprintf(stdout, "# failed: %s\n", status.reason.c_str());
    return {};
  });

  static bool reset_nvram = false;
  auto* edit_command = app.add_subcommand(
      "edit", "Change a machine's definition (a running machine takes it at its next start)");
  edit_command->add_option("NAME", name, "The machine")->required();
  edit_command->add_option("-f,--file", file,
                           "The new machine.yaml ('-': standard input) "
                           "instead of $EDITOR");
  edit_command->add_flag("--reset-nvram", reset_nvram,
                         "Start the UEFI variables again from uefi-vars at the next start");
  program.examples(edit_command, {{"Edit vm1 in $EDITOR", "machine edit vm1"},
                                  {"Replace its definition", "machine edit vm1 -f vm1.yaml"},
                                  {"Take newly enrolled keys from its uefi-vars",
                                   "machine edit vm1 --reset-nvram"}});
  program.on_run(edit_command, []() -> Status {
    MOS_TRY_ASSIGN(auto home, machine_home());
    MOS_TRY_ASSIGN(auto paths, machine_paths(home, name));
    MOS_TRY_ASSIGN(auto lock, lock_machine(paths));
    MOS_TRY_ASSIGN(auto current, machine::load_definition(paths));
    auto definition = current;
    if (!file.empty()) {
      MOS_TRY_ASSIGN(auto text, read_definition_text(file));
      MOS_TRY_ASSIGN(definition, machine::parse_machine_yaml(text, file));
    } else if (!reset_nvram) {
      MOS_TRY_ASSIGN(definition, edit_definition(machine::machine_yaml(current), name, {}));
    }
    if (definition.name != name)
      return fail("a machine cannot be renamed by edit ({} → {})", name, definition.name);
    MOS_TRY(machine::resolve_definition_paths(definition, std::filesystem::current_path()));
    MOS_TRY(machine::save_definition(paths, definition));
    bool running = machine::vm_status(paths).state == machine::VmState::running;
    if (reset_nvram) {
      std::error_code ec;
      std::filesystem::remove(paths.uefi_vars, ec);
      if (running) std::printf("the running machine keeps its NVRAM until it stops; ");
      std::printf("the next start copies the UEFI variables from uefi-vars again\n");
    }
    std::printf("saved machine %s%s\n", name.c_str(),
                running ? " (it is running: the change applies at its next start)" : "");
    return {};
  });

  static bool force = false;
  auto* remove = app.add_subcommand("delete", "Remove a machine: definition, disks, TPM, NVRAM");
  remove->add_option("NAME", name, "The machine")->required();
  remove->add_flag("-f,--force", force, "Stop it first if it runs");
  program.examples(remove, {{"Remove vm1", "machine delete vm1"},
                            {"Even while it runs", "machine delete vm1 --force"}});
  program.on_run(remove, []() -> Status {
    MOS_TRY_ASSIGN(auto home, machine_home());
    MOS_TRY_ASSIGN(auto paths, machine_paths(home, name));
    MOS_TRY_ASSIGN(auto lock, lock_defined_machine(paths));
    if (machine::vm_status(paths).state == machine::VmState::running) {
      if (!force) return fail("machine {} is running: stop it first, or delete --force", name);
      MOS_TRY(machine::stop_vm(paths, {.force = true}));
    }
    lock.release();
    MOS_TRY(machine::remove_machine(home, paths));
    std::printf("deleted machine %s\n", name.c_str());
    return {};
  });
}

}  // namespace mos::cli
