/* Unit tests of chat-persist's library side: records into pairs (pair.h),
 * persist keys, --db URLs (store.h), and the compiled-in migrations
 * matching sql/ (migrations.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diag.h"
#include "migrations.h"
#include "pair.h"
#include "store.h"

static const char *const user_ok =
	"\"user_message\":{\"role\":\"USER\",\"content\":\"Where is my order?\","
	"\"timestamp\":\"2026-11-28T12:00:00.123456789+02:00\"}";
static const char *const llm_ok =
	"\"assistant_message\":{\"role\":\"LLM\",\"content\":\"On its way.\","
	"\"timestamp\":\"2026-11-28T10:00:01Z\",\"citations\":[{\"uri\":\"s3://a\"}]}";

/* A pair from JSON text; NULL with err. */
static struct cp_pair *pair_of(const char *json, char *err)
{
	jv v = jv_parse(json);
	assert_true(jv_is_valid(v));
	struct cp_pair *p = cp_pair_new(&v, json, strlen(json), 7, err);
	jv_free(v);
	return p;
}

static char *fmt(const char *f, ...)
{
	static char buf[4096];
	va_list ap;
	va_start(ap, f);
	vsnprintf(buf, sizeof buf, f, ap);
	va_end(ap);
	return buf;
}

static void test_pair(void **state)
{
	(void)state;
	char err[CP_ERR_LEN];
	const char *json = fmt("{\"workspace_id\":7,\"conversation_id\":1234,\"store_id\":-3,"
	    "\"session_id\":\"s-1\",%s,%s,\"human_agent_message\":null,"
	    "\"handoff_messages\":false}", user_ok, llm_ok);
	struct cp_pair *p = pair_of(json, err);
	assert_non_null(p);
	assert_int_equal(p->conversation_id, 1234);
	assert_int_equal(p->workspace_id, 7);
	assert_true(p->has_store);
	assert_int_equal(p->store_id, -3);
	assert_string_equal(p->session_id, "s-1");
	assert_int_equal(p->nmsg, 2);
	assert_false(p->handoff);
	assert_int_equal(p->lineno, 7);
	assert_memory_equal(p->line, json, strlen(json));
	assert_int_equal(p->line_len, strlen(json));
	/* The offset is applied; microseconds kept, truncated. */
	assert_string_equal(p->msg[0].at_sql, "2026-11-28 10:00:00.123456");
	assert_int_equal(p->msg[0].at.nsec, 123456789);
	assert_string_equal(p->msg[1].at_sql, "2026-11-28 10:00:01.000000");
	assert_string_equal(p->first_at, "2026-11-28 10:00:00.123456");
	assert_string_equal(p->last_at, "2026-11-28 10:00:01.000000");
	assert_int_equal(p->msg[0].role, CP_ROLE_USER);
	assert_int_equal(p->msg[1].role, CP_ROLE_LLM);
	assert_string_equal(p->msg[1].citations, "[{\"uri\":\"s3://a\"}]");
	assert_null(p->msg[0].citations);
	assert_null(p->msg[0].id);
	assert_memory_not_equal(p->msg[0].key, p->msg[1].key, CP_KEY_LEN);
	free(p);
}

static void test_content_bytes(void **state)
{
	(void)state;
	char err[CP_ERR_LEN];
	/* NUL, quotes, backslashes and a 4-byte character survive exactly. */
	struct cp_pair *p = pair_of("{\"workspace_id\":1,\"conversation_id\":2,"
	    "\"user_message\":{\"content\":\"a\\u0000b'\\\"\\\\\xf0\x9f\x98\x80\","
	    "\"timestamp\":\"2026-01-01T00:00:00Z\"},\"assistant_message\":{\"content\":\"\","
	    "\"timestamp\":\"2026-01-01T00:00:00Z\"}}", err);
	assert_non_null(p);
	assert_int_equal(p->msg[0].content_len, 10);
	assert_memory_equal(p->msg[0].content, "a\0b'\"\\\xf0\x9f\x98\x80", 10);
	assert_int_equal(p->msg[1].content_len, 0);
	assert_null(p->session_id);
	assert_false(p->has_store);
	free(p);
}

static void test_handoff(void **state)
{
	(void)state;
	char err[CP_ERR_LEN];
	struct cp_pair *p = pair_of("{\"workspace_id\":1,\"conversation_id\":2,"
	    "\"handoff_messages\":true,\"human_agent_message\":{\"role\":\"HUMAN-AGENT\","
	    "\"content\":\"agent\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"id\":\"h1\"},"
	    "\"user_message\":{\"content\":\"u\",\"timestamp\":\"2026-01-01T00:00:00Z\"}}", err);
	assert_non_null(p);
	assert_true(p->handoff);
	assert_int_equal(p->nmsg, 1);
	assert_int_equal(p->msg[0].role, CP_ROLE_HUMAN_AGENT);
	assert_string_equal(p->msg[0].id, "h1");
	free(p);
	/* Without an agent message, the user message. */
	p = pair_of("{\"workspace_id\":1,\"conversation_id\":2,\"handoff_messages\":true,"
	    "\"human_agent_message\":null,"
	    "\"user_message\":{\"content\":\"u\",\"timestamp\":\"2026-01-01T00:00:00Z\"}}", err);
	assert_non_null(p);
	assert_int_equal(p->nmsg, 1);
	assert_int_equal(p->msg[0].role, CP_ROLE_USER);
	free(p);
	assert_null(pair_of("{\"workspace_id\":1,\"conversation_id\":2,"
	    "\"handoff_messages\":true}", err));
	assert_non_null(strstr(err, "handoff record without a message"));
	assert_null(pair_of("{\"workspace_id\":1,\"conversation_id\":2,"
	    "\"handoff_messages\":true,\"human_agent_message\":\"x\"}", err));
	assert_string_equal(err, "human_agent_message: not an object");
	assert_null(pair_of("{\"workspace_id\":1,\"conversation_id\":2,"
	    "\"handoff_messages\":\"true\"}", err));
	assert_string_equal(err, "handoff_messages: not a boolean");
}

static void test_invalid(void **state)
{
	(void)state;
	char err[CP_ERR_LEN];
	static const struct { const char *json, *err; } cases[] = {
		{ "[1]", "the record is not an object" },
		{ "{\"workspace_id\":1}", "conversation_id: missing" },
		{ "{\"conversation_id\":\"12\",\"workspace_id\":1}", "conversation_id: not a number" },
		{ "{\"conversation_id\":1.5,\"workspace_id\":1}", "conversation_id: not a whole number" },
		{ "{\"conversation_id\":-1,\"workspace_id\":1}", "conversation_id: negative" },
		{ "{\"conversation_id\":1e300,\"workspace_id\":1}", "conversation_id: out of range (more than 2^53)" },
		{ "{\"conversation_id\":1}", "workspace_id: missing" },
		{ "{\"conversation_id\":1,\"workspace_id\":1,\"store_id\":\"x\"}", "store_id: not a number" },
		{ "{\"conversation_id\":1,\"workspace_id\":1,\"session_id\":5}", "session_id: not a string" },
		{ "{\"conversation_id\":1,\"workspace_id\":1}", "user_message: missing" },
		{ "{\"conversation_id\":1,\"workspace_id\":1,\"user_message\":[]}", "user_message: not an object" },
		{ "{\"conversation_id\":1,\"workspace_id\":1,\"user_message\":{\"timestamp\":\"2026-01-01T00:00:00Z\"}}",
		  "user_message.content: missing" },
		{ "{\"conversation_id\":1,\"workspace_id\":1,\"user_message\":{\"content\":1,\"timestamp\":\"2026-01-01T00:00:00Z\"}}",
		  "user_message.content: not a string" },
		{ "{\"conversation_id\":1,\"workspace_id\":1,\"user_message\":{\"content\":\"x\"}}",
		  "user_message.timestamp: missing" },
		{ "{\"conversation_id\":1,\"workspace_id\":1,\"user_message\":{\"content\":\"x\",\"timestamp\":\"2026-01-01 00:00:00\"}}",
		  NULL /* the parser's reason */ },
		{ "{\"conversation_id\":1,\"workspace_id\":1,\"user_message\":{\"content\":\"x\",\"timestamp\":\"0999-12-31T23:59:59Z\"}}",
		  "user_message.timestamp: before the year 1000" },
		{ "{\"conversation_id\":1,\"workspace_id\":1,\"user_message\":{\"role\":\"LLM\",\"content\":\"x\",\"timestamp\":\"2026-01-01T00:00:00Z\"}}",
		  "user_message.role: \"LLM\", expected \"USER\"" },
		{ "{\"conversation_id\":1,\"workspace_id\":1,\"user_message\":{\"id\":\"\",\"content\":\"x\",\"timestamp\":\"2026-01-01T00:00:00Z\"}}",
		  "user_message.id: empty" },
		{ "{\"conversation_id\":1,\"workspace_id\":1,\"user_message\":{\"id\":7,\"content\":\"x\",\"timestamp\":\"2026-01-01T00:00:00Z\"}}",
		  "user_message.id: not a string" },
		{ "{\"conversation_id\":1,\"workspace_id\":1,\"user_message\":{\"content\":\"x\",\"timestamp\":\"2026-01-01T00:00:00Z\"}}",
		  "assistant_message: missing" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		err[0] = 0;
		struct cp_pair *p = pair_of(cases[i].json, err);
		if (p)
			fail_msg("accepted: %s", cases[i].json);
		if (cases[i].err)
			assert_string_equal(err, cases[i].err);
		else
			assert_true(strncmp(err, "user_message.timestamp: ", 24) == 0);
	}
	/* 255 characters of session_id are fine, 256 are not (characters, not
	 * bytes: é is two). */
	char sess[600] = "";
	for (int i = 0; i < 255; i++)
		strcat(sess, "\xc3\xa9");
	const char *json = fmt("{\"conversation_id\":1,\"workspace_id\":1,\"session_id\":\"%s\",%s,%s}",
	    sess, user_ok, llm_ok);
	struct cp_pair *p = pair_of(json, err);
	assert_non_null(p);
	free(p);
	strcat(sess, "x");
	json = fmt("{\"conversation_id\":1,\"workspace_id\":1,\"session_id\":\"%s\",%s,%s}",
	    sess, user_ok, llm_ok);
	assert_null(pair_of(json, err));
	assert_string_equal(err, "session_id: longer than 255 characters");
}

static void key_of(const char *json, int msg, unsigned char key[CP_KEY_LEN])
{
	char err[CP_ERR_LEN];
	struct cp_pair *p = pair_of(json, err);
	if (!p)
		fail_msg("%s: %s", json, err);
	memcpy(key, p->msg[msg].key, CP_KEY_LEN);
	free(p);
}

static void test_keys(void **state)
{
	(void)state;
	unsigned char a[CP_KEY_LEN], b[CP_KEY_LEN];
	const char *base = "{\"conversation_id\":%d,\"workspace_id\":%d,"
	    "\"user_message\":{%s\"content\":\"%s\",\"timestamp\":\"%s\"},"
	    "\"assistant_message\":{\"content\":\"a\",\"timestamp\":\"2026-01-01T00:00:00Z\"}}";
	/* The same instant written with another offset: the same key. */
	key_of(fmt(base, 1, 1, "", "hi", "2026-01-01T12:00:00+02:00"), 0, a);
	key_of(fmt(base, 1, 2, "", "hi", "2026-01-01T10:00:00.000Z"), 0, b);
	assert_memory_equal(a, b, CP_KEY_LEN);
	/* Content, time (to the nanosecond) and conversation all count. */
	key_of(fmt(base, 1, 1, "", "hi!", "2026-01-01T10:00:00Z"), 0, b);
	assert_memory_not_equal(a, b, CP_KEY_LEN);
	key_of(fmt(base, 1, 1, "", "hi", "2026-01-01T10:00:00.000000001Z"), 0, b);
	assert_memory_not_equal(a, b, CP_KEY_LEN);
	key_of(fmt(base, 2, 1, "", "hi", "2026-01-01T10:00:00Z"), 0, b);
	assert_memory_not_equal(a, b, CP_KEY_LEN);
	/* With an id, only the id and the conversation. */
	key_of(fmt(base, 1, 1, "\"id\":\"m-1\",", "hi", "2026-01-01T10:00:00Z"), 0, a);
	key_of(fmt(base, 1, 1, "\"id\":\"m-1\",", "edited", "2027-01-01T10:00:00Z"), 0, b);
	assert_memory_equal(a, b, CP_KEY_LEN);
	key_of(fmt(base, 3, 1, "\"id\":\"m-1\",", "hi", "2026-01-01T10:00:00Z"), 0, b);
	assert_memory_not_equal(a, b, CP_KEY_LEN);
	/* Stable across versions: the key of a known message, as documented
	 * in chat-persist(1).  Changing it would duplicate every replayed row. */
	key_of(fmt(base, 1234, 7, "", "Where is my order?", "2026-11-28T12:00:00.123Z"), 0, a);
	char hex[2 * CP_KEY_LEN + 1];
	cp_key_hex(a, hex);
	assert_string_equal(hex, "0b19c6ad2dba6048cde52f597cb7d535259d1d5bd24bce520561d415a8a687c9");
}

static void test_url(void **state)
{
	(void)state;
	struct cp_store_config c;
	char err[CP_ERR_LEN], buf[256];
	assert_int_equal(cp_store_url_parse("mysql://app:s%40cret@db.example:3307/chat?ssl-mode=verify_identity&ssl-ca=/etc/ca.pem", &c, err), 0);
	assert_int_equal(c.kind, CP_DB_MYSQL);
	assert_string_equal(c.user, "app");
	assert_string_equal(c.password, "s@cret");
	assert_true(c.password_in_url);
	assert_string_equal(c.host, "db.example");
	assert_int_equal(c.port, 3307);
	assert_string_equal(c.db, "chat");
	assert_int_equal(c.ssl_mode, CP_SSL_VERIFY_IDENTITY);
	assert_string_equal(c.ssl_ca, "/etc/ca.pem");
	cp_store_url_redacted(&c, buf, sizeof buf);
	assert_string_equal(buf, "mysql://app:***@db.example:3307/chat");
	cp_store_config_free(&c);

	assert_int_equal(cp_store_url_parse("mysql:///chat?socket=%2Frun%2Fmysqld.sock", &c, err), 0);
	assert_null(c.user);
	assert_null(c.host);
	assert_null(c.password);
	assert_string_equal(c.socket, "/run/mysqld.sock");
	assert_string_equal(c.db, "chat");
	cp_store_url_redacted(&c, buf, sizeof buf);
	assert_string_equal(buf, "mysql:///chat?socket=/run/mysqld.sock");
	cp_store_config_free(&c);

	assert_int_equal(cp_store_url_parse("mysql://root@[::1]:3306/db", &c, err), 0);
	assert_string_equal(c.host, "::1");
	assert_int_equal(c.port, 3306);
	cp_store_config_free(&c);

	assert_int_equal(cp_store_url_parse("sqlite:/var/lib/chat.db", &c, err), 0);
	assert_int_equal(c.kind, CP_DB_SQLITE);
	assert_string_equal(c.path, "/var/lib/chat.db");
	cp_store_config_free(&c);
	assert_int_equal(cp_store_url_parse("sqlite://rel.db", &c, err), 0);
	assert_string_equal(c.path, "rel.db");
	cp_store_config_free(&c);

	static const char *const bad[] = {
		"", "postgres://x/y", "mysql://host", "mysql://host/", "mysql://h:0/db",
		"mysql://h:99999/db", "mysql://h:12x/db", "mysql://h/db?ssl-mode=maybe",
		"mysql://h/db?nope=1", "mysql://h/db?socket", "mysql://u%zz@h/db",
		"mysql://u%00@h/db", "sqlite:", "sqlite::memory:",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (cp_store_url_parse(bad[i], &c, err) == 0)
			fail_msg("accepted: %s", bad[i]);
		assert_true(strlen(err) > 0);
	}
	assert_int_equal(cp_store_url_parse(NULL, &c, err), -1);
	assert_string_equal(err, "no database: give --db URL or set CHATPIPE_DB");
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

static int count_stmt(const char *s, size_t len, void *arg)
{
	(void)s;
	(void)len;
	(*(int *)arg)++;
	return 0;
}

static void test_migrations(void **state)
{
	(void)state;
	const char *top = getenv("CHATPIPE_TOP");
	char path[4096];
	static const char *const dialects[] = { "mysql", "sqlite" };
	for (int d = 0; d < 2; d++) {
		size_t n;
		const struct cp_migration *m = cp_migrations(dialects[d], &n);
		assert_true(n >= 1);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(m[i].version, (int)i + 1);
			snprintf(path, sizeof path, "%s/sql/%s/%s.sql", top ? top : ".",
			    dialects[d], m[i].name);
			char *text = slurp(path);
			if (!text)
				fail_msg("cannot read %s (run from the top or set CHATPIPE_TOP)", path);
			if (strcmp(text, m[i].sql) != 0)
				fail_msg("%s differs from lib/migrations.c: run "
				    "sh sql/embed.sh > lib/migrations.c", path);
		}
	}
	size_t n;
	assert_null(cp_migrations("postgres", &n));
	assert_int_equal(n, 0);
	int count = 0;
	assert_int_equal(cp_migration_each("-- only a comment\n\nCREATE TABLE a (x INT);\n"
	    "-- between\nINSERT INTO a VALUES (';');\n\n-- trailing\n", count_stmt, &count), 0);
	assert_int_equal(count, 2);
	count = 0;
	assert_int_equal(cp_migration_each("SELECT 1;\nSELECT 2", count_stmt, &count), 0);
	assert_int_equal(count, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pair),
		cmocka_unit_test(test_content_bytes),
		cmocka_unit_test(test_handoff),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_migrations),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
