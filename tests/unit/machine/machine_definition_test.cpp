// machine.yaml: strict parsing with file:line:column, the `machine info` layout, round trips,
// go-humanize sizes, the machine-type templates and the checks of a definition.
#include "machine/machine_definition.hpp"

#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mos::machine {
namespace {

using testing::HasSubstr;

// The walkthrough's `machine info` output.
constexpr std::string_view kInfo = R"(type: kvm
config:
  name: vm1
  cpus: 2
  memory: 2048
  serial: "true"
  nics: []
  disks:
  - file: /home/serge/.local/state/machine/machines/vm1/vm1/vm1.qcow2
    size: 120000000000
    type: ssd
  boot: hdd
  cdrom: ""
  uefi-code: /home/serge/.local/share/machine/trust/keys/snakeoil/bootkit/ovmf/ovmf-code.fd
  uefi-vars: /home/serge/.local/share/machine/trust/keys/snakeoil/bootkit/ovmf-vars.fd
  tpm: true
  tpm-version: "2.0"
  secure-boot: true
  gui: true
description: A fresh VM booting trust LiveCD in SecureBoot mode with TPM
ephemeral: false
name: vm1
status: stopped
)";

std::string error_of(std::string_view text) {
  auto d = parse_machine_yaml(text, "m.yaml");
  if (d) {
    ADD_FAILURE() << "parsed: " << text;
    return "";
  }
  return d.error().message;
}

std::string invalid(const MachineDefinition& d) {
  auto ok = validate_definition(d);
  if (ok) {
    ADD_FAILURE() << "valid:\n" << machine_yaml(d);
    return "";
  }
  return ok.error().message;
}

MachineDefinition rich() {
  auto d = *machine_type_template("1.0-insecure", "vm-2");
  Nic& n = d.config.nics[0];
  n.mac = "52:54:00:12:34:56";
  n.addr = 3;
  n.bootindex = "off";
  n.romfile = "off";
  n.ports = {{"tcp", {"", 22222}, {"", 22}}, {"udp", {"0.0.0.0", 5353}, {"10.0.2.15", 53}}};
  n.guestfwds = {{"tcp", {"127.0.0.1", 5000}, {"10.0.2.100", 80}}};
  Nic second;
  second.id = "nic1";
  second.device = "e1000";
  second.bootindex = "1";
  d.config.nics.push_back(second);
  Disk data;
  data.file = "data.img";
  data.format = "raw";
  data.attach = "scsi";
  data.type = "hdd";
  data.addr = 29;
  data.blocksize = 4096;
  data.read_only = true;
  d.config.disks.push_back(data);
  d.config.boot = "cdrom";
  d.config.cdrom = "/isos/live: the #1 iso.iso";
  d.config.serial = "true";
  d.config.cloud_init = {"#cloud-config\nusers:\n  - name: ubuntu\n", "instance-id: x", ""};
  d.description = "it's \"quoted\" # not a comment";
  d.ephemeral = true;
  return d;
}

TEST(MachineYaml, ParsesTheWalkthroughOutputAndPrintsItExactly) {
  auto d = parse_machine_yaml(kInfo, "m.yaml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->name, "vm1");
  EXPECT_EQ(d->config.serial, "true");
  EXPECT_EQ(d->config.tpm_version, "2.0");
  ASSERT_EQ(d->config.disks.size(), 1U);
  EXPECT_EQ(d->config.disks[0].size, 120000000000ULL);
  EXPECT_EQ(machine_yaml(*d, "stopped"), kInfo);
  std::string stored(kInfo.substr(0, kInfo.find("status:")));
  EXPECT_EQ(machine_yaml(*d), stored);
  EXPECT_TRUE(validate_definition(*d));
}

TEST(MachineYaml, PrintsNicsPortsGuestfwdsAndCloudInit) {
  std::string text = machine_yaml(rich());
  EXPECT_THAT(text, HasSubstr(R"(  nics:
  - id: nic0
    device: virtio-net
    mac: "52:54:00:12:34:56"
    network: user
    addr: 3
    bootindex: "off"
    romfile: "off"
    ports:
    - protocol: tcp
      host:
        address: ""
        port: 22222
      guest:
        address: ""
        port: 22
)"));
  EXPECT_THAT(text, HasSubstr(R"(    guestfwds:
    - protocol: tcp
      host:
        address: 127.0.0.1
        port: 5000
      guest:
        address: 10.0.2.100
        port: 80
  - id: nic1
    device: e1000
    network: user
    bootindex: "1"
  disks:
)"));
  EXPECT_THAT(text, HasSubstr(R"(  - file: data.img
    size: 0
    format: raw
    attach: scsi
    type: hdd
    addr: 29
    blocksize: 4096
    read-only: true
)"));
  EXPECT_THAT(text, HasSubstr(R"(  cloud-init:
    user-data: |
      #cloud-config
      users:
        - name: ubuntu
    meta-data: 'instance-id: x'
)"));
}

TEST(MachineYaml, QuotesLikeYamlV2) {
  auto d = rich();
  std::string text = machine_yaml(d);
  EXPECT_THAT(text, HasSubstr("  cdrom: '/isos/live: the #1 iso.iso'\n"));
  EXPECT_THAT(text, HasSubstr("description: 'it''s \"quoted\" # not a comment'\n"));
  EXPECT_THAT(text, HasSubstr("    meta-data: 'instance-id: x'\n"));
  EXPECT_THAT(text, HasSubstr("ephemeral: true\nname: vm-2\n"));
  for (std::string_view number : {"2.0", "0755", "1e3", "-.5", "2024-01-02", "1_000", "0x1F",
                                  "1:30", "+12", "ON", "Null", "~", ""}) {
    d.description = number;
    EXPECT_THAT(machine_yaml(d), HasSubstr(fmt::format("\ndescription: \"{}\"\n", number)));
  }
  for (std::string_view plain : {"127.0.0.1", "1disk.qcow2", "v1.0", "1e", "a:b", "a#b", "x-1",
                                 "caf\xc3\xa9", ".x", "x- ok"}) {
    d.description = plain;
    EXPECT_THAT(machine_yaml(d), HasSubstr(fmt::format("\ndescription: {}\n", plain)));
  }
  for (std::string_view single : {"- x", "-", "---", "...", "a: b", "#a", "a #b", " a", "a ",
                                  "x:", "*x", "!x", "[x]", "{x", "@x", "%x", "?"}) {
    d.description = single;
    EXPECT_THAT(machine_yaml(d), HasSubstr(fmt::format("\ndescription: '{}'\n", single)));
  }
}

TEST(MachineYaml, RoundTripsARichDefinition) {
  auto d = rich();
  auto again = parse_machine_yaml(machine_yaml(d, "running"), "m.yaml");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, d) << machine_yaml(*again);
  EXPECT_TRUE(validate_definition(d)) << validate_definition(d).error().message;
}

TEST(MachineYaml, RoundTripsAwkwardStrings) {
  const std::vector<std::string> awkward = {"",
                                            " ",
                                            "true",
                                            "True",
                                            "off",
                                            "No",
                                            "y",
                                            "~",
                                            "null",
                                            "2.0",
                                            "1e3",
                                            "0x1F",
                                            "-1",
                                            ".5",
                                            ".inf",
                                            "2024-01-02",
                                            "12:30",
                                            "<<",
                                            "a: b",
                                            "a:b",
                                            "a #b",
                                            "a#b",
                                            "#x",
                                            "- x",
                                            "-x",
                                            "-",
                                            "---",
                                            "...",
                                            "? x",
                                            ":x",
                                            "x:",
                                            "[a]",
                                            "{a}",
                                            "a,b",
                                            "*a",
                                            "&a",
                                            "!a",
                                            "|",
                                            ">",
                                            "%x",
                                            "@x",
                                            "`x",
                                            "'",
                                            "\"",
                                            "it's",
                                            "back\\slash",
                                            " lead",
                                            "trail ",
                                            "tab\there",
                                            "line\nbreak",
                                            "ends\n",
                                            "two\n\n",
                                            "\nleads",
                                            "\r\n",
                                            "sp \nx",
                                            "x\n  indented\n",
                                            "x\n#y\n",
                                            "x\n---\n",
                                            "nul\0byte",
                                            "bell\a",
                                            "del\x7f",
                                            "caf\xc3\xa9",
                                            "nbsp\xc2\xa0",
                                            "bad\xa9utf8",
                                            "\xc3",
                                            "q\xc3\"",
                                            "\xff\xfe",
                                            "nel\xc2\x85",
                                            "ls\xe2\x80\xa8",
                                            "bom\xef\xbb\xbf",
                                            "\xf0\x9f\x98\x80 emoji"};
  for (const auto& s : awkward) {
    MachineDefinition d;
    d.description = s;
    d.config.cloud_init.user_data = s;
    d.config.serial = s;
    d.name = d.config.name = "vm";
    auto again = parse_machine_yaml(machine_yaml(d, s), "m.yaml");
    ASSERT_TRUE(again) << testing::PrintToString(s) << ": " << again.error().message << "\n"
                       << machine_yaml(d, s);
    EXPECT_EQ(*again, d) << testing::PrintToString(s) << "\n" << machine_yaml(d, s);
  }
}

TEST(MachineYaml, RoundTripsRandomStrings) {
  std::mt19937 random(1234);
  const std::vector<std::string> alphabet = {"a",
                                             "b",
                                             " ",
                                             ":",
                                             "#",
                                             "-",
                                             "'",
                                             "\"",
                                             "\\",
                                             "\n",
                                             "\t",
                                             ",",
                                             "[",
                                             "}",
                                             "&",
                                             "*",
                                             "!",
                                             "|",
                                             ">",
                                             "%",
                                             "@",
                                             "`",
                                             "?",
                                             "~",
                                             ".",
                                             "0",
                                             "1",
                                             "e",
                                             "_",
                                             "\r",
                                             std::string(1, '\0'),
                                             "\xc3\xa9",
                                             "\xa9",
                                             "\xc3",
                                             "\xff",
                                             "\x85",
                                             "\xc2\x85",
                                             "\xe2\x80\xa8",
                                             "\xef\xbb\xbf"};
  for (int round = 0; round < 5000; ++round) {
    std::string s;
    const int length = static_cast<int>(random() % 8);
    for (int i = 0; i < length; ++i) s += alphabet[random() % alphabet.size()];
    MachineDefinition d;
    d.config.cdrom = s;
    d.config.cloud_init.network_config = s;
    Disk disk;
    disk.file = s;
    disk.bootindex = s;
    d.config.disks.push_back(disk);
    auto again = parse_machine_yaml(machine_yaml(d), "m.yaml");
    ASSERT_TRUE(again) << testing::PrintToString(s) << ": " << again.error().message;
    ASSERT_EQ(*again, d) << testing::PrintToString(s) << "\n" << machine_yaml(d);
  }
}

TEST(MachineYaml, UnknownKeysAreErrorsWithASuggestion) {
  EXPECT_EQ(error_of("name: a\nconfig:\n  secureboot: true\n"),
            "m.yaml:3:3: unknown key 'secureboot' in config (did you mean 'secure-boot'?)");
  EXPECT_EQ(error_of("nmae: a\n"),
            "m.yaml:1:1: unknown key 'nmae' in the machine definition (did you mean 'name'?)");
  EXPECT_THAT(error_of("config:\n  cpu: 2\n"), HasSubstr("did you mean 'cpus'?"));
  EXPECT_THAT(error_of("config:\n  memroy: 2\n"), HasSubstr("did you mean 'memory'?"));
  EXPECT_THAT(error_of("config:\n  uefi_code: x\n"), HasSubstr("did you mean 'uefi-code'?"));
  EXPECT_THAT(error_of("config:\n  uefi: x\n"),
              HasSubstr("unknown key 'uefi' in config (known keys: name, cpus, memory"));
  EXPECT_EQ(error_of("config:\n  nics:\n  - id: n\n    ports:\n    - host: {adress: x}\n"),
            "m.yaml:5:14: unknown key 'adress' in config.nics[0].ports[0].host (did you mean "
            "'address'?)");
  EXPECT_THAT(error_of("config:\n  disks:\n  - file: a\n    readonly: true\n"),
              HasSubstr("m.yaml:4:5: unknown key 'readonly' in config.disks[0] (did you mean "
                        "'read-only'?)"));
  EXPECT_THAT(error_of("config:\n  cloud-init:\n    userdata: x\n"),
              HasSubstr("m.yaml:3:5: unknown key 'userdata' in config.cloud-init (did you mean "
                        "'user-data'?)"));
}

TEST(MachineYaml, WrongTypesAreErrorsAtTheirValue) {
  EXPECT_EQ(error_of("config:\n  cpus: two\n"),
            "m.yaml:2:9: config.cpus must be a non-negative whole number, not 'two'");
  EXPECT_EQ(error_of("config:\n  cpus: \"2\"\n"),
            "m.yaml:2:9: config.cpus must be a number, not the string \"2\"");
  EXPECT_EQ(error_of("config:\n  memory: -5\n"),
            "m.yaml:2:11: config.memory must not be negative (-5)");
  EXPECT_EQ(error_of("config:\n  cpus: 4294967296\n"),
            "m.yaml:2:9: config.cpus: 4294967296 is too large (at most 4294967295)");
  EXPECT_EQ(error_of("config:\n  nics: {id: a}\n"), "m.yaml:2:9: config.nics must be a list");
  EXPECT_EQ(error_of("config:\n  disks:\n  - file\n"),
            "m.yaml:3:5: config.disks[0] must be a mapping");
  EXPECT_EQ(error_of("config:\n  tpm: \"true\"\n"), "m.yaml:2:8: config.tpm must be true or false");
  EXPECT_EQ(error_of("config:\n  tpm: [true]\n"), "m.yaml:2:8: config.tpm must be true or false");
  EXPECT_EQ(error_of("description: {a: b}\n"), "m.yaml:1:14: description must be a string");
  EXPECT_EQ(error_of("config:\n  nics:\n  - ports:\n    - guest: {port: 70000}\n"),
            "m.yaml:4:21: config.nics[0].ports[0].guest.port: 70000 is not a port (1..65535)");
  EXPECT_EQ(error_of("config:\n  disks:\n  - size: 12 parsecs\n"),
            "m.yaml:3:11: config.disks[0].size: size '12 parsecs': unknown unit 'parsecs' (k, M, "
            "G, T, P, E for powers of 1000; Ki, Mi, Gi, Ti, Pi, Ei for powers of 1024; B "
            "optional)");
  EXPECT_EQ(error_of("config:\n  nics:\n  -\n"), "m.yaml:3:3: config.nics[0] is empty");
  EXPECT_EQ(error_of("type: xen\n"), "m.yaml:1:7: type must be kvm, not 'xen'");
  EXPECT_EQ(error_of("- a\n"), "m.yaml:1:1: the machine definition must be a mapping");
  EXPECT_EQ(error_of("config: 3\n"), "m.yaml:1:9: config must be a mapping");
  EXPECT_EQ(error_of("config:\n  cpus: 1\n  cpus: 2\n"),
            "m.yaml:3:3: duplicate key 'cpus' in config");
  EXPECT_EQ(error_of("? [a]\n: b\n"),
            "m.yaml:1:3: a key of the machine definition is not a string");
}

TEST(MachineYaml, MalformedYamlIsAnErrorNotACrash) {
  EXPECT_THAT(error_of("config: [\n"), HasSubstr("m.yaml:"));
  EXPECT_THAT(error_of("config: [\n"), HasSubstr("not valid YAML"));
  EXPECT_THAT(error_of("a: b: c\n"), HasSubstr("not valid YAML"));
  EXPECT_THAT(error_of("description: \"abc\nname: x\n"),
              HasSubstr("m.yaml:1:14: this quoted string is never closed"));
  EXPECT_THAT(error_of(std::string(5000, '[')), HasSubstr("m.yaml"));
  EXPECT_THAT(error_of("name: a\n---\nname: b\n"),
              HasSubstr("a machine definition is one YAML document, not several"));
  EXPECT_THAT(error_of("config: &c {cpus: 1}\nname: *c\n"), HasSubstr("name must be a string"));
  EXPECT_THAT(error_of("!,o\x13"
                       "0"),
              HasSubstr("m.yaml:1:1:"));  // yaml-cpp's LoadAll loops
  EXPECT_TRUE(parse_machine_yaml("name: a\n---\n", "m.yaml"));
}

TEST(MachineYaml, ScalarsAsYamlV2ReadThem) {
  auto d = parse_machine_yaml(
      "config:\n  serial: true\n  tpm: yes\n  gui: Off\n  disks:\n  - file: a\n    bootindex: 2\n"
      "    size: 50GiB\n  nics:\n  - id: n\n    bootindex: off\n    addr: 4\n",
      "m.yaml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->config.serial, "true");
  EXPECT_TRUE(d->config.tpm);
  EXPECT_FALSE(d->config.gui);
  EXPECT_EQ(d->config.disks[0].bootindex, "2");
  EXPECT_EQ(d->config.disks[0].size, 50ULL << 30);
  EXPECT_EQ(d->config.nics[0].bootindex, "off");
  EXPECT_EQ(d->config.nics[0].addr, 4);
  EXPECT_EQ(d->config.nics[0].device, "virtio-net") << "a new item starts from the defaults";
  EXPECT_EQ(error_of("config:\n  tpm: tRUE\n"), "m.yaml:2:8: config.tpm must be true or false");
}

TEST(MachineYaml, ParsesOnTopOfABase) {
  auto base = *machine_type_template("1.0", "vm1");
  auto d =
      parse_machine_yaml("config:\n  cpus: 8\n  cloud-init:\n    meta-data: m\n", "m.yaml", base);
  ASSERT_TRUE(d) << d.error().message;
  auto expected = base;
  expected.config.cpus = 8;
  expected.config.cloud_init.meta_data = "m";
  EXPECT_EQ(*d, expected);
  d = parse_machine_yaml("config:\n  disks: [{file: a.raw, format: raw}]\n  tpm:\n", "m.yaml",
                         base);
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_EQ(d->config.disks.size(), 1U) << "a list replaces the whole list";
  EXPECT_EQ(d->config.disks[0].file, "a.raw");
  EXPECT_EQ(d->config.disks[0].attach, "");
  EXPECT_FALSE(d->config.tpm) << "an empty value is the zero value";
  EXPECT_EQ(d->config.memory, 2048U);
  EXPECT_EQ(*parse_machine_yaml("", "m.yaml", base), base);
  EXPECT_EQ(*parse_machine_yaml("# nothing\n", "m.yaml", base), base);
  EXPECT_EQ(*parse_machine_yaml("status: running\n", "m.yaml", base), base);
}

TEST(MachineYaml, NameAndConfigNameFollowEachOther) {
  auto base = *machine_type_template("1.0", "old");
  auto d = parse_machine_yaml("name: new\n", "m.yaml", base);
  EXPECT_EQ(d->name, "new");
  EXPECT_EQ(d->config.name, "new");
  d = parse_machine_yaml("config: {name: other}\n", "m.yaml", base);
  EXPECT_EQ(d->name, "other");
  EXPECT_EQ(d->config.name, "other");
  d = parse_machine_yaml("name: a\nconfig: {name: b}\n", "m.yaml", base);
  EXPECT_EQ(d->name, "a");
  EXPECT_EQ(d->config.name, "b");
  EXPECT_THAT(invalid(*d), "name 'a' and config.name 'b' differ");
}

TEST(MachineTypeTemplate, TheOriginalsTwoTypes) {
  auto d = machine_type_template("1.0", "vm1");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->name, "vm1");
  EXPECT_EQ(d->config.name, "vm1");
  EXPECT_EQ(d->config.cpus, 2U);
  EXPECT_EQ(d->config.memory, 2048U);
  EXPECT_TRUE(d->config.tpm && d->config.secure_boot && d->config.gui);
  EXPECT_EQ(d->config.tpm_version, "2.0");
  EXPECT_TRUE(d->config.nics.empty());
  ASSERT_EQ(d->config.disks.size(), 1U);
  const Disk& disk = d->config.disks[0];
  EXPECT_EQ(disk.file, "rootdisk.qcow2");
  EXPECT_EQ(disk.size, 50ULL * 1024 * 1024 * 1024);
  EXPECT_EQ(disk.attach, "virtio");
  EXPECT_EQ(disk.format, "qcow2");
  EXPECT_EQ(disk.bootindex, "0");
  EXPECT_TRUE(validate_definition(*d));

  auto insecure = machine_type_template("1.0-insecure", "vm1");
  ASSERT_TRUE(insecure);
  EXPECT_FALSE(insecure->config.secure_boot);
  ASSERT_EQ(insecure->config.nics.size(), 1U);
  EXPECT_EQ(insecure->config.nics[0].id, "nic0");
  EXPECT_EQ(insecure->config.nics[0].device, "virtio-net");
  EXPECT_EQ(insecure->config.nics[0].network, "user");
  auto same = *insecure;
  same.config.secure_boot = true;
  same.config.nics.clear();
  EXPECT_EQ(same, *d);
  EXPECT_TRUE(validate_definition(*insecure));

  auto unknown = machine_type_template("2.0", "vm1");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "unknown machine type '2.0' (known types: 1.0, 1.0-insecure)");
}

TEST(ParseSize, GoHumanizeUnits) {
  const std::pair<std::string_view, std::uint64_t> cases[] = {
      {"120000000000", 120000000000ULL},
      {"0", 0},
      {"50GiB", 50ULL << 30},
      {"50gib", 50ULL << 30},
      {"50Gi", 50ULL << 30},
      {"100G", 100'000'000'000ULL},
      {"100GB", 100'000'000'000ULL},
      {"100 gb", 100'000'000'000ULL},
      {"512MiB", 512ULL << 20},
      {"1.5GiB", 3ULL << 29},
      {"1.5", 1},
      {".5k", 500},
      {"1k", 1000},
      {"1K", 1000},
      {"1KiB", 1024},
      {"2T", 2'000'000'000'000ULL},
      {"2TiB", 2ULL << 40},
      {"1PiB", 1ULL << 50},
      {"15EiB", 15ULL << 60},
      {"1,000", 1000},
      {"42B", 42},
      {"42b", 42},
      {"18446744073709551615", 18446744073709551615ULL}};
  for (auto [text, bytes] : cases) {
    auto size = parse_size(text);
    ASSERT_TRUE(size) << text << ": " << size.error().message;
    EXPECT_EQ(*size, bytes) << text;
  }
  for (std::string_view bad : {"", "GiB", "-1", "abc", "12 parsecs", "1bb", "1ib", "1GiBs", "1..5",
                               "16EiB", "18446744073709551616", "99999999999999999999999"}) {
    EXPECT_FALSE(parse_size(bad)) << bad;
  }
  EXPECT_EQ(parse_size("16EiB").error().message, "size '16EiB' is too large");
}

TEST(ValidateDefinition, AcceptsTheTemplatesAndARichDefinition) {
  EXPECT_TRUE(validate_definition(*machine_type_template("1.0", "a")));
  auto d = rich();
  EXPECT_TRUE(validate_definition(d)) << validate_definition(d).error().message;
  d.name = d.config.name = std::string(32, 'x');
  EXPECT_TRUE(validate_definition(d));
}

TEST(ValidateDefinition, NamesTheOffendingItem) {
  auto base = rich();
  auto check = [&](auto change, std::string_view message) {
    auto d = base;
    change(d);
    EXPECT_EQ(invalid(d), message);
  };
  using D = MachineDefinition;
  for (const std::string& name : std::vector<std::string>{"", "-a", std::string(33, 'x'), "a/b"}) {
    auto d = base;
    d.name = d.config.name = name;
    EXPECT_EQ(invalid(d), fmt::format("name: '{}' is not a machine name (1 to 32 letters, digits, "
                                      "'.', '_', '-', starting with a letter or digit)",
                                      name));
  }
  check([](D& d) { d.type = "xen"; }, "type: 'xen' is not a machine type (kvm)");
  check([](D& d) { d.config.cpus = 257; }, "config.cpus: 257 is more than 256");
  check([](D& d) { d.config.boot = "net"; }, "config.boot: 'net' is not one of: , hdd, cdrom");
  check([](D& d) { d.config.cdrom = ""; }, "config.boot: cdrom needs a config.cdrom to boot from");
  check([](D& d) { d.config.tpm_version = "3"; },
        "config.tpm-version: '3' is not one of: , 1.2, 2.0");
  check([](D& d) { d.config.nics[1].id = ""; },
        "config.nics[1].id: '' is not a NIC id (a "
        "letter, then letters, digits, '-', '.', '_')");
  check([](D& d) { d.config.nics[1].id = "nic0"; },
        "config.nics[1].id: 'nic0' is already the id of config.nics[0]");
  check([](D& d) { d.config.nics[1].device = "ne2k"; },
        "config.nics[1].device: 'ne2k' is not one of: virtio-net, e1000, e1000e, rtl8139");
  check([](D& d) { d.config.nics[1].network = "bridge"; },
        "config.nics[1].network: 'bridge' is not available (only user-mode networking: user)");
  check([](D& d) { d.config.nics[0].mac = "52:54:00:12:34"; },
        "config.nics[0].mac: '52:54:00:12:34' is not a MAC address (52:54:00:12:34:56)");
  check([](D& d) { d.config.nics[0].addr = 32; },
        "config.nics[0].addr: 32 is not a PCI slot (0..31)");
  check([](D& d) { d.config.nics[0].ports[1].protocol = "sctp"; },
        "config.nics[0].ports[1].protocol: 'sctp' is not one of: tcp, udp");
  check([](D& d) { d.config.nics[0].ports[0].host.port = 0; },
        "config.nics[0].ports[0].host.port: 0 is not a port (1..65535)");
  check([](D& d) { d.config.nics[0].ports[0].guest.port = 0; },
        "config.nics[0].ports[0].guest.port: 0 is not a port (1..65535)");
  check([](D& d) { d.config.nics[0].ports[0].host.address = "localhost"; },
        "config.nics[0].ports[0].host.address: 'localhost' is not an IPv4 address");
  check([](D& d) { d.config.nics[1].ports = {{"tcp", {"127.0.0.1", 22222}, {"", 23}}}; },
        "config.nics[1].ports[0].host: 127.0.0.1:22222/tcp is already forwarded by "
        "config.nics[0].ports[0]");
  check([](D& d) { d.config.nics[0].guestfwds[0].protocol = "udp"; },
        "config.nics[0].guestfwds[0].protocol: 'udp' cannot be forwarded from the guest (only "
        "tcp)");
  check([](D& d) { d.config.nics[0].guestfwds.push_back(d.config.nics[0].guestfwds[0]); },
        "config.nics[0].guestfwds[1].guest: 10.0.2.100:80/tcp is already forwarded by "
        "config.nics[0].guestfwds[0]");
  check([](D& d) { d.config.nics[1].bootindex = "1x"; },
        "config.nics[1].bootindex: '1x' is not \"off\" or a boot index (0, 1, ...)");
  check([](D& d) { d.config.nics[1].bootindex = "-1"; },
        "config.nics[1].bootindex: '-1' is not \"off\" or a boot index (0, 1, ...)");
  check([](D& d) { d.config.disks[1].bootindex = "1"; },
        "config.disks[1].bootindex: 1 is already the boot index of config.nics[1]");
  check([](D& d) { d.config.disks[1].bootindex = "00"; },
        "config.disks[1].bootindex: 0 is already the boot index of config.disks[0]");
  check([](D& d) { d.config.disks[1].file = ""; }, "config.disks[1].file: a disk needs a file");
  check([](D& d) { d.config.disks[1].file = "rootdisk.qcow2"; },
        "config.disks[1].file: 'rootdisk.qcow2' is already the file of config.disks[0]");
  check([](D& d) { d.config.disks[1].format = "vmdk"; },
        "config.disks[1].format: 'vmdk' is not one of: , qcow2, raw");
  check([](D& d) { d.config.disks[1].attach = "sata"; },
        "config.disks[1].attach: 'sata' is not one of: , virtio, scsi, nvme, ide, usb");
  check([](D& d) { d.config.disks[1].type = "tape"; },
        "config.disks[1].type: 'tape' is not one of: , ssd, hdd, cdrom");
  check([](D& d) { d.config.disks[1].blocksize = 1000; },
        "config.disks[1].blocksize: 1000 is not a block size (a power of two from 512 to "
        "2097152)");
}

TEST(ValidateDefinition, FreeIndicesAndEmptyNetworksAreFine) {
  auto d = rich();
  d.config.nics[1].network = "";
  d.config.nics[1].bootindex = "off";
  d.config.disks[1].bootindex = "off";
  d.config.nics[0].ports[1].host = {"127.0.0.1", 22222};  // udp, not tcp: no clash
  EXPECT_TRUE(validate_definition(d)) << validate_definition(d).error().message;
}

}  // namespace
}  // namespace mos::machine
