#include "atomfs/verity_device.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <memory>
#include <system_error>

#include <fmt/format.h>

#include "atomfs/cryptsetup_session.hpp"
#include "core/file.hpp"
#include "core/unique_fd.hpp"

namespace mos::atomfs {

bool device_mapper_available() {
  // The node alone proves nothing: libdevmapper creates it wherever it is missing, device-mapper
  // or not (any cryptsetup run does). Opening it reaches the driver (and loads it if needed),
  // once per process: every image mount asks, and on a kernel without it each open is a module
  // request.
  static const bool available = [] {
    UniqueFd control(::open("/dev/mapper/control", O_RDWR | O_CLOEXEC));
    return static_cast<bool>(control);
  }();
  return available;
}

std::string verity_device_name(std::string_view layer_hex) {
  std::array<std::uint8_t, 4> random{};
  if (::getrandom(random.data(), random.size(), 0) != static_cast<ssize_t>(random.size()))
    random = {};  // the pid still separates concurrent mounts
  return fmt::format("mos-verity-{}-{:02x}{:02x}{:02x}{:02x}-{}", layer_hex.substr(0, 16),
                     random[0], random[1], random[2], random[3], ::getpid());
}

Result<VerityDevice> VerityDevice::activate(const std::string& block_device,
                                            std::uint64_t hash_offset,
                                            const image::Sha256Bytes& root_hash, std::string name) {
  if (!device_mapper_available())
    return fail("device-mapper is not available here (/dev/mapper/control does not open)");
  quiet_default_crypt_log();
  CryptLog log;
  crypt_device* raw = nullptr;
  // Data and hash tree are on the same device: the tree starts where the squashfs ends.
  if (int rc = crypt_init_data_device(&raw, block_device.c_str(), block_device.c_str()); rc < 0)
    return fail("opening {} for dm-verity: {}", block_device, crypt_failure(rc, log));
  CryptHandle cd(raw);
  crypt_set_log_callback(cd.get(), log_to_crypt_log, &log);
  crypt_params_verity params{};
  params.hash_area_offset = hash_offset;
  if (int rc = crypt_load(cd.get(), CRYPT_VERITY, &params); rc < 0)
    return fail("reading the verity superblock of {} at byte {}: {}", block_device, hash_offset,
                crypt_failure(rc, log));
  crypt_params_verity loaded{};
  if (int rc = crypt_get_verity_info(cd.get(), &loaded); rc < 0)
    return fail("reading the verity parameters of {}: {}", block_device, crypt_failure(rc, log));
  // A superblock describing less data than lies before the tree would leave bytes unverified.
  if (loaded.data_size * loaded.data_block_size != hash_offset)
    return fail("the verity superblock of {} covers {} bytes of data, the layer has {}",
                block_device, loaded.data_size * loaded.data_block_size, hash_offset);
  // The kernel refuses a wrong root hash only when a block is read; reading the first block at
  // activation (CRYPT_VERITY_CHECK_HASH would hash everything) is left to the mount.
  int rc = crypt_activate_by_volume_key(cd.get(), name.c_str(),
                                        reinterpret_cast<const char*>(root_hash.data()),
                                        root_hash.size(), CRYPT_ACTIVATE_READONLY);
  if (rc < 0) return fail("activating dm-verity over {}: {}", block_device, crypt_failure(rc, log));
  return VerityDevice(name, "/dev/mapper/" + name);
}

VerityDevice::VerityDevice(VerityDevice&& other) noexcept
    : name_(std::move(other.name_)), path_(std::move(other.path_)), owned_(other.owned_) {
  other.owned_ = false;
}

VerityDevice::~VerityDevice() {
  if (owned_ && !name_.empty()) crypt_deactivate_by_name(nullptr, name_.c_str(), 0);
}

Status VerityDevice::release_when_unused() {
  if (int rc = crypt_deactivate_by_name(nullptr, name_.c_str(), CRYPT_DEACTIVATE_DEFERRED); rc < 0)
    return fail("asking for the removal of {} once unmounted: {}", path_,
                std::error_code(-rc, std::generic_category()).message());
  owned_ = false;
  return {};
}

}  // namespace mos::atomfs
