/* Unit tests for lib/spool: round trips byte for byte (binary bodies up to
 * 1 MiB, message attributes and their MD5 against the published vectors),
 * visibility expiry and redelivery, stale receipt handles, change
 * visibility, delays, dead-lettering, retention, purge, counts, corrupt and
 * temp files, long polling, queue creation and removal, and exactly-once
 * delivery to several forked receivers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jv.h>

#include "spool.h"

static char base[256];
static int seq;

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int setup(void **state)
{
	(void)state;
	snprintf(base, sizeof base, "%s/spool-test.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh queue directory path under base. */
static const char *qpath(const char *name)
{
	static char p[8][512];
	static int i;
	char *s = p[i++ % 8];
	snprintf(s, 512, "%s/%s%d", base, name, ++seq);
	return s;
}

static struct cp_spool *mkq(const char *path, const struct cp_spool_config *c)
{
	char err[CP_ERR_LEN] = "";
	if (cp_spool_create(path, c, err) < 0)
		fail_msg("create %s: %s", path, err);
	struct cp_spool *q = cp_spool_open(path, 0, err);
	if (!q)
		fail_msg("open %s: %s", path, err);
	cp_spool_set_sweep_interval(q, 0);
	return q;
}

static void send_ok(struct cp_spool *q, const void *body, size_t len, const char *attrs, int delay,
    struct cp_spool_result *r)
{
	char err[CP_ERR_LEN] = "";
	struct cp_spool_entry e = { .body = body, .body_len = len, .attrs = attrs,
		.attrs_len = attrs ? strlen(attrs) : 0, .delay_seconds = delay };
	struct cp_spool_result tmp;
	if (!r)
		r = &tmp;
	if (cp_spool_send(q, &e, r, err) < 0)
		fail_msg("send: %s", err);
	assert_int_equal(r->status, 0);
}

static void send_str(struct cp_spool *q, const char *s)
{
	send_ok(q, s, strlen(s), NULL, -1, NULL);
}

static int recv_n(struct cp_spool *q, struct cp_spool_msg *m, int max, int vis, int wait)
{
	char err[CP_ERR_LEN] = "";
	struct cp_spool_recv o;
	cp_spool_recv_default(&o);
	o.max = max;
	o.visibility_timeout = vis;
	o.wait_seconds = wait;
	int n = cp_spool_receive(q, &o, m, err);
	if (n < 0)
		fail_msg("receive: %s", err);
	return n;
}

static void stats(struct cp_spool *q, long vis, long notvis, long delayed)
{
	struct cp_spool_stats s;
	char err[CP_ERR_LEN] = "";
	if (cp_spool_stats(q, &s, err) < 0)
		fail_msg("stats: %s", err);
	if (s.visible != vis || s.not_visible != notvis || s.delayed != delayed)
		fail_msg("stats: visible %ld not_visible %ld delayed %ld, want %ld %ld %ld",
		    s.visible, s.not_visible, s.delayed, vis, notvis, delayed);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *de;
	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void md5_ref(const void *p, size_t n, char out[33])
{
	unsigned char d[16];
	unsigned int len;
	EVP_Digest(p, n, d, &len, EVP_md5(), NULL);
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* ---- attributes ---- */

static void assert_attrs_md5(const char *json, const char *want)
{
	char md5[CP_SPOOL_MD5_LEN], err[CP_ERR_LEN] = "";
	if (cp_spool_attrs_md5(json, strlen(json), md5, err) < 0)
		fail_msg("attrs_md5(%s): %s", json, err);
	assert_string_equal(md5, want);
}

static void assert_attrs_bad(const char *json, const char *needle)
{
	char md5[CP_SPOOL_MD5_LEN], err[CP_ERR_LEN] = "";
	errno = 0;
	if (cp_spool_attrs_md5(json, strlen(json), md5, err) == 0)
		fail_msg("attrs_md5(%s) accepted", json);
	assert_int_equal(errno, EINVAL);
	if (!strstr(err, needle))
		fail_msg("attrs_md5(%s): \"%s\" lacks \"%s\"", json, err, needle);
}

static void test_attrs_md5_vectors(void **state)
{
	(void)state;
	/* reference/sqs.md §2.1, from aws-md5-of-message-attributes. */
	assert_attrs_md5("{\"attribName1\":{\"DataType\":\"String\",\"StringValue\":\"attribValue 1\"}}",
	    "19e27d4e946b072f3f58da80d94fd778");
	assert_attrs_md5("{\"customNumberTypeAttrib\":{\"DataType\":\"Number.float\","
	    "\"StringValue\":\"4563442423554324324264524243.32543234\"}}",
	    "9fe1b90bbd9965bdf77bac517c7d2495");
	assert_attrs_md5("{\"binaryAttribute\":{\"DataType\":\"Binary\","
	    "\"BinaryValue\":\"SGVsbG8gYmluYXJ5IHdvcmxkIQ==\"}}",
	    "31a92b15d92f8db860eda32aceb656c3");
	/* Order in the JSON does not matter: names are sorted. */
	assert_attrs_md5("{\"customNumberTypeAttrib\":{\"DataType\":\"Number.float\","
	    "\"StringValue\":\"4563442423554324324264524243.32543234\"},"
	    "\"binaryAttribute\":{\"DataType\":\"Binary\",\"BinaryValue\":\"SGVsbG8gYmluYXJ5IHdvcmxkIQ==\"},"
	    "\"attribName1\":{\"DataType\":\"String\",\"StringValue\":\"attribValue 1\"}}",
	    "c932db14a896c663f83c260297d594ff");
}

static void test_attrs_invalid(void **state)
{
	(void)state;
	assert_attrs_bad("[1]", "JSON object");
	assert_attrs_bad("{\"a\":", "message attributes");
	assert_attrs_bad("{\"a b\":{\"DataType\":\"String\",\"StringValue\":\"x\"}}", "name");
	assert_attrs_bad("{\"AWS.x\":{\"DataType\":\"String\",\"StringValue\":\"x\"}}", "name");
	assert_attrs_bad("{\"a..b\":{\"DataType\":\"String\",\"StringValue\":\"x\"}}", "name");
	assert_attrs_bad("{\"a\":{\"DataType\":\"Text\",\"StringValue\":\"x\"}}", "DataType");
	assert_attrs_bad("{\"a\":{\"DataType\":\"String\"}}", "value");
	assert_attrs_bad("{\"a\":{\"DataType\":\"String\",\"StringValue\":\"\"}}", "non-empty");
	assert_attrs_bad("{\"a\":{\"DataType\":\"Number\",\"StringValue\":\"12x\"}}", "Number");
	assert_attrs_bad("{\"a\":{\"DataType\":\"Binary\",\"BinaryValue\":\"@@@@\"}}", "base64");
	assert_attrs_bad("{\"a\":{\"DataType\":\"String\",\"StringValue\":\"x\",\"Extra\":1}}", "unknown");
	assert_attrs_bad("{\"a\":{\"DataType\":\"String\",\"StringValue\":\"x\",\"BinaryValue\":\"eA==\"}}",
	    "exactly one");
	char many[2048] = "{";
	for (int i = 0; i < 11; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many),
		    "%s\"a%d\":{\"DataType\":\"String\",\"StringValue\":\"x\"}", i ? "," : "", i);
	strcat(many, "}");
	assert_attrs_bad(many, "at most 10");
}

/* ---- round trips ---- */

static void test_round_trip_binary(void **state)
{
	(void)state;
	struct cp_spool *q = mkq(qpath("rt"), NULL);
	static unsigned char small[256];
	for (int i = 0; i < 256; i++)
		small[i] = (unsigned char)i;
	size_t big_len = CP_SPOOL_MAX_BODY;
	unsigned char *big = malloc(big_len);
	assert_non_null(big);
	uint32_t x = 12345;
	for (size_t i = 0; i < big_len; i++) {
		x = x * 1103515245 + 12345;
		big[i] = (unsigned char)(x >> 16);
	}
	const char *attrs = "{\"kind\":{\"DataType\":\"String\",\"StringValue\":\"pair \\u00e9\\n\"},"
	    "\"blob\":{\"DataType\":\"Binary\",\"BinaryValue\":\"AAEC/w==\"},"
	    "\"n\":{\"DataType\":\"Number\",\"StringValue\":\"-1.5e3\"}}";
	struct cp_spool_result r1, r2, r3;
	int64_t t0 = wall_ms();
	send_ok(q, small, sizeof small, attrs, 0, &r1);
	send_ok(q, big, big_len, NULL, 0, &r2);
	send_ok(q, "", 0, NULL, 0, &r3);
	char want[33];
	md5_ref(small, sizeof small, want);
	assert_string_equal(r1.md5_body, want);
	assert_int_equal(strlen(r1.md5_attrs), 32);
	assert_string_equal(r3.md5_body, "d41d8cd98f00b204e9800998ecf8427e");
	assert_string_equal(r3.md5_attrs, "");
	assert_string_not_equal(r1.id, r2.id);

	struct cp_spool_msg m[CP_SPOOL_RECV_MAX];
	int n = recv_n(q, m, 10, 30, 0);
	assert_int_equal(n, 3);
	int seen = 0;
	for (int i = 0; i < n; i++) {
		assert_int_equal(m[i].receive_count, 1);
		assert_true(m[i].sent_ms >= t0 - 5 && m[i].sent_ms <= wall_ms());
		assert_true(m[i].first_receive_ms >= m[i].sent_ms);
		assert_int_equal(m[i].body[m[i].body_len], 0);
		char uid[24];
		snprintf(uid, sizeof uid, "%lu", (unsigned long)getuid());
		assert_string_equal(m[i].sender_id, uid);
		md5_ref(m[i].body, m[i].body_len, want);
		assert_string_equal(m[i].md5_body, want);
		if (strcmp(m[i].id, r1.id) == 0) {
			seen |= 1;
			assert_int_equal(m[i].body_len, sizeof small);
			assert_memory_equal(m[i].body, small, sizeof small);
			assert_string_equal(m[i].md5_attrs, r1.md5_attrs);
			assert_non_null(m[i].attrs);
			jv got = jv_parse_sized(m[i].attrs, (int)m[i].attrs_len);
			jv exp = jv_parse(attrs);
			assert_true(jv_equal(got, exp));
			char md5[CP_SPOOL_MD5_LEN];
			assert_int_equal(cp_spool_attrs_md5(m[i].attrs, m[i].attrs_len, md5, NULL), 0);
			assert_string_equal(md5, r1.md5_attrs);
		} else if (strcmp(m[i].id, r2.id) == 0) {
			seen |= 2;
			assert_int_equal(m[i].body_len, big_len);
			assert_memory_equal(m[i].body, big, big_len);
			assert_null(m[i].attrs);
			assert_string_equal(m[i].md5_attrs, "");
		} else {
			assert_string_equal(m[i].id, r3.id);
			seen |= 4;
			assert_int_equal(m[i].body_len, 0);
		}
	}
	assert_int_equal(seen, 7);
	char err[CP_ERR_LEN];
	for (int i = 0; i < n; i++) {
		assert_int_equal(cp_spool_delete(q, m[i].receipt, err), 0);
		assert_int_equal(cp_spool_delete(q, m[i].receipt, err), CP_SPOOL_STALE);
		cp_spool_msg_free(&m[i]);
		cp_spool_msg_free(&m[i]);
	}
	assert_int_equal(recv_n(q, m, 10, 30, 0), 0);
	stats(q, 0, 0, 0);
	free(big);
	cp_spool_close(q);
}

static void test_send_limits(void **state)
{
	(void)state;
	struct cp_spool *q = mkq(qpath("lim"), NULL);
	char err[CP_ERR_LEN] = "";
	char *big = calloc(1, CP_SPOOL_MAX_BODY + 1);
	struct cp_spool_entry e[3] = {
		{ .body = "ok", .body_len = 2, .delay_seconds = -1 },
		{ .body = big, .body_len = CP_SPOOL_MAX_BODY + 1, .delay_seconds = -1 },
		{ .body = "late", .body_len = 4, .delay_seconds = 901 },
	};
	struct cp_spool_result r[3];
	assert_int_equal(cp_spool_send_batch(q, e, 3, r, err), 1);
	assert_int_equal(r[0].status, 0);
	assert_int_equal(r[1].status, -1);
	assert_non_null(strstr(r[1].err, "longer than"));
	assert_int_equal(r[2].status, -1);
	assert_non_null(strstr(r[2].err, "DelaySeconds"));
	errno = 0;
	assert_int_equal(cp_spool_send(q, &e[1], r, err), -1);
	assert_int_equal(errno, EINVAL);
	e[0].group_id = "g\x01";
	assert_int_equal(cp_spool_send(q, &e[0], r, err), -1);
	assert_non_null(strstr(err, "MessageGroupId"));
	assert_int_equal(cp_spool_send_batch(q, e, 0, r, err), -1);
	assert_int_equal(cp_spool_send_batch(q, e, 11, r, err), -1);
	/* Group and dedup ids are kept (not acted on). */
	e[0].group_id = "grp-1";
	e[0].dedup_id = "d/1";
	assert_int_equal(cp_spool_send(q, &e[0], r, err), 0);
	struct cp_spool_msg m[10];
	assert_int_equal(recv_n(q, m, 10, 30, 0), 2);
	int found = 0;
	for (int i = 0; i < 2; i++) {
		if (strcmp(m[i].id, r[0].id) == 0) {
			assert_string_equal(m[i].group_id, "grp-1");
			assert_string_equal(m[i].dedup_id, "d/1");
			found = 1;
		}
		cp_spool_msg_free(&m[i]);
	}
	assert_true(found);
	/* Receive arguments. */
	struct cp_spool_recv o;
	cp_spool_recv_default(&o);
	o.max = 11;
	assert_int_equal(cp_spool_receive(q, &o, m, err), -1);
	o.max = 1;
	o.wait_seconds = 21;
	assert_int_equal(cp_spool_receive(q, &o, m, err), -1);
	free(big);
	cp_spool_close(q);
}

/* ---- visibility ---- */

static void test_visibility_expiry_and_stale_handle(void **state)
{
	(void)state;
	struct cp_spool *q = mkq(qpath("vis"), NULL);
	struct cp_spool_result r;
	send_ok(q, "hello", 5, NULL, -1, &r);
	assert_string_equal(r.md5_body, "5d41402abc4b2a76b9719d911017c592");
	struct cp_spool_msg a, b;
	assert_int_equal(recv_n(q, &a, 1, 1, 0), 1);
	assert_int_equal(a.receive_count, 1);
	assert_int_equal(recv_n(q, &b, 1, 1, 0), 0); /* invisible */
	stats(q, 0, 1, 0);
	sleep_ms(1100);
	stats(q, 1, 0, 0); /* deadline passed: counted as visible */
	assert_int_equal(recv_n(q, &b, 1, 30, 0), 1);
	assert_string_equal(b.id, a.id);
	assert_int_equal(b.receive_count, 2);
	assert_string_not_equal(b.receipt, a.receipt);
	assert_int_equal(b.first_receive_ms, a.first_receive_ms);
	assert_int_equal(b.sent_ms, a.sent_ms);
	assert_memory_equal(b.body, "hello", 5);
	/* The first handle is stale: nothing happens. */
	char err[CP_ERR_LEN];
	assert_int_equal(cp_spool_delete(q, a.receipt, err), CP_SPOOL_STALE);
	assert_int_equal(cp_spool_change_visibility(q, a.receipt, 0, err), CP_SPOOL_STALE);
	stats(q, 0, 1, 0);
	assert_int_equal(cp_spool_delete(q, b.receipt, err), 0);
	stats(q, 0, 0, 0);
	/* Malformed handles never touch the file system. */
	errno = 0;
	assert_int_equal(cp_spool_delete(q, "../config", err), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cp_spool_change_visibility(q, "x", 5, err), -1);
	char bad[CP_SPOOL_RECEIPT_LEN + 8];
	snprintf(bad, sizeof bad, "%s/x", a.receipt);
	assert_int_equal(cp_spool_delete(q, bad, err), -1);
	cp_spool_msg_free(&a);
	cp_spool_msg_free(&b);
	cp_spool_close(q);
}

static void test_change_visibility(void **state)
{
	(void)state;
	const char *qp = qpath("cv");
	struct cp_spool *q = mkq(qp, NULL);
	send_str(q, "peek me");
	struct cp_spool_msg a, b;
	char err[CP_ERR_LEN];
	/* --peek: receive, then visible again at once. */
	assert_int_equal(recv_n(q, &a, 1, 30, 0), 1);
	assert_int_equal(cp_spool_change_visibility(q, a.receipt, 0, err), 0);
	assert_int_equal(recv_n(q, &b, 1, 30, 0), 1);
	assert_int_equal(b.receive_count, 2);
	/* Shorten: 30 s → 1 s (sweeps learn it from a marker in soon/). */
	char soon[600];
	snprintf(soon, sizeof soon, "%s/soon", qp);
	assert_int_equal(cp_spool_change_visibility(q, b.receipt, 1, err), 0);
	assert_int_equal(count_files(soon), 1);
	cp_spool_msg_free(&a);
	assert_int_equal(recv_n(q, &a, 1, 30, 0), 0);
	sleep_ms(1100);
	assert_int_equal(recv_n(q, &a, 1, 2, 0), 1);
	assert_int_equal(a.receive_count, 3);
	/* Extend: 2 s → 3 s from now, so still invisible after 2.2 s. */
	assert_int_equal(cp_spool_change_visibility(q, a.receipt, 3, err), 0);
	cp_spool_msg_free(&b);
	sleep_ms(2200);
	assert_int_equal(recv_n(q, &b, 1, 30, 0), 0);
	assert_int_equal(cp_spool_delete(q, a.receipt, err), 0);
	/* The marker went with the sweep after the message left flight. */
	assert_int_equal(count_files(soon), 0);
	errno = 0;
	assert_int_equal(cp_spool_change_visibility(q, a.receipt, 43201, err), -1);
	assert_int_equal(errno, EINVAL);
	cp_spool_msg_free(&a);
	cp_spool_msg_free(&b);
	cp_spool_close(q);
}

/* ---- delay ---- */

static void test_delay(void **state)
{
	(void)state;
	struct cp_spool_config c;
	cp_spool_config_default(&c);
	c.delay_seconds = 2;
	struct cp_spool *q = mkq(qpath("delay"), &c);
	send_ok(q, "late", 4, NULL, -1, NULL);  /* queue default: 2 s */
	send_ok(q, "now", 3, NULL, 0, NULL);    /* per message: none */
	send_ok(q, "soon", 4, NULL, 1, NULL);   /* per message: 1 s */
	stats(q, 1, 0, 2);
	struct cp_spool_msg m[10];
	int64_t t0 = wall_ms();
	assert_int_equal(recv_n(q, m, 10, 30, 0), 1);
	assert_memory_equal(m[0].body, "now", 3);
	cp_spool_msg_free(&m[0]);
	/* Long polling wakes when the delayed ones become visible. */
	assert_int_equal(recv_n(q, m, 10, 30, 5), 1);
	int64_t t1 = wall_ms();
	assert_memory_equal(m[0].body, "soon", 4);
	assert_true(t1 - t0 >= 900 && t1 - t0 < 2500);
	cp_spool_msg_free(&m[0]);
	assert_int_equal(recv_n(q, m, 10, 30, 5), 1);
	assert_memory_equal(m[0].body, "late", 4);
	assert_true(wall_ms() - t0 >= 1900 && wall_ms() - t0 < 3500);
	cp_spool_msg_free(&m[0]);
	cp_spool_close(q);
}

/* ---- dead-letter queue ---- */

static void test_dead_letter(void **state)
{
	(void)state;
	const char *dpath = qpath("dlq");
	struct cp_spool *d = mkq(dpath, NULL);
	struct cp_spool_config c;
	cp_spool_config_default(&c);
	c.max_receive_count = 2;
	snprintf(c.dead_letter_queue, sizeof c.dead_letter_queue, "file:%s", dpath);
	const char *qp = qpath("src");
	struct cp_spool *q = mkq(qp, &c);
	assert_string_equal(cp_spool_get_config(q)->dead_letter_queue[0] == '/' ? "abs" : "rel", "abs");
	struct cp_spool_result r;
	send_ok(q, "poison", 6, "{\"a\":{\"DataType\":\"String\",\"StringValue\":\"b\"}}", -1, &r);
	struct cp_spool_msg m;
	/* Received twice with a visibility of 0 (never deleted)... */
	assert_int_equal(recv_n(q, &m, 1, 0, 0), 1);
	assert_int_equal(m.receive_count, 1);
	cp_spool_msg_free(&m);
	assert_int_equal(recv_n(q, &m, 1, 0, 0), 1);
	assert_int_equal(m.receive_count, 2);
	cp_spool_msg_free(&m);
	/* ...then it moves to the DLQ instead of a third delivery. */
	assert_int_equal(recv_n(q, &m, 1, 0, 0), 0);
	stats(q, 0, 0, 0);
	assert_int_equal(recv_n(d, &m, 1, 30, 0), 1);
	assert_string_equal(m.id, r.id);
	assert_int_equal(m.receive_count, 3); /* its count goes on */
	assert_memory_equal(m.body, "poison", 6);
	assert_string_equal(m.md5_attrs, r.md5_attrs);
	char err[CP_ERR_LEN];
	assert_int_equal(cp_spool_delete(d, m.receipt, err), 0);
	cp_spool_msg_free(&m);

	/* Through change visibility 0, with maxReceiveCount 1. */
	c.max_receive_count = 1;
	assert_int_equal(cp_spool_set_config(qp, &c, err), 0);
	cp_spool_close(q);
	q = cp_spool_open(qp, 0, err);
	assert_non_null(q);
	cp_spool_set_sweep_interval(q, 0);
	send_ok(q, "once", 4, NULL, -1, &r);
	assert_int_equal(recv_n(q, &m, 1, 30, 0), 1);
	assert_int_equal(cp_spool_change_visibility(q, m.receipt, 0, err), 0);
	cp_spool_msg_free(&m);
	stats(q, 0, 0, 0);
	stats(d, 1, 0, 0);
	assert_int_equal(recv_n(d, &m, 1, 30, 0), 1);
	assert_string_equal(m.id, r.id);
	assert_int_equal(m.receive_count, 2); /* 1 here, 1 in the DLQ */
	cp_spool_msg_free(&m);

	/* Met again by a receiver after maxReceiveCount was lowered. */
	c.max_receive_count = 5;
	assert_int_equal(cp_spool_set_config(qp, &c, err), 0);
	cp_spool_close(q);
	q = cp_spool_open(qp, 0, err);
	cp_spool_set_sweep_interval(q, 0);
	send_ok(q, "twice", 5, NULL, -1, &r);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(recv_n(q, &m, 1, 30, 0), 1);
		assert_int_equal(cp_spool_change_visibility(q, m.receipt, 0, err), 0);
		cp_spool_msg_free(&m);
	}
	c.max_receive_count = 2;
	assert_int_equal(cp_spool_set_config(qp, &c, err), 0);
	cp_spool_close(q);
	q = cp_spool_open(qp, 0, err);
	assert_int_equal(recv_n(q, &m, 1, 30, 0), 0);
	assert_int_equal(recv_n(d, &m, 1, 30, 0), 1);
	assert_string_equal(m.id, r.id);
	assert_int_equal(m.receive_count, 3);
	cp_spool_msg_free(&m);

	/* A DLQ that vanished: the message stays, with a warning. */
	cp_spool_close(d);
	c.max_receive_count = 1;
	assert_int_equal(cp_spool_set_config(qp, &c, err), 0);
	cp_spool_close(q);
	q = cp_spool_open(qp, 0, err);
	cp_spool_set_sweep_interval(q, 0);
	send_ok(q, "stuck", 5, NULL, -1, &r);
	assert_int_equal(recv_n(q, &m, 1, 0, 0), 1);
	cp_spool_msg_free(&m);
	assert_int_equal(cp_spool_remove(dpath, err), 0);
	assert_int_equal(recv_n(q, &m, 1, 0, 0), 0);
	const char *w = cp_spool_warning(q);
	assert_non_null(w);
	assert_non_null(strstr(w, "dead-letter queue"));
	assert_null(cp_spool_warning(q));
	stats(q, 1, 0, 0);
	cp_spool_close(q);
}

/* ---- retention, corrupt and temp files ---- */

static void test_retention_and_junk(void **state)
{
	(void)state;
	struct cp_spool_config c;
	cp_spool_config_default(&c);
	c.retention_period = 60;
	const char *qp = qpath("ret");
	struct cp_spool *q = mkq(qp, &c);
	struct cp_spool_result r;
	send_ok(q, "old", 3, NULL, -1, &r);
	/* Make it look sent two minutes ago (the name carries SentTimestamp). */
	char dir[600], from[1024], to[1024];
	snprintf(dir, sizeof dir, "%s/ready", qp);
	DIR *d = opendir(dir);
	struct dirent *de;
	char bucket[256] = "";
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			snprintf(bucket, sizeof bucket, "%s", de->d_name);
	closedir(d);
	snprintf(dir, sizeof dir, "%s/ready/%s", qp, bucket);
	d = opendir(dir);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(from, sizeof from, "%s/%s", dir, de->d_name);
		snprintf(to, sizeof to, "%s/%s.%lld.0.0", dir, r.id, (long long)(wall_ms() - 120000));
	}
	closedir(d);
	assert_int_equal(rename(from, to), 0);
	/* Junk: a damaged message, a foreign file, a half-written temp file. */
	char junk[1024];
	snprintf(junk, sizeof junk, "%s/0190f3c2-0000-7000-8000-000000000001.%lld.0.0", dir,
	    (long long)wall_ms());
	FILE *f = fopen(junk, "w");
	fputs("{\"spool\":1,\"id\":\"0190f3c2-0000-7000-8000-000000000001\",\"len\":5,\"md5\":"
	    "\"5d41402abc4b2a76b9719d911017c592\"}\nhellx", f);
	fclose(f);
	snprintf(junk, sizeof junk, "%s/README", dir);
	f = fopen(junk, "w");
	fputs("not a message\n", f);
	fclose(f);
	snprintf(junk, sizeof junk, "%s/tmp/0190f3c2-0000-7000-8000-000000000002", qp);
	f = fopen(junk, "w");
	fputs("{\"spool\":1", f);
	fclose(f);
	send_str(q, "good");
	struct cp_spool_msg m[10];
	assert_int_equal(recv_n(q, m, 10, 30, 0), 1);
	assert_memory_equal(m[0].body, "good", 4);
	const char *w = cp_spool_warning(q);
	assert_non_null(w);
	assert_non_null(strstr(w, "corrupt"));
	struct cp_spool_stats s;
	char err[CP_ERR_LEN];
	assert_int_equal(cp_spool_stats(q, &s, err), 0);
	assert_int_equal(s.corrupt, 1);
	assert_int_equal(s.tmp, 1);
	assert_int_equal(s.visible, 0); /* the expired one is gone */
	assert_int_equal(s.not_visible, 1);
	/* A young temp file stays (a sender may be writing it); an old one
	 * goes. */
	assert_int_equal(cp_spool_sweep(q, -1, err), 0);
	assert_int_equal(cp_spool_stats(q, &s, err), 0);
	assert_int_equal(s.tmp, 1);
	assert_int_equal(cp_spool_sweep(q, 0, err), 0);
	assert_int_equal(cp_spool_stats(q, &s, err), 0);
	assert_int_equal(s.tmp, 0);
	cp_spool_msg_free(&m[0]);
	cp_spool_close(q);
}

/* ---- purge, counts ---- */

static void test_purge_and_stats(void **state)
{
	(void)state;
	struct cp_spool *q = mkq(qpath("purge"), NULL);
	for (int i = 0; i < 5; i++)
		send_str(q, "x");
	send_ok(q, "d", 1, NULL, 60, NULL);
	send_ok(q, "d", 1, NULL, 900, NULL);
	struct cp_spool_msg m[2 + CP_SPOOL_RECV_MAX];
	assert_int_equal(recv_n(q, m, 2, 30, 0), 2);
	stats(q, 3, 2, 2);
	char err[CP_ERR_LEN];
	assert_int_equal(cp_spool_purge(q, err), 0);
	stats(q, 0, 0, 0);
	assert_int_equal(recv_n(q, m + 2, 10, 30, 0), 0);
	assert_int_equal(cp_spool_delete(q, m[0].receipt, err), CP_SPOOL_STALE);
	send_str(q, "after");
	assert_int_equal(recv_n(q, m + 2, 10, 30, 0), 1);
	assert_memory_equal(m[2].body, "after", 5);
	for (int i = 0; i < 3; i++)
		cp_spool_msg_free(&m[i]);
	cp_spool_close(q);
}

/* ---- long polling ---- */

static void test_long_poll(void **state)
{
	(void)state;
	const char *qp = qpath("lp");
	struct cp_spool *q = mkq(qp, NULL);
	struct cp_spool_msg m;
	/* Nothing arrives: the full wait. */
	int64_t t0 = wall_ms();
	assert_int_equal(recv_n(q, &m, 1, 30, 1), 0);
	assert_true(wall_ms() - t0 >= 990);
	/* A message sent by another process ends the wait early. */
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(300);
		struct cp_spool *c = cp_spool_open(qp, 0, NULL);
		struct cp_spool_entry e = { .body = "ping", .body_len = 4, .delay_seconds = 0 };
		struct cp_spool_result r;
		_exit(c && cp_spool_send(c, &e, &r, NULL) == 0 ? 0 : 1);
	}
	t0 = wall_ms();
	assert_int_equal(recv_n(q, &m, 1, 30, 10), 1);
	int64_t dt = wall_ms() - t0;
	assert_memory_equal(m.body, "ping", 4);
	assert_true(dt >= 250 && dt < 900);
	cp_spool_msg_free(&m);
	int st;
	waitpid(pid, &st, 0);
	assert_int_equal(WEXITSTATUS(st), 0);
	/* The stop descriptor ends it too. */
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		sleep_ms(200);
		_exit(write(p[1], "x", 1) == 1 ? 0 : 1);
	}
	struct cp_spool_recv o;
	cp_spool_recv_default(&o);
	o.max = 1;
	o.wait_seconds = 10;
	o.stop_fd = p[0];
	t0 = wall_ms();
	assert_int_equal(cp_spool_receive(q, &o, &m, NULL), 0);
	assert_true(wall_ms() - t0 < 900);
	waitpid(pid, &st, 0);
	close(p[0]);
	close(p[1]);
	cp_spool_close(q);
}

/* ---- creation, opening, removal ---- */

static void test_create_open_remove(void **state)
{
	(void)state;
	char err[CP_ERR_LEN];
	const char *qp = qpath("cr");
	errno = 0;
	assert_null(cp_spool_open(qp, 0, err));
	assert_int_equal(errno, ENOENT);
	struct cp_spool_config c;
	cp_spool_config_default(&c);
	c.visibility_timeout = 45;
	assert_int_equal(cp_spool_create(qp, &c, err), 0);
	assert_int_equal(cp_spool_create(qp, &c, err), 0); /* same: fine */
	c.visibility_timeout = 46;
	errno = 0;
	assert_int_equal(cp_spool_create(qp, &c, err), -1);
	assert_int_equal(errno, EEXIST);
	struct cp_spool *q = cp_spool_open(qp, CP_SPOOL_CREATE, err);
	assert_non_null(q);
	assert_int_equal(cp_spool_get_config(q)->visibility_timeout, 45); /* kept */
	assert_true(cp_spool_get_config(q)->created > 0);
	assert_string_equal(cp_spool_dir(q), qp);
	cp_spool_close(q);
	/* Bad attributes. */
	c.visibility_timeout = 43201;
	assert_int_equal(cp_spool_create(qpath("bad"), &c, err), -1);
	cp_spool_config_default(&c);
	c.fifo = 1;
	assert_int_equal(cp_spool_create(qpath("bad"), &c, err), -1);
	assert_non_null(strstr(err, "FIFO"));
	cp_spool_config_default(&c);
	c.max_receive_count = 3;
	snprintf(c.dead_letter_queue, sizeof c.dead_letter_queue, "%s/nowhere", base);
	assert_int_equal(cp_spool_create(qpath("bad"), &c, err), -1);
	snprintf(c.dead_letter_queue, sizeof c.dead_letter_queue, "%s", qp);
	const char *self = qpath("self");
	assert_int_equal(cp_spool_create(self, NULL, err), 0);
	snprintf(c.dead_letter_queue, sizeof c.dead_letter_queue, "%s", self);
	assert_int_equal(cp_spool_create(self, &c, err), -1); /* itself */
	/* Created on first use. */
	const char *auto_q = qpath("auto");
	q = cp_spool_open(auto_q, CP_SPOOL_CREATE, err);
	assert_non_null(q);
	assert_int_equal(cp_spool_get_config(q)->visibility_timeout, 30);
	send_str(q, "x");
	cp_spool_close(q);
	/* Removal: only of queues. */
	assert_int_equal(cp_spool_remove(auto_q, err), 0);
	struct stat st;
	assert_int_equal(stat(auto_q, &st), -1);
	assert_int_equal(cp_spool_remove(base, err), -1);
	assert_int_equal(stat(base, &st), 0);
	/* URLs. */
	char path[256];
	assert_int_equal(cp_spool_url_path("file:/var/q", path, sizeof path, err), 0);
	assert_string_equal(path, "/var/q");
	assert_int_equal(cp_spool_url_path("file:rel/q", path, sizeof path, err), 0);
	assert_string_equal(path, "rel/q");
	assert_int_equal(cp_spool_url_path("file:///abs/q", path, sizeof path, err), 0);
	assert_string_equal(path, "/abs/q");
	assert_int_equal(cp_spool_url_path("file://localhost/abs/q", path, sizeof path, err), 0);
	assert_string_equal(path, "/abs/q");
	assert_int_equal(cp_spool_url_path("file://host/q", path, sizeof path, err), -1);
	assert_int_equal(cp_spool_url_path("file:", path, sizeof path, err), -1);
	assert_int_equal(cp_spool_url_path("https://sqs/q", path, sizeof path, err), -1);
	assert_false(cp_spool_is_url("https://x"));
	assert_true(cp_spool_is_url("file:x"));
}

/* ---- several processes ---- */

static void test_concurrent_exactly_once(void **state)
{
	(void)state;
	enum { PROCS = 4, PER = 300 };
	const char *qp = qpath("conc");
	struct cp_spool *q = mkq(qp, NULL);
	cp_spool_close(q);
	char out[PROCS][600], done[600];
	snprintf(done, sizeof done, "%s/producers-done", base);
	pid_t pids[2 * PROCS];
	for (int p = 0; p < PROCS; p++) {
		if ((pids[p] = fork()) == 0) {
			struct cp_spool *s = cp_spool_open(qp, 0, NULL);
			for (int i = 0; i < PER; i += 10) {
				struct cp_spool_entry e[10];
				struct cp_spool_result r[10];
				char b[10][32];
				for (int k = 0; k < 10; k++) {
					snprintf(b[k], sizeof b[k], "%d-%d", p, i + k);
					e[k] = (struct cp_spool_entry){ .body = b[k], .body_len = strlen(b[k]),
						.delay_seconds = -1 };
				}
				char err[CP_ERR_LEN];
				if (!s || cp_spool_send_batch(s, e, 10, r, err) != 10) {
					fprintf(stderr, "sender %d: %s\n", p, s ? err : "open failed");
					_exit(1);
				}
			}
			cp_spool_close(s);
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		snprintf(out[p], sizeof out[p], "%s/out%d", base, p);
		if ((pids[PROCS + p] = fork()) == 0) {
			struct cp_spool *s = cp_spool_open(qp, 0, NULL);
			FILE *f = fopen(out[p], "w");
			struct cp_spool_msg m[10];
			struct cp_spool_recv o;
			cp_spool_recv_default(&o);
			o.visibility_timeout = 60;
			o.wait_seconds = 1;
			int n;
			struct stat dst;
			char err[CP_ERR_LEN] = "";
			int64_t give_up = wall_ms() + 60000;
			if (!s)
				_exit(3);
			while (((n = cp_spool_receive(s, &o, m, err)) > 0 ||
			    (n == 0 && stat(done, &dst) < 0)) && wall_ms() < give_up) {
				for (int i = 0; i < n; i++) {
					if (cp_spool_delete(s, m[i].receipt, err) != 0 || m[i].receive_count != 1) {
						fprintf(stderr, "receiver %d: delete: %s count %d\n", p, err,
						    m[i].receive_count);
						_exit(1);
					}
					fprintf(f, "%.*s\n", (int)m[i].body_len, m[i].body);
					cp_spool_msg_free(&m[i]);
				}
			}
			fclose(f);
			cp_spool_close(s);
			if (n < 0)
				fprintf(stderr, "receiver %d: %s\n", p, err);
			_exit(n < 0 ? 2 : 0);
		}
	}
	/* Reap everyone before asserting, so no child outlives a failure. */
	int status[2 * PROCS];
	for (int i = 0; i < 2 * PROCS; i++) {
		waitpid(pids[i], &status[i], 0);
		if (i == PROCS - 1)
			fclose(fopen(done, "w"));
	}
	for (int i = 0; i < 2 * PROCS; i++)
		if (!WIFEXITED(status[i]) || WEXITSTATUS(status[i]) != 0)
			fail_msg("%s %d: status %#x", i < PROCS ? "sender" : "receiver", i % PROCS, status[i]);
	static char seen[PROCS][PER];
	int total = 0;
	for (int p = 0; p < PROCS; p++) {
		FILE *f = fopen(out[p], "r");
		int a, b;
		while (fscanf(f, "%d-%d", &a, &b) == 2) {
			assert_true(a >= 0 && a < PROCS && b >= 0 && b < PER);
			assert_int_equal(seen[a][b], 0);
			seen[a][b] = 1;
			total++;
		}
		fclose(f);
	}
	assert_int_equal(total, PROCS * PER);
	q = cp_spool_open(qp, 0, NULL);
	stats(q, 0, 0, 0);
	cp_spool_close(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attrs_md5_vectors),
		cmocka_unit_test(test_attrs_invalid),
		cmocka_unit_test(test_round_trip_binary),
		cmocka_unit_test(test_send_limits),
		cmocka_unit_test(test_visibility_expiry_and_stale_handle),
		cmocka_unit_test(test_change_visibility),
		cmocka_unit_test(test_delay),
		cmocka_unit_test(test_dead_letter),
		cmocka_unit_test(test_retention_and_junk),
		cmocka_unit_test(test_purge_and_stats),
		cmocka_unit_test(test_long_poll),
		cmocka_unit_test(test_create_open_remove),
		cmocka_unit_test(test_concurrent_exactly_once),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
