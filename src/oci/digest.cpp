#include "oci/digest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include <openssl/evp.h>

#include "core/file.hpp"

namespace mos::oci {

namespace {

bool is_lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

const EVP_MD* evp_for(DigestAlgorithm algorithm) {
  return algorithm == DigestAlgorithm::sha256 ? EVP_sha256() : EVP_sha512();
}

}  // namespace

Result<Digest> Digest::parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos)
    return fail("invalid digest \"{}\": expected ALGORITHM:HEX such as sha256:<64 hex digits>",
                text);
  std::string_view algorithm = text.substr(0, colon);
  std::string_view hex = text.substr(colon + 1);
  DigestAlgorithm alg;
  std::size_t length;
  if (algorithm == "sha256") {
    alg = DigestAlgorithm::sha256;
    length = 64;
  } else if (algorithm == "sha512") {
    alg = DigestAlgorithm::sha512;
    length = 128;
  } else {
    return fail("invalid digest \"{}\": unsupported algorithm \"{}\" (sha256 or sha512)", text,
                algorithm);
  }
  if (hex.size() != length || !is_lower_hex(hex))
    return fail("invalid digest \"{}\": {} needs {} lowercase hex digits", text, algorithm, length);
  return Digest(alg, std::string(hex));
}

Digest Digest::from_hex(DigestAlgorithm algorithm, std::string hex) {
  return Digest(algorithm, std::move(hex));
}

std::string_view Digest::algorithm_name() const {
  return algorithm_ == DigestAlgorithm::sha256 ? "sha256" : "sha512";
}

std::string Digest::str() const {
  return fmt::format("{}:{}", algorithm_name(), hex_);
}

struct Hasher::State {
  EVP_MD_CTX* ctx = nullptr;
  ~State() { EVP_MD_CTX_free(ctx); }
};

Hasher::Hasher(DigestAlgorithm algorithm)
    : algorithm_(algorithm), state_(std::make_unique<State>()) {
  state_->ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(state_->ctx, evp_for(algorithm), nullptr);
}

Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;
Hasher::~Hasher() = default;

void Hasher::update(std::span<const std::byte> bytes) {
  EVP_DigestUpdate(state_->ctx, bytes.data(), bytes.size());
}

Digest Hasher::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(state_->ctx, out, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(length * 2, '0');
  for (unsigned int i = 0; i < length; ++i) {
    hex[2 * i] = kHex[out[i] >> 4];
    hex[2 * i + 1] = kHex[out[i] & 0xf];
  }
  EVP_DigestInit_ex(state_->ctx, evp_for(algorithm_), nullptr);
  return Digest::from_hex(algorithm_, std::move(hex));
}

Digest digest_of(std::string_view bytes, DigestAlgorithm algorithm) {
  Hasher hasher(algorithm);
  hasher.update(bytes);
  return hasher.finish();
}

Result<std::uint64_t> hash_file_into(Hasher& hasher, const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("opening {}: {}", file.string(), errno_message(errno));
  std::vector<std::byte> buffer(1 << 20);
  std::uint64_t size = 0;
  for (;;) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return fail("reading {}: {}", file.string(), errno_message(e));
    }
    if (n == 0) break;
    hasher.update(std::span(buffer.data(), static_cast<std::size_t>(n)));
    size += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  return size;
}

Result<Digest> digest_of_file(const std::filesystem::path& file, DigestAlgorithm algorithm) {
  Hasher hasher(algorithm);
  MOS_TRY(hash_file_into(hasher, file));
  return hasher.finish();
}

}  // namespace mos::oci
