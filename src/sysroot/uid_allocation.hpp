#pragma once
// uid/gid ranges of nsgroups: one combined range per nsgroup mapping container id 0 to hostid.
// Ranges never overlap, an nsgroup keeps its range for as long as any target or storage volume
// of the system uses it (so files it wrote stay its own across updates), and new nsgroups take
// the lowest free slot. Ranges are persisted in the system manifest, never recomputed.
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "manifest/manifest.hpp"
#include "sysroot/system_manifest.hpp"

namespace mos::sysroot {

inline constexpr std::uint64_t kFirstHostId = 100000;
inline constexpr std::uint64_t kRangeSize = 65536;
inline constexpr std::uint64_t kMaxHostId = 0xFFFFFFFFull;  // uid_t is 32 bits; -1 is reserved

// nsgroups a set of targets and storage items needs ("" and "none" mean host ids), sorted.
std::vector<std::string> nsgroups_in_use(const std::vector<manifest::Target>& targets,
                                         const std::vector<manifest::StorageItem>& storage);

// The ranges for `needed`: existing ones kept as they are, new ones allocated; ranges of
// nsgroups no longer needed are dropped. Sorted by nsgroup.
Result<std::vector<UidRange>> allocate_uid_ranges(const std::vector<UidRange>& existing,
                                                  const std::vector<std::string>& needed);

// Fails when two ranges overlap or a range leaves the 32-bit id space.
Status check_uid_ranges(const std::vector<UidRange>& ranges);

}  // namespace mos::sysroot
