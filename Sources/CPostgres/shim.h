#ifndef REELGATE_CPOSTGRES_SHIM_H
#define REELGATE_CPOSTGRES_SHIM_H
/* libpq, PostgreSQL's C client library (libpq-dev). */
#include <libpq-fe.h>
#endif
