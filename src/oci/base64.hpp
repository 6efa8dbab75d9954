#pragma once
// Standard base64 (RFC 4648, padded), through OpenSSL: registry credentials ("auth",
// "Authorization: Basic") and binary files inside JSON records (sysroot/booted_system.hpp).
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mos::oci {

std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);

}  // namespace mos::oci
