// trust computePCR7, trust tpm-policy-gen and trust keyset pcr7data: the PCR7 values a keyset's
// machines measure, the TPM policies that depend on them, and the signed pcr7data their initrd
// reads (docs/trust.md, "TPM").
#include <cstdio>
#include <string>
#include <vector>

#include "cli/trust/commands.hpp"
#include "core/file.hpp"
#include "tpm/ea_policy.hpp"
#include "tpm/pcr7_prediction.hpp"
#include "tpm/pcr7data.hpp"
#include "tpm/pcr7data_writer.hpp"
#include "tpm/shim_sbat.hpp"
#include "trust/keyset.hpp"

namespace mos::cli {
namespace {

using namespace mos::tpm;

constexpr std::size_t kMaxValueFile = 4096;

// A PCR7 value or policy digest on the command line: 64 hex digits, or a file holding the 32
// raw bytes (what the original's flags named) or 64 hex digits.
Result<Sha256> value_argument(const std::string& text, std::string_view flag) {
  if (auto hex = parse_sha256_hex(text, flag)) return *hex;
  auto bytes = read_file(text, kMaxValueFile);
  if (!bytes)
    return fail("{} '{}' is neither 64 hex digits nor a readable file ({})", flag, text,
                bytes.error().message);
  if (bytes->size() == kSha256Size) return sha256_from_bytes(*bytes, text);
  std::string_view trimmed = *bytes;
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r'))
    trimmed.remove_suffix(1);
  if (auto hex = parse_sha256_hex(trimmed, flag)) return *hex;
  return fail(
      "{} file {} holds {} bytes: expected the 32 raw bytes of a SHA-256 value or 64 hex "
      "digits",
      flag, text, bytes->size());
}

// "\n" in --sbat-level stands for a newline (every SbatLevel line ends with one).
std::string unescape_newlines(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == 'n') {
      out += '\n';
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

struct ComputeOptions {
  std::string keyset;
  std::string sbat_level;
  std::string shim;
  std::string shim_level = "automatic";
  std::string mok_list_trusted = "01";
  std::string uki_authority = "vendor-db";
  std::vector<std::string> dbx;
  bool empty_dbx = false;
  std::string dbx_owner;
  bool events = false;
};

Result<Pcr7Inputs> explicit_inputs(const ComputeOptions& o) {
  Pcr7Inputs inputs;
  if (!o.sbat_level.empty() && !o.shim.empty())
    return fail("give either --sbat-level or --shim, not both");
  if (!o.sbat_level.empty()) inputs.sbat_level = unescape_newlines(o.sbat_level);
  if (!o.shim.empty()) {
    MOS_TRY_ASSIGN(SbatLevelChoice choice, parse_sbat_level_choice(o.shim_level));
    MOS_TRY_ASSIGN(ShimSbatLevels levels, read_shim_sbat_levels(o.shim));
    inputs.sbat_level = choice == SbatLevelChoice::automatic ? levels.automatic : levels.latest;
  }
  if (o.mok_list_trusted == "none") {
    inputs.mok_list_trusted.reset();
  } else if (o.mok_list_trusted == "01" || o.mok_list_trusted == "00") {
    inputs.mok_list_trusted = static_cast<std::uint8_t>(o.mok_list_trusted == "01" ? 1 : 0);
  } else {
    return fail("--mok-list-trusted '{}': expected 01, 00 or none", o.mok_list_trusted);
  }
  if (o.uki_authority == "vendor-cert")
    inputs.uki_authority = UkiAuthority::vendor_cert;
  else if (o.uki_authority == "mok-list-rt")
    inputs.uki_authority = UkiAuthority::mok_list_rt;
  else if (o.uki_authority != "vendor-db")
    return fail("--uki-authority '{}': expected vendor-db, vendor-cert or mok-list-rt",
                o.uki_authority);
  if (o.empty_dbx && !o.dbx.empty()) return fail("give either --dbx or --empty-dbx, not both");
  if (o.empty_dbx) inputs.dbx_hashes.clear();
  if (!o.dbx.empty()) {
    inputs.dbx_hashes.clear();
    for (const auto& hash : o.dbx) {
      MOS_TRY_ASSIGN(Sha256 value, parse_sha256_hex(hash, "--dbx"));
      inputs.dbx_hashes.push_back(value);
    }
  }
  if (!o.dbx_owner.empty()) {
    MOS_TRY_ASSIGN(inputs.dbx_owner, parse_efi_guid(o.dbx_owner, "--dbx-owner"));
  }
  return inputs;
}

void print_event(std::size_t number, const Pcr7Event& event, std::string_view key = {}) {
  std::printf("%3zu %08x %s %s%s%s\n", number, event.event_type, to_hex(event.digest).c_str(),
              event.description.c_str(), key.empty() ? "" : "  -> ", std::string(key).c_str());
}

Status compute_pcr7(const ComputeOptions& options) {
  MOS_TRY_ASSIGN(Pcr7Inputs base, explicit_inputs(options));
  MOS_TRY_ASSIGN(fs::path keyset, trust::find_keyset(options.keyset));
  MOS_TRY_ASSIGN(Pcr7Inputs inputs, keyset_pcr7_inputs(keyset, std::move(base)));
  MOS_TRY_ASSIGN(Pcr7Prediction prediction, predict_pcr7(inputs));
  for (const auto& key : prediction.keys)
    std::printf("%s: %s\n", key.key.c_str(), to_hex(key.pcr7).c_str());
  if (options.events) {
    std::printf("\nevents (number, TCG event type, digest, what):\n");
    std::size_t n = 0;
    for (const auto& event : prediction.common_events) print_event(++n, event);
    for (const auto& key : prediction.keys) print_event(n + 1, key.last_event, key.key);
  }
  return {};
}

struct PolicyGenOptions {
  std::string passwd_file = "passwd_policy.out";
  std::string luks_file = "luks_policy.out";
  std::string pcr7_tpm;
  std::string pcr7_production;
  std::string policy_version = std::string(kDefaultPolicyVersion);
};

Status policy_gen(const PolicyGenOptions& o, bool quiet) {
  MOS_TRY(check_policy_version(o.policy_version));
  MOS_TRY_ASSIGN(Sha256 tpm, value_argument(o.pcr7_tpm, "--pcr7-tpm"));
  MOS_TRY_ASSIGN(Sha256 production, value_argument(o.pcr7_production, "--pcr7-production"));
  Sha256 passwd = passwd_policy_digest(tpm);
  MOS_TRY_ASSIGN(Sha256 luks, luks_policy_digest(production, o.policy_version));
  // Replaced atomically and left writable (the original's 0400 files made a rerun fail).
  MOS_TRY(write_file_atomic(o.passwd_file, bytes_of(passwd), 0644));
  MOS_TRY(write_file_atomic(o.luks_file, bytes_of(luks), 0644));
  if (!quiet) {
    std::printf("passwd policy %s -> %s\n", to_hex(passwd).c_str(), o.passwd_file.c_str());
    std::printf("luks policy %s -> %s\n", to_hex(luks).c_str(), o.luks_file.c_str());
  }
  return {};
}

struct Pcr7DataOptions {
  std::string keyset;
  std::string pcr7_tpm;
  std::string pcr7_limited;
  std::string pcr7_prod;
  std::string passwd_policy;
  std::string luks_policy;
  std::string policy_version = std::string(kDefaultPolicyVersion);
};

// A given policy file must hold the policy of its PCR7 value: any other digest could never be
// satisfied by a machine booted with that key.
Status check_given_policy(const std::string& file, std::string_view flag, const Sha256& expected,
                          std::string_view of_what) {
  if (file.empty()) return {};
  MOS_TRY_ASSIGN(Sha256 given, value_argument(file, flag));
  if (given != expected)
    return fail("{} {} holds {}, but the policy of {} is {} (made for another PCR7 value{}?)", flag,
                file, to_hex(given), of_what, to_hex(expected),
                flag == "--luksPolicy" ? " or --policy-version" : "");
  return {};
}

Status add_pcr7data(const Pcr7DataOptions& o, bool quiet) {
  MOS_TRY(check_policy_version(o.policy_version));
  MOS_TRY_ASSIGN(fs::path keyset, trust::find_keyset(o.keyset));
  Pcr7DataRequest request;
  request.keyset_name = o.keyset;
  MOS_TRY_ASSIGN(request.pcr7.tpm, value_argument(o.pcr7_tpm, "--pcr7-tpm"));
  MOS_TRY_ASSIGN(request.pcr7.limited, value_argument(o.pcr7_limited, "--pcr7-limited"));
  MOS_TRY_ASSIGN(request.pcr7.production, value_argument(o.pcr7_prod, "--pcr7-prod"));
  MOS_TRY_ASSIGN(request.policies, policy_digests(request.pcr7, o.policy_version));
  MOS_TRY(check_given_policy(o.passwd_policy, "--passwdPolicy", request.policies.passwd,
                             "the --pcr7-tpm value"));
  MOS_TRY(check_given_policy(o.luks_policy, "--luksPolicy", request.policies.luks,
                             "the --pcr7-prod value"));
  MOS_TRY(write_pcr7data(keyset, request));
  if (!quiet)
    std::printf("Wrote pcr7data of keyset %s (limited %s, tpm %s, production %s) and %s\n",
                o.keyset.c_str(), pcr7_index_path(request.pcr7.limited).substr(0, 11).c_str(),
                pcr7_index_path(request.pcr7.tpm).substr(0, 11).c_str(),
                pcr7_index_path(request.pcr7.production).substr(0, 11).c_str(),
                (keyset / kPcr7DataCpio).c_str());
  return {};
}

}  // namespace

void add_tpm_commands(Program& program) {
  CLI::App& app = program.app();

  static ComputeOptions compute;
  auto* pcr7 = app.add_subcommand("computePCR7",
                                  "Predict the PCR7 value of a boot with each UKI key of a keyset");
  pcr7->add_option("KEYSET", compute.keyset, "Keyset name")->required();
  pcr7->add_option("--sbat-level", compute.sbat_level,
                   "SbatLevel shim measures, \\n for newlines (default sbat,1,2021030218\\n)")
      ->type_name("LEVEL");
  pcr7->add_option("--shim", compute.shim, "Read the SbatLevel from this shim's .sbatlevel")
      ->type_name("FILE");
  program.choices(pcr7->add_option("--shim-level", compute.shim_level,
                                   "Level of --shim: automatic (first boot, default) or latest")
                      ->type_name("LEVEL"),
                  {"automatic", "latest"});
  program.choices(pcr7->add_option("--mok-list-trusted", compute.mok_list_trusted,
                                   "MokListTrusted byte measured: 01 (default), 00, or none "
                                   "(shim 15.7 and later)")
                      ->type_name("BYTE"),
                  {"01", "00", "none"});
  program.choices(pcr7->add_option("--uki-authority", compute.uki_authority,
                                   "How shim measures the UKI's certificate: vendor-db "
                                   "(default, the original's shim), vendor-cert, or mok-list-rt "
                                   "(Debian's shim 16.1, as our bootkit's machines measure it)")
                      ->type_name("KIND"),
                  {"vendor-db", "vendor-cert", "mok-list-rt"});
  pcr7->add_option("--dbx", compute.dbx,
                   "A SHA-256 entry of dbx (repeatable; default sha256(\"\"))")
      ->type_name("HASH");
  pcr7->add_flag("--empty-dbx", compute.empty_dbx, "dbx has no entry");
  pcr7->add_option("--dbx-owner", compute.dbx_owner,
                   "Owner GUID of the dbx entries (default a0baa8a3-041d-48a8-bc87-c36d121b5e3d)")
      ->type_name("GUID");
  pcr7->add_flag("--events", compute.events, "Also print the events, to compare with an event log");
  program.examples(pcr7,
                   {{"The three PCR7 values of keyset snakeoil", "trust computePCR7 snakeoil"},
                    {"With Debian's shim 16.1 as the bootkit has it (its SbatLevel, no "
                     "MokListTrusted event, its vendor certificate in MokListRT), and the events",
                     "trust computePCR7 snakeoil --shim /usr/lib/shim/shimx64.efi "
                     "--mok-list-trusted none --uki-authority mok-list-rt --events"}});
  program.on_run(pcr7, [] { return compute_pcr7(compute); });

  static PolicyGenOptions gen;
  auto* policy = app.add_subcommand(
      "tpm-policy-gen", "Write the passwd and luks TPM policy digests of two PCR7 values");
  policy
      ->add_option("--pf,--passwd-policy-file", gen.passwd_file,
                   "Passwd policy output (default passwd_policy.out)")
      ->type_name("FILE");
  policy
      ->add_option("--lf,--luks-policy-file", gen.luks_file,
                   "Luks policy output (default luks_policy.out)")
      ->type_name("FILE");
  policy->add_option("--pcr7-tpm", gen.pcr7_tpm, "uki-tpm PCR7: 64 hex digits or a file")
      ->type_name("VALUE")
      ->required();
  policy
      ->add_option("--pcr7-production", gen.pcr7_production,
                   "uki-production PCR7: 64 hex digits or a file")
      ->type_name("VALUE")
      ->required();
  policy
      ->add_option("--pv,--policy-version", gen.policy_version,
                   "EA policy version, four digits (default 0001)")
      ->type_name("VERSION");
  program.examples(policy, {{"The policies of snakeoil's values",
                             "trust tpm-policy-gen --pcr7-tpm "
                             "254d1d3854f71ad22f7046d037a898a51880415b01ecdc577e242a146116eea0 "
                             "--pcr7-production "
                             "e5936c3e9f1b8f53d1ba5b597ed11ba0d66e29f9558d02c96e99a149b75dada8"},
                            {"From files of raw values, into chosen files",
                             "trust tpm-policy-gen --pcr7-tpm pcr_tpm.bin --pcr7-production "
                             "pcr_prod.bin --pf passwd.policy --lf luks.policy"}});
  program.on_run(policy, [&program] { return policy_gen(gen, program.quiet()); });

  static Pcr7DataOptions data;
  CLI::App* keyset = app.get_subcommand("keyset");
  auto* add = keyset->add_subcommand(
      "pcr7data", "Add measured PCR7 values and their signed policies to a keyset's pcr7data");
  add->add_option("KEYSET", data.keyset, "Keyset name")->required();
  add->add_option("--pcr7-tpm", data.pcr7_tpm, "uki-tpm PCR7: 64 hex digits or a file")
      ->type_name("VALUE")
      ->required();
  add->add_option("--pcr7-limited", data.pcr7_limited, "uki-limited PCR7: 64 hex digits or a file")
      ->type_name("VALUE")
      ->required();
  add->add_option("--pcr7-prod", data.pcr7_prod, "uki-production PCR7: 64 hex digits or a file")
      ->type_name("VALUE")
      ->required();
  add->add_option("--passwdPolicy", data.passwd_policy,
                  "Passwd policy digest file (checked; computed when absent)")
      ->type_name("FILE");
  add->add_option("--luksPolicy", data.luks_policy,
                  "Luks policy digest file (checked; computed when absent)")
      ->type_name("FILE");
  add->add_option("--policy-version", data.policy_version,
                  "EA policy version of the luks policy (default 0001)")
      ->type_name("VERSION");
  program.examples(add, {{"Values measured on a machine, as files of raw bytes",
                          "trust keyset pcr7data snakeoil --pcr7-tpm pcr_tpm.bin --pcr7-limited "
                          "pcr_limited.bin --pcr7-prod pcr_prod.bin"},
                         {"Hex values, with the policy files tpm-policy-gen wrote (checked)",
                          "trust keyset pcr7data snakeoil --pcr7-tpm "
                          "254d1d3854f71ad22f7046d037a898a51880415b01ecdc577e242a146116eea0 "
                          "--pcr7-limited "
                          "cecf0859d0c82f9b074d48d300cc83dae05df98da4144f4beaef88faf967f38c "
                          "--pcr7-prod "
                          "e5936c3e9f1b8f53d1ba5b597ed11ba0d66e29f9558d02c96e99a149b75dada8 "
                          "--passwdPolicy passwd_policy.out --luksPolicy luks_policy.out"}});
  program.on_run(add, [&program] { return add_pcr7data(data, program.quiet()); });
}

}  // namespace mos::cli
