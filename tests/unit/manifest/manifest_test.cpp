#include "manifest/manifest.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/support/test_support.hpp"

using namespace mos::manifest;
using mos::test::error_of;
using ::testing::HasSubstr;

namespace {

// The walkthrough's manifest.yaml (examples/manifest.yaml).
const std::string& walkthrough_yaml() {
  static const std::string text = mos::test::example("manifest.yaml");
  return text;
}

// The walkthrough's manifest.yaml with its first `replace` replaced `by`.
std::string with(std::string_view replace, std::string_view by) {
  return mos::test::replaced(walkthrough_yaml(), replace, by);
}

std::string yaml_error(const std::string& yaml) {
  auto m = parse_manifest_yaml(yaml, "manifest.yaml");
  EXPECT_FALSE(m) << yaml;
  return m ? std::string() : m.error().message;
}

Target pinned(std::string name, ServiceType type, std::string version, std::string hex,
              std::int64_t size) {
  Target t;
  t.service_name = std::move(name);
  t.service_type = type;
  t.version = std::move(version);
  t.digest = *mos::oci::Digest::parse("sha256:" + hex);
  t.size = size;
  return t;
}

}  // namespace

TEST(ManifestYaml, ParsesWalkthrough) {
  auto m = parse_manifest_yaml(walkthrough_yaml(), "manifest.yaml");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->product, "default");
  EXPECT_EQ(m->update_type, UpdateType::complete);
  ASSERT_EQ(m->targets.size(), 1u);
  const auto& t = m->targets[0];
  EXPECT_EQ(t.service_name, "zot");
  EXPECT_EQ(t.version, "1.0.0");
  EXPECT_EQ(t.service_type, ServiceType::container);
  EXPECT_EQ(t.network.type, NetworkType::simple);
  EXPECT_EQ(t.network.ipv4, "10.0.3.99/24");
  ASSERT_EQ(t.network.ports.size(), 1u);
  EXPECT_EQ(t.network.ports[0], (Port{80, 5000}));
}

TEST(ManifestYaml, ErrorsNameFileLineColumnAndAllowedValues) {
  auto e = yaml_error(with("service_type: container", "service_type: vm"));
  EXPECT_THAT(e, HasSubstr("manifest.yaml:8:19"));
  EXPECT_THAT(e, HasSubstr("hostfs, container, fs-only"));
  e = yaml_error(with("update_type: complete", "update_type: sometimes"));
  EXPECT_THAT(e, HasSubstr("complete, partial"));
  e = yaml_error(with("    nsgroup: \"zot\"\n", "    nsgroup: \"zot\"\n    colour: red\n"));
  EXPECT_THAT(e, HasSubstr("unknown key \"colour\""));
  EXPECT_THAT(e, HasSubstr(":10:5"));
  e = yaml_error(with("product: default\n", "product: default\nproduct: other\n"));
  EXPECT_THAT(e, HasSubstr("duplicate key \"product\""));
  e = yaml_error(with("version: 1\n", "version: 2\n"));
  EXPECT_THAT(e, HasSubstr("version must be 1"));
  e = yaml_error(with("version: 1\n", "version: \"1\"\n"));
  EXPECT_THAT(e, HasSubstr("must be an integer"));
  e = yaml_error(with("type: simple", "type: bridge"));
  EXPECT_THAT(e, HasSubstr("host, none, simple"));
  e = yaml_error(with("host: 80", "host: 70000"));
  EXPECT_THAT(e, HasSubstr("outside 1-65535"));
  e = yaml_error(with("host: 80", "host: eighty"));
  EXPECT_THAT(e, HasSubstr("integer"));
  e = yaml_error(with("10.0.3.99/24", "10.0.3.999/24"));
  EXPECT_THAT(e, HasSubstr("not a valid IPv4"));
  e = yaml_error(with("10.0.3.99/24", "10.0.3.99/33"));
  EXPECT_THAT(e, HasSubstr("prefix"));
  e = yaml_error("version: 1\nproduct: p\nupdate_type: complete\ntargets: [\n");
  EXPECT_THAT(e, HasSubstr("not valid YAML"));
  e = yaml_error(with("source: \"docker://127.0.0.1:5000/machine/bootkit/demo-zot:0.0.4-squashfs\"",
                      "source: \"nohost\""));
  EXPECT_THAT(e, HasSubstr("source"));
  EXPECT_THAT(yaml_error(""), HasSubstr("empty"));
  EXPECT_THAT(yaml_error("[1, 2]"), HasSubstr("mapping"));
}

TEST(ManifestYaml, DuplicatesAndStorage) {
  std::string two =
      walkthrough_yaml() +
      "  - service_name: zot\n    source: oci:/x:y\n    version: 1\n    service_type: fs-only\n";
  EXPECT_THAT(yaml_error(two), HasSubstr("used by two targets"));
  std::string ports =
      walkthrough_yaml() +
      "  - service_name: web\n    source: oci:/x:y\n    version: 1\n    service_type: container\n"
      "    network:\n      type: simple\n      ports:\n        - host: 80\n          container: "
      "8080\n";
  EXPECT_THAT(yaml_error(ports), HasSubstr("host port 80 is used by both zot and web"));
  std::string storage = with(
      "targets:\n", "storage:\n  - label: data\n    size: 30G\n    persistent: true\ntargets:\n");
  storage += "    storage:\n      - dest: /var/lib/data\n        label: data\n";
  auto m = parse_manifest_yaml(storage, "m.yaml");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->storage[0].size_mib, 30u * 1024);
  EXPECT_TRUE(m->storage[0].persistent);
  std::string undeclared =
      walkthrough_yaml() + "    storage:\n      - dest: /d\n        label: nope\n";
  EXPECT_THAT(yaml_error(undeclared), HasSubstr("not declared"));
  std::string reserved = with("targets:\n", "storage:\n  - label: esp\n    size: 10\ntargets:\n");
  EXPECT_THAT(yaml_error(reserved), HasSubstr("reserved"));
  std::string bad_size = with("targets:\n", "storage:\n  - label: d\n    size: 30Q\ntargets:\n");
  EXPECT_THAT(yaml_error(bad_size), HasSubstr("unknown unit"));
}

TEST(ManifestYaml, SizeParsing) {
  EXPECT_EQ(*parse_size_mib("1024"), 1024u);
  EXPECT_EQ(*parse_size_mib("2G"), 2048u);
  EXPECT_EQ(*parse_size_mib("1TiB"), 1024u * 1024u);
  EXPECT_THAT(error_of(parse_size_mib("0")), HasSubstr("size \"0\" must be at least 1 MiB"));
  EXPECT_THAT(error_of(parse_size_mib("-1")), HasSubstr("size \"-1\" must be a number of MiB"));
  EXPECT_THAT(error_of(parse_size_mib("G")), HasSubstr("size \"G\" must be a number of MiB"));
  EXPECT_THAT(error_of(parse_size_mib("99999999999999T")), HasSubstr("is too large"));
}

TEST(InstallJson, WalkthroughBytes) {
  Manifest m;
  m.product = "default";
  m.update_type = UpdateType::complete;
  auto zot = pinned("zot", ServiceType::container, "1.0.0",
                    "3f7fe7839527f97a351e3e7790cfa42f85ff89a8b5dfab699812feeddd1c7c04", 7290);
  zot.nsgroup = "zot";
  zot.network = Network{NetworkType::simple, "10.0.3.99/24", "", {{80, 5000}}};
  m.targets.push_back(zot);
  m.targets.push_back(pinned("hostfs", ServiceType::hostfs, "v0.0.19.231225",
                             "95c77628b5ccd1f74fd4538f367800c18a371321731408a29428153b1893d9f9",
                             7288));
  m.targets.push_back(pinned("bootkit", ServiceType::fs_only, "1.0.0",
                             "83f822a13bac8b61b17b36d582030f38c75f631629866d2b02be49514baa5145",
                             1637));
  auto json = encode_install_json(m);
  ASSERT_TRUE(json) << json.error().message;
  // The walkthrough lists install.json with size 829.
  EXPECT_EQ(json->size(), 829u) << *json;
  EXPECT_TRUE(json->starts_with(
      R"({"version":1,"product":"default","targets":[{"service_name":"zot","version":"1.0.0","service_type":"container","network":{"type":"simple","ipv4":"10.0.3.99/24","ipv6":"","ports":[{"host":80,"container":5000}]},"nsgroup":"zot","digest":"sha256:3f7f)"));
  auto back = parse_install_json(*json);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, m);
  EXPECT_EQ(*encode_install_json(*back), *json);
}

TEST(InstallJson, AcceptsOriginalNullsRejectsTampering) {
  const std::string original =
      R"({"version":1,"product":"p","storage":null,"targets":[{"service_name":"hostfs","version":"1.0.0","service_type":"hostfs","network":{"type":"host","ipv4":"","ipv6":"","ports":null},"nsgroup":"","digest":"sha256:95c77628b5ccd1f74fd4538f367800c18a371321731408a29428153b1893d9f9","storage":null,"size":1234}],"update_type":"complete"})";
  auto m = parse_install_json(original);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->targets[0].size, 1234);
  auto mutate = [&](std::string_view from, std::string_view to) {
    return error_of(parse_install_json(mos::test::replaced(original, from, to)));
  };
  EXPECT_THAT(mutate(R"("version":1)", R"("version":2)"), HasSubstr("version must be 1, not 2"));
  EXPECT_THAT(mutate(R"("size":1234)", R"("size":"1234")"),
              HasSubstr("\"size\" must be an integer"));
  EXPECT_THAT(mutate(R"("size":1234)", R"("size":1234,"size":1)"),
              HasSubstr("duplicate key \"size\""));
  EXPECT_THAT(mutate(R"("nsgroup":"")", R"("nsgroup":"","extra":1)"),
              HasSubstr("unknown key \"extra\""));
  EXPECT_THAT(mutate(R"("update_type":"complete")", R"("update_type":"")"),
              HasSubstr("unknown update_type \"\""));
  EXPECT_THAT(mutate("sha256:95c7", "sha256:XXc7"), HasSubstr("sha256:XXc7"));
  EXPECT_THAT(error_of(parse_install_json(std::string(kMaxInstallJsonBytes + 1, ' '))),
              HasSubstr("more than the limit"));
  Manifest unpinned;
  unpinned.product = "p";
  Target t;
  t.service_name = "a";
  t.version = "1";
  unpinned.targets.push_back(t);
  EXPECT_THAT(error_of(encode_install_json(unpinned)),
              HasSubstr("target a has no pinned digest and size"));
}
