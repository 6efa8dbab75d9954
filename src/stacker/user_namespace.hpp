#pragma once
// A build by an ordinary user runs as root of a user namespace of its own, as stacker's does
// (spec: stacker.md §8): the caller's uid and gid become 0 and its subordinate ranges from
// /etc/subuid and /etc/subgid become 1..N (through the setuid newuidmap/newgidmap of Debian's
// uidmap), so that a run script's chown works, layers are unpacked with their owners and packed
// with the ids the image sees. Without subordinate ranges only 0 is mapped: chown to another id
// then fails, which is said once.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mos::stacker {

struct SubordinateRange {
  std::uint32_t first = 0;  // on the host
  std::uint32_t count = 0;
};

// The first range of `text` (the /etc/subuid format, NAME_OR_ID:FIRST:COUNT per line) that names
// `user` or `id`; nothing when none does. Malformed lines are skipped, as shadow's tools do.
std::optional<SubordinateRange> find_subordinate_range(std::string_view text, std::string_view user,
                                                       std::uint32_t id);

// Whether this process runs in a user namespace other than the host's (its uid_map is not the
// identity over every id).
bool in_user_namespace();

// Starts the rest of this process's work as root of a new user namespace: forks; the child
// returns nothing and goes on, mapped; the parent waits for it and returns its exit status (it
// forwards SIGINT and SIGTERM). Call before any thread is started.
Result<std::optional<int>> continue_in_user_namespace();

}  // namespace mos::stacker
