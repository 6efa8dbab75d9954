#pragma once
// Layers verified by the kernel: a read-only dm-verity device over a layer blob (its squashfs,
// then its hash tree at the squashfs's end), set up with libcryptsetup. The kernel checks every
// block against the root hash as it is read, so a layer is not hashed whole before it is mounted
// (mount_image.hpp uses this where device-mapper exists, the userspace check elsewhere).
//
// Lifetime: after the squashfs on the device is mounted, release_when_unused() asks the kernel
// for a deferred removal: the device goes away with the unmount of its last user, like a loop
// device with autoclear, so an unmount or a crash of the process that mounted leaves nothing to
// clean up by name.
#include <cstdint>
#include <string>

#include "core/result.hpp"
#include "image/verity.hpp"

namespace mos::atomfs {

// Whether this kernel offers device-mapper (/dev/mapper/control opens; asked once per process).
// dm-verity and dm-crypt are loaded on demand by the kernel (or by the initramfs beforehand).
bool device_mapper_available();

class VerityDevice {
 public:
  // Opens `name` over the read-only device `block_device` whose verity superblock is at
  // hash_offset (bytes; the data before it). Fails without device-mapper or with a superblock
  // that does not describe exactly hash_offset bytes of data.
  static Result<VerityDevice> activate(const std::string& block_device, std::uint64_t hash_offset,
                                       const image::Sha256Bytes& root_hash, std::string name);
  VerityDevice(VerityDevice&& other) noexcept;
  VerityDevice& operator=(VerityDevice&&) = delete;
  ~VerityDevice();  // removes the device unless release_when_unused() handed it to the kernel

  const std::string& path() const { return path_; }  // /dev/mapper/NAME
  Status release_when_unused();

 private:
  VerityDevice(std::string name, std::string path)
      : name_(std::move(name)), path_(std::move(path)) {}
  std::string name_;
  std::string path_;
  bool owned_ = true;
};

// A device-mapper name for a layer that no other mount of the same layer takes:
// "mos-verity-<16 hex of the digest>-<8 random hex>".
std::string verity_device_name(std::string_view layer_hex);

}  // namespace mos::atomfs
