#pragma once
// PCR7 of a machine that boots a keyset's shim and UKI with Secure Boot, as a pure function of
// explicit inputs (the original's ComputePCR7 read the keyset and hard-coded the rest).
//
// PCR7 starts at zero and each event extends it: pcr = SHA256(pcr || digest). The events:
//   firmware (EV_EFI_VARIABLE_DRIVER_CONFIG)  SecureBoot = 01, PK, KEK, db, dbx
//   firmware (EV_SEPARATOR)                  00000000
//   firmware (EV_EFI_VARIABLE_AUTHORITY)     db: the db entry that allowed shim
//   shim     (EV_EFI_VARIABLE_AUTHORITY)     SbatLevel, MokListTrusted (shim < 15.7 only)
//   shim     (EV_EFI_VARIABLE_AUTHORITY)     the certificate that allowed the UKI: one event per
//                                            UKI key, so one PCR7 value per key
// The result is an event list, each with what it is and its digest, so that it can be laid next
// to a machine's TCG event log (/sys/kernel/security/tpm0/binary_bios_measurements) event by
// event when a prediction and a measured PCR7 differ.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "tpm/digest.hpp"
#include "tpm/efi_variable.hpp"
#include "tpm/shim_sbat.hpp"

namespace mos::tpm {

// TCG event types of the PCR7 events (TCG PC Client PFP §10.4.1).
inline constexpr std::uint32_t kEvSeparator = 0x00000004;
inline constexpr std::uint32_t kEvEfiVariableDriverConfig = 0x80000001;
inline constexpr std::uint32_t kEvEfiVariableAuthority = 0x800000e0;

// The owner GUID of the one dbx entry in the original bootkit's OVMF variables.
inline constexpr EfiGuid kOriginalDbxOwner =
    efi_guid(0xa0baa8a3, 0x041d, 0x48a8, {0xbc, 0x87, 0xc3, 0x6d, 0x12, 0x1b, 0x5e, 0x3d});

// A certificate enrolled in a UEFI variable: its DER bytes and the owner GUID of its entry (the
// keyset's guid file).
struct EnrolledCertificate {
  std::string der;
  EfiGuid owner;
};

// How shim measures the certificate that allowed the UKI.
enum class UkiAuthority {
  // A shim built with a vendor db (VENDOR_DB_FILE), as the original bootkit's: "vendor_db",
  // EFI_IMAGE_SECURITY_DATABASE_GUID, the EFI_SIGNATURE_DATA (zero owner GUID + DER).
  vendor_db,
  // A shim built with one vendor certificate (VENDOR_CERT_FILE) that measures it as such: "Shim",
  // SHIM_LOCK_GUID, the bare DER.
  vendor_cert,
  // Debian's shim 16.1 (measured under qemu with our bootkit, tests/e2e/bootkit.bats): it
  // mirrors its vendor certificate into MokListRT and measures the entry that allowed the UKI:
  // "MokListRT", SHIM_LOCK_GUID, the EFI_SIGNATURE_DATA (SHIM_LOCK_GUID owner + DER).
  mok_list_rt,
};

// A UKI signing key whose PCR7 is predicted: "uki-production" and its certificate.
struct UkiKey {
  std::string name;
  std::string der;
};

struct Pcr7Inputs {
  EnrolledCertificate pk;
  EnrolledCertificate kek;
  EnrolledCertificate db;
  // dbx: one SHA-256 list owned by dbx_owner. Default: the original's one entry, sha256("").
  std::vector<Sha256> dbx_hashes = {sha256("")};
  EfiGuid dbx_owner = kOriginalDbxOwner;
  // The variable shim writes and measures (shim_sbat.hpp tells which of a shim's levels).
  std::string sbat_level = std::string(kOriginalSbatLevel);
  // The MokListTrusted byte shim measured into PCR7 before 15.7 (01 = trusted, the original's
  // assumption); nullopt for shims from 15.7 on, which log it in PCR14 only.
  std::optional<std::uint8_t> mok_list_trusted = 1;
  UkiAuthority uki_authority = UkiAuthority::vendor_db;
  std::vector<UkiKey> uki_keys;
};

struct Pcr7Event {
  std::string description;  // "SbatLevel (SHIM_LOCK): sbat,1,2021030218\n"
  std::uint32_t event_type = 0;
  Sha256 digest{};
};

struct UkiPcr7 {
  std::string key;       // "uki-production"
  Pcr7Event last_event;  // its authority event
  Sha256 pcr7{};         // the PCR7 after the common events and this one
};

struct Pcr7Prediction {
  std::vector<Pcr7Event> common_events;  // up to shim's own measurements
  Sha256 common_pcr7{};                  // PCR7 after them
  std::vector<UkiPcr7> keys;             // in the order of Pcr7Inputs::uki_keys

  // The value for one key ("uki-tpm"), or an error naming the keys there are.
  Result<Sha256> pcr7_of(std::string_view key) const;
  // Every event of a boot with that key, in order.
  Result<std::vector<Pcr7Event>> events_of(std::string_view key) const;
};

Result<Pcr7Prediction> predict_pcr7(const Pcr7Inputs& inputs);

// Replays events from a zero PCR, as a TPM would.
Sha256 replay_pcr7(const std::vector<Pcr7Event>& events);

// The UKI keys of a keyset, in the order computePCR7 prints them.
inline constexpr std::string_view kUkiKeyNames[] = {"uki-production", "uki-limited", "uki-tpm"};

// Inputs with the keyset's certificates and guids (uefi-pk, uefi-kek, uefi-db, uki-*: cert.pem
// and guid) and everything else from `base`.
Result<Pcr7Inputs> keyset_pcr7_inputs(const std::filesystem::path& keyset, Pcr7Inputs base = {});

// The DER bytes of the first certificate of a PEM file, as the original's pem.Decode took it.
Result<std::string> certificate_der_from_pem_file(const std::filesystem::path& path);

}  // namespace mos::tpm
