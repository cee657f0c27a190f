/* store_impl: what store.c shares with its two back ends (store_mysql.c,
 * store_sqlite.c).  Internal to lib/; programs use store.h. */
#ifndef CP_STORE_IMPL_H
#define CP_STORE_IMPL_H

#include "store.h"

struct cp_store_ops {
	int (*open)(const struct cp_store_config *cfg, void **db, int *code, char *err);
	void (*close)(void *db);
	int (*write)(void *db, struct cp_pair *const *pairs, size_t n, int *code, char *err);
	int (*migrate)(void *db, int *applied, int *code, char *err);
	/* The highest applied version (0: none), or CP_STORE_FATAL when the
	 * version table is missing. */
	int (*version)(void *db, int *version, int *code, char *err);
	const char *(*describe)(void *db);
};

extern const struct cp_store_ops cp_store_mysql_ops, cp_store_sqlite_ops;

/* The SQL that every back end runs, in its dialect. */
#define CP_SCHEMA_TABLE "chatpipe_schema_version"

#endif
