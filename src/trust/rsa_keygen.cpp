#include "trust/rsa_keygen.hpp"

#include <openssl/core_names.h>
#include <openssl/param_build.h>

namespace mos::trust {

namespace {

struct BnCtxDeleter {
  void operator()(BN_CTX* ctx) const { BN_CTX_free(ctx); }
};
struct SecretBnDeleter {
  void operator()(BIGNUM* bn) const { BN_clear_free(bn); }
};
struct ParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* bld) const { OSSL_PARAM_BLD_free(bld); }
};
struct ParamDeleter {
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
};
using Secret = std::unique_ptr<BIGNUM, SecretBnDeleter>;

constexpr unsigned long kPublicExponent = 65537;

Secret secret_bn() {
  return Secret(BN_secure_new());
}

// A prime of `bits` bits (top two bits set, so two of them make a full-length modulus) with
// p-1 coprime to e. e is prime, so p mod e != 1 is enough.
Status prime_for_rsa(BIGNUM* p, int bits, BN_CTX* ctx) {
  for (;;) {
    if (BN_generate_prime_ex2(p, bits, 0, nullptr, nullptr, nullptr, ctx) != 1)
      return fail("cannot generate an RSA prime: {}", openssl_reason("prime generation failed"));
    if (BN_num_bits(p) != bits) continue;
    BN_ULONG rem = BN_mod_word(p, kPublicExponent);
    if (rem == static_cast<BN_ULONG>(-1))
      return fail("cannot generate an RSA prime: {}", openssl_reason("mod failed"));
    if (rem != 1) return {};
  }
}

}  // namespace

Result<PkeyPtr> generate_rsa_key(int bits) {
  if (bits < 2048 || bits % 2 != 0)
    return fail("RSA keys must have an even number of bits, at least 2048 (asked {})", bits);
  openssl_errors();
  std::unique_ptr<BN_CTX, BnCtxDeleter> ctx(BN_CTX_secure_new());
  Secret p = secret_bn(), q = secret_bn(), p1 = secret_bn(), q1 = secret_bn(), gcd = secret_bn(),
         lcm = secret_bn(), d = secret_bn(), dmp1 = secret_bn(), dmq1 = secret_bn(),
         iqmp = secret_bn(), diff = secret_bn();
  BignumPtr n(BN_new()), e(BN_new());
  if (!ctx || !p || !q || !p1 || !q1 || !gcd || !lcm || !d || !dmp1 || !dmq1 || !iqmp || !diff ||
      !n || !e || BN_set_word(e.get(), kPublicExponent) != 1)
    return fail("cannot generate an RSA key: out of memory");
  int half = bits / 2;
  auto failed = [] {
    return fail("cannot generate an RSA key: {}", openssl_reason("arithmetic failed"));
  };
  for (;;) {
    MOS_TRY(prime_for_rsa(p.get(), half, ctx.get()));
    MOS_TRY(prime_for_rsa(q.get(), half, ctx.get()));
    // |p - q| > 2^(half - 100) (FIPS 186-4 B.3.1), so n cannot be factored from its square root.
    if (BN_sub(diff.get(), p.get(), q.get()) != 1) return failed();
    if (BN_num_bits(diff.get()) <= half - 100) continue;
    if (BN_cmp(p.get(), q.get()) < 0) std::swap(p, q);
    if (BN_mul(n.get(), p.get(), q.get(), ctx.get()) != 1) return failed();
    if (BN_num_bits(n.get()) != bits) continue;
    // d = e^-1 mod lcm(p-1, q-1), and large (d > 2^half) as FIPS 186-4 asks.
    if (BN_sub(p1.get(), p.get(), BN_value_one()) != 1 ||
        BN_sub(q1.get(), q.get(), BN_value_one()) != 1 ||
        BN_gcd(gcd.get(), p1.get(), q1.get(), ctx.get()) != 1 ||
        BN_mul(lcm.get(), p1.get(), q1.get(), ctx.get()) != 1 ||
        BN_div(lcm.get(), nullptr, lcm.get(), gcd.get(), ctx.get()) != 1)
      return failed();
    BN_set_flags(lcm.get(), BN_FLG_CONSTTIME);
    if (BN_mod_inverse(d.get(), e.get(), lcm.get(), ctx.get()) == nullptr) {
      openssl_errors();
      continue;
    }
    if (BN_num_bits(d.get()) <= half) continue;
    break;
  }
  BN_set_flags(d.get(), BN_FLG_CONSTTIME);
  BN_set_flags(p.get(), BN_FLG_CONSTTIME);
  if (BN_mod(dmp1.get(), d.get(), p1.get(), ctx.get()) != 1 ||
      BN_mod(dmq1.get(), d.get(), q1.get(), ctx.get()) != 1 ||
      BN_mod_inverse(iqmp.get(), q.get(), p.get(), ctx.get()) == nullptr)
    return failed();

  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_D, d.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_FACTOR1, p.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_FACTOR2, q.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_EXPONENT1, dmp1.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_EXPONENT2, dmq1.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_COEFFICIENT1, iqmp.get()) != 1)
    return fail("cannot assemble the RSA key: {}", openssl_reason("parameter building failed"));
  std::unique_ptr<OSSL_PARAM, ParamDeleter> params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr from(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !from || EVP_PKEY_fromdata_init(from.get()) != 1 ||
      EVP_PKEY_fromdata(from.get(), &key, EVP_PKEY_KEYPAIR, params.get()) != 1)
    return fail("cannot assemble the RSA key: {}", openssl_reason("rejected"));
  PkeyPtr result(key);
  // The same consistency check OpenSSL runs on its own keys: n = pq, d and the CRT values agree.
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!check || EVP_PKEY_pairwise_check(check.get()) != 1)
    return fail("the generated RSA key failed its consistency check: {}",
                openssl_reason("inconsistent"));
  return result;
}

}  // namespace mos::trust
