#include "trust/signing.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <functional>

#include "core/file.hpp"
#include "trust/keys.hpp"

namespace mos::trust {

namespace {

// An RSA-4096 signature is 512 bytes and a P-256 DER signature at most 72; anything far larger
// is not a signature file.
constexpr std::size_t kMaxSignature = 16 * 1024;

using Feed = std::function<Status(const std::function<Status(std::string_view)>&)>;

Feed feed_bytes(std::string_view bytes) {
  return [bytes](const std::function<Status(std::string_view)>& sink) { return sink(bytes); };
}

// Reads the file in chunks into sink, so signing a large file needs no memory for it.
Feed feed_file(const std::filesystem::path& file) {
  return [file](const std::function<Status(std::string_view)>& sink) -> Status {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail("cannot open {}: {}", file.string(), errno_message(errno));
    char buffer[1 << 16];
    Status status;
    for (;;) {
      ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        status = fail("cannot read {}: {}", file.string(), errno_message(errno));
        break;
      }
      if (n == 0) break;
      status = sink(std::string_view(buffer, static_cast<std::size_t>(n)));
      if (!status) break;
    }
    ::close(fd);
    return status;
  };
}

Result<std::string> sign_feed(EVP_PKEY* key, const Feed& feed) {
  openssl_errors();
  MdCtxPtr md(EVP_MD_CTX_new());
  if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key) != 1)
    return fail("cannot sign with a {} key: {}", describe_key(key),
                openssl_reason("unsupported key"));
  MOS_TRY(feed([&](std::string_view chunk) -> Status {
    if (EVP_DigestSignUpdate(md.get(), chunk.data(), chunk.size()) != 1)
      return fail("signing failed: {}", openssl_reason("digest update failed"));
    return {};
  }));
  std::size_t length = 0;
  if (EVP_DigestSignFinal(md.get(), nullptr, &length) != 1)
    return fail("signing failed: {}", openssl_reason("cannot size the signature"));
  std::string signature(length, '\0');
  if (EVP_DigestSignFinal(md.get(), reinterpret_cast<unsigned char*>(signature.data()), &length) !=
      1)
    return fail("signing failed: {}", openssl_reason("signature failed"));
  signature.resize(length);
  return signature;
}

Status verify_feed(std::string_view public_pem, std::string_view signature, const Feed& feed) {
  if (signature.empty()) return fail("{}: the signature is empty", kSignatureMismatch);
  if (signature.size() > kMaxSignature)
    return fail("the signature is {} bytes, more than any supported key makes", signature.size());
  MOS_TRY_ASSIGN(auto key, parse_public_key_pem(public_pem, "the signer's certificate"));
  if (!EVP_PKEY_is_a(key.get(), "RSA") && !EVP_PKEY_is_a(key.get(), "EC"))
    return fail("cannot verify with a {} key: expected RSA or ECDSA", describe_key(key.get()));
  MdCtxPtr md(EVP_MD_CTX_new());
  if (!md || EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1)
    return fail("cannot verify with a {} key: {}", describe_key(key.get()),
                openssl_reason("unsupported"));
  MOS_TRY(feed([&](std::string_view chunk) -> Status {
    if (EVP_DigestVerifyUpdate(md.get(), chunk.data(), chunk.size()) != 1)
      return fail("verification failed: {}", openssl_reason("digest update failed"));
    return {};
  }));
  int rc = EVP_DigestVerifyFinal(md.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                                 signature.size());
  std::string reason = openssl_errors();
  if (rc != 1)
    return fail("{} the {} key (SHA-256){}", kSignatureMismatch, describe_key(key.get()),
                reason.empty() ? "" : ": " + reason);
  return {};
}

}  // namespace

Result<std::string> sign_bytes(EVP_PKEY* key, std::string_view bytes) {
  return sign_feed(key, feed_bytes(bytes));
}

Result<std::string> sign_bytes(std::string_view private_key_pem, std::string_view bytes) {
  MOS_TRY_ASSIGN(auto key, parse_private_key_pem(private_key_pem, "the private key"));
  return sign_feed(key.get(), feed_bytes(bytes));
}

Result<std::string> sign_bytes_with_key_file(const std::filesystem::path& private_key,
                                             std::string_view bytes) {
  MOS_TRY_ASSIGN(auto key, load_private_key(private_key));
  return sign_feed(key.get(), feed_bytes(bytes));
}

Result<std::string> sign_file(const std::filesystem::path& private_key,
                              const std::filesystem::path& file) {
  MOS_TRY_ASSIGN(auto key, load_private_key(private_key));
  return sign_feed(key.get(), feed_file(file));
}

Status verify_signature(std::string_view public_pem, std::string_view signature,
                        std::string_view bytes) {
  return verify_feed(public_pem, signature, feed_bytes(bytes));
}

Status verify_file_signature(std::string_view public_pem, std::string_view signature,
                             const std::filesystem::path& file) {
  return verify_feed(public_pem, signature, feed_file(file));
}

}  // namespace mos::trust
