/* json: see json.h. */
#include "json.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jv.h>
#include <sqlite3.h>

#include "diag.h"
#include "jsonl.h"

/* libjq 1.6's MAX_PARSING_DEPTH. */
#define JQ_MAX_DEPTH 256

struct conn {
	sqlite3 *db;
	sqlite3_stmt *valid;
};

static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int key_ok;

static void conn_close(void *p)
{
	struct conn *c = p;
	if (!c)
		return;
	sqlite3_finalize(c->valid);
	sqlite3_close(c->db);
	free(c);
}

static void at_exit(void)
{
	cp_json_end();
}

static void make_key(void)
{
	key_ok = pthread_key_create(&key, conn_close) == 0;
	if (key_ok)
		atexit(at_exit);
}

static struct conn *conn_get(char *err)
{
	pthread_once(&once, make_key);
	if (!key_ok) {
		cp_err_set(err, "json: no thread-specific key");
		return NULL;
	}
	struct conn *c = pthread_getspecific(key);
	if (c)
		return c;
	if (!(c = calloc(1, sizeof *c))) {
		cp_err_set(err, "out of memory");
		return NULL;
	}
	/* One connection per thread, no locking inside SQLite. */
	int rc = sqlite3_open_v2(":memory:", &c->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(c->db, "SELECT json_valid(?1)", -1,
		    SQLITE_PREPARE_PERSISTENT, &c->valid, NULL);
	if (rc != SQLITE_OK) {
		cp_err_set(err, "json: SQLite: %s", c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		conn_close(c);
		return NULL;
	}
	if (pthread_setspecific(key, c) != 0) {
		conn_close(c);
		cp_err_set(err, "out of memory");
		return NULL;
	}
	return c;
}

void cp_json_end(void)
{
	pthread_once(&once, make_key);
	if (!key_ok)
		return;
	struct conn *c = pthread_getspecific(key);
	if (c) {
		pthread_setspecific(key, NULL);
		conn_close(c);
	}
}

/* Could the text nest deeper than libjq reads?  Only if it has that many
 * opening brackets at all (inside strings or not). */
static int maybe_deep(const char *s, size_t len)
{
	size_t n = 0;
	if (len <= 2 * JQ_MAX_DEPTH)
		return 0; /* each level takes two bytes */
	for (const char *p = s, *end = s + len; (p = memchr(p, '[', (size_t)(end - p))); p++)
		if (++n > JQ_MAX_DEPTH)
			return 1;
	for (const char *p = s, *end = s + len; (p = memchr(p, '{', (size_t)(end - p))); p++)
		if (++n > JQ_MAX_DEPTH)
			return 1;
	return 0;
}

/* Could the text escape a UTF-16 surrogate (\uD800-\uDFFF)?  libjq
 * refuses one that is not half of a pair; SQLite takes any. */
static int maybe_surrogate(const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	while ((p = memchr(p, '\\', (size_t)(end - p))) && end - p >= 4) {
		if (p[1] == 'u' && (p[2] == 'd' || p[2] == 'D') && strchr("89abcdefABCDEF", p[3]))
			return 1;
		p += 2; /* an escape is two bytes at least */
	}
	return 0;
}

int cp_json_valid(const char *s, size_t len, char *err)
{
	if (len > (size_t)0x7fffffff)
		return 0;
	if (memchr(s, 0, len) || !cp_utf8_valid(s, len, NULL))
		return 0;
	struct conn *c = conn_get(err);
	if (!c)
		return -1;
	int rc = sqlite3_bind_text(c->valid, 1, s, (int)len, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(c->valid);
	int valid = rc == SQLITE_ROW && sqlite3_column_int(c->valid, 0) == 1;
	if (rc != SQLITE_ROW)
		cp_err_set(err, "json: SQLite: %s", sqlite3_errmsg(c->db));
	sqlite3_reset(c->valid);
	sqlite3_clear_bindings(c->valid);
	if (rc != SQLITE_ROW)
		return -1;
	if (valid && (maybe_deep(s, len) || maybe_surrogate(s, len))) {
		jv v = jv_parse_sized(s, (int)len);
		valid = jv_is_valid(v);
		jv_free(v);
	}
	return valid;
}

void cp_json_why_not(const char *s, size_t len, char *err)
{
	size_t bad;
	const char *nul = len ? memchr(s, 0, len) : NULL;
	if (nul) {
		cp_err_set(err, "not JSON: NUL byte at offset %zu", (size_t)(nul - s));
		return;
	}
	if (!cp_utf8_valid(s, len, &bad)) {
		cp_err_set(err, "not JSON: invalid UTF-8 at offset %zu", bad);
		return;
	}
	jv v = jv_parse_sized(s, len > (size_t)0x7fffffff ? 0x7fffffff : (int)len);
	if (jv_is_valid(v)) {
		cp_err_set(err, "not JSON: a number RFC 8259 does not allow "
		    "(nan, infinity, a leading zero or '+', or a '.' without digits on both sides)");
	} else {
		jv msg = jv_invalid_get_msg(v);
		v = jv_invalid();
		if (jv_get_kind(msg) == JV_KIND_STRING)
			cp_err_set(err, "not JSON: %s", jv_string_value(msg));
		else
			cp_err_set(err, "not JSON");
		jv_free(msg);
	}
	jv_free(v);
}
