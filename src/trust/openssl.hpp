#pragma once
// Owning handles for OpenSSL objects and the one place that turns OpenSSL's error queue into
// text, so every trust function reports "what failed: why (openssl reason)".
#include <memory>
#include <string>
#include <string_view>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

namespace mos::trust {

struct OpensslDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, OpensslDeleter>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OpensslDeleter>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpensslDeleter>;
using X509Ptr = std::unique_ptr<X509, OpensslDeleter>;
using X509StorePtr = std::unique_ptr<X509_STORE, OpensslDeleter>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OpensslDeleter>;
using BioPtr = std::unique_ptr<BIO, OpensslDeleter>;
using BignumPtr = std::unique_ptr<BIGNUM, OpensslDeleter>;

// Drains this thread's OpenSSL error queue into one line ("" when it is empty), so a stale
// error never leaks into a later, unrelated message.
std::string openssl_errors();

// The reason from the queue, or `fallback` when OpenSSL gave none.
std::string openssl_reason(std::string_view fallback);

// A read-only memory BIO over text (no copy; text must outlive it).
BioPtr memory_bio(std::string_view text);

// Everything written to a memory BIO, as a string.
std::string bio_contents(BIO* bio);

}  // namespace mos::trust
