// Writing a keyset's pcr7data and pcr7data.cpio: what the device reads back, reruns, refusals.
#include "tpm/pcr7data_writer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <fstream>
#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tpm/cpio_archive.hpp"
#include "tpm/pcr7data.hpp"
#include "trust/keyset.hpp"
#include "unit/support/test_support.hpp"
#include "unit/tpm/tpm_test_support.hpp"

namespace mos::tpm {
namespace {

using ::testing::HasSubstr;
using namespace testing;

// name → contents of every entry of a cpio archive, read with libarchive ("" for directories,
// which end with '/').
std::map<std::string, std::string> cpio_contents(const fs::path& file) {
  std::map<std::string, std::string> out;
  archive* a = archive_read_new();
  archive_read_support_format_cpio(a);
  if (archive_read_open_filename(a, file.c_str(), 10240) != ARCHIVE_OK) {
    ADD_FAILURE() << "cannot open " << file << ": " << archive_error_string(a);
    archive_read_free(a);
    return out;
  }
  archive_entry* entry = nullptr;
  while (archive_read_next_header(a, &entry) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(entry);
    EXPECT_EQ(archive_entry_uid(entry), 0);
    EXPECT_EQ(archive_entry_mtime(entry), 0);
    if (archive_entry_filetype(entry) == AE_IFDIR) {
      EXPECT_EQ(archive_entry_perm(entry), 0755u) << name;
      out[name + "/"] = "";
      continue;
    }
    EXPECT_EQ(archive_entry_perm(entry), 0644u) << name;
    std::string data(static_cast<std::size_t>(archive_entry_size(entry)), '\0');
    archive_read_data(a, data.data(), data.size());
    out[name] = data;
  }
  archive_read_free(a);
  return out;
}

Pcr7DataRequest request_for(const Pcr7Values& values) {
  Pcr7DataRequest request;
  request.keyset_name = "unit";
  request.pcr7 = values;
  request.policies = *policy_digests(values);
  request.est_date = "20260102";
  return request;
}

Pcr7Values snakeoil_values() {
  return {snakeoil_limited(), snakeoil_tpm(), snakeoil_production()};
}

TEST(Pcr7DataWriter, WritesWhatTheDeviceReadsAndSignaturesThatVerify) {
  KeysetCopy keyset = copy_of_made_keyset();
  ASSERT_TRUE(write_pcr7data(keyset.dir, request_for(snakeoil_values())));
  auto data = read_pcr7data(keyset.dir / "pcr7data");
  ASSERT_TRUE(data) << data.error().message;
  const Pcr7Policy& policy = data->newest();
  EXPECT_EQ(policy.version, 2u);
  ASSERT_EQ(policy.entries.size(), 3u);
  EXPECT_EQ(*verify_pcr7data_signatures(policy), 2u);
  const Pcr7IndexEntry* tpm = policy.find(snakeoil_tpm());
  ASSERT_NE(tpm, nullptr);
  EXPECT_EQ(tpm->info.key, "unit");
  EXPECT_EQ(tpm->info.est_date, "20260102");
  EXPECT_FALSE(tpm->info.legacy_key_type);
  EXPECT_EQ(
      test::read_text(keyset.dir / "pcr7data" /
                      (fmt::format("policy-2/{}", pcr7_index_path(snakeoil_tpm()))) / "info.json"),
      "{\"key\":\"unit\",\"key_type\":\"tpm\",\"est_date\":\"20260102\","
      "\"comment\":\"mos unit\"}\n");
  // The public keys are the tpmpol keys' (PUBLIC KEY PEM), files 0644, directories 0755.
  std::string pem = test::read_text(keyset.dir / "pcr7data/policy-2/pubkeys/tpmpass-unit.pem");
  EXPECT_TRUE(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
  struct stat st{};
  ASSERT_EQ(::stat((keyset.dir / "pcr7data/policy-2/pubkeys/tpmpass-unit.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  ASSERT_EQ(::stat((keyset.dir / "pcr7data").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
}

TEST(Pcr7DataWriter, TheCpioHoldsTheTreeUnderPcr7data) {
  KeysetCopy keyset = copy_of_made_keyset();
  ASSERT_TRUE(write_pcr7data(keyset.dir, request_for(snakeoil_values())));
  auto archive = cpio_contents(keyset.dir / "pcr7data.cpio");
  auto files = read_pcr7data_files(keyset.dir / "pcr7data");
  ASSERT_TRUE(files);
  for (const auto& [relative, bytes] : *files)
    EXPECT_EQ(archive[fmt::format("pcr7data/{}", relative)], bytes) << relative;
  EXPECT_TRUE(archive.contains("pcr7data/"));
  EXPECT_TRUE(archive.contains("pcr7data/policy-2/pubkeys/"));
  EXPECT_EQ(archive.size(), files->size() + 9);  // pcr7data, policy-2, pubkeys, 3 × 2 levels
  EXPECT_EQ(fs::file_size(keyset.dir / "pcr7data.cpio") % 512, 0u);
}

TEST(Pcr7DataWriter, RerunsReplaceTheirOwnEntriesAndKeepOthers) {
  KeysetCopy keyset = copy_of_made_keyset();
  ASSERT_TRUE(write_pcr7data(keyset.dir, request_for(snakeoil_values())));
  auto again = write_pcr7data(keyset.dir, request_for(snakeoil_values()));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(read_pcr7data(keyset.dir / "pcr7data")->newest().entries.size(), 3u);

  Pcr7Values other = snakeoil_values();
  other.limited[0] ^= 1;
  other.tpm[0] ^= 1;
  other.production[0] ^= 1;
  ASSERT_TRUE(write_pcr7data(keyset.dir, request_for(other)));
  auto data = read_pcr7data(keyset.dir / "pcr7data");
  ASSERT_TRUE(data);
  EXPECT_EQ(data->newest().entries.size(), 6u);
  EXPECT_EQ(*verify_pcr7data_signatures(data->newest()), 4u);
  // The archive follows the tree; nothing is left beside the keyset's entries.
  EXPECT_TRUE(
      cpio_contents(keyset.dir / "pcr7data.cpio")
          .contains(fmt::format("pcr7data/policy-2/{}/info.json", pcr7_index_path(other.tpm))));
  for (const auto& name : test::dir_entries(keyset.dir))
    EXPECT_FALSE(name.starts_with(".")) << name;
}

TEST(Pcr7DataWriter, KeysetCreationMakesItsPredictedPcr7data) {
  auto root = TempDir::create();
  ASSERT_TRUE(root);
  trust::KeysetOptions options;
  Pcr7Values written{};
  options.add_contents = [&](const fs::path& staging) -> Status {
    MOS_TRY_ASSIGN(written, write_predicted_pcr7data(staging, "fresh"));
    return {};
  };
  auto dir = trust::create_keyset("fresh", options, root->path());
  ASSERT_TRUE(dir) << dir.error().message;
  auto inputs = keyset_pcr7_inputs(*dir);
  ASSERT_TRUE(inputs);
  EXPECT_EQ(*predict_pcr7(*inputs)->pcr7_of("uki-tpm"), written.tpm);
  auto data = read_pcr7data(*dir / "pcr7data");
  ASSERT_TRUE(data) << data.error().message;
  EXPECT_EQ(data->newest().find(written.production)->info.key, "fresh");
  EXPECT_EQ(*verify_pcr7data_signatures(data->newest()), 2u);
  EXPECT_TRUE(fs::exists(*dir / "pcr7data.cpio"));
}

TEST(Pcr7DataWriter, RefusesAndChangesNothing) {
  KeysetCopy keyset = copy_of_made_keyset();
  Pcr7Values same = snakeoil_values();
  same.tpm = same.limited;
  EXPECT_THAT(test::error_of(write_pcr7data(keyset.dir, request_for(same))),
              HasSubstr("same PCR7 value"));
  Pcr7DataRequest bad_date = request_for(snakeoil_values());
  bad_date.est_date = "tomorrow";
  EXPECT_THAT(test::error_of(write_pcr7data(keyset.dir, bad_date)), HasSubstr("not a date"));
  EXPECT_FALSE(fs::exists(keyset.dir / "pcr7data"));

  // An existing tree the device would not accept is not built upon.
  ASSERT_TRUE(write_pcr7data(keyset.dir, request_for(snakeoil_values())));
  test::flip_byte(keyset.dir / "pcr7data.cpio", 200);  // proves the archive is not rewritten
  std::string before = test::read_text(keyset.dir / "pcr7data.cpio");
  std::ofstream(keyset.dir / "pcr7data/policy-2/stray") << "x";
  EXPECT_THAT(test::error_of(write_pcr7data(keyset.dir, request_for(snakeoil_values()))),
              HasSubstr("the existing pcr7data is not valid"));
  EXPECT_EQ(test::read_text(keyset.dir / "pcr7data.cpio"), before);
  EXPECT_TRUE(fs::exists(keyset.dir / "pcr7data/policy-2/stray"));
}

TEST(Pcr7DataWriter, NeedsTheTpmPolicyKeys) {
  // The snakeoil fixture has certificates but no private keys.
  auto temp = TempDir::create();
  ASSERT_TRUE(temp);
  fs::copy(snakeoil_keyset(), temp->path() / "snakeoil", fs::copy_options::recursive);
  fs::remove_all(temp->path() / "snakeoil/pcr7data");
  Pcr7DataRequest request = request_for(snakeoil_values());
  request.keyset_name = "snakeoil";
  EXPECT_THAT(test::error_of(write_pcr7data(temp->path() / "snakeoil", request)),
              HasSubstr("tpmpol-admin/privkey.pem"));
  EXPECT_FALSE(fs::exists(temp->path() / "snakeoil/pcr7data"));
}

TEST(CpioArchive, NewcHeadersAreReproducible) {
  auto archive =
      newc_archive({CpioEntry{"d", true, 0755, {}}, CpioEntry{"d/f", false, 0644, "abc"}});
  ASSERT_TRUE(archive) << archive.error().message;
  ASSERT_EQ(archive->size() % 512, 0u);
  // magic, ino 1, mode 040755, uid 0, gid 0, nlink 2, mtime 0
  EXPECT_EQ(archive->substr(0, 6 + 8 * 6),
            "07070100000001000041ed000000000000000000000002"
            "00000000");
  EXPECT_NE(archive->find("TRAILER!!!"), std::string::npos);
  EXPECT_EQ(*archive,
            *newc_archive({CpioEntry{"d", true, 0755, {}}, CpioEntry{"d/f", false, 0644, "abc"}}));
  EXPECT_THAT(test::error_of(newc_archive({CpioEntry{"/abs", false, 0644, {}}})),
              HasSubstr("not a relative path"));
}

}  // namespace
}  // namespace mos::tpm
