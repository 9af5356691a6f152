#ifndef REELGATE_CCRYPTO_SHIM_H
#define REELGATE_CCRYPTO_SHIM_H
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdatomic.h>

/* EVP_sha256 etc. are plain functions; these wrappers keep call sites free of OpenSSL typedef noise. */
static inline unsigned char *ccrypto_hmac_sha256(const void *key, int key_len, const unsigned char *data,
                                                 size_t data_len, unsigned char *out, unsigned int *out_len) {
    return HMAC(EVP_sha256(), key, key_len, data, data_len, out, out_len);
}
/* SHA-256 fetched from the provider once and kept: the implicit fetch behind EVP_sha256() takes a
   provider lock and a table look-up on every call, most of the cost of a short digest. */
static inline const EVP_MD *ccrypto_sha256_md(void) {
    static _Atomic(EVP_MD *) kept = NULL;
    EVP_MD *md = atomic_load_explicit(&kept, memory_order_acquire);
    if (md != NULL) return md;
    EVP_MD *fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (fetched == NULL) return EVP_sha256();
    EVP_MD *expected = NULL;
    if (atomic_compare_exchange_strong(&kept, &expected, fetched)) return fetched;
    EVP_MD_free(fetched);
    return expected;
}
static inline int ccrypto_sha256(const void *data, size_t len, unsigned char *out) {
    unsigned int out_len = 0;
    return EVP_Digest(data, len, out, &out_len, ccrypto_sha256_md(), NULL);
}
/* An incremental SHA-256 (EVP_MD_CTX): for a digest of a file range read piece by piece. */
static inline EVP_MD_CTX *ccrypto_sha256_ctx_new(void) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx != NULL && EVP_DigestInit_ex(ctx, ccrypto_sha256_md(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}
static inline int ccrypto_digest_update(EVP_MD_CTX *ctx, const void *data, size_t len) { return EVP_DigestUpdate(ctx, data, len); }
static inline int ccrypto_digest_final(EVP_MD_CTX *ctx, unsigned char *out) {
    unsigned int out_len = 0;
    return EVP_DigestFinal_ex(ctx, out, &out_len);
}
static inline void ccrypto_digest_free(EVP_MD_CTX *ctx) { EVP_MD_CTX_free(ctx); }
static inline int ccrypto_sha1(const void *data, size_t len, unsigned char *out) {
    unsigned int out_len = 0;
    return EVP_Digest(data, len, out, &out_len, EVP_sha1(), NULL);
}
/* An incremental HMAC-SHA256 (EVP_MAC): for bodies streamed from disk, never held whole. */
static inline EVP_MAC_CTX *ccrypto_hmac_sha256_new(const void *key, size_t key_len) {
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) return NULL;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    if (ctx == NULL) return NULL;
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(ctx, key, key_len, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}
/* A copy of a keyed context, to be fed and finalised: cheaper than keying a new one (which
   fetches the digest and hashes the key pads again). */
static inline EVP_MAC_CTX *ccrypto_hmac_dup(const EVP_MAC_CTX *keyed) { return EVP_MAC_CTX_dup(keyed); }
/* Makes a finalised context ready for another message under the same key. */
static inline int ccrypto_hmac_restart(EVP_MAC_CTX *ctx) { return EVP_MAC_init(ctx, NULL, 0, NULL); }
static inline int ccrypto_hmac_update(EVP_MAC_CTX *ctx, const void *data, size_t len) {
    return EVP_MAC_update(ctx, data, len);
}
static inline int ccrypto_hmac_final(EVP_MAC_CTX *ctx, unsigned char *out) {
    size_t out_len = 0;
    return EVP_MAC_final(ctx, out, &out_len, 32);
}
static inline void ccrypto_hmac_free(EVP_MAC_CTX *ctx) { EVP_MAC_CTX_free(ctx); }
#endif
