#pragma once
// OVMF's variable store (the VARS half of the firmware's flash), read and written so that a
// keyset's secure-boot keys are enrolled without booting anything: Debian packages no tool that
// enrolls custom keys (virt-firmware is not packaged), so this follows edk2's formats:
//   EFI_FIRMWARE_VOLUME_HEADER (FileSystemGuid gEfiSystemNvDataFvGuid, a block map, a 16-bit
//   checksum) · VARIABLE_STORE_HEADER (gEfiAuthenticatedVariableGuid, size, Formatted 0x5a,
//   Healthy 0xfe) · AUTHENTICATED_VARIABLE_HEADER + UTF-16 name + data per variable, 4-byte
//   aligned, erased space 0xff · the fault-tolerant-write working block and spare after it.
// Only variables in state VAR_ADDED count (edk2 leaves deleted ones behind until reclaim), and
// one in state VAR_ADDED & VAR_IN_DELETED_TRANSITION when no VAR_ADDED copy of it exists (an
// update cut short, which edk2 also treats as live).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "tpm/efi_variable.hpp"
#include "tpm/pcr7_prediction.hpp"

namespace mos::boot {

// EFI_VARIABLE_* attribute bits.
inline constexpr std::uint32_t kVarNonVolatile = 0x1;
inline constexpr std::uint32_t kVarBootService = 0x2;
inline constexpr std::uint32_t kVarRuntime = 0x4;
inline constexpr std::uint32_t kVarTimeBasedAuthenticatedWrite = 0x20;

struct FirmwareVariable {
  std::string name;  // ASCII (every variable this code writes or compares is)
  tpm::EfiGuid vendor;
  std::uint32_t attributes = 0;
  std::string data;
  std::string timestamp;  // EFI_TIME, 16 bytes (zeros when the variable is not time-based)
};

// The live variables of a VARS image, in store order. `what` names the image in messages.
Result<std::vector<FirmwareVariable>> read_variable_store(std::string_view image,
                                                          std::string_view what);

// An X.509 certificate (DER) and the SignatureOwner of its EFI_SIGNATURE_DATA (the keyset's
// guid file): the same pair the PCR7 prediction hashes.
using EnrolledCertificate = tpm::EnrolledCertificate;

inline constexpr std::size_t kEfiTimeSize = 16;

// An EFI_TIME of a UTC wall-clock time (nanosecond, time zone and daylight fields zero), as the
// firmware stamps time-based authenticated variables.
std::string efi_time(int year, int month, int day, int hour, int minute, int second);

struct SecureBootEnrolment {
  EnrolledCertificate pk;
  std::vector<EnrolledCertificate> kek;  // at least one
  std::vector<EnrolledCertificate> db;   // at least one
};

// `empty_vars` (Debian's OVMF_VARS_4M.fd or OVMF_VARS.fd, no variables set) with PK, KEK and db
// holding the given certificates (each an EFI_SIGNATURE_LIST of one X.509 entry; a certificate
// repeated in one variable is kept once), no Microsoft keys, and secure boot enabled — what
// `virt-fw-vars --secure-boot --no-microsoft --set-pk --add-kek --add-db` writes: also dbx with
// one placeholder entry (SHA-256 of nothing, owned by OVMF's EnrollDefaultKeys guid),
// SecureBootEnable 1 and CustomMode 0. Like Debian's OVMF_VARS_4M.snakeoil.fd (made by booting
// EnrollDefaultKeys.efi) it also holds an empty certdb and VendorKeysNv 0 (the keys are not the
// vendor's defaults), which the firmware would otherwise create itself, with VendorKeys 1. The
// variables come in the snakeoil image's order: certdb, db, dbx, KEK, PK, VendorKeysNv,
// SecureBootEnable, CustomMode. Refused when the image is not an empty store of the expected
// format, a certificate is not DER X.509, or KEK or db is empty.
// `timestamp` is the EFI_TIME stamped on PK, KEK, db and dbx (kEfiTimeSize bytes); empty = all
// zeros, which any later signed update's time stamp is newer than. Never the clock: the same
// inputs give the same bytes.
Result<std::string> enroll_secure_boot(std::string_view empty_vars,
                                       const SecureBootEnrolment& enrolment, std::string_view what,
                                       std::string_view timestamp = {});

}  // namespace mos::boot
