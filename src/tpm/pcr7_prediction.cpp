#include "tpm/pcr7_prediction.hpp"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/file.hpp"
#include "trust/keyset.hpp"
#include "trust/openssl.hpp"

namespace mos::tpm {

namespace {

constexpr std::size_t kMaxCertificateFile = 1 << 20;

// A value for a one-line description: printable ASCII kept, the rest escaped ("\n", "\x01").
std::string escaped(std::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '\n')
      out += "\\n";
    else if (c == '\\')
      out += "\\\\";
    else if (byte < 0x20 || byte >= 0x7f)
      out += fmt::format("\\x{:02x}", byte);
    else
      out += c;
  }
  return out;
}

std::string guid_name(const EfiGuid& guid) {
  if (guid == kEfiGlobalVariable) return "EFI_GLOBAL_VARIABLE";
  if (guid == kImageSecurityDatabase) return "EFI_IMAGE_SECURITY_DATABASE";
  if (guid == kShimLock) return "SHIM_LOCK";
  return guid.str();
}

Pcr7Event variable_event(std::uint32_t type, std::string_view name, const EfiGuid& vendor,
                         std::string_view data, std::string_view what) {
  return Pcr7Event{fmt::format("{} ({}): {}", name, guid_name(vendor), what), type,
                   variable_digest(name, vendor, data)};
}

Result<Pcr7Event> certificate_variable(std::string_view name, const EfiGuid& vendor,
                                       const EnrolledCertificate& cert, std::string_view what) {
  if (cert.der.empty()) return fail("the {} certificate is missing", what);
  MOS_TRY_ASSIGN(std::string list, signature_list(kCertX509, cert.owner, {cert.der}));
  return variable_event(kEvEfiVariableDriverConfig, name, vendor, list,
                        fmt::format("X.509 list, owner {}, {} certificate ({} bytes)",
                                    cert.owner.str(), what, cert.der.size()));
}

Result<Pcr7Event> uki_authority_event(const Pcr7Inputs& inputs, const UkiKey& key) {
  if (key.der.empty()) return fail("the {} certificate is missing", key.name);
  if (inputs.uki_authority == UkiAuthority::vendor_db)
    return variable_event(kEvEfiVariableAuthority, "vendor_db", kImageSecurityDatabase,
                          signature_data(kZeroGuid, key.der),
                          fmt::format("{} certificate, zero owner", key.name));
  if (inputs.uki_authority == UkiAuthority::mok_list_rt)
    return variable_event(kEvEfiVariableAuthority, "MokListRT", kShimLock,
                          signature_data(kShimLock, key.der),
                          fmt::format("{} certificate, SHIM_LOCK owner (shim's vendor certificate "
                                      "in MokListRT)",
                                      key.name));
  return variable_event(kEvEfiVariableAuthority, "Shim", kShimLock, key.der,
                        fmt::format("{} certificate (shim's vendor certificate)", key.name));
}

}  // namespace

Result<Pcr7Prediction> predict_pcr7(const Pcr7Inputs& inputs) {
  Pcr7Prediction prediction;
  auto& events = prediction.common_events;
  events.push_back(variable_event(kEvEfiVariableDriverConfig, "SecureBoot", kEfiGlobalVariable,
                                  std::string(1, '\x01'), "01 (enabled)"));
  MOS_TRY_ASSIGN(auto pk, certificate_variable("PK", kEfiGlobalVariable, inputs.pk, "uefi-pk"));
  events.push_back(std::move(pk));
  MOS_TRY_ASSIGN(auto kek, certificate_variable("KEK", kEfiGlobalVariable, inputs.kek, "uefi-kek"));
  events.push_back(std::move(kek));
  MOS_TRY_ASSIGN(auto db, certificate_variable("db", kImageSecurityDatabase, inputs.db, "uefi-db"));
  events.push_back(std::move(db));

  std::vector<std::string> dbx_entries;
  for (const auto& hash : inputs.dbx_hashes) dbx_entries.emplace_back(bytes_of(hash));
  if (dbx_entries.empty()) {
    // Firmware measures an absent dbx as a variable with no data.
    events.push_back(
        variable_event(kEvEfiVariableDriverConfig, "dbx", kImageSecurityDatabase, "", "empty"));
  } else {
    MOS_TRY_ASSIGN(std::string dbx, signature_list(kCertSha256, inputs.dbx_owner, dbx_entries));
    events.push_back(variable_event(
        kEvEfiVariableDriverConfig, "dbx", kImageSecurityDatabase, dbx,
        fmt::format("SHA-256 list, owner {}, {} hash(es), first {}", inputs.dbx_owner.str(),
                    dbx_entries.size(), to_hex(inputs.dbx_hashes.front()))));
  }
  events.push_back(
      Pcr7Event{"separator: 00000000", kEvSeparator, sha256(std::string_view("\0\0\0\0", 4))});
  // The firmware's authority event for shim: the db entry whose certificate signed it.
  events.push_back(variable_event(
      kEvEfiVariableAuthority, "db", kImageSecurityDatabase,
      signature_data(inputs.db.owner, inputs.db.der),
      fmt::format("uefi-db certificate, owner {} (allowed shim)", inputs.db.owner.str())));
  if (inputs.sbat_level.empty()) return fail("the SbatLevel shim measures is empty");
  events.push_back(variable_event(kEvEfiVariableAuthority, "SbatLevel", kShimLock,
                                  inputs.sbat_level, escaped(inputs.sbat_level)));
  if (inputs.mok_list_trusted) {
    std::string byte(1, static_cast<char>(*inputs.mok_list_trusted));
    events.push_back(variable_event(kEvEfiVariableAuthority, "MokListTrusted", kShimLock, byte,
                                    fmt::format("{:02x}", *inputs.mok_list_trusted)));
  }
  prediction.common_pcr7 = replay_pcr7(events);

  if (inputs.uki_keys.empty()) return fail("no UKI key to predict PCR7 for");
  for (const auto& key : inputs.uki_keys) {
    MOS_TRY_ASSIGN(Pcr7Event last, uki_authority_event(inputs, key));
    Sha256 pcr7 = extend(prediction.common_pcr7, last.digest);
    prediction.keys.push_back(UkiPcr7{key.name, std::move(last), pcr7});
  }
  return prediction;
}

Result<Sha256> Pcr7Prediction::pcr7_of(std::string_view key) const {
  for (const auto& entry : keys)
    if (entry.key == key) return entry.pcr7;
  std::string known;
  for (const auto& entry : keys) known += fmt::format("{}{}", known.empty() ? "" : ", ", entry.key);
  return fail("no PCR7 was predicted for {} (predicted: {})", key, known);
}

Result<std::vector<Pcr7Event>> Pcr7Prediction::events_of(std::string_view key) const {
  for (const auto& entry : keys) {
    if (entry.key != key) continue;
    std::vector<Pcr7Event> all = common_events;
    all.push_back(entry.last_event);
    return all;
  }
  MOS_TRY(pcr7_of(key));  // the error naming the known keys
  return fail("no PCR7 was predicted for {}", key);
}

Sha256 replay_pcr7(const std::vector<Pcr7Event>& events) {
  Sha256 pcr{};
  for (const auto& event : events) pcr = extend(pcr, event.digest);
  return pcr;
}

Result<std::string> certificate_der_from_pem_file(const std::filesystem::path& path) {
  auto pem = read_file(path, kMaxCertificateFile);
  if (!pem) return context(fmt::format("reading certificate {}", path.string()), pem.error());
  trust::BioPtr bio = trust::memory_bio(*pem);
  trust::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert)
    return fail("{} holds no PEM certificate: {}", path.string(),
                trust::openssl_reason("no CERTIFICATE block"));
  // i2d of a parsed certificate gives back the exact bytes it was read from (OpenSSL keeps
  // them), which are what firmware and shim hash.
  unsigned char* der = nullptr;
  int length = i2d_X509(cert.get(), &der);
  if (length <= 0 || der == nullptr)
    return fail("cannot encode the certificate of {}: {}", path.string(),
                trust::openssl_reason("i2d failed"));
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
  OPENSSL_free(der);
  return out;
}

Result<Pcr7Inputs> keyset_pcr7_inputs(const std::filesystem::path& keyset, Pcr7Inputs base) {
  auto enrolled = [&](std::string_view dir) -> Result<EnrolledCertificate> {
    EnrolledCertificate cert;
    MOS_TRY_ASSIGN(cert.der, certificate_der_from_pem_file(keyset / dir / "cert.pem"));
    std::filesystem::path guid_file = keyset / dir / "guid";
    MOS_TRY_ASSIGN(std::string guid, trust::read_uuid_file(guid_file));
    MOS_TRY_ASSIGN(cert.owner, parse_efi_guid(guid, guid_file.string()));
    return cert;
  };
  MOS_TRY_ASSIGN(base.pk, enrolled("uefi-pk"));
  MOS_TRY_ASSIGN(base.kek, enrolled("uefi-kek"));
  MOS_TRY_ASSIGN(base.db, enrolled("uefi-db"));
  base.uki_keys.clear();
  for (std::string_view name : kUkiKeyNames) {
    MOS_TRY_ASSIGN(std::string der, certificate_der_from_pem_file(keyset / name / "cert.pem"));
    base.uki_keys.push_back(UkiKey{std::string(name), std::move(der)});
  }
  return base;
}

}  // namespace mos::tpm
