#pragma once
// Keyset, project and SUDI serial names become directory names under the keyset root, so they
// are checked before any path is built from them.
#include <string_view>

#include "core/result.hpp"

namespace mos::trust {

// Refuses names that could escape their parent directory or hide in it: empty, '/', "..",
// a leading '.', control characters, more than 255 bytes. `kind` names the thing in the error
// ("keyset name", "project name", "SUDI serial").
Status validate_name(std::string_view kind, std::string_view name);

}  // namespace mos::trust
