#pragma once
// RSA key generation from two sieved probable primes.
//
// Why not EVP_PKEY_keygen: OpenSSL 3.0 generates 2-prime RSA keys of 2048 bits and more with
// the FIPS 186-4 auxiliary-prime method, which trial-divides every candidate from scratch and
// takes about 170 ms per RSA-2048 key here; BN_generate_prime_ex2 sieves candidates
// incrementally and needs about a third of that. A keyset has eleven keys, so this is most of
// `trust keyset add`. The primes get the same Miller-Rabin rounds as OpenSSL's own keys (its
// minimum, 64 for 1024-bit primes), and the assembled key passes OpenSSL's pairwise check.
#include "core/result.hpp"
#include "trust/openssl.hpp"

namespace mos::trust {

// bits: 2048 or more, a multiple of 2; public exponent 65537.
Result<PkeyPtr> generate_rsa_key(int bits);

}  // namespace mos::trust
