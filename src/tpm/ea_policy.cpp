#include "tpm/ea_policy.hpp"

namespace mos::tpm {

namespace {

// TPM structures are big-endian.
void append_be(std::string& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

}  // namespace

std::string nv_index_name(std::uint32_t index, std::uint32_t attributes, std::uint16_t data_size) {
  std::string nv_public;
  append_be(nv_public, index, 4);
  append_be(nv_public, kTpmAlgSha256, 2);
  append_be(nv_public, attributes, 4);
  append_be(nv_public, 0, 2);  // authPolicy: an empty TPM2B
  append_be(nv_public, data_size, 2);
  std::string name;
  append_be(name, kTpmAlgSha256, 2);
  name += bytes_of(sha256(nv_public));
  return name;
}

std::string pcr7_selection() {
  std::string selection;
  append_be(selection, 1, 4);  // one bank
  append_be(selection, kTpmAlgSha256, 2);
  append_be(selection, 3, 1);  // sizeofSelect: PCRs 0-23
  std::uint8_t select[3] = {0, 0, 0};
  select[kPcr7 / 8] = static_cast<std::uint8_t>(1u << (kPcr7 % 8));
  for (std::uint8_t byte : select) selection += static_cast<char>(byte);
  return selection;
}

Sha256 policy_pcr7(const Sha256& policy, const Sha256& pcr7) {
  std::string command;
  append_be(command, kTpmCcPolicyPcr, 4);
  // The PCR digest is the hash of the selected PCR values concatenated: here just PCR7's.
  Sha256 pcr_digest = sha256(bytes_of(pcr7));
  return sha256_of_parts({bytes_of(policy), command, pcr7_selection(), bytes_of(pcr_digest)});
}

Sha256 policy_nv(const Sha256& policy, std::string_view operand, std::uint16_t offset,
                 std::uint16_t operation, std::string_view nv_name) {
  std::string command;
  append_be(command, kTpmCcPolicyNv, 4);
  std::string tail;
  append_be(tail, offset, 2);
  append_be(tail, operation, 2);
  Sha256 args = sha256_of_parts({operand, tail});
  return sha256_of_parts({bytes_of(policy), command, bytes_of(args), nv_name});
}

Status check_policy_version(std::string_view version) {
  bool digits = version.size() == 4;
  for (char c : version) digits = digits && c >= '0' && c <= '9';
  if (!digits) return fail("policy version '{}' must be exactly four digits, like 0001", version);
  return {};
}

Sha256 passwd_policy_digest(const Sha256& pcr7_tpm) {
  return policy_pcr7(Sha256{}, pcr7_tpm);
}

Result<Sha256> luks_policy_digest(const Sha256& pcr7_production, std::string_view policy_version) {
  MOS_TRY(check_policy_version(policy_version));
  Sha256 after_pcr = policy_pcr7(Sha256{}, pcr7_production);
  return policy_nv(
      after_pcr, policy_version, 0, kTpmEoEq,
      nv_index_name(kNvEaPolicyVersion, kEaPolicyVersionAttributes, kEaPolicyVersionSize));
}

}  // namespace mos::tpm
