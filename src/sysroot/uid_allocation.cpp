#include "sysroot/uid_allocation.hpp"

#include <algorithm>
#include <set>

namespace mos::sysroot {

std::vector<std::string> nsgroups_in_use(const std::vector<manifest::Target>& targets,
                                         const std::vector<manifest::StorageItem>& storage) {
  std::set<std::string> groups;
  auto add = [&](const std::string& g) {
    if (!g.empty() && g != "none") groups.insert(g);
  };
  for (const auto& t : targets) add(t.nsgroup);
  for (const auto& s : storage) add(s.nsgroup);
  return {groups.begin(), groups.end()};
}

Status check_uid_ranges(const std::vector<UidRange>& ranges) {
  std::vector<const UidRange*> sorted;
  for (const auto& r : ranges) {
    if (r.size == 0) return fail("uid range of nsgroup \"{}\" is empty", r.nsgroup);
    if (r.hostid < 1 || r.hostid > kMaxHostId || r.size > kMaxHostId - r.hostid)
      return fail("uid range of nsgroup \"{}\" ({} + {}) leaves the 32-bit id space", r.nsgroup,
                  r.hostid, r.size);
    sorted.push_back(&r);
  }
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->hostid < b->hostid; });
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i - 1]->hostid + sorted[i - 1]->size > sorted[i]->hostid)
      return fail("uid ranges of nsgroups \"{}\" and \"{}\" overlap", sorted[i - 1]->nsgroup,
                  sorted[i]->nsgroup);
    if (sorted[i - 1]->nsgroup == sorted[i]->nsgroup)
      return fail("nsgroup \"{}\" has two uid ranges", sorted[i]->nsgroup);
  }
  return {};
}

Result<std::vector<UidRange>> allocate_uid_ranges(const std::vector<UidRange>& existing,
                                                  const std::vector<std::string>& needed) {
  MOS_TRY(check_uid_ranges(existing));
  std::vector<UidRange> result;
  std::vector<std::string> missing;
  for (const auto& group : needed) {
    auto it = std::find_if(existing.begin(), existing.end(),
                           [&](const UidRange& r) { return r.nsgroup == group; });
    if (it != existing.end())
      result.push_back(*it);
    else
      missing.push_back(group);
  }
  for (const auto& group : missing) {
    // Lowest start at or above kFirstHostId (on a kRangeSize grid) free of every kept range.
    std::uint64_t start = kFirstHostId;
    for (bool moved = true; moved;) {
      moved = false;
      for (const auto& r : result) {
        if (start < r.hostid + r.size && r.hostid < start + kRangeSize) {
          std::uint64_t end = r.hostid + r.size;
          start = kFirstHostId + ((end - kFirstHostId + kRangeSize - 1) / kRangeSize) * kRangeSize;
          moved = true;
        }
      }
    }
    if (start > kMaxHostId - kRangeSize)
      return fail("no free uid range left for nsgroup \"{}\"", group);
    result.push_back(UidRange{group, start, kRangeSize});
  }
  std::sort(result.begin(), result.end(),
            [](const UidRange& a, const UidRange& b) { return a.nsgroup < b.nsgroup; });
  MOS_TRY(check_uid_ranges(result));
  return result;
}

}  // namespace mos::sysroot
