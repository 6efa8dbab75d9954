// Verification of published install manifests against real keysets (trust) in real OCI layouts
// (LayoutStore): the happy path and the tampering cases, each refused with its own message.
#include "manifest/verify.hpp"

#include <chrono>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "manifest/install_artifacts.hpp"
#include "oci/layout_store.hpp"
#include "oci/media_types.hpp"
#include "trust/certificate.hpp"
#include "trust/keyset.hpp"
#include "trust/project.hpp"
#include "trust/signing.hpp"
#include "unit/support/test_support.hpp"

using namespace mos;
using namespace mos::manifest;
using ::testing::HasSubstr;
namespace mt = mos::oci::media_type;

namespace {

struct Keys {
  TempDir dir = std::move(*TempDir::create());
  trust::ProjectKey snakeoil;  // keyset snakeoil, project default
  trust::ProjectKey second;    // keyset snakeoil, project second (same CA)
  trust::ProjectKey foreign;   // keyset other, project default (another CA)
};

Keys& keys() {
  static Keys* k = [] {
    auto* k = new Keys;
    trust::KeysetOptions options;
    auto root = k->dir.path();
    EXPECT_TRUE(trust::create_keyset("snakeoil", options, root));
    EXPECT_TRUE(trust::create_keyset("other", options, root));
    EXPECT_TRUE(trust::create_project(root / "snakeoil", "second"));
    k->snakeoil = *trust::load_project(root / "snakeoil", "default");
    k->second = *trust::load_project(root / "snakeoil", "second");
    k->foreign = *trust::load_project(root / "other", "default");
    return k;
  }();
  return *k;
}

// A leaf certificate for the snakeoil project key, issued by its manifest CA with custom terms.
std::string custom_certificate(trust::CertificateSpec spec) {
  auto& k = keys();
  auto ca_key = trust::load_private_key(k.snakeoil.keyset_dir / "manifest-ca" / "privkey.pem");
  auto ca = trust::parse_certificate_pem(k.snakeoil.manifest_ca_pem, "ca");
  auto key = trust::parse_private_key_pem(k.snakeoil.private_key_pem, "key");
  auto cert = trust::issue_certificate(spec, key->get(), ca->get(), ca_key->get());
  EXPECT_TRUE(cert) << cert.error().message;
  return *trust::certificate_pem(cert->get());
}

trust::CertificateSpec leaf_spec() {
  trust::CertificateSpec spec;
  spec.common_name = "manifest PRODUCT:" + keys().snakeoil.uuid;
  auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  spec.not_before = now - std::chrono::hours(1);
  spec.not_after = now + std::chrono::hours(24);
  spec.digital_signature = true;
  spec.code_signing = true;
  return spec;
}

// Wraps a layout and adds a referrer descriptor that its own index does not know: stands for a
// registry whose referrers API lists a manifest that does not refer to the subject.
class ExtraReferrer final : public oci::Repository {
 public:
  ExtraReferrer(oci::Repository& inner, oci::Descriptor extra)
      : inner_(inner), extra_(std::move(extra)) {}
  std::string describe() const override { return inner_.describe(); }
  Result<oci::Descriptor> resolve(std::string_view r) override { return inner_.resolve(r); }
  Result<oci::Document> get_manifest(std::string_view r) override { return inner_.get_manifest(r); }
  Status put_manifest(const oci::Document& d, const std::optional<std::string>& t) override {
    return inner_.put_manifest(d, t);
  }
  Result<std::vector<std::string>> list_tags() override { return inner_.list_tags(); }
  Result<std::vector<oci::Descriptor>> referrers(const oci::Digest& s,
                                                 const std::optional<std::string>& a) override {
    auto list = inner_.referrers(s, a);
    if (list) list->insert(list->begin(), extra_);
    return list;
  }
  Result<bool> has_blob(const oci::Descriptor& b) override { return inner_.has_blob(b); }
  Result<std::unique_ptr<oci::BlobReader>> open_blob(const oci::Descriptor& b) override {
    return inner_.open_blob(b);
  }
  Status fetch_blob(const oci::Descriptor& b, oci::BlobSink& s) override {
    return inner_.fetch_blob(b, s);
  }
  Status put_blob(const oci::Descriptor& b, oci::BlobReader& r) override {
    return inner_.put_blob(b, r);
  }
  Status put_blob_bytes(const oci::Descriptor& b, std::string_view bytes) override {
    return inner_.put_blob_bytes(b, bytes);
  }

 private:
  oci::Repository& inner_;
  oci::Descriptor extra_;
};

class Verify : public ::testing::Test {
 protected:
  void SetUp() override {
    images_ = std::move(*oci::LayoutStore::open(dir_.path() / "mos", true));
    install_ = std::move(*oci::LayoutStore::open(dir_.path() / "machine" / "install", true));
    // A small image standing for a service: config and layer blobs, then its manifest.
    std::string config = R"({"architecture":"amd64","os":"linux"})";
    std::string layer = "layer bytes";
    oci::ImageManifest image;
    image.media_type = std::string(mt::kImageManifest);
    image.config = test::descriptor_of(config, mt::kImageConfig);
    image.layers.push_back(test::descriptor_of(layer, mt::kImageLayerTar));
    ASSERT_TRUE(images_->put_blob_bytes(image.config, config));
    ASSERT_TRUE(images_->put_blob_bytes(image.layers[0], layer));
    image_ = *oci::make_document(oci::encode_manifest(image));
    ASSERT_TRUE(images_->put_manifest(image_, image_.digest.hex()));

    manifest_.product = "default";
    Target t;
    t.service_name = "zot";
    t.version = "1.0.0";
    t.service_type = ServiceType::container;
    t.digest = image_.digest;
    t.size = static_cast<std::int64_t>(image_.bytes.size());
    manifest_.targets.push_back(t);
    install_json_ = *encode_install_json(manifest_);
    policy_.ca_pem = keys().snakeoil.manifest_ca_pem;
  }

  // Publishes install.json signed by `signer` with certificate `cert_pem` under tag 1.0.0.
  InstallArtifacts publish(std::string_view json, const std::string& cert_pem,
                           const trust::ProjectKey& signer) {
    auto signature = trust::sign_bytes(signer.private_key_pem, json);
    EXPECT_TRUE(signature);
    auto artifacts = make_install_artifacts(json, cert_pem, *signature, "2026-01-01T00:00:00Z");
    EXPECT_TRUE(push_install_artifacts(*install_, "1.0.0", json, cert_pem, *signature, artifacts));
    return artifacts;
  }
  InstallArtifacts publish_good() {
    return publish(install_json_, keys().snakeoil.cert_pem, keys().snakeoil);
  }

  std::string verify_error(oci::Repository* repo = nullptr) {
    auto result = verify_install(repo ? *repo : *install_, "1.0.0", policy_, images_.get());
    EXPECT_FALSE(result) << "verification accepted a tampered manifest";
    return result ? std::string() : result.error().message;
  }

  fs::path blob_file(oci::LayoutStore& store, const oci::Digest& d) {
    return store.dir() / "blobs" / "sha256" / d.hex();
  }

  TempDir dir_ = std::move(*TempDir::create());
  std::unique_ptr<oci::LayoutStore> images_, install_;
  oci::Document image_;
  Manifest manifest_;
  std::string install_json_;
  TrustPolicy policy_;
};

TEST_F(Verify, AcceptsWhatWasPublished) {
  auto artifacts = publish_good();
  policy_.product_uuid = keys().snakeoil.uuid;
  auto v = verify_install(*install_, "1.0.0", policy_, images_.get());
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->install_json, install_json_);
  EXPECT_EQ(v->install_manifest.digest, artifacts.install.digest);
  EXPECT_EQ(v->manifest, *parse_install_json(install_json_));
  EXPECT_EQ(v->product_uuid, keys().snakeoil.uuid);
  EXPECT_TRUE(trust::verify_signature(v->certificate_pem, v->signature, v->install_json));
  EXPECT_TRUE(is_already_published(*install_, "1.0.0", oci::digest_of(install_json_)));
}

TEST_F(Verify, WrongKey) {
  publish(install_json_, keys().snakeoil.cert_pem, keys().second);
  EXPECT_THAT(verify_error(), HasSubstr(trust::kSignatureMismatch));
}

TEST_F(Verify, CertificateFromAnotherKeyset) {
  publish(install_json_, keys().foreign.cert_pem, keys().foreign);
  EXPECT_THAT(verify_error(), HasSubstr(trust::kNotSignedByCa));
}

TEST_F(Verify, AnotherProjectsCertificate) {
  publish(install_json_, keys().second.cert_pem, keys().second);
  policy_.product_uuid = keys().snakeoil.uuid;
  EXPECT_THAT(verify_error(), HasSubstr("it is for product " + keys().second.uuid));
}

TEST_F(Verify, ProductMismatch) {
  publish_good();
  policy_.product_uuid = "00000000-0000-4000-8000-000000000000";
  EXPECT_THAT(verify_error(), HasSubstr("expected 00000000-0000-4000-8000-000000000000"));
}

TEST_F(Verify, ExpiredCertificate) {
  auto spec = leaf_spec();
  spec.not_before -= std::chrono::hours(48);
  spec.not_after = spec.not_before + std::chrono::hours(1);
  publish(install_json_, custom_certificate(spec), keys().snakeoil);
  EXPECT_THAT(verify_error(), HasSubstr(trust::kCertificateExpired));
}

TEST_F(Verify, NotYetValidCertificate) {
  auto spec = leaf_spec();
  spec.not_before += std::chrono::hours(48);
  spec.not_after += std::chrono::hours(96);
  publish(install_json_, custom_certificate(spec), keys().snakeoil);
  EXPECT_THAT(verify_error(), HasSubstr(trust::kCertificateNotYetValid));
}

TEST_F(Verify, CertificateWithoutCodeSigning) {
  auto spec = leaf_spec();
  spec.code_signing = false;
  spec.server_auth = true;
  publish(install_json_, custom_certificate(spec), keys().snakeoil);
  EXPECT_THAT(verify_error(), HasSubstr(trust::kMissingCodeSigning));
}

TEST_F(Verify, SignatureOverOtherBytes) {
  auto signature = trust::sign_bytes(keys().snakeoil.private_key_pem, "other bytes");
  auto artifacts = make_install_artifacts(install_json_, keys().snakeoil.cert_pem, *signature, "t");
  ASSERT_TRUE(push_install_artifacts(*install_, "1.0.0", install_json_, keys().snakeoil.cert_pem,
                                     *signature, artifacts));
  EXPECT_THAT(verify_error(), HasSubstr(trust::kSignatureMismatch));
}

TEST_F(Verify, SwappedInstallJsonLayer) {
  // The attacker's install.json under the tag, with the genuine certificate and signature attached.
  auto genuine = publish_good();
  Manifest evil = manifest_;
  evil.targets[0].version = "6.6.6";
  auto evil_json = *encode_install_json(evil);
  auto real_signature = trust::sign_bytes(keys().snakeoil.private_key_pem, install_json_);
  auto artifacts =
      make_install_artifacts(evil_json, keys().snakeoil.cert_pem, *real_signature, "t");
  ASSERT_TRUE(push_install_artifacts(*install_, "1.0.0", evil_json, keys().snakeoil.cert_pem,
                                     *real_signature, artifacts));
  EXPECT_THAT(verify_error(), HasSubstr(trust::kSignatureMismatch));
}

TEST_F(Verify, TargetChangedAfterSigning) {
  publish_good();
  ASSERT_TRUE(
      write_file_atomic(blob_file(*images_, image_.digest), R"({"schemaVersion":2,"evil":true})"));
  auto e = verify_error();
  EXPECT_THAT(e, HasSubstr("target zot"));
  EXPECT_THAT(e, HasSubstr(image_.digest.str()));
}

TEST_F(Verify, TargetMissing) {
  publish_good();
  ASSERT_TRUE(images_->delete_manifest(image_.digest));
  EXPECT_THAT(verify_error(), HasSubstr("target zot"));
}

TEST_F(Verify, MissingSignature) {
  auto artifacts = publish_good();
  ASSERT_TRUE(install_->delete_manifest(artifacts.signature.digest));
  EXPECT_THAT(verify_error(), HasSubstr("no signature referrer"));
}

TEST_F(Verify, MissingCertificate) {
  auto artifacts = publish_good();
  ASSERT_TRUE(install_->delete_manifest(artifacts.certificate.digest));
  EXPECT_THAT(verify_error(), HasSubstr("no certificate referrer"));
}

TEST_F(Verify, EveryCandidateIsTried) {
  // A foreign certificate and a bogus signature attached first do not hide the genuine pair.
  auto genuine = publish_good();
  auto bogus = make_install_artifacts(install_json_, keys().foreign.cert_pem, "bogus signature",
                                      "2026-01-01T00:00:00Z");
  ASSERT_TRUE(push_install_artifacts(*install_, "1.0.0", install_json_, keys().foreign.cert_pem,
                                     "bogus signature", bogus));
  auto v = verify_install(*install_, "1.0.0", policy_, images_.get());
  ASSERT_TRUE(v) << v.error().message;
}

TEST_F(Verify, ConflictingReferrersAllBadListsEachProblem) {
  publish(install_json_, keys().foreign.cert_pem, keys().foreign);
  auto second = make_install_artifacts(install_json_, keys().second.cert_pem, "garbage",
                                       "2026-01-01T00:00:00Z");
  ASSERT_TRUE(push_install_artifacts(*install_, "1.0.0", install_json_, keys().second.cert_pem,
                                     "garbage", second));
  auto e = verify_error();
  EXPECT_THAT(e, HasSubstr(trust::kNotSignedByCa));
  EXPECT_THAT(e, HasSubstr(trust::kSignatureMismatch));
}

TEST_F(Verify, TruncatedBlobs) {
  auto artifacts = publish_good();
  auto sig_manifest = *oci::parse_image_manifest(artifacts.signature.bytes);
  auto path = blob_file(*install_, sig_manifest.layers[0].digest);
  auto bytes = *read_file(path);
  ASSERT_TRUE(write_file_atomic(path, bytes.substr(0, bytes.size() / 2)));
  EXPECT_THAT(verify_error(), HasSubstr("signature"));
  auto install_manifest = *oci::parse_image_manifest(artifacts.install.bytes);
  path = blob_file(*install_, install_manifest.layers[0].digest);
  ASSERT_TRUE(write_file_atomic(path, install_json_.substr(0, 10)));
  EXPECT_THAT(verify_error(), HasSubstr("install.json"));
}

TEST_F(Verify, ReferrerWithAnotherSubject) {
  auto genuine = publish_good();
  // A certificate artifact made for another install manifest, listed for ours.
  auto other = make_install_artifacts("{}", keys().snakeoil.cert_pem, "s", "2020-01-01T00:00:00Z");
  ASSERT_TRUE(install_->put_blob_bytes(oci::empty_descriptor(), oci::kEmptyJson));
  ASSERT_TRUE(install_->put_manifest(other.certificate, std::nullopt));
  ASSERT_TRUE(install_->delete_manifest(genuine.certificate.digest));
  auto extra = *oci::referrer_descriptor(other.certificate);
  ExtraReferrer lying(*install_, extra);
  EXPECT_THAT(verify_error(&lying), HasSubstr("its subject is"));
}

TEST_F(Verify, OversizedInstallJson) {
  std::string huge(kMaxInstallJsonBytes + 1, ' ');
  publish(huge, keys().snakeoil.cert_pem, keys().snakeoil);
  EXPECT_THAT(verify_error(), HasSubstr("more than the limit"));
}

TEST_F(Verify, SignedButInvalidInstallJson) {
  publish(R"({"version":2})", keys().snakeoil.cert_pem, keys().snakeoil);
  EXPECT_THAT(verify_error(), HasSubstr("version must be 1"));
}

TEST_F(Verify, NotAnInstallManifest) {
  // Tag an ordinary image manifest as 1.0.0 (its blobs must be present in this layout first).
  auto image = *oci::parse_image_manifest(image_.bytes);
  ASSERT_TRUE(install_->put_blob_bytes(image.config, R"({"architecture":"amd64","os":"linux"})"));
  ASSERT_TRUE(install_->put_blob_bytes(image.layers[0], "layer bytes"));
  ASSERT_TRUE(install_->put_manifest(image_, "1.0.0"));
  EXPECT_THAT(verify_error(), HasSubstr("not an install manifest"));
}

}  // namespace
