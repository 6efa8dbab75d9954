// trust launch's port forwards: each port a service publishes at the offset, unless --publish
// names it; --publish may add one no service declares.
#include "machine/launch.hpp"

#include <gtest/gtest.h>

namespace mos::machine {
namespace {

TEST(LaunchPorts, ServicePortsAtTheOffsetUnlessPublished) {
  auto ports = launch_port_forwards({80, 5000}, {}, kDefaultPortOffset);
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[0], (PublishedPort{28080, 80}));
  EXPECT_EQ(ports[1], (PublishedPort{33000, 5000}));
  ports = launch_port_forwards({80, 5000}, {{8080, 80}, {2222, 22}}, 1000);
  ASSERT_EQ(ports.size(), 3u);
  EXPECT_EQ(ports[0], (PublishedPort{8080, 80}));
  EXPECT_EQ(ports[1], (PublishedPort{6000, 5000}));
  EXPECT_EQ(ports[2], (PublishedPort{2222, 22}));
  EXPECT_TRUE(launch_port_forwards({}, {}, kDefaultPortOffset).empty());
}

}  // namespace
}  // namespace mos::machine
