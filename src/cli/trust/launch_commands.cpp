// trust launch: a machine of a keyset's project, provisioned and installed in a VM (machine/
// launch.hpp; docs/machine.md).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/trust/commands.hpp"
#include "machine/launch.hpp"
#include "trust/project.hpp"

namespace mos::cli {

namespace {

Result<machine::PublishedPort> parse_publish(const std::string& text) {
  auto colon = text.find(':');
  try {
    if (colon != std::string::npos) {
      std::size_t used = 0;
      int host = std::stoi(text.substr(0, colon), &used);
      if (used == colon) {
        int guest = std::stoi(text.substr(colon + 1), &used);
        if (used == text.size() - colon - 1 && host > 0 && host < 65536 && guest > 0 &&
            guest < 65536)
          return machine::PublishedPort{host, guest};
      }
    }
  } catch (const std::exception&) {
  }
  return fail("--publish {}: expected HOSTPORT:GUESTPORT (1-65535 each)", text);
}

}  // namespace

void add_launch_commands(Program& program) {
  struct Args {
    std::string project;
    std::string name;
    std::string url;
    std::vector<std::string> publish;
    int offset = machine::kDefaultPortOffset;
    int timeout = 900;
    bool keep = false;
    bool start = false;
  };
  auto args = std::make_shared<Args>();
  auto* launch = program.app().add_subcommand(
      "launch", "Make a machine of a project in a VM: provision it, install URL, leave it ready");
  launch->add_option("--project", args->project, "Keyset and project")
      ->type_name("KEYSET:PROJECT")
      ->required();
  launch->add_option("NAME", args->name, "The VM to make (it must not exist)")->required();
  launch
      ->add_option("URL", args->url,
                   "The install manifest, as the VM reaches it: 10.0.2.2:PORT/REPO:TAG")
      ->required();
  launch
      ->add_option("--publish", args->publish,
                   "Forward this host's 127.0.0.1:HOSTPORT to the machine's GUESTPORT (default: "
                   "each port the services publish, at the offset)")
      ->type_name("HOSTPORT:GUESTPORT");
  launch->add_option("--port-offset", args->offset, "Host port of a service's port P: OFFSET + P")
      ->capture_default_str();
  launch->add_option("--timeout", args->timeout, "Seconds each boot may take to succeed")
      ->capture_default_str();
  launch->add_flag("--keep", args->keep, "Keep the VM and the SUDI when a step fails");
  launch->add_flag("--start", args->start, "Start the machine once it is installed");
  program.examples(launch,
                   {{"The walkthrough: vm1 from the registry on this host's port 5000",
                     "trust launch --project=snakeoil:default vm1 "
                     "10.0.2.2:5000/machine/install:1.0.0"},
                    {"Started at the end, its port 80 on the host's 8080",
                     "trust launch --project=snakeoil:default --start --publish 8080:80 vm2 "
                     "10.0.2.2:5000/machine/install:1.0.0"}});
  program.on_run(launch, [args, &program]() -> Status {
    MOS_TRY_ASSIGN(auto ref, trust::ProjectRef::parse(args->project));
    machine::LaunchRequest request;
    request.keyset = ref.keyset;
    request.project = ref.project;
    request.name = args->name;
    request.url = args->url;
    for (const auto& p : args->publish) {
      MOS_TRY_ASSIGN(auto port, parse_publish(p));
      request.publish.push_back(port);
    }
    if (args->offset < 0 || args->offset > 65000) return fail("--port-offset must be 0-65000");
    request.port_offset = args->offset;
    if (args->timeout <= 0) return fail("--timeout must be a number of seconds above 0");
    request.boot_timeout = std::chrono::seconds(args->timeout);
    request.keep = args->keep;
    request.start = args->start;
    bool quiet = program.quiet();
    request.say = [quiet](std::string_view line) {
      if (!quiet) std::printf("%.*s\n", static_cast<int>(line.size()), line.data());
      std::fflush(stdout);
    };
    MOS_TRY_ASSIGN(auto report, machine::launch_machine(request));
    if (args->start)
      std::printf("machine %s is installed and started (SUDI %s)\n", args->name.c_str(),
                  report.sudi_serial.c_str());
    else
      std::printf("machine %s is installed (SUDI %s): machine start %s\n", args->name.c_str(),
                  report.sudi_serial.c_str(), args->name.c_str());
    for (const auto& p : report.ports)
      std::printf("forwarded 127.0.0.1:%d -> %s:%d\n", p.host, args->name.c_str(), p.guest);
    return {};
  });
}

}  // namespace mos::cli
