// PCR7 prediction against original-trust.md §9: the snakeoil keyset's certificates and guids
// must give the PCR7 values the original measured (its pcr_*.bin files).
#include "tpm/pcr7_prediction.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "unit/support/test_support.hpp"

namespace mos::tpm {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kProduction =
    "e5936c3e9f1b8f53d1ba5b597ed11ba0d66e29f9558d02c96e99a149b75dada8";
constexpr std::string_view kLimited =
    "cecf0859d0c82f9b074d48d300cc83dae05df98da4144f4beaef88faf967f38c";
constexpr std::string_view kTpm =
    "254d1d3854f71ad22f7046d037a898a51880415b01ecdc577e242a146116eea0";

fs::path snakeoil() {
  return test::fixture_path("snakeoil-keyset");
}

Pcr7Prediction snakeoil_prediction(Pcr7Inputs base = {}) {
  auto inputs = keyset_pcr7_inputs(snakeoil(), std::move(base));
  EXPECT_TRUE(inputs) << inputs.error().message;
  auto prediction = predict_pcr7(*inputs);
  EXPECT_TRUE(prediction) << prediction.error().message;
  return *prediction;
}

TEST(Pcr7Prediction, ReproducesTheSnakeoilValuesOfSection9) {
  Pcr7Prediction prediction = snakeoil_prediction();
  EXPECT_EQ(to_hex(*prediction.pcr7_of("uki-production")), kProduction);
  EXPECT_EQ(to_hex(*prediction.pcr7_of("uki-limited")), kLimited);
  EXPECT_EQ(to_hex(*prediction.pcr7_of("uki-tpm")), kTpm);
}

TEST(Pcr7Prediction, EqualsTheValuesTheOriginalMeasuredIntoPcrBinFiles) {
  Pcr7Prediction prediction = snakeoil_prediction();
  fs::path limited_dir =
      snakeoil() /
      "pcr7data/policy-2/cf/ce5908c8d09b2f4d07d348cc00da835de08df914a44b4fefeafa8867f98cf3";
  for (auto [file, key] :
       {std::pair{"pcr_limited.bin", "uki-limited"}, std::pair{"pcr_tpm.bin", "uki-tpm"},
        std::pair{"pcr_prod.bin", "uki-production"}}) {
    std::string measured = test::read_text(limited_dir / file);
    EXPECT_EQ(measured, bytes_of(*prediction.pcr7_of(key))) << file;
  }
}

TEST(Pcr7Prediction, IsAnEventListThatReplaysToTheValue) {
  Pcr7Prediction prediction = snakeoil_prediction();
  ASSERT_EQ(prediction.common_events.size(), 9u);
  EXPECT_THAT(prediction.common_events[0].description, HasSubstr("SecureBoot"));
  EXPECT_EQ(prediction.common_events[5].event_type, kEvSeparator);
  EXPECT_EQ(prediction.common_events[7].description, "SbatLevel (SHIM_LOCK): sbat,1,2021030218\\n");
  auto events = prediction.events_of("uki-tpm");
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 10u);
  EXPECT_EQ(events->back().event_type, kEvEfiVariableAuthority);
  EXPECT_THAT(events->back().description, HasSubstr("vendor_db"));
  EXPECT_EQ(to_hex(replay_pcr7(*events)), kTpm);
  EXPECT_THAT(test::error_of(prediction.pcr7_of("uki-other")),
              HasSubstr("predicted: uki-production, uki-limited, uki-tpm"));
}

TEST(Pcr7Prediction, EveryExplicitInputChangesTheValue) {
  std::string production(kProduction);
  Pcr7Inputs newer_shim;
  newer_shim.sbat_level = "sbat,1,2025021800\nshim,4\ngrub,5\n";
  EXPECT_NE(to_hex(*snakeoil_prediction(newer_shim).pcr7_of("uki-production")), production);
  Pcr7Inputs no_mok;
  no_mok.mok_list_trusted.reset();
  Pcr7Prediction without = snakeoil_prediction(no_mok);
  EXPECT_EQ(without.common_events.size(), 8u);
  EXPECT_NE(to_hex(*without.pcr7_of("uki-production")), production);
  Pcr7Inputs empty_dbx;
  empty_dbx.dbx_hashes.clear();
  EXPECT_NE(to_hex(*snakeoil_prediction(empty_dbx).pcr7_of("uki-production")), production);
  Pcr7Inputs vendor_cert;
  vendor_cert.uki_authority = UkiAuthority::vendor_cert;
  Pcr7Prediction debian = snakeoil_prediction(vendor_cert);
  EXPECT_NE(to_hex(*debian.pcr7_of("uki-production")), production);
  EXPECT_THAT(debian.keys[0].last_event.description, HasSubstr("Shim (SHIM_LOCK)"));
}

TEST(Pcr7Prediction, NamesWhatIsMissing) {
  Pcr7Inputs inputs;
  EXPECT_THAT(test::error_of(predict_pcr7(inputs)), HasSubstr("uefi-pk certificate is missing"));
  auto temp = TempDir::create();
  ASSERT_TRUE(temp);
  EXPECT_THAT(test::error_of(keyset_pcr7_inputs(temp->path())),
              HasSubstr((temp->path() / "uefi-pk/cert.pem").string()));
}

TEST(EfiVariable, GuidsAreMixedEndianOnTheWire) {
  auto guid = parse_efi_guid("a0baa8a3-041d-48a8-bc87-c36d121b5e3d", "dbx owner");
  ASSERT_TRUE(guid);
  EXPECT_EQ(*guid, kOriginalDbxOwner);
  // The bytes the original kept as its DBXGuid constant.
  EXPECT_EQ(guid->wire(),
            std::string("\xa3\xa8\xba\xa0\x1d\x04\xa8\x48\xbc\x87\xc3\x6d\x12\x1b\x5e\x3d", 16));
  EXPECT_EQ(guid->str(), "a0baa8a3-041d-48a8-bc87-c36d121b5e3d");
  EXPECT_EQ(kEfiGlobalVariable.str(), "8be4df61-93ca-11d2-aa0d-00e098032b8c");
  EXPECT_THAT(test::error_of(parse_efi_guid("not-a-guid", "uefi-pk/guid")),
              HasSubstr("uefi-pk/guid is not a GUID"));
}

TEST(EfiVariable, SignatureListAndVariableDataLayout) {
  auto list = signature_list(kCertSha256, kZeroGuid, {std::string(32, 'x')});
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 28u + 16 + 32);
  EXPECT_EQ(list->substr(16, 4), std::string("\x4c\0\0\0", 4));  // ListSize 76
  EXPECT_EQ(list->substr(20, 4), std::string(4, '\0'));          // no header
  EXPECT_EQ(list->substr(24, 4), std::string("\x30\0\0\0", 4));  // SignatureSize 48
  EXPECT_THAT(test::error_of(signature_list(kCertX509, kZeroGuid, {"a", "bb"})),
              HasSubstr("one size"));
  std::string data = variable_data("db", kImageSecurityDatabase, "D");
  EXPECT_EQ(data.size(), 16u + 8 + 8 + 4 + 1);
  EXPECT_EQ(data.substr(16, 8), std::string("\x02\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(data.substr(32), std::string("d\0b\0D", 5));
}

}  // namespace
}  // namespace mos::tpm
