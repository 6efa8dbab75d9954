// What the manifest alone shows about networks is refused at publish.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "manifest/manifest.hpp"
#include "unit/support/test_support.hpp"

namespace mos::manifest {
namespace {

using testing::HasSubstr;

Target service(std::string name, std::string ipv4, int host_port) {
  Target t;
  t.service_name = std::move(name);
  t.version = "1.0.0";
  t.network.type = NetworkType::simple;
  t.network.ipv4 = std::move(ipv4);
  if (host_port) t.network.ports.push_back({host_port, 80});
  return t;
}

Status check(std::vector<Target> targets) {
  Manifest m;
  m.product = "default";
  m.targets = std::move(targets);
  return validate_manifest(m, "manifest");
}

TEST(ManifestNetwork, AnAddressGivenTwiceIsRefused) {
  EXPECT_TRUE(check({service("a", "10.0.3.7/24", 80), service("b", "10.0.3.8", 81)}));
  EXPECT_THAT(test::error_of(check({service("a", "10.0.3.7/24", 0), service("b", "10.0.3.7", 0)})),
              HasSubstr("address 10.0.3.7 is given to both a and b"));
}

TEST(ManifestNetwork, AHostPortUsedTwiceIsRefused) {
  EXPECT_THAT(test::error_of(check({service("a", "", 80), service("b", "", 80)})),
              HasSubstr("host port 80 is used by both a and b"));
  EXPECT_THAT(test::error_of(check({service("a", "", 70000)})), HasSubstr("outside 1-65535"));
}

}  // namespace
}  // namespace mos::manifest
