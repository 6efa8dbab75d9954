#pragma once
// What a change makes of the system, decided before anything is written: the new system
// manifest and the signed triples it needs. Pure functions over verified inputs, so every rule
// (partial/complete merge, product, anti-rollback, uid ranges) is unit-tested without a store.
//
// Anti-rollback (refused unless allow_downgrade):
//   - a target whose version is lower than the installed target of the same name (ordering in
//     version_order.hpp; versions that do not parse cannot be ordered and are refused too);
//   - an install manifest created before the one last applied, by the RFC 3339 time of the
//     org.opencontainers.image.created annotation of the two OCI install manifests (compared
//     only when both carry it; a malformed one is refused).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "sysroot/installed_system.hpp"
#include "sysroot/system_manifest.hpp"

namespace mos::sysroot {

struct IncomingInstall {
  VerifiedTriple triple;
  std::string reference;               // the URL it came from
  std::optional<std::string> created;  // annotation of its OCI install manifest
};

struct PlannedSystem {
  SystemManifest record;
  std::map<std::string, SignedTriple> triples;  // every source the record uses
  std::vector<manifest::Target> targets;        // resolved, in record order
  std::vector<std::string> downgrades;          // what --allow-downgrade let through
};

// First install: a complete manifest becomes the whole system.
Result<PlannedSystem> plan_install(const IncomingInstall& incoming);

// complete: the new targets and storage replace all; partial: targets and storage named anew
// replace those of the same name, the rest stay (with the install manifest they came from).
Result<PlannedSystem> plan_update(const InstalledSystem& current, const IncomingInstall& incoming,
                                  bool allow_downgrade);

}  // namespace mos::sysroot
