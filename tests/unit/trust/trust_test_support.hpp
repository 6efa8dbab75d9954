#pragma once
// Shared fixtures of the trust unit tests: a keyset made once per test binary (key generation
// is the slow part) in a temporary root, and certificates made to order. (Reading files and the
// like: tests/unit/support.)
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "trust/certificate.hpp"
#include "trust/keys.hpp"
#include "trust/keyset.hpp"

namespace mos::trust::testing {

// A keyset "unit" created in a temp root on first use and removed at exit.
struct SharedKeyset {
  TempDir root;
  fs::path dir;
};
const SharedKeyset& shared_keyset();

// A fresh CA (self-signed, CA:TRUE) and its key.
struct Issued {
  PkeyPtr key;
  X509Ptr cert;
  std::string pem;
};
Issued make_ca(std::string cn, KeyAlgorithm algorithm = KeyAlgorithm::ecdsa_p256);
// A leaf signed by ca with the given validity and code-signing usage.
Issued make_leaf(const Issued& ca, std::string cn, TimePoint not_before, TimePoint not_after,
                 bool code_signing = true, KeyAlgorithm algorithm = KeyAlgorithm::ecdsa_p256);

inline TimePoint now() {
  return std::chrono::time_point_cast<std::chrono::seconds>(Clock::now());
}

}  // namespace mos::trust::testing
