/* store_mysql: the MySQL/MariaDB back end of store.h, on libmysqlclient's
 * API as MariaDB Connector/C ships it.
 *
 * A batch is one transaction: the conversation upserts, then the message
 * inserts, then COMMIT.  Rows go as prepared statements with bound
 * parameters, never as SQL text, in one of two ways:
 *   bulk  one single-row statement executed once over arrays of values
 *         (COM_STMT_BULK_EXECUTE; MariaDB 10.2 and later), one round trip
 *         per chunk of rows
 *   rows  multi-row INSERT statements, prepared once per connection for
 *         1, 2, 4, ... rows; a chunk of k rows is sent as the powers of two
 *         that add up to k (MySQL, or --insert rows)
 * A chunk holds at most cfg->max_rows rows and about half the server's
 * max_allowed_packet of data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "diag.h"
#include "migrations.h"
#include "store_impl.h"

#define NCOLS_MAX 8
#define POW_MAX 11 /* rows statements for 1 .. 1024 rows */

enum ctype { C_U64, C_I64, C_STR, C_BLOB };

struct table {
	const char *name;
	const char *head;  /* "INSERT INTO t (...) VALUES " */
	const char *tuple; /* "(?,?,...)" */
	const char *tail;  /* " ON DUPLICATE KEY UPDATE ..." */
	int ncols;
	enum ctype types[NCOLS_MAX];
};

/* updated_at only moves forward and created_at only back, by message time,
 * whatever the order pairs arrive in.  store_id and session_id take the
 * values of the newer pair, a null never overwriting a value.  Assignments
 * run left to right, each seeing the ones before: updated_at comes last.
 * A conversation stored with another workspace_id fails the statement
 * (NULL into a NOT NULL column under strict mode): the record is rejected. */
static const struct table conv_table = {
	"conversations",
	"INSERT INTO conversations (id, workspace_id, store_id, session_id, "
	"created_at, updated_at) VALUES ",
	"(?,?,?,?,?,?)",
	" ON DUPLICATE KEY UPDATE"
	" workspace_id = IF(workspace_id = VALUES(workspace_id), workspace_id, NULL),"
	" store_id = CASE WHEN VALUES(store_id) IS NULL THEN store_id"
	" WHEN store_id IS NULL OR VALUES(updated_at) >= updated_at THEN VALUES(store_id)"
	" ELSE store_id END,"
	" session_id = CASE WHEN VALUES(session_id) IS NULL THEN session_id"
	" WHEN session_id IS NULL OR VALUES(updated_at) >= updated_at THEN VALUES(session_id)"
	" ELSE session_id END,"
	" created_at = LEAST(created_at, VALUES(created_at)),"
	" updated_at = GREATEST(updated_at, VALUES(updated_at))",
	6, { C_U64, C_U64, C_I64, C_STR, C_STR, C_STR },
};

/* A persist key already stored makes the row a no-op ("id = id" changes
 * nothing); unlike INSERT IGNORE, every other error stays an error. */
static const struct table msg_table = {
	"messages",
	"INSERT INTO messages (conversation_id, workspace_id, role, content, "
	"created_at, message_id, citations, persist_key) VALUES ",
	"(?,?,?,?,?,?,?,?)",
	" ON DUPLICATE KEY UPDATE id = id",
	8, { C_U64, C_U64, C_STR, C_STR, C_STR, C_STR, C_STR, C_BLOB },
};

/* Column-wise values of a chunk of rows. */
struct cols {
	size_t cap;
	long long *i64[NCOLS_MAX];
	const char **str[NCOLS_MAX];
	unsigned long *len[NCOLS_MAX];
	char *ind[NCOLS_MAX];
};

struct my {
	const struct cp_store_config *cfg;
	MYSQL *m;            /* NULL while disconnected */
	int bulk;
	size_t max_rows;
	unsigned long chunk_bytes;
	MYSQL_STMT *bulk_stmt[2];
	MYSQL_STMT *rows_stmt[2][POW_MAX];
	struct cols cols;
	MYSQL_BIND *bind;
	size_t bind_cap;
	char *sql;           /* statement text scratch */
	size_t sql_cap;
	char desc[160];
};

static const my_bool yes = 1;

/* ---- errors ---- */

static int lost_connection(unsigned e)
{
	switch (e) {
	case CR_SERVER_GONE_ERROR: case CR_SERVER_LOST: case CR_SERVER_LOST_EXTENDED:
	case CR_CONNECTION_ERROR: case CR_CONN_HOST_ERROR: case CR_ERR_NET_READ:
	case CR_ERR_NET_WRITE: case ER_SERVER_SHUTDOWN: case ER_CONNECTION_KILLED:
	case CR_COMMANDS_OUT_OF_SYNC: case 4031: /* idle client disconnected */
		return 1;
	}
	return e >= 2000 && e < 3000; /* any other client-side error */
}

/* Sorts a server or client error into a CP_STORE_* result. */
static int classify(unsigned e, int *code)
{
	switch (e) {
	/* transient: the server, the network or the locks */
	case ER_LOCK_DEADLOCK: case ER_LOCK_WAIT_TIMEOUT: case ER_SERVER_SHUTDOWN:
	case ER_CON_COUNT_ERROR: case ER_TOO_MANY_USER_CONNECTIONS:
	case ER_CONNECTION_KILLED: case ER_QUERY_INTERRUPTED: case ER_OPTION_PREVENTS_STATEMENT:
	case ER_RECORD_FILE_FULL: case ER_DISK_FULL: case ER_OUTOFMEMORY: case ER_OUT_OF_SORTMEMORY:
	case ER_OUT_OF_RESOURCES: case ER_NET_READ_ERROR: case ER_NET_READ_INTERRUPTED:
	case ER_NET_ERROR_ON_WRITE: case ER_NET_WRITE_INTERRUPTED: case ER_NET_PACKETS_OUT_OF_ORDER:
	case ER_HOST_IS_BLOCKED: case ER_CANT_LOCK: case ER_LOCK_TABLE_FULL:
	case ER_CANT_CREATE_THREAD: case 4031:
	case CR_SERVER_GONE_ERROR: case CR_SERVER_LOST: case CR_SERVER_LOST_EXTENDED:
	case CR_CONNECTION_ERROR: case CR_CONN_HOST_ERROR: case CR_UNKNOWN_HOST:
	case CR_ERR_NET_READ: case CR_ERR_NET_WRITE: case CR_IPSOCK_ERROR:
	case CR_OUT_OF_MEMORY: case CR_COMMANDS_OUT_OF_SYNC:
		return CP_STORE_RETRY;
	/* one record's data */
	case ER_BAD_NULL_ERROR: case ER_DATA_TOO_LONG: case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
	case ER_TRUNCATED_WRONG_VALUE: case ER_WARN_DATA_OUT_OF_RANGE: case WARN_DATA_TRUNCATED:
	case ER_INVALID_CHARACTER_STRING: case ER_ILLEGAL_VALUE_FOR_TYPE:
	case ER_NO_REFERENCED_ROW_2: case ER_DUP_ENTRY: case 3140: /* MySQL: invalid JSON */
	case 4025: /* MariaDB: CONSTRAINT failed */
		return CP_STORE_RECORD;
	/* who we are */
	case ER_ACCESS_DENIED_ERROR: case ER_DBACCESS_DENIED_ERROR: case ER_TABLEACCESS_DENIED_ERROR:
	case ER_COLUMNACCESS_DENIED_ERROR: case ER_SPECIFIC_ACCESS_DENIED_ERROR:
	case ER_PASSWORD_NO_MATCH: case 1698: /* access denied without a password */
	case CR_SSL_CONNECTION_ERROR: case CR_AUTH_PLUGIN_CANNOT_LOAD:
		*code = CP_EX_NOPERM;
		return CP_STORE_FATAL;
	/* where we write */
	case ER_NO_SUCH_TABLE: case ER_BAD_FIELD_ERROR: case ER_BAD_DB_ERROR:
	case ER_PARSE_ERROR: case ER_NO_DB_ERROR:
		*code = CP_EX_CONFIG;
		return CP_STORE_FATAL;
	}
	*code = CP_EX_SOFTWARE;
	return CP_STORE_FATAL;
}

static void disconnect(struct my *d)
{
	for (int t = 0; t < 2; t++) {
		if (d->bulk_stmt[t])
			mysql_stmt_close(d->bulk_stmt[t]);
		d->bulk_stmt[t] = NULL;
		for (int k = 0; k < POW_MAX; k++) {
			if (d->rows_stmt[t][k])
				mysql_stmt_close(d->rows_stmt[t][k]);
			d->rows_stmt[t][k] = NULL;
		}
	}
	if (d->m)
		mysql_close(d->m);
	d->m = NULL;
}

/* Ends a failed attempt: err from e and msg, the connection dropped when
 * it is no longer usable, and the class returned. */
static int failed(struct my *d, unsigned e, const char *msg, int *code, char *err)
{
	if (e == ER_BAD_NULL_ERROR && strstr(msg, "workspace_id"))
		cp_err_set(err, "the conversation is stored with another workspace_id");
	else
		cp_err_set(err, "MySQL error %u: %s", e, msg);
	int cls = classify(e, code);
	if (d->m && (lost_connection(e) || mysql_rollback(d->m) != 0))
		disconnect(d);
	return cls;
}

static int fail_conn(struct my *d, int *code, char *err)
{
	return failed(d, mysql_errno(d->m), mysql_error(d->m), code, err);
}

static int fail_stmt(struct my *d, MYSQL_STMT *s, int *code, char *err)
{
	char msg[CP_ERR_LEN];
	snprintf(msg, sizeof msg, "%s", mysql_stmt_error(s));
	return failed(d, mysql_stmt_errno(s), msg, code, err);
}

/* ---- connection ---- */

static int query(struct my *d, const char *sql, int *code, char *err)
{
	if (mysql_real_query(d->m, sql, strlen(sql)) != 0)
		return fail_conn(d, code, err);
	MYSQL_RES *res = mysql_store_result(d->m);
	if (res)
		mysql_free_result(res);
	else if (mysql_field_count(d->m) != 0)
		return fail_conn(d, code, err);
	return CP_STORE_OK;
}

/* The first column of the first row as a number (0 when NULL). */
static int query_num(struct my *d, const char *sql, long long *out, char *text,
    size_t tlen, int *code, char *err)
{
	if (mysql_real_query(d->m, sql, strlen(sql)) != 0)
		return fail_conn(d, code, err);
	MYSQL_RES *res = mysql_store_result(d->m);
	if (!res)
		return fail_conn(d, code, err);
	MYSQL_ROW row = mysql_fetch_row(res);
	*out = row && row[0] ? strtoll(row[0], NULL, 10) : 0;
	if (text)
		snprintf(text, tlen, "%s", row && mysql_num_fields(res) > 1 && row[1] ? row[1] : "");
	mysql_free_result(res);
	return CP_STORE_OK;
}

static int my_connect(struct my *d, int *code, char *err)
{
	const struct cp_store_config *c = d->cfg;
	MYSQL *m = mysql_init(NULL);
	if (!m) {
		*code = CP_EX_SOFTWARE;
		cp_err_set(err, "out of memory");
		return CP_STORE_FATAL;
	}
	unsigned int connect_timeout = 10, io_timeout = 120, no = 0;
	my_bool off = 0;
	mysql_optionsv(m, MYSQL_READ_DEFAULT_GROUP, "chat-persist");
	mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
	mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
	mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
	mysql_optionsv(m, MYSQL_OPT_RECONNECT, &off);
	mysql_optionsv(m, MYSQL_OPT_LOCAL_INFILE, &no);
	if (c->socket && !c->host) {
		enum mysql_protocol_type proto = MYSQL_PROTOCOL_SOCKET;
		mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
	}
	int tls = c->ssl_mode >= CP_SSL_REQUIRED ||
	    (c->ssl_mode == CP_SSL_DEFAULT && (c->ssl_ca || c->ssl_capath));
	if (tls) {
		my_bool verify = c->ssl_mode != CP_SSL_REQUIRED;
		mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &yes);
		mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
		if (c->ssl_ca)
			mysql_optionsv(m, MYSQL_OPT_SSL_CA, c->ssl_ca);
		if (c->ssl_capath)
			mysql_optionsv(m, MYSQL_OPT_SSL_CAPATH, c->ssl_capath);
	}
	if (c->ssl_cert)
		mysql_optionsv(m, MYSQL_OPT_SSL_CERT, c->ssl_cert);
	if (c->ssl_key)
		mysql_optionsv(m, MYSQL_OPT_SSL_KEY, c->ssl_key);
	d->m = m;
	if (!mysql_real_connect(m, c->host, c->user, c->password, c->db, c->port,
	    c->socket, 0)) {
		int r = fail_conn(d, code, err);
		disconnect(d);
		return r;
	}
	long long packet = 0;
	char version[64];
	int r;
	if ((r = query(d, "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION',"
	    " time_zone = '+00:00'", code, err)) != CP_STORE_OK ||
	    (r = query(d, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
	    code, err)) != CP_STORE_OK ||
	    (r = query_num(d, "SELECT @@max_allowed_packet, VERSION()", &packet,
	    version, sizeof version, code, err)) != CP_STORE_OK) {
		disconnect(d);
		return r;
	}
	if (mysql_autocommit(m, 0) != 0) {
		r = fail_conn(d, code, err);
		disconnect(d);
		return r;
	}
	d->chunk_bytes = packet > (1 << 20) ? (unsigned long)packet / 2 : 1 << 19;
	unsigned long ext = 0;
	mariadb_get_infov(m, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &ext);
	int has_bulk = (ext & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32)) != 0;
	d->bulk = c->insert == CP_INSERT_BULK || (c->insert == CP_INSERT_AUTO && has_bulk);
	if (d->bulk && !has_bulk) {
		*code = CP_EX_CONFIG;
		cp_err_set(err, "--insert bulk: the server (%s) has no bulk operations", version);
		disconnect(d);
		return CP_STORE_FATAL;
	}
	const char *cipher = mysql_get_ssl_cipher(m);
	snprintf(d->desc, sizeof d->desc, "%s %s, %s inserts%s%s",
	    strstr(version, "MariaDB") ? "MariaDB" : "MySQL", version,
	    d->bulk ? "bulk" : "multi-row", cipher ? ", TLS " : "", cipher ? cipher : "");
	return CP_STORE_OK;
}

/* ---- rows ---- */

static int cols_reserve(struct cols *c, size_t n)
{
	if (n <= c->cap)
		return 0;
	for (int i = 0; i < NCOLS_MAX; i++) {
		void *a = realloc(c->i64[i], n * sizeof *c->i64[i]);
		if (a)
			c->i64[i] = a;
		void *b = realloc(c->str[i], n * sizeof *c->str[i]);
		if (b)
			c->str[i] = b;
		void *l = realloc(c->len[i], n * sizeof *c->len[i]);
		if (l)
			c->len[i] = l;
		void *x = realloc(c->ind[i], n);
		if (x)
			c->ind[i] = x;
		if (!a || !b || !l || !x)
			return -1;
	}
	c->cap = n;
	return 0;
}

static void cols_free(struct cols *c)
{
	for (int i = 0; i < NCOLS_MAX; i++) {
		free(c->i64[i]);
		free(c->str[i]);
		free(c->len[i]);
		free(c->ind[i]);
	}
	memset(c, 0, sizeof *c);
}

static void put_i64(struct cols *c, int col, size_t row, long long v, int null)
{
	c->i64[col][row] = v;
	c->ind[col][row] = null ? STMT_INDICATOR_NULL : STMT_INDICATOR_NONE;
}

static void put_str(struct cols *c, int col, size_t row, const char *s, size_t len)
{
	c->str[col][row] = s ? s : "";
	c->len[col][row] = (unsigned long)len;
	c->ind[col][row] = s ? STMT_INDICATOR_NONE : STMT_INDICATOR_NULL;
}

/* A row to send: a pair's conversation (msg < 0) or one of its messages. */
struct rowref {
	const struct cp_pair *p;
	int msg;
};

static size_t fill_row(struct cols *c, size_t row, struct rowref r)
{
	const struct cp_pair *p = r.p;
	if (r.msg < 0) {
		put_i64(c, 0, row, p->conversation_id, 0);
		put_i64(c, 1, row, p->workspace_id, 0);
		put_i64(c, 2, row, p->store_id, !p->has_store);
		put_str(c, 3, row, p->session_id, p->session_len);
		put_str(c, 4, row, p->first_at, CP_SQLTIME_LEN - 1);
		put_str(c, 5, row, p->last_at, CP_SQLTIME_LEN - 1);
		return 64 + p->session_len;
	}
	const struct cp_msg *m = &p->msg[r.msg];
	const char *role = cp_role_name(m->role);
	put_i64(c, 0, row, p->conversation_id, 0);
	put_i64(c, 1, row, p->workspace_id, 0);
	put_str(c, 2, row, role, strlen(role));
	put_str(c, 3, row, m->content, m->content_len);
	put_str(c, 4, row, m->at_sql, CP_SQLTIME_LEN - 1);
	put_str(c, 5, row, m->id, m->id_len);
	put_str(c, 6, row, m->citations, m->citations_len);
	put_str(c, 7, row, (const char *)m->key, CP_KEY_LEN);
	return 96 + m->content_len + m->id_len + m->citations_len;
}

static enum enum_field_types field_type(enum ctype t)
{
	switch (t) {
	case C_U64: case C_I64: return MYSQL_TYPE_LONGLONG;
	case C_BLOB: return MYSQL_TYPE_BLOB;
	default: return MYSQL_TYPE_STRING;
	}
}

static int bind_reserve(struct my *d, size_t n)
{
	if (n <= d->bind_cap)
		return 0;
	MYSQL_BIND *b = realloc(d->bind, n * sizeof *b);
	if (!b)
		return -1;
	d->bind = b;
	d->bind_cap = n;
	return 0;
}

static MYSQL_STMT *prepare(struct my *d, const struct table *t, size_t rows,
    int *r, int *code, char *err)
{
	size_t need = strlen(t->head) + strlen(t->tail) + rows * (strlen(t->tuple) + 1) + 1;
	if (need > d->sql_cap) {
		char *s = realloc(d->sql, need);
		if (!s) {
			*code = CP_EX_SOFTWARE;
			*r = CP_STORE_FATAL;
			cp_err_set(err, "out of memory");
			return NULL;
		}
		d->sql = s;
		d->sql_cap = need;
	}
	char *o = d->sql;
	o += sprintf(o, "%s", t->head);
	for (size_t i = 0; i < rows; i++)
		o += sprintf(o, "%s%s", i ? "," : "", t->tuple);
	sprintf(o, "%s", t->tail);
	MYSQL_STMT *s = mysql_stmt_init(d->m);
	if (!s) {
		*r = fail_conn(d, code, err);
		return NULL;
	}
	if (mysql_stmt_prepare(s, d->sql, strlen(d->sql)) != 0) {
		*r = fail_stmt(d, s, code, err);
		mysql_stmt_close(s);
		return NULL;
	}
	return s;
}

/* Sends rows [0, n) of the columns through the bulk statement of t. */
static int exec_bulk(struct my *d, int ti, const struct table *t, size_t n,
    int *code, char *err)
{
	int r = CP_STORE_OK;
	if (!d->bulk_stmt[ti] && !(d->bulk_stmt[ti] = prepare(d, t, 1, &r, code, err)))
		return r;
	MYSQL_STMT *s = d->bulk_stmt[ti];
	unsigned int size = (unsigned int)n;
	if (bind_reserve(d, NCOLS_MAX) < 0) {
		*code = CP_EX_SOFTWARE;
		cp_err_set(err, "out of memory");
		return CP_STORE_FATAL;
	}
	MYSQL_BIND *b = d->bind;
	memset(b, 0, (size_t)t->ncols * sizeof *b);
	for (int c = 0; c < t->ncols; c++) {
		b[c].buffer_type = field_type(t->types[c]);
		b[c].is_unsigned = t->types[c] == C_U64;
		if (t->types[c] == C_U64 || t->types[c] == C_I64) {
			b[c].buffer = d->cols.i64[c];
		} else {
			b[c].buffer = (void *)d->cols.str[c];
			b[c].length = d->cols.len[c];
		}
		b[c].u.indicator = d->cols.ind[c];
	}
	if (mysql_stmt_attr_set(s, STMT_ATTR_ARRAY_SIZE, &size) != 0 ||
	    mysql_stmt_bind_param(s, b) != 0 || mysql_stmt_execute(s) != 0)
		return fail_stmt(d, s, code, err);
	return CP_STORE_OK;
}

/* Sends rows [0, n) as multi-row statements of 2^k rows. */
static int exec_rows(struct my *d, int ti, const struct table *t, size_t n,
    int *code, char *err)
{
	static my_bool is_null = 1;
	size_t off = 0;
	while (off < n) {
		int k = 0;
		while (k + 1 < POW_MAX && ((size_t)2 << k) <= n - off)
			k++;
		size_t rows = (size_t)1 << k;
		int r = CP_STORE_OK;
		if (!d->rows_stmt[ti][k] &&
		    !(d->rows_stmt[ti][k] = prepare(d, t, rows, &r, code, err)))
			return r;
		MYSQL_STMT *s = d->rows_stmt[ti][k];
		if (bind_reserve(d, rows * (size_t)t->ncols) < 0) {
			*code = CP_EX_SOFTWARE;
			cp_err_set(err, "out of memory");
			return CP_STORE_FATAL;
		}
		MYSQL_BIND *b = d->bind;
		memset(b, 0, rows * (size_t)t->ncols * sizeof *b);
		for (size_t i = 0; i < rows; i++) {
			size_t row = off + i;
			for (int c = 0; c < t->ncols; c++) {
				MYSQL_BIND *x = &b[i * (size_t)t->ncols + (size_t)c];
				x->buffer_type = field_type(t->types[c]);
				x->is_unsigned = t->types[c] == C_U64;
				if (d->cols.ind[c][row] == STMT_INDICATOR_NULL) {
					x->buffer_type = MYSQL_TYPE_NULL;
					x->is_null = &is_null;
				} else if (t->types[c] == C_U64 || t->types[c] == C_I64) {
					x->buffer = &d->cols.i64[c][row];
				} else {
					x->buffer = (void *)d->cols.str[c][row];
					x->buffer_length = d->cols.len[c][row];
					x->length = &d->cols.len[c][row];
				}
			}
		}
		if (mysql_stmt_bind_param(s, b) != 0 || mysql_stmt_execute(s) != 0)
			return fail_stmt(d, s, code, err);
		off += rows;
	}
	return CP_STORE_OK;
}

/* Sends the rows of refs[0, n) in chunks. */
static int send_rows(struct my *d, int ti, const struct table *t,
    const struct rowref *refs, size_t n, int *code, char *err)
{
	size_t i = 0;
	while (i < n) {
		size_t rows = 0, bytes = 0;
		while (i + rows < n && rows < d->max_rows &&
		    (rows == 0 || bytes < d->chunk_bytes)) {
			bytes += fill_row(&d->cols, rows, refs[i + rows]);
			rows++;
		}
		int r = d->bulk ? exec_bulk(d, ti, t, rows, code, err)
		                : exec_rows(d, ti, t, rows, code, err);
		if (r != CP_STORE_OK)
			return r;
		i += rows;
	}
	return CP_STORE_OK;
}

static int my_write(void *db, struct cp_pair *const *pairs, size_t n, int *code, char *err)
{
	struct my *d = db;
	int r;
	if (!d->m && (r = my_connect(d, code, err)) != CP_STORE_OK)
		return r;
	struct rowref *refs = calloc(2 * n + 1, sizeof *refs);
	if (!refs || cols_reserve(&d->cols, d->max_rows) < 0) {
		free(refs);
		*code = CP_EX_SOFTWARE;
		cp_err_set(err, "out of memory");
		return CP_STORE_FATAL;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!pairs[i]->handoff)
			refs[k++] = (struct rowref){ pairs[i], -1 };
	r = send_rows(d, 0, &conv_table, refs, k, code, err);
	if (r == CP_STORE_OK) {
		k = 0;
		for (size_t i = 0; i < n; i++)
			for (int j = 0; j < pairs[i]->nmsg; j++)
				refs[k++] = (struct rowref){ pairs[i], j };
		r = send_rows(d, 1, &msg_table, refs, k, code, err);
	}
	free(refs);
	if (r == CP_STORE_OK && mysql_commit(d->m) != 0)
		r = fail_conn(d, code, err);
	return r;
}

/* ---- the rest of the interface ---- */

static int my_open(const struct cp_store_config *cfg, void **db, int *code, char *err)
{
	struct my *d = calloc(1, sizeof *d);
	if (!d) {
		*code = CP_EX_SOFTWARE;
		cp_err_set(err, "out of memory");
		return CP_STORE_FATAL;
	}
	d->cfg = cfg;
	d->max_rows = cfg->max_rows ? cfg->max_rows : 1000;
	snprintf(d->desc, sizeof d->desc, "MySQL (not connected)");
	int r = my_connect(d, code, err);
	if (r == CP_STORE_FATAL) {
		free(d);
		return r;
	}
	*db = d;
	return r;
}

static void my_close(void *db)
{
	struct my *d = db;
	disconnect(d);
	cols_free(&d->cols);
	free(d->bind);
	free(d->sql);
	free(d);
}

static int run_stmt(const char *stmt, size_t len, void *arg)
{
	struct my *d = ((void **)arg)[0];
	int *code = ((void **)arg)[1];
	char *err = ((void **)arg)[2];
	if (mysql_real_query(d->m, stmt, len) != 0)
		return fail_conn(d, code, err);
	return CP_STORE_OK;
}

static int my_migrate(void *db, int *applied, int *code, char *err)
{
	struct my *d = db;
	int r;
	long long got = 0;
	if (!d->m && (r = my_connect(d, code, err)) != CP_STORE_OK)
		return r;
	if ((r = query(d, "CREATE TABLE IF NOT EXISTS " CP_SCHEMA_TABLE " ("
	    " version INT NOT NULL PRIMARY KEY,"
	    " name VARCHAR(255) NOT NULL,"
	    " applied_at DATETIME(6) NOT NULL"
	    ") ENGINE = InnoDB DEFAULT CHARSET = utf8mb4", code, err)) != CP_STORE_OK)
		return r;
	/* One migrating process at a time. */
	if ((r = query_num(d, "SELECT GET_LOCK('chatpipe_migrate', 60)", &got, NULL, 0,
	    code, err)) != CP_STORE_OK)
		return r;
	if (got != 1) {
		*code = CP_EX_TEMPFAIL;
		cp_err_set(err, "another chat-persist --migrate holds the lock");
		return CP_STORE_FATAL;
	}
	long long version = 0;
	r = query_num(d, "SELECT COALESCE(MAX(version), 0) FROM " CP_SCHEMA_TABLE,
	    &version, NULL, 0, code, err);
	size_t n;
	const struct cp_migration *mig = cp_migrations("mysql", &n);
	for (size_t i = 0; r == CP_STORE_OK && i < n; i++) {
		if (mig[i].version <= version)
			continue;
		void *args[3] = { d, code, err };
		r = cp_migration_each(mig[i].sql, run_stmt, args);
		if (r != CP_STORE_OK) {
			char e[CP_ERR_LEN];
			snprintf(e, sizeof e, "%s", err);
			cp_err_set(err, "migration %s: %s", mig[i].name, e);
			break;
		}
		char sql[256];
		snprintf(sql, sizeof sql, "INSERT INTO " CP_SCHEMA_TABLE
		    " (version, name, applied_at) VALUES (%d, '%s', UTC_TIMESTAMP(6))",
		    mig[i].version, mig[i].name);
		if ((r = query(d, sql, code, err)) == CP_STORE_OK && mysql_commit(d->m) != 0)
			r = fail_conn(d, code, err);
		if (r == CP_STORE_OK)
			(*applied)++;
	}
	if (d->m)
		(void)query_num(d, "SELECT RELEASE_LOCK('chatpipe_migrate')", &got, NULL, 0,
		    code, err);
	return r;
}

static int my_version(void *db, int *version, int *code, char *err)
{
	struct my *d = db;
	int r;
	long long v = 0;
	if (!d->m && (r = my_connect(d, code, err)) != CP_STORE_OK)
		return r;
	r = query_num(d, "SELECT COALESCE(MAX(version), 0) FROM " CP_SCHEMA_TABLE, &v,
	    NULL, 0, code, err);
	if (r == CP_STORE_FATAL && *code == CP_EX_CONFIG && strstr(err, "1146"))
		cp_err_set(err, "the database has no chatpipe schema: run chat-persist --migrate");
	if (r == CP_STORE_OK && d->m)
		mysql_commit(d->m);
	*version = (int)v;
	return r;
}

static const char *my_describe(void *db) { return ((struct my *)db)->desc; }

const struct cp_store_ops cp_store_mysql_ops = {
	my_open, my_close, my_write, my_migrate, my_version, my_describe,
};
