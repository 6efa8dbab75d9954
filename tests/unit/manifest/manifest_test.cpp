#include "manifest/manifest.hpp"

#include <gtest/gtest.h>

using namespace mos::manifest;

namespace {

const char* kWalkthroughYaml = R"(version: 1
product: default
update_type: complete
targets:
  - service_name: zot
    source: "docker://zothub.io/machine/bootkit/demo-zot:0.0.4-squashfs"
    version: 1.0.0
    service_type: container
    nsgroup: "zot"
    network:
      type: simple
      ipv4: 10.0.3.99/24
      ports:
        - host: 80
          container: 5000
)";

std::string with(std::string_view replace, std::string_view by) {
  std::string text = kWalkthroughYaml;
  auto pos = text.find(replace);
  EXPECT_NE(pos, std::string::npos) << replace;
  text.replace(pos, replace.size(), by);
  return text;
}

std::string error_of(const std::string& yaml) {
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
  auto m = parse_manifest_yaml(kWalkthroughYaml, "manifest.yaml");
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
  auto e = error_of(with("service_type: container", "service_type: vm"));
  EXPECT_NE(e.find("manifest.yaml:8:19"), std::string::npos) << e;
  EXPECT_NE(e.find("hostfs, container, fs-only"), std::string::npos) << e;
  e = error_of(with("update_type: complete", "update_type: sometimes"));
  EXPECT_NE(e.find("complete, partial"), std::string::npos) << e;
  e = error_of(with("    nsgroup: \"zot\"\n", "    nsgroup: \"zot\"\n    colour: red\n"));
  EXPECT_NE(e.find("unknown key \"colour\""), std::string::npos) << e;
  EXPECT_NE(e.find(":10:5"), std::string::npos) << e;
  e = error_of(with("product: default\n", "product: default\nproduct: other\n"));
  EXPECT_NE(e.find("duplicate key \"product\""), std::string::npos) << e;
  e = error_of(with("version: 1\n", "version: 2\n"));
  EXPECT_NE(e.find("version must be 1"), std::string::npos) << e;
  e = error_of(with("version: 1\n", "version: \"1\"\n"));
  EXPECT_NE(e.find("must be an integer"), std::string::npos) << e;
  e = error_of(with("type: simple", "type: bridge"));
  EXPECT_NE(e.find("host, none, simple"), std::string::npos) << e;
  e = error_of(with("host: 80", "host: 70000"));
  EXPECT_NE(e.find("outside 1-65535"), std::string::npos) << e;
  e = error_of(with("host: 80", "host: eighty"));
  EXPECT_NE(e.find("integer"), std::string::npos) << e;
  e = error_of(with("10.0.3.99/24", "10.0.3.999/24"));
  EXPECT_NE(e.find("not a valid IPv4"), std::string::npos) << e;
  e = error_of(with("10.0.3.99/24", "10.0.3.99/33"));
  EXPECT_NE(e.find("prefix"), std::string::npos) << e;
  e = error_of("version: 1\nproduct: p\nupdate_type: complete\ntargets: [\n");
  EXPECT_NE(e.find("not valid YAML"), std::string::npos) << e;
  e = error_of(with("source: \"docker://zothub.io/machine/bootkit/demo-zot:0.0.4-squashfs\"",
                    "source: \"nohost\""));
  EXPECT_NE(e.find("source"), std::string::npos) << e;
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("[1, 2]").find("mapping"), std::string::npos);
}

TEST(ManifestYaml, DuplicatesAndStorage) {
  std::string two =
      std::string(kWalkthroughYaml) +
      "  - service_name: zot\n    source: oci:/x:y\n    version: 1\n    service_type: fs-only\n";
  EXPECT_NE(error_of(two).find("used by two targets"), std::string::npos);
  std::string ports =
      std::string(kWalkthroughYaml) +
      "  - service_name: web\n    source: oci:/x:y\n    version: 1\n    service_type: container\n"
      "    network:\n      type: simple\n      ports:\n        - host: 80\n          container: "
      "8080\n";
  EXPECT_NE(error_of(ports).find("host port 80 is used by both zot and web"), std::string::npos);
  std::string storage = with(
      "targets:\n", "storage:\n  - label: data\n    size: 30G\n    persistent: true\ntargets:\n");
  storage += "    storage:\n      - dest: /var/lib/data\n        label: data\n";
  auto m = parse_manifest_yaml(storage, "m.yaml");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->storage[0].size_mib, 30u * 1024);
  EXPECT_TRUE(m->storage[0].persistent);
  std::string undeclared =
      std::string(kWalkthroughYaml) + "    storage:\n      - dest: /d\n        label: nope\n";
  EXPECT_NE(error_of(undeclared).find("not declared"), std::string::npos);
  std::string reserved = with("targets:\n", "storage:\n  - label: esp\n    size: 10\ntargets:\n");
  EXPECT_NE(error_of(reserved).find("reserved"), std::string::npos);
  std::string bad_size = with("targets:\n", "storage:\n  - label: d\n    size: 30Q\ntargets:\n");
  EXPECT_NE(error_of(bad_size).find("unknown unit"), std::string::npos);
}

TEST(ManifestYaml, SizeParsing) {
  EXPECT_EQ(*parse_size_mib("1024"), 1024u);
  EXPECT_EQ(*parse_size_mib("2G"), 2048u);
  EXPECT_EQ(*parse_size_mib("1TiB"), 1024u * 1024u);
  EXPECT_FALSE(parse_size_mib("0"));
  EXPECT_FALSE(parse_size_mib("-1"));
  EXPECT_FALSE(parse_size_mib("G"));
  EXPECT_FALSE(parse_size_mib("99999999999999T"));
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
    std::string s = original;
    s.replace(s.find(from), from.size(), to);
    return parse_install_json(s);
  };
  EXPECT_FALSE(mutate(R"("version":1)", R"("version":2)"));
  EXPECT_FALSE(mutate(R"("size":1234)", R"("size":"1234")"));
  EXPECT_FALSE(mutate(R"("size":1234)", R"("size":1234,"size":1)"));
  EXPECT_FALSE(mutate(R"("nsgroup":"")", R"("nsgroup":"","extra":1)"));
  EXPECT_FALSE(mutate(R"("update_type":"complete")", R"("update_type":"")"));
  EXPECT_FALSE(mutate("sha256:95c7", "sha256:XXc7"));
  EXPECT_FALSE(parse_install_json(std::string(kMaxInstallJsonBytes + 1, ' ')));
  Manifest unpinned;
  unpinned.product = "p";
  Target t;
  t.service_name = "a";
  t.version = "1";
  unpinned.targets.push_back(t);
  EXPECT_FALSE(encode_install_json(unpinned));
}
