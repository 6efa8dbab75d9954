#pragma once
// Shared fixtures of the tpm unit tests: the snakeoil fixture keyset (certificates and the
// original's pcr7data, no private keys) and a keyset made by trust, with its keys, once per test
// binary (key generation is the slow part).
#include <filesystem>
#include <string>

#include "core/file.hpp"
#include "tpm/digest.hpp"

namespace mos::tpm::testing {

namespace fs = std::filesystem;

fs::path snakeoil_keyset();

// A keyset "unit" (no pcr7data) created in a temp root on first use, removed at exit; tests
// copy it when they change it.
const fs::path& made_keyset();

// A fresh copy of made_keyset() in its own temp root: {root, root/unit}.
struct KeysetCopy {
  TempDir root;
  fs::path dir;
};
KeysetCopy copy_of_made_keyset();

// The §9 values.
Sha256 snakeoil_production();
Sha256 snakeoil_limited();
Sha256 snakeoil_tpm();

}  // namespace mos::tpm::testing
