// libFuzzer target: a pcr7data tree as the device reads it from its initrd or its PBF partition
// (where anyone with the disk can write), and the .sbatlevel section of a shim binary.
//
// The input is a tree of files, each "@@PATH\n" followed by the file's bytes up to the next
// "\n@@" (or the end); an input that does not start with "@@" is also fed to the info.json,
// index and shim parsers whole. The corpus's seeds are the snakeoil pcr7data in this form.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tpm/pcr7data.hpp"
#include "tpm/shim_sbat.hpp"

namespace {

mos::tpm::Pcr7DataFiles files_of(std::string_view input) {
  mos::tpm::Pcr7DataFiles files;
  while (input.starts_with("@@")) {
    input.remove_prefix(2);
    auto newline = input.find('\n');
    if (newline == std::string_view::npos) break;
    std::string path(input.substr(0, newline));
    input.remove_prefix(newline + 1);
    auto next = input.find("\n@@");
    files[path] = std::string(input.substr(0, next));
    if (next == std::string_view::npos) break;
    input.remove_prefix(next + 1);
  }
  return files;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.starts_with("@@")) {
    if (auto tree = mos::tpm::parse_pcr7data(files_of(input), "fuzz")) {
      if (tree->policies.empty()) __builtin_trap();  // parse promises at least one policy
      for (const auto& policy : tree->policies) {
        for (const auto& entry : policy.entries)
          if (mos::tpm::pcr7_from_index(entry.index) != entry.pcr7) __builtin_trap();
        (void)mos::tpm::verify_pcr7data_signatures(policy);
      }
    }
    return 0;
  }
  if (auto info = mos::tpm::parse_pcr7_info(input, "fuzz")) {
    auto again = mos::tpm::parse_pcr7_info(mos::tpm::encode_pcr7_info(*info), "again");
    if (!again || again->key != info->key || again->est_date != info->est_date ||
        again->comment != info->comment || again->key_type != info->key_type)
      __builtin_trap();  // what parses must encode and parse back the same
  }
  if (auto pcr7 = mos::tpm::pcr7_from_index(input.substr(0, 64))) {
    if (mos::tpm::pcr7_index(*pcr7) != input.substr(0, 64)) __builtin_trap();
  }
  if (auto section = mos::tpm::pe_section(input, ".sbatlevel", "fuzz"))
    (void)mos::tpm::parse_sbatlevel_section(*section, "fuzz");
  (void)mos::tpm::parse_sbatlevel_section(input, "fuzz");
  return 0;
}
