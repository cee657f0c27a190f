/* store: pairs into a database, MySQL/MariaDB or SQLite (BRIEF §4).
 *
 * Configuration.  cp_store_url_parse() reads a --db URL:
 *   mysql://[USER[:PASSWORD]@]HOST[:PORT]/DB[?PARAMS]
 *   mysql://[USER@]/DB?socket=/path   (and mysql:///DB?socket=/path)
 *   sqlite:PATH   (sqlite://PATH is the same; ":memory:" is refused)
 * PARAMS, '&'-separated: socket=PATH, ssl-mode=DISABLED|REQUIRED|
 * VERIFY_CA|VERIFY_IDENTITY, ssl-ca=FILE, ssl-capath=DIR, ssl-cert=FILE,
 * ssl-key=FILE.  Values are percent-decoded.  A password in the URL is
 * accepted but warned about (it shows in ps); the password normally comes
 * from CHATPIPE_DB_PASSWORD, --db-password-file or the MySQL option files,
 * which libmysqlclient reads itself: [client] and [chat-persist] of
 * /etc/my.cnf, /etc/mysql/my.cnf and ~/.my.cnf (user, password, host,
 * socket, ssl-* too; the URL wins over them).  TLS: ssl-ca or ssl-mode
 * VERIFY_* verify the server's certificate (VERIFY_IDENTITY also its name,
 * the default whenever TLS is asked for with a CA); REQUIRED encrypts
 * without verifying, which the program must say loudly.
 *
 * Writing.  A cp_store is one connection, used by one thread.
 * cp_store_write() stores n pairs in one transaction: it upserts each
 * pair's conversation (once per conversation in the batch) and inserts the
 * messages, a message whose persist key is already stored being a no-op
 * that counts as done.  Every result but CP_STORE_OK leaves nothing of the
 * batch committed:
 *   CP_STORE_OK      committed
 *   CP_STORE_RECORD  a record of the batch cannot be stored (data the
 *                    server refuses, e.g. a conversation that belongs to
 *                    another workspace): the caller splits the batch to
 *                    find it; err says why
 *   CP_STORE_RETRY   a transient failure (connection lost, server
 *                    restarting, deadlock, lock wait timeout, busy): try
 *                    the same batch again later; the store reconnects by
 *                    itself on the next call
 *   CP_STORE_FATAL   retrying cannot help (access denied, no schema, ...):
 *                    *code is the exit code (CP_EX_NOPERM, CP_EX_CONFIG, ...)
 *
 * Schema.  cp_store_migrate() applies the versioned migrations (see
 * migrations.h) not yet recorded in chatpipe_schema_version; it is safe to
 * run twice or from two processes.  cp_store_check() verifies at start that
 * the schema is there and recent enough.
 *
 * Thread safety: a cp_store belongs to one thread at a time.  Call
 * cp_store_global_init() once before threads start, and
 * cp_store_thread_init()/cp_store_thread_end() in each thread that uses a
 * store (libmysqlclient's per-thread state).
 */
#ifndef CP_STORE_H
#define CP_STORE_H

#include <stddef.h>

#include "pair.h"

enum cp_db_kind { CP_DB_MYSQL, CP_DB_SQLITE };
enum cp_ssl_mode { CP_SSL_DEFAULT, CP_SSL_DISABLED, CP_SSL_REQUIRED,
	CP_SSL_VERIFY_CA, CP_SSL_VERIFY_IDENTITY };
/* How MySQL rows are sent: auto picks bulk when the server has it. */
enum cp_insert_mode { CP_INSERT_AUTO, CP_INSERT_BULK, CP_INSERT_ROWS };

struct cp_store_config {
	enum cp_db_kind kind;
	char *user, *password, *host, *db, *socket, *path;
	unsigned port;
	enum cp_ssl_mode ssl_mode;
	char *ssl_ca, *ssl_capath, *ssl_cert, *ssl_key;
	int password_in_url;
	enum cp_insert_mode insert;
	size_t max_rows;              /* rows per statement at most (0: 1000) */
	int create;                   /* SQLite: create the file if missing */
};

/* Parses url into cfg (zeroed first); 0, or -1 with err.  Free with
 * cp_store_config_free(). */
int cp_store_url_parse(const char *url, struct cp_store_config *cfg, char *err);
void cp_store_config_free(struct cp_store_config *cfg);
/* The URL without its password, for logs. */
void cp_store_url_redacted(const struct cp_store_config *cfg, char *buf, size_t len);

enum { CP_STORE_OK = 0, CP_STORE_RECORD, CP_STORE_RETRY, CP_STORE_FATAL };

struct cp_store;

void cp_store_global_init(void);
void cp_store_thread_init(void);
void cp_store_thread_end(void);

/* Makes a store and connects it.  The result is one of the codes above;
 * on CP_STORE_RETRY the store is still made (*out set) and connects again
 * on its next use; on CP_STORE_FATAL *out is NULL and *code is set.  cfg
 * must outlive the store. */
int cp_store_open(const struct cp_store_config *cfg, struct cp_store **out,
    int *code, char *err);
void cp_store_close(struct cp_store *st);

int cp_store_write(struct cp_store *st, struct cp_pair *const *pairs, size_t n,
    int *code, char *err);

/* Applies the pending migrations; *applied counts them. */
int cp_store_migrate(struct cp_store *st, int *applied, int *code, char *err);
/* CP_STORE_OK when the schema is at the newest version this program
 * knows (or newer: *newer is then set), CP_STORE_FATAL with code 78 when it
 * is missing or older. */
int cp_store_check(struct cp_store *st, int *newer, int *code, char *err);

/* A description of the server, e.g. "MariaDB 10.11.6 (bulk inserts)". */
const char *cp_store_describe(struct cp_store *st);

#endif
