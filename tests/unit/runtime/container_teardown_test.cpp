// Where liblxc's cgroups for a container are, read from /proc/self/cgroup and mountinfo texts.
#include "runtime/container_teardown.hpp"

#include <gtest/gtest.h>

namespace mos::runtime {
namespace {

namespace fs = std::filesystem;

// This host's kind: v1 controllers, name=systemd, and v2 at /sys/fs/cgroup/unified.
constexpr std::string_view kHybridCgroup =
    "12:memory:/process_api/d6\n"
    "11:cpu,cpuacct:/\n"
    "1:name=systemd:/user.slice\n"
    "0::/\n";
constexpr std::string_view kHybridMountinfo =
    "30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
    "31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
    "32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid shared:5 - cgroup cgroup rw,xattr,name=systemd\n"
    "35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw shared:8 - cgroup cgroup rw,cpu,cpuacct\n"
    "36 30 0:32 / /sys/fs/cgroup/memory rw shared:9 - cgroup cgroup rw,memory\n"
    "37 30 0:33 / /sys/fs/cgroup/cpuset rw shared:10 - cgroup cgroup rw,cpuset\n"
    "40 25 8:1 / /mnt/data rw - ext4 /dev/sda1 rw\n";

TEST(CgroupPlaces, EveryHierarchyOfTheProcessWhereItIsMounted) {
  auto places = cgroup_places(kHybridCgroup, kHybridMountinfo);
  ASSERT_EQ(places.size(), 4u);
  EXPECT_EQ(places[0].mount, "/sys/fs/cgroup/memory");
  EXPECT_EQ(places[0].own, "process_api/d6");
  EXPECT_EQ(places[1].mount, "/sys/fs/cgroup/cpu,cpuacct");  // both controllers in its options
  EXPECT_EQ(places[1].own, "");
  EXPECT_EQ(places[2].mount, "/sys/fs/cgroup/systemd");
  EXPECT_EQ(places[2].own, "user.slice");
  EXPECT_EQ(places[3].mount, "/sys/fs/cgroup/unified");
  auto dirs = container_cgroup_dirs(places, container_cgroup_names("0123abcd", "web"));
  ASSERT_EQ(dirs.size(), 8u);
  EXPECT_EQ(dirs[0], "/sys/fs/cgroup/memory/process_api/d6/mos.payload.0123abcd.web");
  EXPECT_EQ(dirs[1], "/sys/fs/cgroup/memory/process_api/d6/mos.monitor.0123abcd.web");
  EXPECT_EQ(dirs[7], "/sys/fs/cgroup/unified/mos.monitor.0123abcd.web");
}

TEST(CgroupPlaces, AMountOfPartOfTheTreeAndEscapedMountPoints) {
  // A machine's hostfs: v2 only; a mount of a subtree (a cgroup namespace's view of its parent).
  auto places = cgroup_places("0::/services/boot\n",
                              "50 1 0:40 /services /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw\n");
  ASSERT_EQ(places.size(), 1u);
  EXPECT_EQ(places[0].mount, "/sys/fs/cgroup x");
  EXPECT_EQ(places[0].own, "boot");
  // A mount of a subtree our cgroup is not in shows none of it.
  EXPECT_TRUE(cgroup_places("0::/elsewhere\n",
                            "50 1 0:40 /services /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
                  .empty());
  EXPECT_TRUE(cgroup_places("0::/servicesX\n",
                            "50 1 0:40 /services /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
                  .empty());
}

TEST(CgroupPlaces, UnmountedOrMalformedLinesAreSkipped) {
  EXPECT_TRUE(cgroup_places("3:pids:/\n", kHybridMountinfo).empty());
  EXPECT_TRUE(cgroup_places("garbage\n::\n", "x y z\n- - -\n").empty());
  EXPECT_TRUE(cgroup_places("", "").empty());
}

}  // namespace
}  // namespace mos::runtime
