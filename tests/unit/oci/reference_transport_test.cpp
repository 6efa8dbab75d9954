// Transports of other tools are named as unsupported instead of failing as a bad host.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "oci/reference.hpp"

namespace mos::oci {
namespace {

using testing::HasSubstr;

TEST(ReferenceTransport, OtherToolsTransportsAreNamedAsUnsupported) {
  for (const char* text : {"oci-archive:foo.tar:1", "dir:/tmp/x", "containers-storage:img",
                           "docker-daemon:busybox:latest", "ftp://host/x"}) {
    auto r = Reference::parse(text);
    ASSERT_FALSE(r) << text;
    EXPECT_THAT(r.error().message, HasSubstr("not supported")) << text;
  }
  auto r = Reference::parse("oci-archive:foo.tar:1");
  EXPECT_THAT(r.error().message, HasSubstr("the transport \"oci-archive:\" is not supported"));
}

TEST(ReferenceTransport, HostsWithPortsAreStillHosts) {
  for (const char* text : {"localhost:5000/a:b", "127.0.0.1:5000/machine/install:1.0.0",
                           "[::1]:5000/a/b:c", "registry.example/a:b", "docker://localhost/a"})
    EXPECT_TRUE(Reference::parse(text)) << text;
}

}  // namespace
}  // namespace mos::oci
