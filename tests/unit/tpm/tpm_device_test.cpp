// The device side against a real swtpm: provision, then initrd-setup reads the secrets back
// only when PCR7 is the keyset's production value, the signature is the keyset's, and the NV
// version is the one it signed; after the final extend nothing reads them again.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "tpm/ea_policy.hpp"
#include "tpm/initrd_setup.hpp"
#include "tpm/pcr7_prediction.hpp"
#include "tpm/pcr7data.hpp"
#include "tpm/pcr7data_writer.hpp"
#include "tpm/tpm_provision.hpp"
#include "tpm/tpm_secret.hpp"
#include "trust/signing.hpp"
#include "unit/tpm/swtpm_process.hpp"
#include "unit/tpm/tpm_test_support.hpp"

namespace mos::tpm {
namespace {

using testing::KeysetCopy;
using testing::SwtpmProcess;

// The made keyset with its predicted pcr7data, once per binary.
struct DeviceKeyset {
  KeysetCopy keyset;
  Pcr7Data data;
  Pcr7Prediction prediction;
  std::string cert_pem, key_pem;  // stand-ins for a SUDI: the sudi-ca's own pair
};

const DeviceKeyset& device_keyset() {
  static DeviceKeyset made = [] {
    DeviceKeyset k{testing::copy_of_made_keyset(), {}, {}, {}, {}};
    auto written = write_predicted_pcr7data(k.keyset.dir, "unit");
    EXPECT_TRUE(written) << written.error().message;
    auto data = read_pcr7data(k.keyset.dir / "pcr7data");
    EXPECT_TRUE(data) << data.error().message;
    if (data) k.data = std::move(*data);
    auto inputs = keyset_pcr7_inputs(k.keyset.dir);
    EXPECT_TRUE(inputs) << inputs.error().message;
    if (inputs) {
      auto prediction = predict_pcr7(*inputs);
      EXPECT_TRUE(prediction) << prediction.error().message;
      if (prediction) k.prediction = std::move(*prediction);
    }
    k.cert_pem = read_file(k.keyset.dir / "sudi-ca" / "cert.pem").value_or("");
    k.key_pem = read_file(k.keyset.dir / "sudi-ca" / "privkey.pem").value_or("");
    return k;
  }();
  return made;
}

// Boots the TPM "with" a UKI key: extends PCR7 with that boot's events.
void boot_with(TpmConnection& tpm, std::string_view uki_key) {
  auto events = device_keyset().prediction.events_of(uki_key);
  ASSERT_TRUE(events) << events.error().message;
  for (const auto& event : *events) ASSERT_TRUE(tpm.extend_pcr7(event.digest));
  auto pcr7 = tpm.read_pcr7();
  ASSERT_TRUE(pcr7);
  EXPECT_EQ(to_hex(*pcr7), to_hex(*device_keyset().prediction.pcr7_of(uki_key)));
}

std::string unique_key_name() {
  static std::atomic<int> counter = 0;
  return fmt::format("mos-unit-test:{}:{}", ::getpid(), counter++);
}

class TpmDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(device_keyset().data.policies.empty());
    auto started = SwtpmProcess::start();
    ASSERT_TRUE(started);
    swtpm_.emplace(std::move(*started));
    auto tpm = TpmConnection::open(swtpm_->tcti());
    ASSERT_TRUE(tpm) << tpm.error().message;
    tpm_.emplace(std::move(*tpm));
    auto dir = TempDir::create();
    ASSERT_TRUE(dir);
    out_.emplace(std::move(*dir));
    options_.dest = out_->path() / "secure";
    options_.mount_tmpfs = false;
    options_.keyring_description = unique_key_name();
  }
  void TearDown() override {
    if (auto removed = remove_user_key(options_.keyring_description); !removed) {
      // most tests never add it
    }
  }

  static ProvisionRequest request_for(bool wipe,
                                      std::string_view policy_version = kDefaultPolicyVersion) {
    ProvisionRequest request;
    request.sudi_cert_pem = device_keyset().cert_pem;
    request.sudi_key_pem = device_keyset().key_pem;
    request.wipe = wipe;
    request.policy_version = std::string(policy_version);
    return request;
  }

  void provision(std::string_view policy_version = kDefaultPolicyVersion) {
    ProvisionRequest request = request_for(false, policy_version);
    auto report = provision_tpm(*tpm_, device_keyset().data, request);
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ(report->keyset, "unit");
    EXPECT_EQ(report->cleared_through, "platform");
  }

  std::optional<SwtpmProcess> swtpm_;
  std::optional<TpmConnection> tpm_;
  std::optional<TempDir> out_;
  InitrdSetupOptions options_;
};

TEST(FinalExtend, IsSha256OfAtomix) {
  EXPECT_EQ(to_hex(final_extend_digest()),
            "b7135cbb321a66fa848b07288bd008b89bd5b7496c4569c5e1a4efd5f7c8e0a7");
}

// The values tpm2_loadexternal -G rsa and a trial tpm2_policyauthorize give for the snakeoil
// luks key (the exponent spelled out), so that a TPM the original provisioned reads the same.
TEST(PolicyKey, NameAndAuthorizeDigestAreTpm2ToolsOnes) {
  auto pem = read_file(testing::snakeoil_keyset() / "pcr7data/policy-2/pubkeys/luks-snakeoil.pem");
  ASSERT_TRUE(pem);
  auto area = rsa_public_area(*pem, "luks-snakeoil.pem");
  ASSERT_TRUE(area) << area.error().message;
  auto name = public_area_name(*area);
  ASSERT_TRUE(name);
  std::string hex;
  for (unsigned char byte : *name) hex += fmt::format("{:02x}", byte);
  EXPECT_EQ(hex, "000b3e3ddc96390b1e149c2323797e5f20d03472a866f249ac2a4b9cca08abeac1d5");
  auto digest = policy_authorize_digest(*pem, "luks-snakeoil.pem");
  ASSERT_TRUE(digest);
  EXPECT_EQ(to_hex(*digest), "f8fef328a85194b38c3ab5d23b80706dd375226b9c4b6467dcb3246722700717");
  EXPECT_FALSE(rsa_public_area("not a key", "x"));
}

TEST_F(TpmDevice, ExtendPcr7ChangesItAsTheTpmSpecSays) {
  auto before = tpm_->read_pcr7();
  ASSERT_TRUE(before);
  EXPECT_EQ(to_hex(*before), std::string(64, '0'));
  ASSERT_TRUE(extend_pcr7_final(*tpm_));
  EXPECT_EQ(*tpm_->read_pcr7(), extend(*before, final_extend_digest()));
}

TEST_F(TpmDevice, AnUnprovisionedTpmIsSaidToBeOne) {
  // What a machine whose TPM was never provisioned sees at boot: a plain reason, not a TPM code.
  boot_with(*tpm_, "uki-production");
  auto handle = tpm_->nv_handle(kNvSudiCert);
  ASSERT_FALSE(handle);
  EXPECT_NE(handle.error().message.find(
                "is not defined in this TPM: it was not provisioned (mosctl provision)"),
            std::string::npos)
      << handle.error().message;
}

TEST_F(TpmDevice, InitrdSetupReadsTheSecretsOnceInAProductionBoot) {
  provision();
  boot_with(*tpm_, "uki-production");
  auto report = initrd_setup(*tpm_, device_keyset().data, options_);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(read_file(report->cert).value_or(""), device_keyset().cert_pem);
  EXPECT_EQ(read_file(report->key).value_or(""), device_keyset().key_pem);
  struct stat st{};
  ASSERT_EQ(::stat(report->key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat(options_.dest.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  auto passphrase = read_user_key(options_.keyring_description);
  ASSERT_TRUE(passphrase) << passphrase.error().message;
  EXPECT_EQ(passphrase->size(), 40u);
  Sha256 production = *device_keyset().prediction.pcr7_of("uki-production");
  EXPECT_EQ(report->pcr7_after, extend(production, final_extend_digest()));

  // After the extend: no entry for this PCR7, and the TPM refuses even with the right policy.
  InitrdSetupOptions again = options_;
  again.dest = out_->path() / "again";
  auto second = initrd_setup(*tpm_, device_keyset().data, again);
  ASSERT_FALSE(second);
  EXPECT_FALSE(std::filesystem::exists(again.dest));
  auto policy = choose_signed_policy(device_keyset().data, production, SecretPolicy::luks);
  ASSERT_TRUE(policy) << policy.error().message;
  auto forced = read_secret(*tpm_, kNvSudiKey, SecretPolicy::luks, *policy);
  ASSERT_FALSE(forced);
  EXPECT_NE(forced.error().message.find("TPM2_VerifySignature"), std::string::npos)
      << forced.error().message;
}

// Under secure boot the kernel measures every module it loads into PCR10, and the initramfs loads
// modules while it reads its secrets: a PCR extended between a policy's replay and the read
// fails the read (TPM_RC_PCR_CHANGED, whichever PCR it was), which then replays the policy.
// Only PCR7 decides: a TPM whose PCRs never stop changing gives a clear error.
TEST_F(TpmDevice, APcrChangedUnderThePolicyIsReplayed) {
  provision();
  boot_with(*tpm_, "uki-production");
  Sha256 production = *device_keyset().prediction.pcr7_of("uki-production");
  auto policy = choose_signed_policy(device_keyset().data, production, SecretPolicy::luks);
  ASSERT_TRUE(policy) << policy.error().message;
  int extends = 0, limit = 3;
  tpm_->after_policy_replay = [&] {
    if (extends >= limit) return;
    ++extends;
    TPML_DIGEST_VALUES digests{};
    digests.count = 1;
    digests.digests[0].hashAlg = TPM2_ALG_SHA256;
    ASSERT_EQ(Esys_PCR_Extend(tpm_->esys(), ESYS_TR_PCR10, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                              ESYS_TR_NONE, &digests),
              TSS2_RC_SUCCESS);
  };
  auto read = read_secret(*tpm_, kNvSudiCert, SecretPolicy::luks, *policy);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(*read, device_keyset().cert_pem);
  EXPECT_EQ(extends, 3);

  limit = 1000;
  auto never = read_secret(*tpm_, kNvSudiCert, SecretPolicy::luks, *policy);
  ASSERT_FALSE(never);
  EXPECT_NE(never.error().message.find("TPM2_NV_Read"), std::string::npos) << never.error().message;
  EXPECT_NE(never.error().message.find("PCR have changed since checked"), std::string::npos)
      << never.error().message;
}

// One session serves every index of a policy: the signature is verified once, and its ticket
// authorizes each replay only while the session's digest is the one that was signed.
TEST_F(TpmDevice, OnePolicySessionReadsSeveralIndicesUntilPcr7Changes) {
  provision();
  boot_with(*tpm_, "uki-production");
  Sha256 production = *device_keyset().prediction.pcr7_of("uki-production");
  auto policy = choose_signed_policy(device_keyset().data, production, SecretPolicy::luks);
  ASSERT_TRUE(policy) << policy.error().message;
  PolicySecrets guarded(*tpm_, SecretPolicy::luks, *policy);
  auto cert = guarded.read(kNvSudiCert);
  ASSERT_TRUE(cert) << cert.error().message;
  EXPECT_EQ(*cert, device_keyset().cert_pem);
  // A failed command leaves the session usable for the next: a write the index's attributes
  // refuse (policyread only) after a replay, an index not defined.
  auto refused = guarded.write(kNvSudiCert, device_keyset().cert_pem);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("TPM2_NV_Write"), std::string::npos)
      << refused.error().message;
  auto absent = guarded.read(0x01500099);
  ASSERT_FALSE(absent);
  EXPECT_NE(absent.error().message.find("not defined"), std::string::npos)
      << absent.error().message;
  auto key = guarded.read(kNvSudiKey);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(*key, device_keyset().key_pem);

  // PCR7 extended (what the initramfs does before it hands over): the ticket kept from the
  // first replay no longer authorizes the session, whose digest now names another PCR7.
  ASSERT_TRUE(tpm_->extend_pcr7(final_extend_digest()));
  auto after = guarded.read(kNvOsPassphrase);
  ASSERT_FALSE(after);
  EXPECT_NE(after.error().message.find("TPM2_PolicyAuthorize"), std::string::npos)
      << after.error().message;
}

TEST_F(TpmDevice, OtherBootsAreRefusedAndNothingIsWritten) {
  provision();
  Sha256 production = *device_keyset().prediction.pcr7_of("uki-production");
  auto policy = choose_signed_policy(device_keyset().data, production, SecretPolicy::luks);
  ASSERT_TRUE(policy);
  boot_with(*tpm_, "uki-limited");
  auto report = initrd_setup(*tpm_, device_keyset().data, options_);
  ASSERT_FALSE(report);
  EXPECT_NE(report.error().message.find("key_type limited"), std::string::npos)
      << report.error().message;
  EXPECT_FALSE(std::filesystem::exists(options_.dest));
  EXPECT_FALSE(read_user_key(options_.keyring_description));
  // The production policy does not open the index either: the TPM checks PCR7 itself.
  EXPECT_FALSE(read_secret(*tpm_, kNvSudiKey, SecretPolicy::luks, *policy));
}

TEST_F(TpmDevice, APolicySignedByAnotherKeyIsRefused) {
  provision();
  boot_with(*tpm_, "uki-production");
  Sha256 production = *device_keyset().prediction.pcr7_of("uki-production");
  // The right digest, signed by a key that is not the index's (tpmpol-admin instead of
  // tpmpol-luks): the TPM verifies the signature, but PolicyAuthorize names another key.
  auto digest = luks_policy_digest(production);
  ASSERT_TRUE(digest);
  auto signature = trust::sign_bytes_with_key_file(
      device_keyset().keyset.dir / "tpmpol-admin" / "privkey.pem", bytes_of(*digest));
  ASSERT_TRUE(signature) << signature.error().message;
  SignedPolicy other{*signature,
                     device_keyset().data.newest().pubkeys.at(tpmpass_pubkey_name("unit")), "unit"};
  auto read = read_secret(*tpm_, kNvSudiKey, SecretPolicy::luks, other);
  ASSERT_FALSE(read);
  EXPECT_NE(read.error().message.find("TPM2_NV_Read"), std::string::npos) << read.error().message;
  // The keyset's own policy still opens it (the refusal was the key's, not the TPM state's).
  auto own = choose_signed_policy(device_keyset().data, production, SecretPolicy::luks);
  ASSERT_TRUE(own);
  auto good = read_secret(*tpm_, kNvSudiCert, SecretPolicy::luks, *own);
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ(*good, device_keyset().cert_pem);
}

TEST_F(TpmDevice, AChangedNvVersionIsRefused) {
  provision("0002");
  boot_with(*tpm_, "uki-production");
  auto report = initrd_setup(*tpm_, device_keyset().data, options_);
  ASSERT_FALSE(report);
  EXPECT_NE(report.error().message.find("TPM2_VerifySignature"), std::string::npos)
      << report.error().message;
  EXPECT_FALSE(std::filesystem::exists(options_.dest));
}

TEST_F(TpmDevice, ATpmBootReadsTheAdminPasswordThatLocksTheHierarchies) {
  provision();
  boot_with(*tpm_, "uki-tpm");
  Sha256 pcr7 = *tpm_->read_pcr7();
  auto policy = choose_signed_policy(device_keyset().data, pcr7, SecretPolicy::passwd);
  ASSERT_TRUE(policy) << policy.error().message;
  auto admin = read_secret(*tpm_, kNvAdminPassword, SecretPolicy::passwd, *policy);
  ASSERT_TRUE(admin) << admin.error().message;
  EXPECT_EQ(admin->size(), 32u);
  // The luks secrets stay closed in this boot.
  auto luks = choose_signed_policy(device_keyset().data, pcr7, SecretPolicy::luks);
  EXPECT_FALSE(luks);
}

TEST_F(TpmDevice, AProvisionedTpmIsRefusedUnlessWiped) {
  provision();
  ProvisionRequest request = request_for(false);
  auto again = provision_tpm(*tpm_, device_keyset().data, request);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("already provisioned"), std::string::npos)
      << again.error().message;
  request.wipe = true;
  auto wiped = provision_tpm(*tpm_, device_keyset().data, request);
  ASSERT_TRUE(wiped) << wiped.error().message;
}

TEST_F(TpmDevice, TheSbfPassphraseIsTheOneTheFactoryPartitionsWereMadeWith) {
  ProvisionRequest request = request_for(false);
  request.sbf_passphrase = std::string(40, 's');
  ASSERT_TRUE(provision_tpm(*tpm_, device_keyset().data, request));
  boot_with(*tpm_, "uki-production");
  Sha256 production = *device_keyset().prediction.pcr7_of("uki-production");
  auto policy = choose_signed_policy(device_keyset().data, production, SecretPolicy::luks);
  ASSERT_TRUE(policy);
  EXPECT_EQ(read_secret(*tpm_, kNvSbfPassphrase, SecretPolicy::luks, *policy).value_or(""),
            request.sbf_passphrase);
}

// A provisioning live system runs after the initramfs extended PCR7: the keyset is chosen by the
// PCR7 saved before (the original's /pcr7.bin), not by what the TPM now shows. (With one keyset
// in pcr7data either way finds it; provisioning_keyset's own tests cover the choice.)
TEST_F(TpmDevice, AfterTheExtendTheKeysetIsChosenByTheSavedPcr7) {
  boot_with(*tpm_, "uki-production");
  auto file = out_->path() / "pcr7.bin";
  ASSERT_TRUE(extend_pcr7_final(*tpm_, file));
  auto saved = read_boot_pcr7(file);
  ASSERT_TRUE(saved && *saved);
  EXPECT_EQ(**saved, *device_keyset().prediction.pcr7_of("uki-production"));
  EXPECT_NE(*tpm_->read_pcr7(), **saved);
  ProvisionRequest request = request_for(false);
  request.boot_pcr7 = **saved;
  auto provisioned = provision_tpm(*tpm_, device_keyset().data, request);
  ASSERT_TRUE(provisioned) << provisioned.error().message;
  EXPECT_EQ(provisioned->keyset, "unit");
  EXPECT_FALSE(*read_boot_pcr7(out_->path() / "absent"));
  ASSERT_TRUE(write_file_atomic(file, "short"));
  EXPECT_FALSE(read_boot_pcr7(file));
}

TEST_F(TpmDevice, PreinstallReplacesTheOsPassphraseThroughThePolicy) {
  provision();
  boot_with(*tpm_, "uki-production");
  Sha256 production = *device_keyset().prediction.pcr7_of("uki-production");
  auto policy = choose_signed_policy(device_keyset().data, production, SecretPolicy::luks);
  ASSERT_TRUE(policy);
  auto old = read_secret(*tpm_, kNvOsPassphrase, SecretPolicy::luks, *policy);
  ASSERT_TRUE(old) << old.error().message;
  std::string written(40, 'x');
  ASSERT_TRUE(write_secret(*tpm_, kNvOsPassphrase, SecretPolicy::luks, *policy, written));
  EXPECT_EQ(read_secret(*tpm_, kNvOsPassphrase, SecretPolicy::luks, *policy).value_or(""), written);
  EXPECT_FALSE(write_secret(*tpm_, kNvOsPassphrase, SecretPolicy::luks, *policy, "short"));

  auto report = preinstall(*tpm_, device_keyset().data, options_.keyring_description);
  ASSERT_TRUE(report) << report.error().message;
  auto passphrase = read_user_key(options_.keyring_description);
  ASSERT_TRUE(passphrase) << passphrase.error().message;
  EXPECT_EQ(passphrase->size(), 40u);
  EXPECT_NE(*passphrase, *old);
  EXPECT_NE(*passphrase, written);
  EXPECT_EQ(report->pcr7_after, extend(production, final_extend_digest()));
  EXPECT_FALSE(read_secret(*tpm_, kNvOsPassphrase, SecretPolicy::luks, *policy));
}

// A TPM whose firmware closed the platform hierarchy (most boards): --wipe clears it through
// lockout, whose password a uki-tpm boot reads from 0x01500001; no other boot can.
TEST_F(TpmDevice, WipeWithoutThePlatformHierarchyNeedsATpmBoot) {
  provision();
  ASSERT_EQ(Esys_HierarchyControl(tpm_->esys(), ESYS_TR_RH_PLATFORM, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                  ESYS_TR_NONE, TPM2_RH_PLATFORM, TPM2_NO),
            TSS2_RC_SUCCESS);
  ProvisionRequest request = request_for(true);
  boot_with(*tpm_, "uki-tpm");
  auto wiped = provision_tpm(*tpm_, device_keyset().data, request);
  ASSERT_TRUE(wiped) << wiped.error().message;
  EXPECT_EQ(wiped->cleared_through, "lockout");
  // The lockout password is new now, and PCR7 no longer a uki-tpm boot's.
  ASSERT_TRUE(extend_pcr7_final(*tpm_));
  auto refused = provision_tpm(*tpm_, device_keyset().data, request);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("TPM2_Clear"), std::string::npos)
      << refused.error().message;
}

TEST_F(TpmDevice, AnInterruptedProvisioningCanBeRerun) {
  // What a run stopped after its first NV writes leaves: some indices, empty passwords.
  TPM2B_NV_PUBLIC info{};
  info.nvPublic.nvIndex = kNvSudiCert;
  info.nvPublic.nameAlg = TPM2_ALG_SHA256;
  info.nvPublic.attributes = kTpmaNvOwnerWrite | kTpmaNvOwnerRead;
  info.nvPublic.dataSize = 16;
  TPM2B_AUTH empty{};
  ESYS_TR handle = ESYS_TR_NONE;
  ASSERT_EQ(Esys_NV_DefineSpace(tpm_->esys(), ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                ESYS_TR_NONE, &empty, &info, &handle),
            TSS2_RC_SUCCESS);
  auto provisioned = tpm_is_provisioned(*tpm_);
  ASSERT_TRUE(provisioned);
  EXPECT_FALSE(*provisioned);
  provision();
  boot_with(*tpm_, "uki-production");
  ASSERT_TRUE(initrd_setup(*tpm_, device_keyset().data, options_));
}

}  // namespace
}  // namespace mos::tpm
