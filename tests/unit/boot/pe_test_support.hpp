#pragma once
// Checks of EFI images through Debian's own tools (objdump, objcopy, sbsign, sbverify), shared by
// the PE, UKI and shim tests: what those tools read is what the firmware and signers will see.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/result.hpp"

namespace mos::boot::test {

inline constexpr std::string_view kDebianStub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
inline constexpr std::string_view kDebianShim = "/usr/lib/shim/shimx64.efi";

// One row of `objdump -h`.
struct ObjdumpSection {
  std::string name{};
  std::uint64_t size = 0;
  std::uint64_t vma = 0;
  std::uint64_t file_offset = 0;
  std::string flags{};  // "CONTENTS, ALLOC, LOAD, READONLY, DATA"
};

// The bytes written to `dir/name`; the path.
std::filesystem::path write_to(const std::filesystem::path& dir, std::string_view name,
                               std::string_view bytes);

// `objdump -h FILE`'s section table (a failure of objdump is a test failure).
std::vector<ObjdumpSection> objdump_sections(const std::filesystem::path& file);

// A value from `objdump -p FILE` ("SizeOfImage", "CheckSum"), read as hex.
std::uint64_t objdump_header_value(const std::filesystem::path& file, std::string_view field);

// A section's bytes as objcopy extracts them (independent of our parser).
std::string objcopy_section(const std::filesystem::path& file, std::string_view name);

struct SigningKey {
  std::filesystem::path key;
  std::filesystem::path cert;      // PEM
  std::filesystem::path cert_der;  // the same certificate, DER
};

// A fresh self-signed RSA 2048 key and certificate under `dir`.
SigningKey make_signing_key(const std::filesystem::path& dir, std::string_view common_name);

// sbsign signs `image` with `key`, then sbverify accepts the signed file with the certificate.
Status sign_and_verify(const std::filesystem::path& image, const SigningKey& key);

// The PE checksum computed here independently (32-bit words folded at the end), for comparison.
std::uint32_t reference_pe_checksum(std::string_view image);

// Reads a Debian file, or "" when it is absent (the caller skips the test).
std::string read_debian_file(std::string_view path);

}  // namespace mos::boot::test
