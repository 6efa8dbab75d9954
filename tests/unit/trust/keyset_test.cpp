#include "trust/keyset.hpp"

#include <sys/stat.h>

#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include "trust/key_files.hpp"
#include "trust/project.hpp"
#include "trust/signing.hpp"
#include "trust/staging.hpp"
#include "trust/sudi.hpp"
#include "trust_test_support.hpp"
#include "unit/support/test_support.hpp"

using namespace mos;
using namespace mos::trust;
using namespace mos::trust::testing;
using mos::test::dir_entries;
using mos::test::error_of;
using mos::test::read_text;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

mode_t mode_of(const fs::path& path) {
  struct stat st{};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

CertificateInfo info_of(const fs::path& cert) {
  auto info = certificate_info(read_text(cert));
  EXPECT_TRUE(info) << cert;
  return info ? *info : CertificateInfo{};
}

// Restores an environment variable when the test ends.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(std::string n, const char* value) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) old = v;
    if (value)
      ::setenv(name.c_str(), value, 1);
    else
      ::unsetenv(name.c_str());
  }
  ~ScopedEnv() {
    if (old)
      ::setenv(name.c_str(), old->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

}  // namespace

TEST(Keyset, HasTheOriginalLayoutWithPrivateModes) {
  const fs::path& ks = shared_keyset().dir;
  EXPECT_EQ(dir_entries(ks),
            (std::vector<std::string>{"manifest", "manifest-ca", "sudi-ca", "tpmpol-admin",
                                      "tpmpol-luks", "uefi-db", "uefi-kek", "uefi-pk",
                                      "uki-limited", "uki-production", "uki-tpm"}));
  EXPECT_EQ(mode_of(ks), 0700u);
  for (auto dir : {"manifest-ca", "sudi-ca", "tpmpol-admin", "tpmpol-luks", "uefi-db", "uefi-kek",
                   "uefi-pk", "uki-limited", "uki-production", "uki-tpm"}) {
    EXPECT_EQ(mode_of(ks / dir), 0700u) << dir;
    EXPECT_EQ(mode_of(ks / dir / "privkey.pem"), 0600u) << dir;
    EXPECT_EQ(mode_of(ks / dir / "cert.pem"), 0640u) << dir;
    EXPECT_TRUE(load_key_and_cert(ks / dir)) << dir;
    bool guid =
        std::string_view(dir).starts_with("uefi-") || std::string_view(dir).starts_with("uki-");
    EXPECT_EQ(fs::exists(ks / dir / "guid"), guid) << dir;
    if (guid) {
      std::string text = read_text(ks / dir / "guid");
      EXPECT_EQ(text.size(), 36u);  // no newline, as the original
      EXPECT_EQ(text[14], '4');     // version 4
    }
    EXPECT_EQ(info_of(ks / dir / "cert.pem").key, "RSA-2048") << dir;
  }
  EXPECT_EQ(dir_entries(ks / "manifest" / "default"),
            (std::vector<std::string>{"cert.pem", "privkey.pem", "sudi", "uuid"}));
  EXPECT_EQ(mode_of(ks / "manifest" / "default" / "privkey.pem"), 0600u);
  EXPECT_TRUE(fs::is_empty(ks / "manifest" / "default" / "sudi"));
  EXPECT_EQ(dir_entries(ks.parent_path()), std::vector<std::string>{"unit"});  // no staging left
}

TEST(Keyset, CertificatesHaveTheOriginalSubjectsAndChains) {
  const fs::path& ks = shared_keyset().dir;
  auto ca = info_of(ks / "manifest-ca" / "cert.pem");
  EXPECT_EQ(ca.subject, "O = Test Org, OU = Project Machine Project unit, CN = Manifest rootCA");
  EXPECT_TRUE(ca.is_ca);
  EXPECT_EQ(ca.not_after, add_years(ca.not_before, 25));
  auto sudi_ca = info_of(ks / "sudi-ca" / "cert.pem");
  EXPECT_EQ(sudi_ca.common_name, "SUDI rootCA");
  EXPECT_EQ(sudi_ca.not_after, sudi_not_after());
  auto pk = info_of(ks / "uefi-pk" / "cert.pem");
  EXPECT_EQ(pk.not_after, add_years(pk.not_before, 50));
  EXPECT_TRUE(pk.is_ca);
  std::string pk_pem = read_text(ks / "uefi-pk" / "cert.pem");
  VerifyOptions any_usage;
  any_usage.require_code_signing = false;
  auto kek = verify_certificate(read_text(ks / "uefi-kek" / "cert.pem"), pk_pem, any_usage);
  ASSERT_TRUE(kek) << kek.error().message;
  EXPECT_EQ(kek->common_name, "UEFI KEK");
  EXPECT_FALSE(kek->code_signing);
  auto db = verify_certificate(read_text(ks / "uefi-db" / "cert.pem"), pk_pem);
  ASSERT_TRUE(db) << db.error().message;
  EXPECT_EQ(db->common_name, "UEFI DB");
  struct {
    const char* dir;
    const char* cn;
  } self_signed[] = {{"uki-production", "UKI Production"},
                     {"uki-limited", "UKI Limited"},
                     {"uki-tpm", "UKI TPM"},
                     {"tpmpol-admin", "TPM EAPolicy Admin"},
                     {"tpmpol-luks", "TPM EAPolicy LUKS"}};
  for (auto& s : self_signed) {
    std::string pem = read_text(ks / s.dir / "cert.pem");
    auto info = verify_certificate(pem, pem);
    ASSERT_TRUE(info) << s.dir << ": " << info.error().message;
    EXPECT_EQ(info->common_name, s.cn);
    EXPECT_FALSE(info->is_ca);
    EXPECT_EQ(info->not_after, add_years(info->not_before, 25));
  }
  auto project = verify_certificate(read_text(ks / "manifest" / "default" / "cert.pem"),
                                    read_text(ks / "manifest-ca" / "cert.pem"));
  ASSERT_TRUE(project) << project.error().message;
  EXPECT_EQ(project->subject,
            "CN = manifest PRODUCT:" + read_text(ks / "manifest" / "default" / "uuid"));
  EXPECT_EQ(project->product_uuid, read_text(ks / "manifest" / "default" / "uuid"));
  EXPECT_EQ(project->not_after, add_years(project->not_before, 20));
  // The project certificate does not chain to the other CAs.
  auto foreign = verify_certificate(read_text(ks / "manifest" / "default" / "cert.pem"),
                                    read_text(ks / "sudi-ca" / "cert.pem"));
  ASSERT_FALSE(foreign);
  EXPECT_THAT(foreign.error().message, StartsWith(kNotSignedByCa));
}

TEST(Keyset, ExistingKeysetIsNeverTouched) {
  auto root = TempDir::create();
  ASSERT_TRUE(make_private_dir(root->path() / "taken"));
  ASSERT_TRUE(write_file_atomic(root->path() / "taken" / "mine", "keep"));
  auto again = create_keyset("taken", {}, root->path());
  ASSERT_FALSE(again);
  EXPECT_THAT(again.error().message, HasSubstr("keyset taken already exists"));
  EXPECT_EQ(read_text(root->path() / "taken" / "mine"), "keep");
  EXPECT_EQ(dir_entries(root->path()), std::vector<std::string>{"taken"});
}

TEST(Keyset, InvalidNamesAndOrganizationsAreRefusedBeforeAnythingIsWritten) {
  auto root = TempDir::create();
  for (auto name : {"", "../x", "a/b", ".hidden", "a\tb"}) {
    auto result = create_keyset(name, {}, root->path());
    ASSERT_FALSE(result) << name;
    EXPECT_THAT(result.error().message, HasSubstr("invalid keyset name"));
  }
  KeysetOptions options;
  options.organizations = {"two\nlines"};
  auto org = create_keyset("ok", options, root->path());
  ASSERT_FALSE(org);
  EXPECT_THAT(org.error().message, HasSubstr("invalid organization"));
  EXPECT_TRUE(fs::is_empty(root->path()));
}

TEST(Keyset, RootFollowsXdgDataHomeThenHome) {
  {
    ScopedEnv xdg("XDG_DATA_HOME", "/data");
    EXPECT_EQ(*keysets_root(), fs::path("/data/machine/trust/keys"));
  }
  {
    ScopedEnv xdg("XDG_DATA_HOME", nullptr);
    ScopedEnv home("HOME", "/home/u");
    EXPECT_EQ(*keysets_root(), fs::path("/home/u/.local/share/machine/trust/keys"));
  }
  {
    ScopedEnv xdg("XDG_DATA_HOME", "relative");  // not absolute: ignored, as the XDG spec says
    ScopedEnv home("HOME", nullptr);
    EXPECT_THAT(error_of(keysets_root()), HasSubstr("neither XDG_DATA_HOME nor HOME is set"));
  }
}

TEST(Keyset, FindAndListSkipHiddenEntriesAndFiles) {
  auto root = TempDir::create();
  ASSERT_TRUE(make_private_dir(root->path() / "b"));
  ASSERT_TRUE(make_private_dir(root->path() / "a"));
  ASSERT_TRUE(make_private_dir(root->path() / ".a.tmp-1-0"));
  ASSERT_TRUE(write_file_atomic(root->path() / "file", "x"));
  EXPECT_EQ(*list_keysets(root->path()), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(list_keysets(root->path() / "absent")->empty());
  EXPECT_EQ(*find_keyset("a", root->path()), root->path() / "a");
  auto missing = find_keyset("c", root->path());
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("keyset c not found"));
  EXPECT_THAT(error_of(find_keyset("file", root->path())), HasSubstr("keyset file not found"));
  EXPECT_THAT(error_of(find_keyset("../a", root->path())),
              HasSubstr("invalid keyset name '../a': it contains '/'"));
}

TEST(Keyset, UuidFilesMayEndWithANewline) {
  auto dir = TempDir::create();
  ASSERT_TRUE(write_file_atomic(dir->path() / "a", "bc564363-2a8e-44fe-bb0e-54c7f9988ecf\n"));
  EXPECT_EQ(*read_uuid_file(dir->path() / "a"), "bc564363-2a8e-44fe-bb0e-54c7f9988ecf");
  ASSERT_TRUE(write_file_atomic(dir->path() / "b", "not a uuid"));
  auto bad = read_uuid_file(dir->path() / "b");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("does not hold a UUID"));
  EXPECT_THAT(error_of(read_uuid_file(dir->path() / "absent")),
              HasSubstr("No such file or directory"));
  EXPECT_NE(random_uuid(), random_uuid());
}

TEST(Staging, CommitNeverReplacesAndStaleDirectoriesAreRemoved) {
  auto root = TempDir::create();
  {
    auto staging = StagingDir::create(root->path(), "x", "thing x");
    ASSERT_TRUE(staging);
    ASSERT_TRUE(write_file_atomic(staging->path() / "f", "1"));
    ASSERT_TRUE(staging->commit());
  }
  EXPECT_EQ(read_text(root->path() / "x" / "f"), "1");
  // Even an empty directory in the way is kept (rename(2) alone would replace it).
  ASSERT_TRUE(make_private_dir(root->path() / "y"));
  {
    auto staging = StagingDir::create(root->path(), "y", "thing y");
    ASSERT_TRUE(staging);
    auto status = staging->commit();
    ASSERT_FALSE(status);
    EXPECT_THAT(status.error().message, HasSubstr("thing y already exists"));
  }
  EXPECT_EQ(dir_entries(root->path()), (std::vector<std::string>{"x", "y"}));  // staging removed
  // A staging directory of a dead process goes; one of a live process stays.
  ASSERT_TRUE(make_private_dir(root->path() / ".z.tmp-999999999-00"));
  std::string live = fmt::format(".w.tmp-{}-00", ::getpid());
  ASSERT_TRUE(make_private_dir(root->path() / live));
  remove_stale_staging(root->path());
  EXPECT_EQ(dir_entries(root->path()), (std::vector<std::string>{live, "x", "y"}));
}

TEST(Staging, CommitReplacingSwapsTheWholeTreeAndDropsTheOldOne) {
  auto root = TempDir::create();
  ASSERT_TRUE(make_private_dir(root->path() / "data"));
  ASSERT_TRUE(write_file_atomic(root->path() / "data" / "old", "1"));
  {
    auto staging = StagingDir::create(root->path(), "data", "data");
    ASSERT_TRUE(staging);
    ASSERT_TRUE(write_file_atomic(staging->path() / "new", "2"));
    ASSERT_TRUE(staging->commit_replacing());
  }
  EXPECT_EQ(dir_entries(root->path() / "data"), std::vector<std::string>{"new"});
  EXPECT_EQ(dir_entries(root->path()), std::vector<std::string>{"data"});  // old tree removed
  {
    auto staging = StagingDir::create(root->path(), "fresh", "fresh");
    ASSERT_TRUE(staging);
    ASSERT_TRUE(staging->commit_replacing());  // nothing to replace: a plain commit
  }
  EXPECT_EQ(dir_entries(root->path()), (std::vector<std::string>{"data", "fresh"}));
}

TEST(Keyset, AddedContentsArePartOfTheKeysetOrItIsNotCreated) {
  auto root = TempDir::create();
  KeysetOptions options;
  options.add_contents = [](const fs::path& staging) -> Status {
    if (!fs::exists(staging / "tpmpol-luks" / "privkey.pem")) return fail("keys missing");
    return fail("no pcr7data today");
  };
  auto made = create_keyset("partial", options, root->path());
  ASSERT_FALSE(made);
  EXPECT_THAT(made.error().message, HasSubstr("creating keyset partial: no pcr7data today"));
  EXPECT_TRUE(dir_entries(root->path()).empty());
}

TEST(Project, ReferencesAreKeysetColonProject) {
  auto ref = ProjectRef::parse("snakeoil:default");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->keyset, "snakeoil");
  EXPECT_EQ(ref->project, "default");
  EXPECT_EQ(ref->str(), "snakeoil:default");
  for (auto bad : {"snakeoil", ":default", "snakeoil:", "a:b:c", "../x:y", "x:.y"}) {
    auto r = ProjectRef::parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_THAT(r.error().message, HasSubstr("project reference"));
  }
}

TEST(Project, LoadsTheDefaultProjectAndSignsWithIt) {
  const fs::path& ks = shared_keyset().dir;
  auto project = load_project(ProjectRef{"unit", "default"}, ks.parent_path());
  ASSERT_TRUE(project) << project.error().message;
  EXPECT_EQ(project->uuid, read_text(ks / "manifest" / "default" / "uuid"));
  EXPECT_EQ(project->private_key_path, ks / "manifest" / "default" / "privkey.pem");
  auto signature = sign_bytes(project->private_key_pem, "content");
  ASSERT_TRUE(signature);
  EXPECT_TRUE(verify_signature(project->cert_pem, *signature, "content"));
  EXPECT_TRUE(verify_certificate(project->cert_pem, project->manifest_ca_pem));
  auto missing = load_project(ks, "nope");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("project nope not found in keyset unit"));
  EXPECT_THAT(error_of(load_project(ProjectRef{"absent", "default"}, ks.parent_path())),
              HasSubstr("keyset absent not found"));
}

TEST(Project, CreatesListsAndRefusesExistingProjects) {
  auto root = TempDir::create();
  // A copy of the shared keyset, so new projects do not leak into other tests.
  fs::copy(shared_keyset().dir, root->path() / "copy", fs::copy_options::recursive);
  fs::path ks = root->path() / "copy";
  auto created = create_project(ks, "edge", KeyAlgorithm::ecdsa_p256);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(mode_of(*created), 0700u);
  EXPECT_EQ(mode_of(*created / "privkey.pem"), 0600u);
  EXPECT_EQ(*list_projects(ks), (std::vector<std::string>{"default", "edge"}));
  auto edge = load_project(ks, "edge");
  ASSERT_TRUE(edge) << edge.error().message;
  auto info = verify_certificate(edge->cert_pem, edge->manifest_ca_pem);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->key, "ECDSA-prime256v1");
  EXPECT_EQ(info->product_uuid, edge->uuid);
  EXPECT_NE(edge->uuid, read_text(ks / "manifest" / "default" / "uuid"));

  std::string before = read_text(ks / "manifest" / "edge" / "cert.pem");
  auto again = create_project(ks, "edge");
  ASSERT_FALSE(again);
  EXPECT_THAT(again.error().message, HasSubstr("project edge of keyset copy already exists"));
  EXPECT_EQ(read_text(ks / "manifest" / "edge" / "cert.pem"), before);
  EXPECT_THAT(error_of(create_project(ks, "a/b")),
              HasSubstr("invalid project name 'a/b': it contains '/'"));
  EXPECT_EQ(dir_entries(ks / "manifest"), (std::vector<std::string>{"default", "edge"}));
}

TEST(Project, KeyThatDoesNotMatchItsCertificateIsRefused) {
  auto root = TempDir::create();
  fs::copy(shared_keyset().dir, root->path() / "copy", fs::copy_options::recursive);
  fs::path ks = root->path() / "copy";
  fs::copy_file(ks / "uki-tpm" / "privkey.pem", ks / "manifest" / "default" / "privkey.pem",
                fs::copy_options::overwrite_existing);
  auto project = load_project(ks, "default");
  ASSERT_FALSE(project);
  EXPECT_THAT(project.error().message, HasSubstr("does not belong to the certificate"));
  ASSERT_TRUE(write_file_atomic(ks / "manifest" / "default" / "privkey.pem", "garbage", 0600));
  auto garbage = load_project(ks, "default");
  ASSERT_FALSE(garbage);
  EXPECT_THAT(garbage.error().message, HasSubstr("is not a PEM private key"));
  // A project cannot be created when the manifest CA key is unusable, and nothing is left.
  auto blocked = create_project(ks, "new");
  ASSERT_TRUE(blocked);  // the CA is intact here
  ASSERT_TRUE(write_file_atomic(ks / "manifest-ca" / "privkey.pem", "garbage", 0600));
  auto no_ca = create_project(ks, "newer");
  ASSERT_FALSE(no_ca);
  EXPECT_THAT(no_ca.error().message, HasSubstr("loading the manifest CA"));
  EXPECT_FALSE(fs::exists(ks / "manifest" / "newer"));
}

TEST(Project, ReadsAKeysetInTheOriginalsLayout) {
  // What the original writes: 0750/0640 modes and a uuid with a trailing newline (snakeoil).
  auto root = TempDir::create();
  fs::copy(shared_keyset().dir, root->path() / "orig", fs::copy_options::recursive);
  fs::path project = root->path() / "orig" / "manifest" / "default";
  std::string uuid = read_text(project / "uuid");
  ASSERT_TRUE(write_file_atomic(project / "uuid", uuid + "\n", 0640));
  fs::permissions(project, fs::perms(0750));
  auto loaded = load_project(ProjectRef{"orig", "default"}, root->path());
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->uuid, uuid);
  auto serial = create_sudi(root->path() / "orig", "default", "SN0001");
  ASSERT_TRUE(serial) << serial.error().message;
  auto sn = certificate_info(read_text(*serial / "cert.pem"));
  EXPECT_THAT(sn->subject, HasSubstr("PID:" + uuid + " SN:SN0001"));
}

TEST(Sudi, CertificatesAreSignedBySudiCaWithTheDeviceSubject) {
  auto root = TempDir::create();
  fs::copy(shared_keyset().dir, root->path() / "ks", fs::copy_options::recursive);
  fs::path ks = root->path() / "ks";
  std::string product = read_text(ks / "manifest" / "default" / "uuid");
  EXPECT_TRUE(list_sudi(ks, "default")->empty());
  auto dir = create_sudi(ks, "default", "SN0001");
  ASSERT_TRUE(dir) << dir.error().message;
  EXPECT_EQ(mode_of(*dir / "privkey.pem"), 0600u);
  VerifyOptions tls;
  tls.require_code_signing = false;
  auto info =
      verify_certificate(read_text(*dir / "cert.pem"), read_text(ks / "sudi-ca" / "cert.pem"), tls);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->subject, "CN = SN0001, serialNumber = PID:" + product + " SN:SN0001");
  EXPECT_EQ(info->not_after, sudi_not_after());
  auto cert = parse_certificate_pem(read_text(*dir / "cert.pem"), "sudi");
  EXPECT_EQ(
      X509_get_key_usage(cert->get()),
      static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT | KU_DATA_ENCIPHERMENT));
  EXPECT_EQ(X509_get_extended_key_usage(cert->get()),
            static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  EXPECT_TRUE(load_key_and_cert(*dir));

  auto generated = create_sudi(ks, "default");
  ASSERT_TRUE(generated) << generated.error().message;
  EXPECT_EQ(generated->filename().string().size(), 36u);
  EXPECT_EQ(list_sudi(ks, "default")->size(), 2u);

  std::string before = read_text(*dir / "cert.pem");
  auto again = create_sudi(ks, "default", "SN0001");
  ASSERT_FALSE(again);
  EXPECT_THAT(again.error().message,
              HasSubstr("SUDI SN0001 of project default in keyset ks already exists"));
  EXPECT_EQ(read_text(*dir / "cert.pem"), before);
  EXPECT_THAT(error_of(create_sudi(ks, "default", "../x")),
              HasSubstr("invalid SUDI serial '../x': it contains '/'"));
  EXPECT_THAT(error_of(create_sudi(ks, "default", "a/b")),
              HasSubstr("invalid SUDI serial 'a/b': it contains '/'"));
  auto no_project = create_sudi(ks, "nope", "SN1");
  ASSERT_FALSE(no_project);
  EXPECT_THAT(no_project.error().message, HasSubstr("project nope not found"));
  EXPECT_THAT(error_of(list_sudi(ks, "nope")), HasSubstr("project nope not found"));
  EXPECT_EQ(list_sudi(ks, "default")->size(), 2u);
}
