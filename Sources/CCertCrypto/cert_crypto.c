// See include/cert_crypto.h for what each wrapper promises.
#include "cert_crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <string.h>

enum {
    ed25519_key_bytes = 32,
    ed25519_signature_bytes = 64,
    rsa_minimum_bits = 2048,
    rsa_maximum_bits = 16384,
};

/// Stands in for a null message pointer when the message is empty.
static const uint8_t empty_message = 0;

/// Leaves no OpenSSL error behind for the next caller (libssh reads the same queue).
static int finish(int result) {
    ERR_clear_error();
    return result;
}

/// One-shot verification of `message` by `key` with `digest` (NULL for ed25519): 1, 0, or -1
/// when the verifier cannot be set up.
static int digest_verify(EVP_PKEY *key, const EVP_MD *digest, const uint8_t *signature, size_t signature_length,
                         const uint8_t *message, size_t message_length) {
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    int result = -1;
    if (context != NULL && EVP_DigestVerifyInit(context, NULL, digest, NULL, key) == 1) {
        result = EVP_DigestVerify(context, signature, signature_length, message ? message : &empty_message,
                                  message_length) == 1 ? 1 : 0;
    }
    EVP_MD_CTX_free(context);
    return result;
}

/// A public key of `type` ("EC" or "RSA") from the parameters in `builder`, or NULL.
static EVP_PKEY *public_key_from(const char *type, OSSL_PARAM_BLD *builder) {
    OSSL_PARAM *parameters = OSSL_PARAM_BLD_to_param(builder);
    EVP_PKEY_CTX *context = parameters ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
    EVP_PKEY *key = NULL;
    if (context == NULL || EVP_PKEY_fromdata_init(context) != 1 ||
        EVP_PKEY_fromdata(context, &key, EVP_PKEY_PUBLIC_KEY, parameters) != 1) {
        key = NULL;
    }
    EVP_PKEY_CTX_free(context);
    OSSL_PARAM_free(parameters);
    return key;
}

int switchboard_ed25519_public_key(const uint8_t seed[32], uint8_t public_key[32]) {
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, ed25519_key_bytes);
    size_t length = ed25519_key_bytes;
    int result = key != NULL && EVP_PKEY_get_raw_public_key(key, public_key, &length) == 1 && length == ed25519_key_bytes;
    EVP_PKEY_free(key);
    return finish(result ? 1 : -1);
}

int switchboard_ed25519_sign(const uint8_t seed[32], const uint8_t *message, size_t message_length,
                             uint8_t signature[64]) {
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, ed25519_key_bytes);
    EVP_MD_CTX *context = key ? EVP_MD_CTX_new() : NULL;
    size_t length = ed25519_signature_bytes;
    int result = context != NULL && EVP_DigestSignInit(context, NULL, NULL, NULL, key) == 1 &&
                 EVP_DigestSign(context, signature, &length, message ? message : &empty_message, message_length) == 1 &&
                 length == ed25519_signature_bytes;
    EVP_MD_CTX_free(context);
    EVP_PKEY_free(key);
    return finish(result ? 1 : -1);
}

int switchboard_ed25519_verify(const uint8_t public_key[32], const uint8_t signature[64],
                               const uint8_t *message, size_t message_length) {
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, public_key, ed25519_key_bytes);
    int result = key ? digest_verify(key, NULL, signature, ed25519_signature_bytes, message, message_length) : -1;
    EVP_PKEY_free(key);
    return finish(result);
}

int switchboard_ecdsa_verify(int curve_bits, const uint8_t *q, size_t q_length,
                             const uint8_t *r, size_t r_length, const uint8_t *s, size_t s_length,
                             const uint8_t *message, size_t message_length) {
    const char *group;
    const EVP_MD *digest;
    size_t field_bytes;
    switch (curve_bits) {
    case 256: group = "prime256v1"; digest = EVP_sha256(); field_bytes = 32; break;
    case 384: group = "secp384r1"; digest = EVP_sha384(); field_bytes = 48; break;
    case 521: group = "secp521r1"; digest = EVP_sha512(); field_bytes = 66; break;
    default: return finish(-1);
    }
    // OpenSSH keys carry the point uncompressed; OpenSSL would also take a compressed one.
    if (q == NULL || q_length != 1 + 2 * field_bytes || q[0] != 0x04) return finish(-1);
    // r and s are below the group order, which has as many bytes as the field.
    if (r_length > field_bytes || s_length > field_bytes) return finish(0);

    OSSL_PARAM_BLD *builder = OSSL_PARAM_BLD_new();
    EVP_PKEY *key = NULL;
    if (builder != NULL && OSSL_PARAM_BLD_push_utf8_string(builder, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(builder, OSSL_PKEY_PARAM_PUB_KEY, q, q_length) == 1) {
        key = public_key_from("EC", builder);
    }
    OSSL_PARAM_BLD_free(builder);
    EVP_PKEY_CTX *check = key ? EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL) : NULL;
    if (check == NULL || EVP_PKEY_public_check(check) != 1) {
        EVP_PKEY_CTX_free(check);
        EVP_PKEY_free(key);
        return finish(-1);
    }
    EVP_PKEY_CTX_free(check);

    int result = -1;
    ECDSA_SIG *signature = ECDSA_SIG_new();
    BIGNUM *big_r = BN_bin2bn(r ? r : &empty_message, (int)r_length, NULL);
    BIGNUM *big_s = BN_bin2bn(s ? s : &empty_message, (int)s_length, NULL);
    if (signature != NULL && big_r != NULL && big_s != NULL && ECDSA_SIG_set0(signature, big_r, big_s) == 1) {
        big_r = NULL;  // owned by the signature now
        big_s = NULL;
        unsigned char *der = NULL;
        int der_length = i2d_ECDSA_SIG(signature, &der);
        if (der_length > 0) result = digest_verify(key, digest, der, (size_t)der_length, message, message_length);
        OPENSSL_free(der);
    }
    BN_free(big_r);
    BN_free(big_s);
    ECDSA_SIG_free(signature);
    EVP_PKEY_free(key);
    return finish(result);
}

int switchboard_rsa_verify(const uint8_t *n, size_t n_length, const uint8_t *e, size_t e_length,
                           int hash_bits, const uint8_t *signature, size_t signature_length,
                           const uint8_t *message, size_t message_length) {
    const EVP_MD *digest = hash_bits == 256 ? EVP_sha256() : hash_bits == 512 ? EVP_sha512() : NULL;
    if (digest == NULL || n == NULL || e == NULL || n_length > rsa_maximum_bits / 8 + 1 || e_length > n_length) {
        return finish(-1);
    }
    BIGNUM *modulus = BN_bin2bn(n, (int)n_length, NULL);
    BIGNUM *exponent = BN_bin2bn(e, (int)e_length, NULL);
    int bits = modulus ? BN_num_bits(modulus) : 0;
    size_t modulus_bytes = (size_t)(bits + 7) / 8;
    int result = -1;
    if (exponent != NULL && bits >= rsa_minimum_bits && bits <= rsa_maximum_bits) {
        if (signature_length > modulus_bytes) {
            result = 0;
        } else {
            OSSL_PARAM_BLD *builder = OSSL_PARAM_BLD_new();
            EVP_PKEY *key = NULL;
            if (builder != NULL && OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_RSA_N, modulus) == 1 &&
                OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_RSA_E, exponent) == 1) {
                key = public_key_from("RSA", builder);
            }
            uint8_t *padded = OPENSSL_zalloc(modulus_bytes);
            if (key != NULL && padded != NULL) {
                if (signature_length > 0) memcpy(padded + modulus_bytes - signature_length, signature, signature_length);
                // PKCS#1 v1.5 is OpenSSL's default padding for an RSA verifier.
                result = digest_verify(key, digest, padded, modulus_bytes, message, message_length);
            }
            OPENSSL_free(padded);
            EVP_PKEY_free(key);
            OSSL_PARAM_BLD_free(builder);
        }
    }
    BN_free(modulus);
    BN_free(exponent);
    return finish(result);
}

int switchboard_sha256(const uint8_t *data, size_t length, uint8_t digest[32]) {
    unsigned int digest_length = 0;
    int ok = EVP_Digest(data ? data : &empty_message, length, digest, &digest_length, EVP_sha256(), NULL) == 1 &&
             digest_length == 32;
    return finish(ok ? 1 : -1);
}
