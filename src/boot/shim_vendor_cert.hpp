#pragma once
// Making Debian's shim (shim-unsigned's shimx64.efi) trust a keyset instead of Debian: its
// `.vendor_cert` section is shim's cert_table — a 16-byte little-endian header {authorized size,
// deauthorized size, authorized offset, deauthorized offset} followed by the authorized and the
// deauthorized (dbx) bytes. Debian builds shim with one vendor *certificate* (VENDOR_CERT_FILE),
// not a vendor db, so the authorized part is one DER certificate. The section is replaced at its
// own address, read from the binary.
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mos::boot {

struct ShimCertTable {
  std::string authorized;    // one DER certificate (this shim's build), or an ESL for a db build
  std::string deauthorized;  // an EFI_SIGNATURE_LIST sequence, possibly empty
};

Result<ShimCertTable> parse_shim_cert_table(std::string_view section, std::string_view what);
std::string shim_cert_table_bytes(const ShimCertTable& table);

// The shim image with `vendor_cert_der` as its only vendor certificate and an empty vendor dbx.
// `what` names the shim in messages. Unsigned: sign it with the keyset's uefi-db key.
Result<std::string> shim_with_vendor_cert(std::string_view shim_image,
                                          std::string_view vendor_cert_der, std::string_view what);

}  // namespace mos::boot
