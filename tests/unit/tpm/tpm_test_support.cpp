#include "unit/tpm/tpm_test_support.hpp"

#include <gtest/gtest.h>

#include "trust/keyset.hpp"
#include "unit/support/test_support.hpp"

namespace mos::tpm::testing {

fs::path snakeoil_keyset() {
  return test::fixture_path("snakeoil-keyset");
}

const fs::path& made_keyset() {
  static TempDir root = [] {
    auto dir = TempDir::create();
    if (!dir) std::abort();
    return std::move(*dir);
  }();
  static fs::path dir = [] {
    auto made = trust::create_keyset("unit", trust::KeysetOptions{}, root.path());
    if (!made) {
      ADD_FAILURE() << made.error().message;
      return fs::path();
    }
    return *made;
  }();
  return dir;
}

KeysetCopy copy_of_made_keyset() {
  const fs::path& source = made_keyset();
  auto root = TempDir::create();
  if (!root) std::abort();
  fs::path dir = root->path() / "unit";
  std::error_code ec;
  fs::copy(source, dir, fs::copy_options::recursive, ec);
  if (ec) ADD_FAILURE() << "copying " << source << ": " << ec.message();
  return KeysetCopy{std::move(*root), dir};
}

Sha256 snakeoil_production() {
  return *parse_sha256_hex("e5936c3e9f1b8f53d1ba5b597ed11ba0d66e29f9558d02c96e99a149b75dada8", "");
}
Sha256 snakeoil_limited() {
  return *parse_sha256_hex("cecf0859d0c82f9b074d48d300cc83dae05df98da4144f4beaef88faf967f38c", "");
}
Sha256 snakeoil_tpm() {
  return *parse_sha256_hex("254d1d3854f71ad22f7046d037a898a51880415b01ecdc577e242a146116eea0", "");
}

}  // namespace mos::tpm::testing
