#include "tpm/pcr7data_writer.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "core/file.hpp"
#include "core/unique_fd.hpp"
#include "tpm/cpio_archive.hpp"
#include "tpm/pcr7data.hpp"
#include "trust/key_files.hpp"
#include "trust/keys.hpp"
#include "trust/names.hpp"
#include "trust/signing.hpp"
#include "trust/staging.hpp"

namespace mos::tpm {

namespace {

namespace fs = std::filesystem;

constexpr mode_t kPublicDirMode = 0755;
constexpr mode_t kPublicFileMode = 0644;

std::string today_utc() {
  auto today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  std::chrono::year_month_day date{today};
  return fmt::format("{:04}{:02}{:02}", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
}

// Runs on one keyset wait for each other: two writers would each copy the tree the other is
// about to replace. flock on the keyset directory itself leaves no lock file in the keyset.
Result<UniqueFd> lock_keyset(const fs::path& keyset_dir) {
  UniqueFd fd(::open(keyset_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail("cannot open keyset {}: {}", keyset_dir.string(), errno_message(errno));
  int rc;
  do {
    rc = ::flock(fd.get(), LOCK_EX);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return fail("cannot lock keyset {}: {}", keyset_dir.string(), errno_message(errno));
  return fd;
}

// Creates each missing directory of `relative` below root with mode 0755.
Status make_public_dirs(const fs::path& root, const fs::path& relative) {
  fs::path dir = root;
  for (const auto& part : relative) {
    dir /= part;
    std::error_code ec;
    if (fs::is_directory(fs::symlink_status(dir, ec))) continue;
    MOS_TRY(trust::make_private_dir(dir, kPublicDirMode));
  }
  return {};
}

Status write_public_file(const fs::path& root, const std::string& relative, std::string_view data) {
  fs::path path = fs::path(relative);
  MOS_TRY(make_public_dirs(root, path.parent_path()));
  return trust::write_new_file(root / path, data, kPublicFileMode);
}

struct SignedPolicies {
  std::string passwd_signature;
  std::string luks_signature;
  std::string tpmpass_pem;
  std::string luks_pem;
};

Result<SignedPolicies> sign_policies(const fs::path& keyset_dir, const PolicyDigests& digests) {
  auto admin = trust::load_key_and_cert(keyset_dir / "tpmpol-admin");
  if (!admin) return context("signing the passwd policy", admin.error());
  auto luks = trust::load_key_and_cert(keyset_dir / "tpmpol-luks");
  if (!luks) return context("signing the luks policy", luks.error());
  SignedPolicies out;
  MOS_TRY_ASSIGN(out.passwd_signature,
                 trust::sign_bytes(admin->key.get(), bytes_of(digests.passwd)));
  MOS_TRY_ASSIGN(out.luks_signature, trust::sign_bytes(luks->key.get(), bytes_of(digests.luks)));
  MOS_TRY_ASSIGN(out.tpmpass_pem, trust::public_key_pem(X509_get0_pubkey(admin->cert.get())));
  MOS_TRY_ASSIGN(out.luks_pem, trust::public_key_pem(X509_get0_pubkey(luks->cert.get())));
  return out;
}

// The earlier tree's files that this run does not rewrite: other PCR7 values (another shim,
// another firmware), other keysets' public keys.
Status copy_kept_files(const fs::path& existing, const fs::path& staging,
                       const std::vector<std::string>& replaced_prefixes) {
  auto files = read_pcr7data_files(existing);
  if (!files) return context("reading the existing pcr7data", files.error());
  if (auto valid = parse_pcr7data(*files, existing.string()); !valid)
    return fail("the existing pcr7data is not valid ({}); fix or remove it, then run again",
                valid.error().message);
  for (const auto& [relative, bytes] : *files) {
    bool replaced =
        std::any_of(replaced_prefixes.begin(), replaced_prefixes.end(),
                    [&](const std::string& prefix) { return relative.starts_with(prefix); });
    if (!replaced) MOS_TRY(write_public_file(staging, relative, bytes));
  }
  return {};
}

Status check_request(const Pcr7DataRequest& request) {
  MOS_TRY(trust::validate_name("keyset name", request.keyset_name));
  const Pcr7Values& v = request.pcr7;
  if (v.limited == v.tpm || v.limited == v.production || v.tpm == v.production)
    return fail(
        "two UKI keys have the same PCR7 value ({}, {}, {}): each key needs its own certificate",
        to_hex(v.limited), to_hex(v.tpm), to_hex(v.production));
  if (!request.est_date.empty()) {
    bool date = request.est_date.size() == 8 &&
                std::all_of(request.est_date.begin(), request.est_date.end(),
                            [](char c) { return c >= '0' && c <= '9'; });
    if (!date) return fail("est_date '{}' is not a date YYYYMMDD", request.est_date);
  }
  return {};
}

}  // namespace

Status write_pcr7data(const fs::path& keyset_dir, const Pcr7DataRequest& request) {
  MOS_TRY(check_request(request));
  const std::string& name = request.keyset_name;
  std::string what = fmt::format("pcr7data of keyset {}", name);
  MOS_TRY_ASSIGN(UniqueFd lock, lock_keyset(keyset_dir));
  MOS_TRY_ASSIGN(SignedPolicies signed_policies, sign_policies(keyset_dir, request.policies));

  std::string policy = policy_dir_name();
  std::string pubkeys = fmt::format("{}/{}", policy, kPubkeysDir);
  std::string limited_dir = fmt::format("{}/{}", policy, pcr7_index_path(request.pcr7.limited));
  std::string tpm_dir = fmt::format("{}/{}", policy, pcr7_index_path(request.pcr7.tpm));
  std::string production_dir =
      fmt::format("{}/{}", policy, pcr7_index_path(request.pcr7.production));
  std::string tpmpass_key = fmt::format("{}/{}", pubkeys, tpmpass_pubkey_name(name));
  std::string luks_key = fmt::format("{}/{}", pubkeys, luks_pubkey_name(name));

  MOS_TRY_ASSIGN(auto staging, trust::StagingDir::create(keyset_dir, kPcr7DataDir, what));
  // Public like everything in it (the staging directory starts private).
  if (::chmod(staging.path().c_str(), kPublicDirMode) != 0)
    return fail("cannot set the mode of {}: {}", staging.path().string(), errno_message(errno));
  fs::path final_dir = keyset_dir / kPcr7DataDir;
  std::error_code ec;
  if (fs::exists(final_dir, ec))
    MOS_TRY(copy_kept_files(final_dir, staging.path(),
                            {fmt::format("{}/", limited_dir), fmt::format("{}/", tpm_dir),
                             fmt::format("{}/", production_dir), tpmpass_key, luks_key}));

  const fs::path& root = staging.path();
  MOS_TRY(write_public_file(root, tpmpass_key, signed_policies.tpmpass_pem));
  MOS_TRY(write_public_file(root, luks_key, signed_policies.luks_pem));
  Pcr7Info info{name, Pcr7KeyType::limited, false,
                request.est_date.empty() ? today_utc() : request.est_date,
                fmt::format("mos {}", name)};
  auto info_file = [&](const std::string& dir, Pcr7KeyType type) {
    info.key_type = type;
    return write_public_file(root, fmt::format("{}/{}", dir, kInfoFile), encode_pcr7_info(info));
  };
  MOS_TRY(info_file(limited_dir, Pcr7KeyType::limited));
  MOS_TRY(write_public_file(root, fmt::format("{}/{}", limited_dir, kPcrLimitedFile),
                            bytes_of(request.pcr7.limited)));
  MOS_TRY(write_public_file(root, fmt::format("{}/{}", limited_dir, kPcrTpmFile),
                            bytes_of(request.pcr7.tpm)));
  MOS_TRY(write_public_file(root, fmt::format("{}/{}", limited_dir, kPcrProdFile),
                            bytes_of(request.pcr7.production)));
  MOS_TRY(info_file(tpm_dir, Pcr7KeyType::tpm));
  MOS_TRY(write_public_file(root, fmt::format("{}/{}", tpm_dir, kPasswdPolicySignedFile),
                            signed_policies.passwd_signature));
  MOS_TRY(info_file(production_dir, Pcr7KeyType::production));
  MOS_TRY(write_public_file(root, fmt::format("{}/{}", production_dir, kLuksPolicySignedFile),
                            signed_policies.luks_signature));
  // The device's reader must accept what is committed.
  if (auto valid = read_pcr7data(root); !valid)
    return context(fmt::format("checking the new {}", what), valid.error());

  MOS_TRY_ASSIGN(auto entries, cpio_entries_of_tree(root, std::string(kPcr7DataDir)));
  MOS_TRY_ASSIGN(std::string archive, newc_archive(entries));
  MOS_TRY_ASSIGN(auto cpio, AtomicFileWriter::create(keyset_dir / kPcr7DataCpio, kPublicFileMode));
  MOS_TRY(cpio.write(archive));
  MOS_TRY(staging.commit_replacing());
  return cpio.commit();
}

Result<PolicyDigests> policy_digests(const Pcr7Values& values, std::string_view policy_version) {
  PolicyDigests digests;
  digests.passwd = passwd_policy_digest(values.tpm);
  MOS_TRY_ASSIGN(digests.luks, luks_policy_digest(values.production, policy_version));
  return digests;
}

Result<Pcr7Values> write_predicted_pcr7data(const fs::path& keyset_dir,
                                            std::string_view keyset_name, const Pcr7Inputs& base,
                                            std::string_view policy_version) {
  MOS_TRY_ASSIGN(Pcr7Inputs inputs, keyset_pcr7_inputs(keyset_dir, base));
  MOS_TRY_ASSIGN(Pcr7Prediction prediction, predict_pcr7(inputs));
  Pcr7Values values;
  MOS_TRY_ASSIGN(values.production, prediction.pcr7_of("uki-production"));
  MOS_TRY_ASSIGN(values.limited, prediction.pcr7_of("uki-limited"));
  MOS_TRY_ASSIGN(values.tpm, prediction.pcr7_of("uki-tpm"));
  Pcr7DataRequest request;
  request.keyset_name = std::string(keyset_name);
  request.pcr7 = values;
  MOS_TRY_ASSIGN(request.policies, policy_digests(values, policy_version));
  MOS_TRY(write_pcr7data(keyset_dir, request));
  return values;
}

Status write_pcr7data_cpio(const fs::path& keyset_dir) {
  MOS_TRY_ASSIGN(UniqueFd lock, lock_keyset(keyset_dir));
  MOS_TRY_ASSIGN(auto entries,
                 cpio_entries_of_tree(keyset_dir / kPcr7DataDir, std::string(kPcr7DataDir)));
  MOS_TRY_ASSIGN(std::string archive, newc_archive(entries));
  return write_file_atomic(keyset_dir / kPcr7DataCpio, archive, kPublicFileMode);
}

}  // namespace mos::tpm
