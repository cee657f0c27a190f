/* store_sqlite: the SQLite back end of store.h, the embedded default.
 *
 * The same tables and the same semantics as MySQL (sql/sqlite/).  The file
 * is in WAL mode with synchronous=FULL, so a committed batch survives a
 * crash of the machine too, and readers never block the writers.  Each
 * worker has its own connection; SQLite lets one write at a time, so the
 * workers' transactions (BEGIN IMMEDIATE) take turns, waiting up to the
 * busy timeout, and a busy database is a transient failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "diag.h"
#include "migrations.h"
#include "store_impl.h"

#define BUSY_TIMEOUT_MS 10000

struct lite {
	const struct cp_store_config *cfg;
	sqlite3 *db;         /* NULL while closed */
	sqlite3_stmt *conv, *msg;
	char desc[96];
};

/* The same rules as store_mysql.c; here every SET expression sees the old
 * row, so the order does not matter. */
static const char conv_sql[] =
	"INSERT INTO conversations (id, workspace_id, store_id, session_id, "
	"created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
	"ON CONFLICT (id) DO UPDATE SET"
	" workspace_id = CASE WHEN workspace_id = excluded.workspace_id"
	" THEN workspace_id ELSE NULL END,"
	" store_id = CASE WHEN excluded.store_id IS NULL THEN store_id"
	" WHEN store_id IS NULL OR excluded.updated_at >= updated_at THEN excluded.store_id"
	" ELSE store_id END,"
	" session_id = CASE WHEN excluded.session_id IS NULL THEN session_id"
	" WHEN session_id IS NULL OR excluded.updated_at >= updated_at THEN excluded.session_id"
	" ELSE session_id END,"
	" created_at = min(created_at, excluded.created_at),"
	" updated_at = max(updated_at, excluded.updated_at)";

static const char msg_sql[] =
	"INSERT INTO messages (conversation_id, workspace_id, role, content, "
	"created_at, message_id, citations, persist_key) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
	"ON CONFLICT (persist_key) DO NOTHING";

static int classify(int rc, int *code)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY: case SQLITE_LOCKED: case SQLITE_FULL: case SQLITE_NOMEM:
	case SQLITE_IOERR: case SQLITE_PROTOCOL:
		return CP_STORE_RETRY;
	case SQLITE_CONSTRAINT: case SQLITE_TOOBIG: case SQLITE_MISMATCH: case SQLITE_RANGE:
		return CP_STORE_RECORD;
	case SQLITE_READONLY: case SQLITE_PERM: case SQLITE_AUTH:
		*code = CP_EX_NOPERM;
		return CP_STORE_FATAL;
	case SQLITE_CANTOPEN: case SQLITE_ERROR: case SQLITE_SCHEMA:
		*code = CP_EX_CONFIG;
		return CP_STORE_FATAL;
	case SQLITE_CORRUPT: case SQLITE_NOTADB:
		*code = CP_EX_IOERR;
		return CP_STORE_FATAL;
	}
	*code = CP_EX_SOFTWARE;
	return CP_STORE_FATAL;
}

static void lite_disconnect(struct lite *d)
{
	sqlite3_finalize(d->conv);
	sqlite3_finalize(d->msg);
	d->conv = d->msg = NULL;
	if (d->db)
		sqlite3_close_v2(d->db);
	d->db = NULL;
}

/* Ends a failed attempt with rc: rolls back, sets err, returns the class. */
static int failed(struct lite *d, int rc, int *code, char *err)
{
	const char *msg = d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc);
	if ((rc & 0xff) == SQLITE_CONSTRAINT && strstr(msg, "workspace_id"))
		cp_err_set(err, "the conversation is stored with another workspace_id");
	else
		cp_err_set(err, "SQLite error %d: %s", rc, msg);
	int cls = classify(rc, code);
	if (d->db && !sqlite3_get_autocommit(d->db) &&
	    sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		lite_disconnect(d);
	if (cls != CP_STORE_RECORD && cls != CP_STORE_FATAL && (rc & 0xff) == SQLITE_IOERR)
		lite_disconnect(d);
	return cls;
}

static int lite_connect(struct lite *d, int *code, char *err)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
	    (d->cfg->create ? SQLITE_OPEN_CREATE : 0);
	int rc = sqlite3_open_v2(d->cfg->path, &d->db, flags, NULL);
	if (rc != SQLITE_OK) {
		cp_err_set(err, "cannot open the database: %s%s", sqlite3_errstr(rc),
		    (rc & 0xff) == SQLITE_CANTOPEN && !d->cfg->create ?
		    " (chat-persist --migrate creates it)" : "");
		lite_disconnect(d);
		int cls = classify(rc, code);
		return cls == CP_STORE_RECORD ? (*code = CP_EX_CONFIG, CP_STORE_FATAL) : cls;
	}
	sqlite3_busy_timeout(d->db, BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(d->db, 1);
	char *journal = NULL;
	rc = sqlite3_exec(d->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	    " PRAGMA foreign_keys = OFF", NULL, NULL, &journal);
	sqlite3_free(journal);
	if (rc != SQLITE_OK) {
		int r = failed(d, rc, code, err);
		lite_disconnect(d);
		return r;
	}
	return CP_STORE_OK;
}

static int prepare(struct lite *d, int *code, char *err)
{
	int rc;
	if (!d->conv && (rc = sqlite3_prepare_v3(d->db, conv_sql, -1,
	    SQLITE_PREPARE_PERSISTENT, &d->conv, NULL)) != SQLITE_OK)
		return failed(d, rc, code, err);
	if (!d->msg && (rc = sqlite3_prepare_v3(d->db, msg_sql, -1,
	    SQLITE_PREPARE_PERSISTENT, &d->msg, NULL)) != SQLITE_OK)
		return failed(d, rc, code, err);
	return CP_STORE_OK;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v, size_t len)
{
	if (v)
		sqlite3_bind_text64(s, i, v, len, SQLITE_STATIC, SQLITE_UTF8);
	else
		sqlite3_bind_null(s, i);
}

static int step(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int lite_write(void *db, struct cp_pair *const *pairs, size_t n, int *code, char *err)
{
	struct lite *d = db;
	int r, rc;
	if (!d->db && (r = lite_connect(d, code, err)) != CP_STORE_OK)
		return r;
	if ((r = prepare(d, code, err)) != CP_STORE_OK)
		return r;
	if ((rc = sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
		return failed(d, rc, code, err);
	for (size_t i = 0; i < n; i++) {
		const struct cp_pair *p = pairs[i];
		if (p->handoff)
			continue;
		sqlite3_stmt *s = d->conv;
		sqlite3_bind_int64(s, 1, p->conversation_id);
		sqlite3_bind_int64(s, 2, p->workspace_id);
		if (p->has_store)
			sqlite3_bind_int64(s, 3, p->store_id);
		else
			sqlite3_bind_null(s, 3);
		bind_text(s, 4, p->session_id, p->session_len);
		bind_text(s, 5, p->first_at, CP_SQLTIME_LEN - 1);
		bind_text(s, 6, p->last_at, CP_SQLTIME_LEN - 1);
		if ((rc = step(s)) != SQLITE_OK)
			return failed(d, rc, code, err);
	}
	for (size_t i = 0; i < n; i++) {
		const struct cp_pair *p = pairs[i];
		for (int j = 0; j < p->nmsg; j++) {
			const struct cp_msg *m = &p->msg[j];
			const char *role = cp_role_name(m->role);
			sqlite3_stmt *s = d->msg;
			sqlite3_bind_int64(s, 1, p->conversation_id);
			sqlite3_bind_int64(s, 2, p->workspace_id);
			bind_text(s, 3, role, strlen(role));
			bind_text(s, 4, m->content, m->content_len);
			bind_text(s, 5, m->at_sql, CP_SQLTIME_LEN - 1);
			bind_text(s, 6, m->id, m->id_len);
			bind_text(s, 7, m->citations, m->citations_len);
			sqlite3_bind_blob(s, 8, m->key, CP_KEY_LEN, SQLITE_STATIC);
			if ((rc = step(s)) != SQLITE_OK)
				return failed(d, rc, code, err);
		}
	}
	if ((rc = sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
		return failed(d, rc, code, err);
	return CP_STORE_OK;
}

static int lite_open(const struct cp_store_config *cfg, void **db, int *code, char *err)
{
	struct lite *d = calloc(1, sizeof *d);
	if (!d) {
		*code = CP_EX_SOFTWARE;
		cp_err_set(err, "out of memory");
		return CP_STORE_FATAL;
	}
	d->cfg = cfg;
	snprintf(d->desc, sizeof d->desc, "SQLite %s, WAL", sqlite3_libversion());
	int r = lite_connect(d, code, err);
	if (r == CP_STORE_FATAL) {
		free(d);
		return r;
	}
	*db = d;
	return r;
}

static void lite_close(void *db)
{
	struct lite *d = db;
	lite_disconnect(d);
	free(d);
}

static int exec_cb(const char *stmt, size_t len, void *arg)
{
	sqlite3 *db = arg;
	char *sql = strndup(stmt, len);
	if (!sql)
		return SQLITE_NOMEM;
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	free(sql);
	return rc;
}

static int version_of(sqlite3 *db, int *version)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM "
	    CP_SCHEMA_TABLE, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*version = sqlite3_column_int(s, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

static int lite_migrate(void *db, int *applied, int *code, char *err)
{
	struct lite *d = db;
	int r, rc;
	if (!d->db && (r = lite_connect(d, code, err)) != CP_STORE_OK)
		return r;
	/* DDL is transactional here: all pending migrations or none. */
	if ((rc = sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
		return failed(d, rc, code, err);
	rc = sqlite3_exec(d->db, "CREATE TABLE IF NOT EXISTS " CP_SCHEMA_TABLE " ("
	    " version INTEGER NOT NULL PRIMARY KEY,"
	    " name TEXT NOT NULL,"
	    " applied_at TEXT NOT NULL)", NULL, NULL, NULL);
	int version = 0;
	if (rc == SQLITE_OK)
		rc = version_of(d->db, &version);
	size_t n;
	const struct cp_migration *mig = cp_migrations("sqlite", &n);
	for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
		if (mig[i].version <= version)
			continue;
		rc = cp_migration_each(mig[i].sql, exec_cb, d->db);
		if (rc != SQLITE_OK)
			break;
		sqlite3_stmt *s;
		rc = sqlite3_prepare_v2(d->db, "INSERT INTO " CP_SCHEMA_TABLE
		    " (version, name, applied_at) VALUES (?1, ?2,"
		    " strftime('%Y-%m-%d %H:%M:%f', 'now'))", -1, &s, NULL);
		if (rc != SQLITE_OK)
			break;
		sqlite3_bind_int(s, 1, mig[i].version);
		sqlite3_bind_text(s, 2, mig[i].name, -1, SQLITE_STATIC);
		rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(d->db);
		sqlite3_finalize(s);
		if (rc == SQLITE_OK)
			(*applied)++;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		*applied = 0;
		return failed(d, rc, code, err);
	}
	return CP_STORE_OK;
}

static int lite_version(void *db, int *version, int *code, char *err)
{
	struct lite *d = db;
	int r;
	if (!d->db && (r = lite_connect(d, code, err)) != CP_STORE_OK)
		return r;
	*version = 0;
	int rc = version_of(d->db, version);
	if (rc != SQLITE_OK) {
		r = failed(d, rc, code, err);
		if (r == CP_STORE_FATAL && strstr(err, "no such table"))
			cp_err_set(err, "the database has no chatpipe schema: "
			    "run chat-persist --migrate");
		return r;
	}
	return CP_STORE_OK;
}

static const char *lite_describe(void *db) { return ((struct lite *)db)->desc; }

const struct cp_store_ops cp_store_sqlite_ops = {
	lite_open, lite_close, lite_write, lite_migrate, lite_version, lite_describe,
};
