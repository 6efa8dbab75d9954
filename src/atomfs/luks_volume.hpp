#pragma once
// LUKS2 volumes through libcryptsetup: a machine's secure factory partition (the SBF, boot/
// factory_partitions.hpp) is one, keyed by a passphrase that only the TPM keeps. Formatting and
// checking a passphrase need no kernel support; opening needs device-mapper with dm-crypt (a
// booted machine's kernel has it, the build hosts do not).
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mos::atomfs {

// Formats `device` as LUKS2 (aes-xts-plain64, a 512-bit volume key from the kernel's random
// source) with one keyslot for `passphrase`, labelled `label`. What it held is lost.
Status format_luks2(const std::string& device, std::string_view passphrase, std::string_view label);
// Whether `passphrase` opens a keyslot of the LUKS volume on `device` (cryptsetup open
// --test-passphrase): an error naming the device when it does not.
Status check_luks_passphrase(const std::string& device, std::string_view passphrase);

class LuksDevice {
 public:
  // Opens the volume as /dev/mapper/NAME (read-write).
  static Result<LuksDevice> open(const std::string& device, std::string_view passphrase,
                                 std::string name);
  LuksDevice(LuksDevice&& other) noexcept;
  LuksDevice& operator=(LuksDevice&&) = delete;
  ~LuksDevice();  // closes it if close() was not called

  const std::string& path() const { return path_; }
  Status close();

 private:
  LuksDevice(std::string name, std::string path) : name_(std::move(name)), path_(std::move(path)) {}
  std::string name_;
  std::string path_;
};

}  // namespace mos::atomfs
