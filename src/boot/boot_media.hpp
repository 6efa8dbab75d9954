#pragma once
// Boot media of a keyset (mosb mkprovision; mkboot): an ISO 9660 image labelled OCI-BOOT that
// firmware boots with no EFI shell script, and that the keyset's initramfs recognises as a medium
// (docs/boot.md, "Boot media"):
//   - an El Torito EFI boot image, also the image's GPT EFI partition (isohybrid, so the file
//     boots as a CD or as a disk): a FAT ESP with \EFI\BOOT\BOOTX64.EFI, the keyset's signed
//     shim, and \EFI\BOOT\grubx64.efi, its signed UKI (where that shim looks for it);
//   - oci/: an OCI layout with the signed `livecd` install manifest (machine/livecd:1.0.0) and
//     its target, the keyset's hostfs image, which the initramfs verifies with the manifest CA
//     and mounts through dm-verity as the live system's root;
//   - mos/boot.json: what the live system does (kBootActionProvision, or kBootActionInstall with
//     the install manifest's URL and whether it is reached over plain HTTP).
// The ESP is made with dosfstools and mtools, the ISO with xorriso (Debian's packages; no
// maintained library writes El Torito images and hybrid GPTs). Every timestamp is the given
// epoch, so the same inputs give the same bytes.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mos::boot {

inline constexpr std::string_view kBootMediaLabel = "OCI-BOOT";
inline constexpr std::string_view kBootMediaLivecd = "machine/livecd:1.0.0";
inline constexpr std::string_view kBootMediaLivecdTarget = "livecd";
inline constexpr std::string_view kBootMediaActionFile = "mos/boot.json";
inline constexpr std::string_view kBootActionProvision = "provision";
inline constexpr std::string_view kBootActionInstall = "install";

struct BootMediaRequest {
  std::filesystem::path keyset_dir;  // with its bootkit
  std::string keyset;
  std::string project;
  std::string action;       // kBootActionProvision or kBootActionInstall
  std::string install_url;  // install: the install manifest to install
  bool plain_http = false;  // install: the live system reaches it without TLS
  std::filesystem::path output;
  std::int64_t epoch = 0;  // every timestamp on the media (SOURCE_DATE_EPOCH)
};

struct BootMediaReport {
  std::filesystem::path output;
  std::uintmax_t size = 0;
  std::string livecd_digest;  // the livecd install manifest on it
};

// Builds the medium at request.output (written beside it, then renamed into place: a reader sees
// the old file or the new one). Fails, leaving nothing new, when the keyset has no bootkit.
Result<BootMediaReport> build_boot_media(const BootMediaRequest& request);

// Every timestamp on a keyset's media: SOURCE_DATE_EPOCH when set, else the time of the
// bootkit's UKI, so that the same bootkit gives the same bytes.
Result<std::int64_t> media_epoch(const std::filesystem::path& keyset_dir);

// What mos/boot.json holds, parsed strictly (the initramfs and the live system read it).
struct BootAction {
  std::string action;
  std::string install_url;  // install only
  bool plain_http = false;  // install only
};
Result<BootAction> parse_boot_action(std::string_view json, std::string_view where);
std::string boot_action_json(const BootAction& action);

}  // namespace mos::boot
