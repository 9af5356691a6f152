#ifndef REELGATE_CCRYPTO_SETUP_H
#define REELGATE_CCRYPTO_SETUP_H
/* Initialises libcrypto without its exit-time cleanup. Runs as a constructor, before `main`;
   calling it again does nothing. */
void ccrypto_setup(void);
#endif
