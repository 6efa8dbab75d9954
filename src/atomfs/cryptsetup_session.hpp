#pragma once
// What every libcryptsetup caller here shares: the crypt_device handle freed on every path, and
// the library's last error kept for the message (nothing is printed: the caller says what failed,
// once).
#include <libcryptsetup.h>

#include <memory>
#include <string>

namespace mos::atomfs {

struct CryptFree {
  void operator()(crypt_device* cd) const { crypt_free(cd); }
};
using CryptHandle = std::unique_ptr<crypt_device, CryptFree>;

struct CryptLog {
  std::string last;  // the last error libcryptsetup logged
};

// The log callback for crypt_set_log_callback(cd, log_to_crypt_log, &log).
void log_to_crypt_log(int level, const char* message, void* user);
// Calls without a device (deactivation by name) log through the default callback: quiet it.
void quiet_default_crypt_log();
// "<last logged error> (<errno text>)" for a negative return code.
std::string crypt_failure(int rc, const CryptLog& log);

}  // namespace mos::atomfs
