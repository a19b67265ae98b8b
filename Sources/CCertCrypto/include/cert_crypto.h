#ifndef SWITCHBOARD_CERT_CRYPTO_H
#define SWITCHBOARD_CERT_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/// Thin wrappers over OpenSSL 3's EVP interface for OpenSSH certificates: the signature
/// algorithms a certificate authority may use, and SHA-256 for fingerprints. Nothing here is
/// hand-written cryptography. Unless said otherwise a function returns 1 when the signature is
/// valid (or the operation succeeded), 0 when it is not valid, and -1 when the inputs cannot
/// be used at all (a malformed key, an unsupported size, an OpenSSL failure). Every function
/// frees what it allocates and clears OpenSSL's error queue before it returns.

/// Writes the 32-byte ed25519 public key of the 32-byte private seed to `public_key`.
int switchboard_ed25519_public_key(const uint8_t seed[32], uint8_t public_key[32]);

/// Signs `message` with the ed25519 key of `seed`, writing the 64-byte signature.
int switchboard_ed25519_sign(const uint8_t seed[32], const uint8_t *message, size_t message_length,
                             uint8_t signature[64]);

/// Verifies an ed25519 signature of `message` by `public_key`.
int switchboard_ed25519_verify(const uint8_t public_key[32], const uint8_t signature[64],
                               const uint8_t *message, size_t message_length);

/// Verifies an ECDSA signature (r, s as big-endian unsigned bytes) of `message` by the point
/// `q` (uncompressed, 0x04 || X || Y) on nistp256, nistp384 or nistp521 (`curve_bits` 256,
/// 384 or 521), hashed with SHA-256, SHA-384 or SHA-512 as OpenSSH pairs them.
int switchboard_ecdsa_verify(int curve_bits, const uint8_t *q, size_t q_length,
                             const uint8_t *r, size_t r_length, const uint8_t *s, size_t s_length,
                             const uint8_t *message, size_t message_length);

/// Verifies an RSA PKCS#1 v1.5 signature of `message` with SHA-256 or SHA-512 (`hash_bits` 256
/// or 512) by the key of modulus `n` and exponent `e` (big-endian unsigned bytes). A signature
/// shorter than the modulus is left-padded with zeros as OpenSSH does; a longer one is invalid.
/// Moduli under 2048 or over 16384 bits are refused (-1).
int switchboard_rsa_verify(const uint8_t *n, size_t n_length, const uint8_t *e, size_t e_length,
                           int hash_bits, const uint8_t *signature, size_t signature_length,
                           const uint8_t *message, size_t message_length);

/// Writes the SHA-256 digest of `data` to `digest`; returns 1, or -1 on an OpenSSL failure.
int switchboard_sha256(const uint8_t *data, size_t length, uint8_t digest[32]);

#endif
