#include "ccrypto_setup.h"
#include <openssl/crypto.h>

/* OpenSSL 3 registers OPENSSL_cleanup with atexit when it is first initialised, and that cleanup
   frees the library's global state (providers, the default context, its locks) while other threads
   may still be using it: a pool thread signing a media URL or hashing a file as the process exits
   then crashes in libcrypto (seen once in ten test runs, after every test had passed). Initialised
   first with OPENSSL_INIT_NO_ATEXIT, that state lives until the process is gone. The first call
   decides, and libcurl's global init, libpq (TLS and SCRAM authentication) and our first digest
   each initialise OpenSSL, so this runs as a constructor: before any of them, whatever the order
   of a program's start (the gateway, the test runner, a tool). */
__attribute__((constructor)) void ccrypto_setup(void) {
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
}
