#include "machine/tpm_pcr_banks.hpp"

#include <algorithm>

namespace mos::machine {
namespace {

constexpr std::size_t kHeader = 10;  // tag (2), size (4), command or response code (4)
constexpr std::uint16_t kNoSessions = 0x8001;
constexpr std::uint32_t kGetCapability = 0x17A;
constexpr std::uint32_t kCapPcrs = 5;

std::uint32_t be32(std::span<const std::uint8_t> bytes, std::size_t at) {
  return std::uint32_t{bytes[at]} << 24 | std::uint32_t{bytes[at + 1]} << 16 |
         std::uint32_t{bytes[at + 2]} << 8 | bytes[at + 3];
}

void put_be32(std::vector<std::uint8_t>& bytes, std::size_t at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<std::uint8_t>(value >> (24 - 8 * i));
}

}  // namespace

std::optional<std::size_t> tpm_frame_size(std::span<const std::uint8_t> frame) {
  if (frame.size() < kHeader) return std::nullopt;
  return be32(frame, 2);
}

bool asks_pcr_allocation(std::span<const std::uint8_t> command) {
  // tag, size, code, capability, property, count
  return command.size() == kHeader + 12 && tpm_frame_size(command) == command.size() &&
         (command[0] << 8 | command[1]) == kNoSessions && be32(command, 6) == kGetCapability &&
         be32(command, 10) == kCapPcrs;
}

std::optional<std::vector<std::uint8_t>> with_active_pcr_banks_only(
    std::span<const std::uint8_t> response) {
  // header, moreData (1), capability (4), TPML_PCR_SELECTION: count (4), then per bank
  // TPMS_PCR_SELECTION: hash (2), sizeofSelect (1), pcrSelect[sizeofSelect].
  constexpr std::size_t kList = kHeader + 1 + 4;
  if (response.size() < kList + 4 || tpm_frame_size(response) != response.size() ||
      be32(response, 6) != 0 || be32(response, kHeader + 1) != kCapPcrs)
    return std::nullopt;
  std::uint32_t count = be32(response, kList);
  std::vector<std::uint8_t> out(response.begin(), response.begin() + kList + 4);
  std::uint32_t kept = 0;
  std::size_t at = kList + 4;
  for (std::uint32_t bank = 0; bank < count; ++bank) {
    if (response.size() - at < 3) return std::nullopt;
    std::size_t length = 3 + response[at + 2];
    if (response.size() - at < length) return std::nullopt;
    auto selection = response.subspan(at + 3, length - 3);
    if (std::ranges::any_of(selection, [](std::uint8_t bits) { return bits != 0; })) {
      out.insert(out.end(), response.begin() + at, response.begin() + at + length);
      ++kept;
    }
    at += length;
  }
  if (at != response.size() || kept == 0) return std::nullopt;
  put_be32(out, kList, kept);
  put_be32(out, 2, static_cast<std::uint32_t>(out.size()));
  return out;
}

}  // namespace mos::machine
