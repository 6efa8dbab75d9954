#pragma once
// Authenticode signatures of EFI images, made and checked with sbsigntool (Debian's sbsign and
// sbverify): the format firmware and shim verify, produced by the tool distributions sign their
// boot chains with. No Debian library signs PE images, and sbsign already takes the keyset's
// key and certificate files as they lie on disk.
#include <filesystem>
#include <string_view>

#include "core/result.hpp"

namespace mos::boot {

struct SigningKey {
  std::filesystem::path key;   // PEM private key (a keyset's privkey.pem)
  std::filesystem::path cert;  // PEM certificate (its cert.pem)
};

// Writes `image` signed with `signer` to `out` (atomically, 0644). `what` names the image.
Status sign_efi_image(std::string_view image, const SigningKey& signer,
                      const std::filesystem::path& out, std::string_view what);

// Whether the signed image at `path` verifies against the PEM certificate `cert`: an error
// naming both when it does not (unsigned, another signer, modified after signing).
Status verify_efi_image(const std::filesystem::path& path, const std::filesystem::path& cert);

}  // namespace mos::boot
