#ifndef REELGATE_CMALLOC_SHIM_H
#define REELGATE_CMALLOC_SHIM_H
/* glibc's malloc_trim, which Glibc's Swift module does not expose. */
#include <malloc.h>

/* Gives free memory inside malloc's heaps back to the system; 1 if some was. */
static inline int cmalloc_trim(void) { return malloc_trim(0); }

#endif
