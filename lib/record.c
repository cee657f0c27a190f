/* record: see record.h. */
#include "record.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"

jv cp_record_get(const jv *obj, const char *key)
{
	if (jv_get_kind(*obj) != JV_KIND_OBJECT)
		return jv_invalid();
	jv v = jv_object_get(jv_copy(*obj), jv_string(key));
	return v;
}

static int has(const jv *obj, const char *key)
{
	return jv_object_has(jv_copy(*obj), jv_string(key));
}

int cp_record_is_envelope(const jv *v)
{
	if (jv_get_kind(*v) != JV_KIND_OBJECT || !has(v, "body"))
		return 0;
	return has(v, "receipt_handle") || has(v, "message_id");
}

jv cp_record_body(const jv *line)
{
	if (cp_record_is_envelope(line))
		return jv_object_get(jv_copy(*line), jv_string("body"));
	return jv_copy(*line);
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int contains(const char *s, size_t len, const char *what)
{
	return memmem(s, len, what, strlen(what)) != NULL;
}

int cp_record_maybe_envelope(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && is_ws(s[i]))
		i++;
	if (i == len || s[i] != '{')
		return 0;
	/* Only \u escapes can spell letters and '_' another way. */
	if (memchr(s, '\\', len) && contains(s, len, "\\u"))
		return 1;
	return contains(s, len, "\"body\"") &&
	    (contains(s, len, "\"receipt_handle\"") || contains(s, len, "\"message_id\""));
}

void cp_record_members(const jv *obj, const char *const *names, size_t n, jv *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = jv_invalid();
	if (jv_get_kind(*obj) != JV_KIND_OBJECT)
		return;
	jv o = *obj;
	jv_object_foreach(o, k, v) {
		const char *ks = jv_string_value(k);
		size_t i = 0;
		while (i < n && strcmp(ks, names[i]) != 0)
			i++;
		if (i < n) {
			jv_free(out[i]); /* libjq keeps one value per key: never used */
			out[i] = v;
		} else {
			jv_free(v);
		}
		jv_free(k);
	}
}

int cp_record_split(const char *s, size_t len, jv *head, size_t *body_off, size_t *body_len)
{
	static const char member[] = ",\"body\":";
	const size_t mlen = sizeof member - 1;
	size_t end = len;
	while (end > 0 && is_ws(s[end - 1]))
		end--;
	if (end == 0 || s[end - 1] != '}')
		return 0;
	end--; /* the closing brace */
	/* The first few: sqs-poll writes the body first after the envelope's
	 * own members, and a message attribute named "body" may come before. */
	const char *p = s;
	for (int tries = 0; tries < 4 && (p = memmem(p, (size_t)(s + end - p), member, mlen)); tries++, p++) {
		size_t hlen = (size_t)(p - s), b = hlen + mlen, e = end;
		while (b < e && is_ws(s[b]))
			b++;
		while (e > b && is_ws(s[e - 1]))
			e--;
		if (e == b || cp_json_valid(s + b, e - b, NULL) != 1)
			continue;
		char *h = malloc(hlen + 2);
		if (!h)
			return 0;
		memcpy(h, s, hlen);
		h[hlen] = '}';
		h[hlen + 1] = 0;
		jv v = jv_parse_sized(h, (int)hlen + 1);
		free(h);
		if (jv_get_kind(v) == JV_KIND_OBJECT) {
			*head = v;
			*body_off = b;
			*body_len = e - b;
			return 1;
		}
		jv_free(v);
	}
	return 0;
}

int cp_record_head(const char *s, size_t len, const char *key, jv *head)
{
	size_t klen = strlen(key);
	char member[64];
	if (klen + 5 > sizeof member)
		return 0;
	member[0] = ',';
	member[1] = '"';
	memcpy(member + 2, key, klen);
	memcpy(member + 2 + klen, "\":", 3);
	size_t mlen = klen + 4;
	const char *p = memmem(s, len, member, mlen);
	if (!p)
		return 0;
	/* The text before the member, closed; the text from it on, opened:
	 * one buffer, "{" between the two. */
	size_t hlen = (size_t)(p - s), rlen = len - hlen - 1;
	char *b = malloc(hlen + 1 + 1 + rlen + 1);
	if (!b)
		return 0;
	memcpy(b, s, hlen);
	b[hlen] = '}';
	b[hlen + 1] = '{';
	memcpy(b + hlen + 2, p + 1, rlen);
	b[hlen + 2 + rlen] = 0;
	int r = 0;
	if (cp_json_valid(b, hlen + 1, NULL) == 1 && cp_json_valid(b + hlen + 1, rlen + 1, NULL) == 1) {
		jv v = jv_parse_sized(b, (int)hlen + 1);
		if (jv_get_kind(v) == JV_KIND_OBJECT && jv_object_length(jv_copy(v)) > 0) {
			*head = v;
			r = 1;
		} else {
			jv_free(v);
		}
	}
	free(b);
	return r;
}
