// The strict pcr7data reader, on the original's snakeoil pcr7data and on damaged copies of it.
#include "tpm/pcr7data.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tpm/ea_policy.hpp"
#include "trust/signing.hpp"
#include "unit/support/test_support.hpp"
#include "unit/tpm/tpm_test_support.hpp"

namespace mos::tpm {
namespace {

using ::testing::HasSubstr;
using namespace testing;

const std::string kLimitedDir =
    "policy-2/cf/ce5908c8d09b2f4d07d348cc00da835de08df914a44b4fefeafa8867f98cf3";
const std::string kTpmDir =
    "policy-2/4d/25381df754d21a702fd046a837a59880185b41ec0157dc247e142a1661a0ee";
const std::string kProductionDir =
    "policy-2/93/e53e6c1b9f538fbad1595bd17ea01b6ed6f9298d55c902996e49a15db7a8ad";

Pcr7DataFiles snakeoil_files() {
  auto files = read_pcr7data_files(snakeoil_keyset() / "pcr7data");
  EXPECT_TRUE(files) << files.error().message;
  return files ? *files : Pcr7DataFiles{};
}

TEST(Pcr7Index, IsTheHexOfTheValueWithBytePairsSwapped) {
  EXPECT_EQ(fmt::format("policy-2/{}", pcr7_index_path(snakeoil_limited())), kLimitedDir);
  EXPECT_EQ(fmt::format("policy-2/{}", pcr7_index_path(snakeoil_tpm())), kTpmDir);
  EXPECT_EQ(fmt::format("policy-2/{}", pcr7_index_path(snakeoil_production())), kProductionDir);
  EXPECT_EQ(*pcr7_from_index(pcr7_index(snakeoil_tpm())), snakeoil_tpm());
  EXPECT_THAT(test::error_of(pcr7_from_index(std::string(64, 'A'))),
              HasSubstr("64 lowercase hex digits"));
}

TEST(Pcr7DataReader, ReadsTheOriginalsSnakeoilPcr7data) {
  auto data = parse_pcr7data(snakeoil_files(), "snakeoil");
  ASSERT_TRUE(data) << data.error().message;
  ASSERT_EQ(data->policies.size(), 1u);
  const Pcr7Policy& policy = data->newest();
  EXPECT_EQ(policy.version, 2u);
  EXPECT_EQ(policy.pubkeys.size(), 2u);
  ASSERT_EQ(policy.entries.size(), 3u);
  const Pcr7IndexEntry* limited = policy.find(snakeoil_limited());
  ASSERT_NE(limited, nullptr);
  EXPECT_EQ(limited->info.key, "snakeoil");
  EXPECT_EQ(limited->info.key_type, Pcr7KeyType::limited);
  EXPECT_EQ(limited->info.est_date, "20230413");
  EXPECT_EQ(*limited->pcr_prod, snakeoil_production());
  EXPECT_EQ(*limited->pcr_tpm, snakeoil_tpm());
  const Pcr7IndexEntry* tpm = policy.find(snakeoil_tpm());
  ASSERT_NE(tpm, nullptr);
  EXPECT_EQ(tpm->info.key_type, Pcr7KeyType::tpm);
  EXPECT_TRUE(tpm->info.legacy_key_type);  // "password"
  EXPECT_EQ(tpm->passwd_policy_signature->size(), 256u);
  EXPECT_EQ(policy.find(snakeoil_production())->info.key_type, Pcr7KeyType::production);
}

TEST(Pcr7DataReader, TheSnakeoilSignaturesVerifyAgainstItsPubkeys) {
  auto data = parse_pcr7data(snakeoil_files(), "snakeoil");
  ASSERT_TRUE(data);
  auto checked = verify_pcr7data_signatures(data->newest());
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(*checked, 2u);
  // The luks variant without TPMA_NV_WRITTEN (124ee277…) is not what was signed.
  const Pcr7Policy& policy = data->newest();
  std::string unwritten = nv_index_name(
      kNvEaPolicyVersion, kEaPolicyVersionAttributes & ~kTpmaNvWritten, kEaPolicyVersionSize);
  Sha256 wrong =
      policy_nv(policy_pcr7(Sha256{}, snakeoil_production()), "0001", 0, kTpmEoEq, unwritten);
  EXPECT_THAT(test::error_of(trust::verify_signature(
                  policy.pubkeys.at("luks-snakeoil.pem"),
                  *policy.find(snakeoil_production())->luks_policy_signature, bytes_of(wrong))),
              HasSubstr(trust::kSignatureMismatch));
  // Nor does another policy version verify.
  EXPECT_THAT(test::error_of(verify_pcr7data_signatures(policy, "0002")),
              HasSubstr("tpm_luks.policy.signed"));
}

struct Damage {
  std::string name;
  std::function<void(Pcr7DataFiles&)> change;
  std::string message;
};

TEST(Pcr7DataReader, RefusesEveryDamagedTree) {
  const std::vector<Damage> damages = {
      {"unknown top level", [](auto& f) { f["README"] = "x"; }, "everything lies below policy-N/"},
      {"leading zero version", [](auto& f) { f["policy-02/pubkeys/luks-x.pem"] = "x"; },
       "everything lies below policy-N/"},
      {"unexpected file in an index", [](auto& f) { f[kLimitedDir + "/notes.txt"] = "x"; },
       "unexpected file notes.txt"},
      {"short pcr file", [](auto& f) { f[kLimitedDir + "/pcr_tpm.bin"] = "short"; },
       "pcr_tpm.bin must hold exactly 32 bytes"},
      {"limited value not its index",
       [](auto& f) { f[kLimitedDir + "/pcr_limited.bin"] = f[kLimitedDir + "/pcr_prod.bin"]; },
       "not the PCR7 value its directory names"},
      {"missing pcr file", [](auto& f) { f.erase(kLimitedDir + "/pcr_prod.bin"); },
       "pcr_prod.bin is missing"},
      {"missing signature", [](auto& f) { f.erase(kTpmDir + "/tpm_passwd.policy.signed"); },
       "tpm_passwd.policy.signed is missing"},
      {"empty signature", [](auto& f) { f[kProductionDir + "/tpm_luks.policy.signed"] = ""; },
       "a signature is 1 to 1024 bytes"},
      {"missing pubkey", [](auto& f) { f.erase("policy-2/pubkeys/luks-snakeoil.pem"); },
       "no public key pubkeys/luks-snakeoil.pem"},
      {"bad pubkey", [](auto& f) { f["policy-2/pubkeys/luks-snakeoil.pem"] = "garbage"; },
       "luks-snakeoil.pem"},
      {"bad pubkey name", [](auto& f) { f["policy-2/pubkeys/admin.pem"] = "x"; },
       "not tpmpass-KEYSET.pem or luks-KEYSET.pem"},
      {"missing info", [](auto& f) { f.erase(kTpmDir + "/info.json"); }, "info.json is missing"},
      {"extra info field",
       [](auto& f) {
         f[kTpmDir + "/info.json"] =
             R"({"key":"snakeoil","key_type":"tpm","est_date":"20230413","comment":"c","x":1})";
       },
       "unexpected field \"x\""},
      {"duplicate info field",
       [](auto& f) {
         f[kTpmDir + "/info.json"] =
             R"({"key":"snakeoil","key":"other","key_type":"tpm","est_date":"20230413","comment":""})";
       },
       "duplicate"},
      {"bad key type",
       [](auto& f) {
         f[kTpmDir + "/info.json"] =
             R"({"key":"snakeoil","key_type":"admin","est_date":"20230413","comment":""})";
       },
       "key_type 'admin'"},
      {"bad date",
       [](auto& f) {
         f[kTpmDir + "/info.json"] =
             R"({"key":"snakeoil","key_type":"tpm","est_date":"2023-04-13","comment":""})";
       },
       "is not a date YYYYMMDD"},
      {"escaping key",
       [](auto& f) {
         f[kTpmDir + "/info.json"] =
             R"({"key":"../x","key_type":"tpm","est_date":"20230413","comment":""})";
       },
       "key:"},
      {"short index", [](auto& f) { f["policy-2/cf/ce59/info.json"] = "{}"; },
       "with a 64-digit index"},
      {"uppercase index",
       [](auto& f) {
         f["policy-2/CF/CE5908C8D09B2F4D07D348CC00DA835DE08DF914A44B4FEFEAFA8867F98CF3/info.json"] =
             "{}";
       },
       "64 lowercase hex digits"},
  };
  for (const auto& damage : damages) {
    Pcr7DataFiles files = snakeoil_files();
    damage.change(files);
    EXPECT_THAT(test::error_of(parse_pcr7data(files, "t")), HasSubstr(damage.message))
        << damage.name;
  }
  EXPECT_THAT(test::error_of(parse_pcr7data({}, "empty")), HasSubstr("no policy-N directory"));
}

TEST(Pcr7DataReader, TheNewestPolicyIsTheHighestVersion) {
  Pcr7DataFiles files = snakeoil_files();
  files["policy-10/pubkeys/luks-snakeoil.pem"] = files["policy-2/pubkeys/luks-snakeoil.pem"];
  auto data = parse_pcr7data(files, "t");
  ASSERT_TRUE(data) << data.error().message;
  EXPECT_EQ(data->newest().version, 10u);
  EXPECT_TRUE(data->newest().entries.empty());
}

TEST(Pcr7DataReader, ReadsOnlyDirectoriesAndRegularFiles) {
  auto temp = TempDir::create();
  ASSERT_TRUE(temp);
  fs::create_directories(temp->path() / "policy-2/pubkeys");
  fs::create_symlink("/etc/passwd", temp->path() / "policy-2/pubkeys/luks-x.pem");
  EXPECT_THAT(test::error_of(read_pcr7data(temp->path())),
              HasSubstr("neither a directory nor a regular file"));
  EXPECT_THAT(test::error_of(read_pcr7data(temp->path() / "absent")),
              HasSubstr("is not a pcr7data directory"));
}

TEST(Pcr7Info, EncodesInTheOriginalsFieldOrder) {
  Pcr7Info info{"acme", Pcr7KeyType::production, false, "20260101", "mos acme"};
  std::string text = encode_pcr7_info(info);
  EXPECT_EQ(text,
            "{\"key\":\"acme\",\"key_type\":\"production\",\"est_date\":\"20260101\","
            "\"comment\":\"mos acme\"}\n");
  auto back = parse_pcr7_info(text, "info.json");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->key_type, Pcr7KeyType::production);
  EXPECT_THAT(test::error_of(parse_pcr7_info("[1]", "info.json")),
              HasSubstr("info.json: expected a JSON object"));
}

}  // namespace
}  // namespace mos::tpm
