// machine start, stop, console, gui and run: a VM's life (docs/machine.md).
#include <unistd.h>

#include <cstdio>

#include "cli/machine/commands.hpp"
#include "cli/machine/machine_access.hpp"
#include "core/file.hpp"
#include "core/process.hpp"
#include "machine/console_session.hpp"
#include "machine/machine_store.hpp"
#include "machine/qmp_client.hpp"
#include "machine/vm_instance.hpp"

namespace mos::cli {
namespace {

Status start(const std::string& name, const machine::StartOptions& options) {
  MOS_TRY_ASSIGN(auto home, machine_home());
  MOS_TRY_ASSIGN(auto paths, machine_paths(home, name));
  MOS_TRY_ASSIGN(auto lock, lock_machine(paths));
  MOS_TRY_ASSIGN(auto definition, machine::load_definition(paths));
  MOS_TRY(machine::start_vm(home, definition, paths, options));
  auto status = machine::vm_status(paths);
  std::printf("started machine %s (qemu pid %d; console: machine console %s)\n", name.c_str(),
              static_cast<int>(status.qemu_pid), name.c_str());
  return {};
}

// The VNC display qemu bound for the VM (it picks the port itself: nothing probes for one).
Status show_display(const std::string& name) {
  MOS_TRY_ASSIGN(auto home, machine_home());
  MOS_TRY_ASSIGN(auto paths, machine_paths(home, name));
  MOS_TRY_ASSIGN(auto qmp, machine::QmpClient::connect(paths.qmp_socket));
  MOS_TRY_ASSIGN(auto vnc, qmp.execute("query-vnc"));
  if (!vnc.value("enabled", false))
    return fail("machine {} has no display: set `gui: true` in its definition and restart it",
                name);
  auto address = fmt::format("vnc://{}:{}", vnc.value("host", std::string("127.0.0.1")),
                             vnc.value("service", std::string()));
  std::printf("%s\n", address.c_str());
  std::fflush(stdout);
  for (const char* viewer : {"remote-viewer", "vncviewer", "gvncviewer"}) {
    auto shown = run_process({.argv = {viewer, address}, .what = viewer});
    if (!shown && shown.error().message.find("not installed") != std::string::npos) continue;
    if (!shown) return std::unexpected(shown.error());
    return {};
  }
  std::printf("(no VNC viewer is installed here: remote-viewer, vncviewer or gvncviewer)\n");
  return {};
}

}  // namespace

void add_vm_commands(Program& program) {
  auto& app = program.app();
  static std::string name, file, console_type = "console";
  static bool wait = false, force = false;
  static int timeout = 0;

  auto* start_command = app.add_subcommand("start", "Start a machine");
  start_command->add_option("NAME", name, "The machine")->required();
  start_command->add_flag("--wait", wait,
                          "Also wait until the guest writes on its console (firmware included)");
  start_command->add_option("--timeout", timeout, "Seconds to wait (default 60)");
  program.examples(start_command,
                   {{"Start vm1", "machine start vm1"},
                    {"And wait for its first console output", "machine start vm1 --wait"}});
  program.on_run(start_command, []() -> Status {
    return start(name, {.wait_for_console = wait,
                        .timeout = std::chrono::seconds(timeout > 0 ? timeout : 60)});
  });

  auto* stop_command = app.add_subcommand("stop", "Stop a machine (ACPI power button, then quit)");
  stop_command->add_option("NAME", name, "The machine")->required();
  stop_command->add_flag("-f,--force", force, "Quit at once, as pulling the plug");
  stop_command->add_option("--timeout", timeout,
                           "Seconds the guest has to power off before it is quit (default 30)");
  program.examples(stop_command, {{"Power vm1 off", "machine stop vm1"},
                                  {"Pull the plug", "machine stop vm1 -f"}});
  program.on_run(stop_command, []() -> Status {
    MOS_TRY_ASSIGN(auto home, machine_home());
    MOS_TRY_ASSIGN(auto paths, machine_paths(home, name));
    MOS_TRY_ASSIGN(auto lock, lock_defined_machine(paths));
    bool was_running = machine::vm_status(paths).state == machine::VmState::running;
    MOS_TRY(machine::stop_vm(
        paths, {.force = force, .timeout = std::chrono::seconds(timeout > 0 ? timeout : 30)}));
    std::printf(was_running ? "stopped machine %s\n" : "machine %s is not running\n", name.c_str());
    return {};
  });

  auto* console = app.add_subcommand(
      "console", "Attach to a machine's serial console (Ctrl-] detaches), or its display");
  console->add_option("NAME", name, "The machine")->required();
  auto* type_option = console
                          ->add_option("-t,--console-type", console_type,
                                       "console (serial) or vga (the display, over VNC)")
                          ->capture_default_str();
  program.choices(type_option, {"console", "vga"});
  program.examples(console, {{"vm1's serial console", "machine console vm1"},
                             {"Its display", "machine console vm1 -t vga"}});
  program.on_run(console, []() -> Status {
    if (console_type == "vga") return show_display(name);
    if (console_type != "console")
      return fail("unknown console type {} (console or vga)", console_type);
    MOS_TRY_ASSIGN(auto home, machine_home());
    MOS_TRY_ASSIGN(auto paths, machine_paths(home, name));
    if (::isatty(0))
      std::fprintf(stderr, "machine %s: console attached; Ctrl-] detaches\r\n", name.c_str());
    return machine::attach_console(paths, 0, 1);
  });

  auto* gui = app.add_subcommand("gui", "Show a machine's display (as console -t vga)");
  gui->add_option("NAME", name, "The machine")->required();
  program.examples(gui, {{"vm1's display", "machine gui vm1"}});
  program.on_run(gui, []() -> Status { return show_display(name); });

  auto* run = app.add_subcommand("run", "Define a machine from a file and start it");
  run->add_option("NAME", name, "The machine")->required();
  run->add_option("FILE", file, "Its machine.yaml")->required();
  program.examples(run, {{"Define and start vm1", "machine run vm1 vm1.yaml"}});
  program.on_run(run, []() -> Status {
    MOS_TRY_ASSIGN(auto text, read_file(file, 1 << 20));
    MOS_TRY_ASSIGN(auto base, machine::machine_type_template("1.0", name));
    MOS_TRY_ASSIGN(auto definition, machine::parse_machine_yaml(text, file, base));
    if (definition.name != name)
      return fail("the command names the machine {} but {} names it {}", name, file,
                  definition.name);
    MOS_TRY(machine::resolve_definition_paths(definition, std::filesystem::current_path()));
    MOS_TRY_ASSIGN(auto home, machine_home());
    MOS_TRY_ASSIGN(auto paths, machine_paths(home, name));
    {
      MOS_TRY_ASSIGN(auto lock, lock_machine(paths));
      std::error_code ec;
      if (std::filesystem::exists(paths.definition, ec))
        return fail("machine {} already exists: start it with `machine start {}`", name, name);
      MOS_TRY(machine::save_definition(paths, definition));
    }
    return start(name, {.timeout = std::chrono::seconds(60)});
  });
}

}  // namespace mos::cli
