/* pair: see pair.h. */
#include "pair.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "diag.h"
#include "record.h"

#define MAX_EXACT 9007199254740991.0 /* 2^53 - 1: the integers a double holds */

static const char *const role_names[] = { "USER", "LLM", "HUMAN-AGENT" };

const char *cp_role_name(enum cp_role role) { return role_names[role]; }

void cp_key_hex(const unsigned char key[CP_KEY_LEN], char out[2 * CP_KEY_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < CP_KEY_LEN; i++) {
		out[2 * i] = hex[key[i] >> 4];
		out[2 * i + 1] = hex[key[i] & 15];
	}
	out[2 * CP_KEY_LEN] = 0;
}

/* What a message looks like once checked, before the pair is laid out. */
struct draft {
	enum cp_role role;
	jv content, id, citations; /* strings; id and citations may be jv_null() */
	struct cp_time at;
};

static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

static size_t jlen(jv s) { return (size_t)jv_string_length_bytes(jv_copy(s)); }

/* An integer field.  1 present, 0 null or absent (when allowed), -1 err. */
static int get_int(const jv *rec, const char *name, int required, int allow_neg,
    int64_t *out, char *err)
{
	jv v = cp_record_get(rec, name);
	jv_kind k = jv_get_kind(v);
	if (k == JV_KIND_INVALID || k == JV_KIND_NULL) {
		jv_free(v);
		if (required)
			return cp_err_set(err, "%s: missing", name);
		return 0;
	}
	if (k != JV_KIND_NUMBER) {
		jv_free(v);
		return cp_err_set(err, "%s: not a number", name);
	}
	double d = jv_number_value(v);
	jv_free(v);
	if (d != floor(d) || isnan(d))
		return cp_err_set(err, "%s: not a whole number", name);
	if (d > MAX_EXACT || d < -MAX_EXACT)
		return cp_err_set(err, "%s: out of range (more than 2^53)", name);
	if (d < 0 && !allow_neg)
		return cp_err_set(err, "%s: negative", name);
	*out = (int64_t)d;
	return 1;
}

/* A string field of at most max characters: 1 present, 0 null or absent. */
static int get_str(const jv *obj, const char *where, const char *name, size_t max,
    jv *out, char *err)
{
	jv v = cp_record_get(obj, name);
	jv_kind k = jv_get_kind(v);
	if (k == JV_KIND_INVALID || k == JV_KIND_NULL) {
		jv_free(v);
		return 0;
	}
	if (k != JV_KIND_STRING) {
		jv_free(v);
		return cp_err_set(err, "%s%s: not a string", where, name);
	}
	if (max && utf8_chars(jv_string_value(v), jlen(v)) > max) {
		jv_free(v);
		return cp_err_set(err, "%s%s: longer than %zu characters", where, name, max);
	}
	*out = v;
	return 1;
}

static void draft_free(struct draft *d)
{
	jv_free(d->content);
	jv_free(d->id);
	jv_free(d->citations);
	d->content = d->id = d->citations = jv_null();
}

/* Checks the message in field slot of rec.  0, or -1 with err. */
static int get_msg(const jv *rec, const char *slot, enum cp_role role,
    struct draft *d, char *err)
{
	char where[64];
	snprintf(where, sizeof where, "%s.", slot);
	d->role = role;
	d->content = d->id = d->citations = jv_null();
	jv m = cp_record_get(rec, slot);
	jv_kind k = jv_get_kind(m);
	if (k == JV_KIND_INVALID || k == JV_KIND_NULL) {
		jv_free(m);
		return cp_err_set(err, "%s: missing", slot);
	}
	if (k != JV_KIND_OBJECT) {
		jv_free(m);
		return cp_err_set(err, "%s: not an object", slot);
	}
	jv r = jv_null();
	int got = get_str(&m, where, "role", 0, &r, err);
	if (got < 0)
		goto fail;
	if (got) {
		int same = strcmp(jv_string_value(r), role_names[role]) == 0;
		if (!same)
			cp_err_set(err, "%srole: \"%.40s\", expected \"%s\"", where,
			    jv_string_value(r), role_names[role]);
		jv_free(r);
		if (!same)
			goto fail;
	}
	got = get_str(&m, where, "content", 0, &d->content, err);
	if (got < 0)
		goto fail;
	if (!got) {
		cp_err_set(err, "%scontent: missing", where);
		goto fail;
	}
	jv ts = jv_null();
	got = get_str(&m, where, "timestamp", 0, &ts, err);
	if (got < 0)
		goto fail;
	if (!got) {
		cp_err_set(err, "%stimestamp: missing", where);
		goto fail;
	}
	char terr[CP_ERR_LEN];
	int bad = cp_time_parse(jv_string_value(ts), jlen(ts), &d->at, terr);
	jv_free(ts);
	if (bad < 0) {
		cp_err_set(err, "%stimestamp: %s", where, terr);
		goto fail;
	}
	char buf[CP_TIME_LEN];
	cp_time_format(d->at, buf);
	if (buf[0] == '0') {
		cp_err_set(err, "%stimestamp: before the year 1000", where);
		goto fail;
	}
	got = get_str(&m, where, "id", CP_PAIR_MAX_ID, &d->id, err);
	if (got < 0)
		goto fail;
	if (got && jlen(d->id) == 0) {
		cp_err_set(err, "%sid: empty", where);
		goto fail;
	}
	jv c = cp_record_get(&m, "citations");
	if (jv_is_valid(c) && jv_get_kind(c) != JV_KIND_NULL)
		d->citations = jv_dump_string(c, 0);
	else
		jv_free(c);
	jv_free(m);
	return 0;
fail:
	jv_free(m);
	draft_free(d);
	return -1;
}

/* Appends a length-prefixed field to the hash. */
static void hash_field(EVP_MD_CTX *h, const void *p, size_t n)
{
	unsigned char len[8];
	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
	EVP_DigestUpdate(h, len, 8);
	EVP_DigestUpdate(h, p, n);
}

static int derive_key(int64_t conv, struct cp_msg *m, char *err)
{
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	if (!h || !EVP_DigestInit_ex(h, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(h);
		return cp_err_set(err, "SHA-256 unavailable");
	}
	char num[32];
	hash_field(h, "chatpipe-persist-key-1", 22);
	int n = snprintf(num, sizeof num, "%lld", (long long)conv);
	hash_field(h, num, (size_t)n);
	if (m->id) {
		hash_field(h, "id", 2);
		hash_field(h, m->id, m->id_len);
	} else {
		hash_field(h, "derived", 7);
		hash_field(h, role_names[m->role], strlen(role_names[m->role]));
		n = snprintf(num, sizeof num, "%lld.%09d", (long long)m->at.sec, (int)m->at.nsec);
		hash_field(h, num, (size_t)n);
		hash_field(h, m->content, m->content_len);
	}
	unsigned int len = 0;
	int ok = EVP_DigestFinal_ex(h, m->key, &len);
	EVP_MD_CTX_free(h);
	if (!ok || len != CP_KEY_LEN)
		return cp_err_set(err, "SHA-256 failed");
	return 0;
}

/* Copies a jv string (or nothing for null) to *pos; returns the copy. */
static const char *put(char **pos, jv s, size_t *len)
{
	if (jv_get_kind(s) != JV_KIND_STRING) {
		*len = 0;
		return NULL;
	}
	size_t n = jlen(s);
	char *p = *pos;
	memcpy(p, jv_string_value(s), n);
	p[n] = 0;
	*pos += n + 1;
	*len = n;
	return p;
}

static size_t need(jv s) { return jv_get_kind(s) == JV_KIND_STRING ? jlen(s) + 1 : 0; }

static void sql_time(struct cp_time t, char out[CP_SQLTIME_LEN])
{
	char buf[CP_TIME_LEN];
	cp_time_format(t, buf); /* YYYY-MM-DDTHH:MM:SS.ffffffZ */
	memcpy(out, buf, 26);
	out[10] = ' ';
	out[26] = 0;
}

struct cp_pair *cp_pair_new(const jv *rec, const char *line, size_t len,
    uint64_t lineno, char *err)
{
	if (jv_get_kind(*rec) != JV_KIND_OBJECT) {
		cp_err_set(err, "the record is not an object");
		return NULL;
	}
	int64_t conv = 0, ws = 0, store = 0;
	if (get_int(rec, "conversation_id", 1, 0, &conv, err) < 0 ||
	    get_int(rec, "workspace_id", 1, 0, &ws, err) < 0)
		return NULL;
	int has_store = get_int(rec, "store_id", 0, 1, &store, err);
	if (has_store < 0)
		return NULL;
	jv session = jv_null();
	if (get_str(rec, "", "session_id", CP_PAIR_MAX_ID, &session, err) < 0)
		return NULL;
	int handoff = 0;
	jv h = cp_record_get(rec, "handoff_messages");
	switch (jv_get_kind(h)) {
	case JV_KIND_INVALID: case JV_KIND_NULL: case JV_KIND_FALSE: break;
	case JV_KIND_TRUE: handoff = 1; break;
	default:
		jv_free(h);
		jv_free(session);
		cp_err_set(err, "handoff_messages: not a boolean");
		return NULL;
	}
	jv_free(h);

	struct draft d[2];
	int nmsg = 0;
	if (handoff) {
		jv ham = cp_record_get(rec, "human_agent_message");
		int agent = jv_get_kind(ham) == JV_KIND_OBJECT;
		jv_kind hk = jv_get_kind(ham);
		jv_free(ham);
		if (!agent && hk != JV_KIND_INVALID && hk != JV_KIND_NULL) {
			jv_free(session);
			cp_err_set(err, "human_agent_message: not an object");
			return NULL;
		}
		if (agent ? get_msg(rec, "human_agent_message", CP_ROLE_HUMAN_AGENT, &d[0], err)
		          : get_msg(rec, "user_message", CP_ROLE_USER, &d[0], err)) {
			if (!agent && strcmp(err, "user_message: missing") == 0)
				cp_err_set(err, "handoff record without a message "
				    "(neither human_agent_message nor user_message)");
			jv_free(session);
			return NULL;
		}
		nmsg = 1;
	} else {
		if (get_msg(rec, "user_message", CP_ROLE_USER, &d[0], err) < 0) {
			jv_free(session);
			return NULL;
		}
		if (get_msg(rec, "assistant_message", CP_ROLE_LLM, &d[1], err) < 0) {
			draft_free(&d[0]);
			jv_free(session);
			return NULL;
		}
		nmsg = 2;
	}

	size_t size = sizeof(struct cp_pair) + len + 1 + need(session);
	for (int i = 0; i < nmsg; i++)
		size += need(d[i].content) + need(d[i].id) + need(d[i].citations);
	struct cp_pair *p = malloc(size);
	if (!p) {
		cp_err_set(err, "out of memory");
		goto out;
	}
	memset(p, 0, sizeof *p);
	char *pos = (char *)(p + 1);
	memcpy(pos, line, len);
	pos[len] = 0;
	p->line = pos;
	p->line_len = len;
	pos += len + 1;
	p->size = size;
	p->lineno = lineno;
	p->conversation_id = conv;
	p->workspace_id = ws;
	p->has_store = has_store;
	p->store_id = has_store ? store : 0;
	p->session_id = put(&pos, session, &p->session_len);
	p->handoff = handoff;
	p->nmsg = nmsg;
	for (int i = 0; i < nmsg; i++) {
		struct cp_msg *m = &p->msg[i];
		m->role = d[i].role;
		m->content = put(&pos, d[i].content, &m->content_len);
		m->id = put(&pos, d[i].id, &m->id_len);
		m->citations = put(&pos, d[i].citations, &m->citations_len);
		m->at = d[i].at;
		sql_time(m->at, m->at_sql);
		if (derive_key(conv, m, err) < 0) {
			free(p);
			p = NULL;
			goto out;
		}
	}
	/* at_sql strings sort as their instants do. */
	p->first_at = p->last_at = p->msg[0].at_sql;
	if (nmsg == 2) {
		if (strcmp(p->msg[1].at_sql, p->first_at) < 0)
			p->first_at = p->msg[1].at_sql;
		else
			p->last_at = p->msg[1].at_sql;
	}
out:
	jv_free(session);
	for (int i = 0; i < nmsg; i++)
		draft_free(&d[i]);
	return p;
}
