#ifndef REELGATE_CCRYPTO_SHIM_H
#define REELGATE_CCRYPTO_SHIM_H
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

/* EVP_sha256 etc. are plain functions; these wrappers keep call sites free of OpenSSL typedef noise. */
static inline unsigned char *ccrypto_hmac_sha256(const void *key, int key_len, const unsigned char *data,
                                                 size_t data_len, unsigned char *out, unsigned int *out_len) {
    return HMAC(EVP_sha256(), key, key_len, data, data_len, out, out_len);
}
static inline int ccrypto_sha256(const void *data, size_t len, unsigned char *out) {
    unsigned int out_len = 0;
    return EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL);
}
static inline int ccrypto_sha1(const void *data, size_t len, unsigned char *out) {
    unsigned int out_len = 0;
    return EVP_Digest(data, len, out, &out_len, EVP_sha1(), NULL);
}
#endif
