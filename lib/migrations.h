/* migrations: the versioned schema, compiled in.
 *
 * The readable source is sql/mysql/NNN-NAME.sql and sql/sqlite/NNN-NAME.sql
 * in the repository; lib/migrations.c is generated from them by
 * "sh sql/embed.sh > lib/migrations.c" (a unit test fails when the two
 * differ), so an installed chat-persist needs no file at run time.
 *
 * A migration is SQL text: statements each ending with ';' at the end of a
 * line.  Versions start at 1 and follow each other without gaps; a
 * migration, once released, is never edited: a change is a new file.
 */
#ifndef CP_MIGRATIONS_H
#define CP_MIGRATIONS_H

#include <stddef.h>

struct cp_migration {
	int version;
	const char *name;   /* "001-init" */
	const char *sql;
};

/* The migrations of a dialect ("mysql" or "sqlite"), by version; *n set. */
const struct cp_migration *cp_migrations(const char *dialect, size_t *n);

/* Splits sql into statements: calls fn for each, without its ';' and
 * blank or comment-only statements skipped; stops at the first non-zero
 * return of fn and returns it (0 when all went through). */
int cp_migration_each(const char *sql, int (*fn)(const char *stmt, size_t len,
    void *arg), void *arg);

#endif
