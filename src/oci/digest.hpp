#pragma once
// Content digests (sha256, sha512): strict parsing of "algorithm:hex" and streaming hashing.
#include <compare>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mos::oci {

enum class DigestAlgorithm { sha256, sha512 };

class Digest {
 public:
  // Accepts only "sha256:<64 lowercase hex>" and "sha512:<128 lowercase hex>".
  static Result<Digest> parse(std::string_view text);
  static Digest from_hex(DigestAlgorithm algorithm, std::string hex);

  DigestAlgorithm algorithm() const { return algorithm_; }
  std::string_view algorithm_name() const;
  const std::string& hex() const { return hex_; }
  std::string str() const;

  friend bool operator==(const Digest&, const Digest&) = default;
  friend auto operator<=>(const Digest&, const Digest&) = default;

 private:
  Digest(DigestAlgorithm algorithm, std::string hex)
      : algorithm_(algorithm), hex_(std::move(hex)) {}
  DigestAlgorithm algorithm_ = DigestAlgorithm::sha256;
  std::string hex_;
};

// Streaming hash; feed bytes as they move, then finish() once.
class Hasher {
 public:
  explicit Hasher(DigestAlgorithm algorithm = DigestAlgorithm::sha256);
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  ~Hasher();
  void update(std::span<const std::byte> bytes);
  void update(std::string_view bytes) {
    update(std::as_bytes(std::span(bytes.data(), bytes.size())));
  }
  Digest finish();
  DigestAlgorithm algorithm() const { return algorithm_; }

 private:
  struct State;
  DigestAlgorithm algorithm_;
  std::unique_ptr<State> state_;
};

Digest digest_of(std::string_view bytes, DigestAlgorithm algorithm = DigestAlgorithm::sha256);
// Feeds a file's content to `hasher`, read in 1 MiB pieces (never held whole); returns its size.
Result<std::uint64_t> hash_file_into(Hasher& hasher, const std::filesystem::path& file);
// The digest of a file's content, read in 1 MiB pieces (never held whole).
Result<Digest> digest_of_file(const std::filesystem::path& file,
                              DigestAlgorithm algorithm = DigestAlgorithm::sha256);

}  // namespace mos::oci

template <>
struct std::hash<mos::oci::Digest> {
  std::size_t operator()(const mos::oci::Digest& d) const noexcept {
    return std::hash<std::string>{}(d.hex());
  }
};

template <>
struct fmt::formatter<mos::oci::Digest> : fmt::formatter<std::string> {
  auto format(const mos::oci::Digest& d, format_context& ctx) const {
    return fmt::formatter<std::string>::format(d.str(), ctx);
  }
};
