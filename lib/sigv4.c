/* sigv4: see sigv4.h. */
#include "sigv4.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

void cp_aws_creds_clear(struct cp_aws_creds *c)
{
	if (c)
		OPENSSL_cleanse(c, sizeof *c);
}

/* ---- a growing string ---- */

struct sb {
	char *p;
	size_t len, cap;
	int oom;
};

static int sb_grow(struct sb *b, size_t more)
{
	if (b->oom)
		return -1;
	if (b->len + more + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

static void sb_addn(struct sb *b, const char *s, size_t n)
{
	if (sb_grow(b, n) < 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_add(struct sb *b, const char *s) { sb_addn(b, s, strlen(s)); }

static void sb_addc(struct sb *b, char c) { sb_addn(b, &c, 1); }

static int is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
}

static void sb_encode(struct sb *b, const char *s, size_t n, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_unreserved(c) || (keep_slash && c == '/')) {
			sb_addc(b, (char)c);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			sb_addn(b, e, 3);
		}
	}
}

/* Takes the string out of b (an empty string when nothing was added);
 * NULL when out of memory. */
static char *sb_take(struct sb *b)
{
	if (!b->oom && !b->p && sb_grow(b, 0) == 0)
		b->p[0] = 0;
	if (b->oom) {
		free(b->p);
		b->p = NULL;
		return NULL;
	}
	char *p = b->p;
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

char *cp_sigv4_encode(const char *s, size_t len, int keep_slash)
{
	struct sb b = { 0 };
	sb_encode(&b, s, len, keep_slash);
	return sb_take(&b);
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = 0;
}

/* SHA-256 fetched once: EVP_sha256() makes OpenSSL 3 look it up on
 * every digest. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	pthread_once(&sha256_once, sha256_fetch);
	if (!EVP_Digest(data ? data : "", len, md, &mdlen, sha256_md ? sha256_md : EVP_sha256(), NULL) ||
	    mdlen != 32)
		return -1;
	hex_encode(md, 32, out);
	return 0;
}

static int hmac256(const void *key, size_t keylen, const void *data,
    size_t len, unsigned char out[32])
{
	unsigned int outlen = 0;
	if (!HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &outlen) ||
	    outlen != 32)
		return -1;
	return 0;
}

/* ---- signing keys ---- */

#define KEY_CACHE 8

static struct {
	int used;
	unsigned long stamp;
	char date[9];
	char region[64];
	char service[64];
	unsigned char secret_hash[32];
	unsigned char key[32];
} key_cache[KEY_CACHE];
static unsigned long key_clock, key_hits, key_misses;
static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;

static int derive_key(const char *secret, const char *date8,
    const char *region, const char *service, unsigned char key[32])
{
	size_t sl = strlen(secret);
	char *k = malloc(sl + 5);
	if (!k)
		return -1;
	memcpy(k, "AWS4", 4);
	memcpy(k + 4, secret, sl + 1);
	unsigned char a[32], b[32];
	int rc = hmac256(k, sl + 4, date8, strlen(date8), a) < 0 ||
	    hmac256(a, 32, region, strlen(region), b) < 0 ||
	    hmac256(b, 32, service, strlen(service), a) < 0 ||
	    hmac256(a, 32, "aws4_request", 12, key) < 0 ? -1 : 0;
	OPENSSL_cleanse(k, sl + 4);
	OPENSSL_cleanse(a, sizeof a);
	OPENSSL_cleanse(b, sizeof b);
	free(k);
	return rc;
}

int cp_sigv4_signing_key(const char *secret, const char *date8,
    const char *region, const char *service, unsigned char key[32], char *err)
{
	if (!secret || !*secret || !date8 || strlen(date8) != 8 || !region ||
	    !*region || !service || !*service)
		return cp_err_set(err, "sigv4: signing key needs a secret, a date, a region and a service");
	int cacheable = strlen(region) < sizeof key_cache[0].region &&
	    strlen(service) < sizeof key_cache[0].service;
	unsigned char sh[32];
	unsigned int shlen = 0;
	if (cacheable &&
	    !EVP_Digest(secret, strlen(secret), sh, &shlen, EVP_sha256(), NULL))
		return cp_err_set(err, "sigv4: SHA-256 failed");
	if (cacheable) {
		pthread_mutex_lock(&key_lock);
		for (int i = 0; i < KEY_CACHE; i++) {
			if (key_cache[i].used && strcmp(key_cache[i].date, date8) == 0 &&
			    strcmp(key_cache[i].region, region) == 0 &&
			    strcmp(key_cache[i].service, service) == 0 &&
			    CRYPTO_memcmp(key_cache[i].secret_hash, sh, 32) == 0) {
				memcpy(key, key_cache[i].key, 32);
				key_cache[i].stamp = ++key_clock;
				key_hits++;
				pthread_mutex_unlock(&key_lock);
				return 0;
			}
		}
		key_misses++;
		pthread_mutex_unlock(&key_lock);
	}
	if (derive_key(secret, date8, region, service, key) < 0)
		return cp_err_set(err, "sigv4: HMAC-SHA256 failed");
	if (cacheable) {
		pthread_mutex_lock(&key_lock);
		int victim = 0;
		for (int i = 0; i < KEY_CACHE; i++) {
			if (!key_cache[i].used) {
				victim = i;
				break;
			}
			if (key_cache[i].stamp < key_cache[victim].stamp)
				victim = i;
		}
		key_cache[victim].used = 1;
		key_cache[victim].stamp = ++key_clock;
		memcpy(key_cache[victim].date, date8, 9);
		strcpy(key_cache[victim].region, region);
		strcpy(key_cache[victim].service, service);
		memcpy(key_cache[victim].secret_hash, sh, 32);
		memcpy(key_cache[victim].key, key, 32);
		pthread_mutex_unlock(&key_lock);
	}
	return 0;
}

void cp_sigv4_cache_stats(unsigned long *hits, unsigned long *misses)
{
	pthread_mutex_lock(&key_lock);
	if (hits)
		*hits = key_hits;
	if (misses)
		*misses = key_misses;
	pthread_mutex_unlock(&key_lock);
}

void cp_sigv4_amz_date(int64_t t, char out[CP_SIGV4_DATE_LEN])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) ||
	    strftime(out, CP_SIGV4_DATE_LEN, "%Y%m%dT%H%M%SZ", &tm) != 16)
		out[0] = 0;
}

static int valid_amz_date(const char *s)
{
	if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return 0;
	for (int i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* ---- the URL ---- */

struct url_parts {
	char *host;   /* as the Host header: host[:port] */
	char *path;
	char *query;  /* NULL: none */
};

static void url_parts_free(struct url_parts *u)
{
	free(u->host);
	free(u->path);
	free(u->query);
	memset(u, 0, sizeof *u);
}

static int split_url(const char *url, struct url_parts *u, char *err)
{
	memset(u, 0, sizeof *u);
	const char *p = strstr(url, "://");
	if (!p)
		return cp_err_set(err, "sigv4: URL without a scheme");
	size_t slen = (size_t)(p - url);
	int https = slen == 5 && strncasecmp(url, "https", 5) == 0;
	int http = slen == 4 && strncasecmp(url, "http", 4) == 0;
	const char *auth = p + 3;
	size_t alen = strcspn(auth, "/?#");
	const char *at = memchr(auth, '@', alen);
	if (at) {
		alen -= (size_t)(at + 1 - auth);
		auth = at + 1;
	}
	if (alen == 0)
		return cp_err_set(err, "sigv4: URL without a host");
	/* The port, after the last ':' outside an IPv6 literal. */
	size_t hlen = alen;
	const char *port = NULL;
	for (size_t i = alen; i > 0; i--) {
		if (auth[i - 1] == ']')
			break;
		if (auth[i - 1] == ':') {
			hlen = i - 1;
			port = auth + i;
			break;
		}
	}
	/* curl leaves the scheme's default port (and an empty one) out. */
	size_t portlen = port ? alen - hlen - 1 : 0;
	int keep_port = portlen > 0 &&
	    !(https && portlen == 3 && memcmp(port, "443", 3) == 0) &&
	    !(http && portlen == 2 && memcmp(port, "80", 2) == 0);
	u->host = strndup(auth, keep_port ? alen : hlen);
	const char *rest = auth + alen;
	size_t plen = strcspn(rest, "?#");
	u->path = strndup(rest, plen);
	if (rest[plen] == '?') {
		const char *q = rest + plen + 1;
		u->query = strndup(q, strcspn(q, "#"));
		if (!u->query)
			goto oom;
	}
	if (!u->host || !u->path)
		goto oom;
	return 0;
oom:
	url_parts_free(u);
	return cp_err_set(err, "sigv4: out of memory");
}

/* ---- the canonical URI ---- */

static void canonical_uri(struct sb *b, const char *path, unsigned flags)
{
	if (!path || !*path)
		path = "/";
	struct sb norm = { 0 };
	const char *use = path;
	if (!(flags & CP_SIGV4_NO_NORMALIZE)) {
		/* Segments, without "", "." and with ".." popping one. */
		size_t n = strlen(path), nseg = 0;
		const char **seg = malloc((n + 1) * sizeof *seg);
		size_t *seglen = malloc((n + 1) * sizeof *seglen);
		if (!seg || !seglen) {
			free(seg);
			free(seglen);
			b->oom = 1;
			return;
		}
		for (const char *s = path; s <= path + n;) {
			size_t l = strcspn(s, "/");
			if (l == 0 || (l == 1 && s[0] == '.')) {
				/* skip */
			} else if (l == 2 && s[0] == '.' && s[1] == '.') {
				if (nseg > 0)
					nseg--;
			} else {
				seg[nseg] = s;
				seglen[nseg++] = l;
			}
			s += l + 1;
		}
		if (path[0] == '/')
			sb_addc(&norm, '/');
		for (size_t i = 0; i < nseg; i++) {
			if (i > 0)
				sb_addc(&norm, '/');
			sb_addn(&norm, seg[i], seglen[i]);
		}
		if (nseg > 0 && path[n - 1] == '/')
			sb_addc(&norm, '/');
		free(seg);
		free(seglen);
		if (norm.oom) {
			b->oom = 1;
			free(norm.p);
			return;
		}
		use = norm.p ? norm.p : "";
		if (!*use)
			use = "/";
	}
	if (flags & CP_SIGV4_NO_ENCODE_PATH)
		sb_add(b, use);
	else
		sb_encode(b, use, strlen(use), 1);
	free(norm.p);
}

/* ---- the canonical query ---- */

struct qparam {
	char *k, *v;  /* encoded */
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes then encodes s (n bytes). */
static char *reencode(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (!d)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int h, l;
		if (s[i] == '%' && i + 2 < n &&
		    (h = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (l = hexval((unsigned char)s[i + 2])) >= 0) {
			d[o++] = (char)(h << 4 | l);
			i += 2;
		} else {
			d[o++] = s[i];
		}
	}
	char *e = cp_sigv4_encode(d, o, 0);
	free(d);
	return e;
}

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->k, y->k);
	return c ? c : strcmp(x->v, y->v);
}

struct qlist {
	struct qparam *p;
	size_t n, cap;
	int oom;
};

/* Adds a parameter given raw (encoded as sent when decode, else plain). */
static void qlist_add(struct qlist *q, const char *k, size_t kl, const char *v,
    size_t vl, int decode)
{
	if (q->oom)
		return;
	if (q->n == q->cap) {
		size_t cap = q->cap ? 2 * q->cap : 16;
		struct qparam *p = realloc(q->p, cap * sizeof *p);
		if (!p) {
			q->oom = 1;
			return;
		}
		q->p = p;
		q->cap = cap;
	}
	char *ek = decode ? reencode(k, kl) : cp_sigv4_encode(k, kl, 0);
	char *ev = decode ? reencode(v, vl) : cp_sigv4_encode(v, vl, 0);
	if (!ek || !ev) {
		free(ek);
		free(ev);
		q->oom = 1;
		return;
	}
	q->p[q->n].k = ek;
	q->p[q->n++].v = ev;
}

static void qlist_parse(struct qlist *q, const char *query)
{
	if (!query)
		return;
	for (const char *s = query; *s;) {
		size_t l = strcspn(s, "&");
		if (l > 0) {
			const char *eq = memchr(s, '=', l);
			if (eq)
				qlist_add(q, s, (size_t)(eq - s), eq + 1,
				    l - (size_t)(eq - s) - 1, 1);
			else
				qlist_add(q, s, l, "", 0, 1);
		}
		s += l;
		if (*s == '&')
			s++;
	}
}

static void qlist_free(struct qlist *q)
{
	for (size_t i = 0; i < q->n; i++) {
		free(q->p[i].k);
		free(q->p[i].v);
	}
	free(q->p);
	memset(q, 0, sizeof *q);
}

/* ---- headers ---- */

struct hdr {
	char *name;   /* lowercase */
	char *value;  /* trimmed, blanks collapsed */
	size_t order;
};

static const char *const never_signed[] = {
	"authorization", "x-amz-date", "x-amz-security-token",
	"x-amz-content-sha256", "user-agent", "connection", "expect",
	"keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
	"x-amzn-trace-id", "cache-control", "from", "max-forwards", "pragma",
	"referer",
};

static int is_tchar(unsigned char c)
{
	return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static char *trim_value(const char *v)
{
	size_t n = strlen(v);
	char *o = malloc(n + 1);
	if (!o)
		return NULL;
	size_t k = 0;
	int blank = 0;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			blank = 1;
			continue;
		}
		if (blank && k > 0)
			o[k++] = ' ';
		blank = 0;
		o[k++] = c;
	}
	o[k] = 0;
	return o;
}

struct hlist {
	struct hdr *h;
	size_t n, cap;
	int oom;
};

static void hlist_add(struct hlist *l, const char *name, const char *value)
{
	if (l->oom)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct hdr *h = realloc(l->h, cap * sizeof *h);
		if (!h) {
			l->oom = 1;
			return;
		}
		l->h = h;
		l->cap = cap;
	}
	char *n = strdup(name), *v = trim_value(value ? value : "");
	if (!n || !v) {
		free(n);
		free(v);
		l->oom = 1;
		return;
	}
	for (char *p = n; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	l->h[l->n].name = n;
	l->h[l->n].value = v;
	l->h[l->n].order = l->n;
	l->n++;
}

static void hlist_free(struct hlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->h[i].name);
		free(l->h[i].value);
	}
	free(l->h);
	memset(l, 0, sizeof *l);
}

static int hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* ---- tracing ---- */

/* text with every occurrence of secret (and of its URI encoding, esecret)
 * replaced by "***"; NULL when out of memory. */
static char *redact(const char *text, const char *secret, const char *esecret)
{
	struct sb b = { 0 };
	size_t sl = secret ? strlen(secret) : 0, el = esecret ? strlen(esecret) : 0;
	for (const char *p = text; *p;) {
		if (el && strncmp(p, esecret, el) == 0) {
			sb_add(&b, "***");
			p += el;
		} else if (sl && strncmp(p, secret, sl) == 0) {
			sb_add(&b, "***");
			p += sl;
		} else {
			sb_addc(&b, *p++);
		}
	}
	return sb_take(&b);
}

static void trace(const struct cp_sigv4_result *r, const char *token)
{
	if (!cp_diag_enabled(CP_LOG_TRACE))
		return;
	char *et = token && *token ? cp_sigv4_encode(token, strlen(token), 0) : NULL;
	char *c = redact(r->canonical_request, token, et);
	if (c)
		cp_trace("sigv4: canonical request: %s", c);
	cp_trace("sigv4: string to sign: %s", r->string_to_sign);
	free(c);
	free(et);
}

/* ---- signing ---- */

void cp_sigv4_result_free(struct cp_sigv4_result *r)
{
	if (!r)
		return;
	free(r->canonical_request);
	free(r->string_to_sign);
	free(r->signed_headers);
	free(r->authorization);
	if (r->security_token) {
		OPENSSL_cleanse(r->security_token, strlen(r->security_token));
		free(r->security_token);
	}
	free(r->query);
	memset(r, 0, sizeof *r);
}

int cp_sigv4_sign(const struct cp_sigv4_request *req,
    struct cp_sigv4_result *res, char *err)
{
	memset(res, 0, sizeof *res);
	struct url_parts u = { 0 };
	struct hlist hl = { 0 };
	struct qlist ql = { 0 };
	struct sb b = { 0 };
	int rc = -1;

	if (!req->method || !*req->method)
		return cp_err_set(err, "sigv4: no method");
	if (!req->region || !*req->region)
		return cp_err_set(err, "sigv4: no region");
	if (!req->service || !*req->service)
		return cp_err_set(err, "sigv4: no service");
	const struct cp_aws_creds *cr = req->creds;
	if (!cr || !cr->access_key_id[0] || !cr->secret_access_key[0])
		return cp_err_set(err, "sigv4: no credentials");
	if (strlen(req->region) > 63 || strlen(req->service) > 63 ||
	    strchr(req->region, '/') || strchr(req->service, '/'))
		return cp_err_set(err, "sigv4: bad region or service name");
	unsigned flags = req->flags;
	int presign = (flags & CP_SIGV4_PRESIGN) != 0;
	long expires = req->expires ? req->expires : 900;
	if (presign && (expires < 1 || expires > 604800))
		return cp_err_set(err, "sigv4: expires %ld out of 1..604800", expires);
	const char *token = cr->session_token[0] ? cr->session_token : NULL;
	int sign_token = token && !(flags & CP_SIGV4_OMIT_TOKEN);

	const char *host = req->host, *path = req->path, *query = req->query;
	if (req->url) {
		if (split_url(req->url, &u, err) < 0)
			return -1;
		host = u.host;
		path = u.path;
		query = u.query;
	}

	/* Date and payload hash. */
	if (req->amz_date) {
		if (!valid_amz_date(req->amz_date)) {
			cp_err_set(err, "sigv4: bad X-Amz-Date \"%.20s\" (want YYYYMMDDTHHMMSSZ)",
			    req->amz_date);
			goto out;
		}
		memcpy(res->amz_date, req->amz_date, CP_SIGV4_DATE_LEN);
	} else {
		cp_sigv4_amz_date((int64_t)time(NULL), res->amz_date);
	}
	char date8[9];
	memcpy(date8, res->amz_date, 8);
	date8[8] = 0;
	snprintf(res->scope, sizeof res->scope, "%s/%s/%s/aws4_request", date8,
	    req->region, req->service);
	if (req->payload_hash) {
		size_t l = strlen(req->payload_hash);
		int ok = l > 0 && l < sizeof res->payload_hash;
		for (size_t i = 0; ok && i < l; i++)
			ok = req->payload_hash[i] > ' ' && req->payload_hash[i] < 0x7f;
		if (!ok) {
			cp_err_set(err, "sigv4: bad payload hash");
			goto out;
		}
		memcpy(res->payload_hash, req->payload_hash, l + 1);
	} else if (req->payload_len == 0) {
		strcpy(res->payload_hash, EMPTY_SHA256);
	} else if (sha256_hex(req->payload, req->payload_len, res->payload_hash) < 0) {
		cp_err_set(err, "sigv4: SHA-256 failed");
		goto out;
	}

	/* Headers. */
	int have_host = 0;
	for (size_t i = 0; i < req->nheaders; i++) {
		const char *name = req->headers[i].name;
		if (!name || !*name) {
			cp_err_set(err, "sigv4: empty header name");
			goto out;
		}
		for (const char *p = name; *p; p++) {
			if (!is_tchar((unsigned char)*p)) {
				cp_err_set(err, "sigv4: bad header name \"%.40s\"", name);
				goto out;
			}
		}
		int skip = strncasecmp(name, "proxy-", 6) == 0 ||
		    strncasecmp(name, "sec-", 4) == 0;
		for (size_t k = 0; k < sizeof never_signed / sizeof *never_signed; k++)
			if (strcasecmp(name, never_signed[k]) == 0)
				skip = 1;
		if (skip)
			continue;
		if (strcasecmp(name, "host") == 0)
			have_host = 1;
		hlist_add(&hl, name, req->headers[i].value);
	}
	if (!have_host) {
		if (!host || !*host) {
			cp_err_set(err, "sigv4: no Host header and no host");
			goto out;
		}
		hlist_add(&hl, "host", host);
	}
	if (!presign) {
		hlist_add(&hl, "x-amz-date", res->amz_date);
		if (sign_token)
			hlist_add(&hl, "x-amz-security-token", token);
		if (flags & CP_SIGV4_CONTENT_SHA256)
			hlist_add(&hl, "x-amz-content-sha256", res->payload_hash);
	}
	if (hl.oom)
		goto oom;
	qsort(hl.h, hl.n, sizeof *hl.h, hdr_cmp);

	struct sb canon_h = { 0 }, signed_h = { 0 };
	for (size_t i = 0; i < hl.n;) {
		size_t j = i;
		if (i > 0)
			sb_addc(&signed_h, ';');
		sb_add(&signed_h, hl.h[i].name);
		sb_add(&canon_h, hl.h[i].name);
		sb_addc(&canon_h, ':');
		for (; j < hl.n && strcmp(hl.h[j].name, hl.h[i].name) == 0; j++) {
			if (j > i)
				sb_addc(&canon_h, ',');
			sb_add(&canon_h, hl.h[j].value);
		}
		sb_addc(&canon_h, '\n');
		i = j;
	}
	res->signed_headers = sb_take(&signed_h);
	char *ch = sb_take(&canon_h);
	if (!res->signed_headers || !ch) {
		free(ch);
		goto oom;
	}

	/* Query. */
	qlist_parse(&ql, query);
	char *credential = NULL;
	if (presign) {
		struct sb c = { 0 };
		sb_add(&c, cr->access_key_id);
		sb_addc(&c, '/');
		sb_add(&c, res->scope);
		credential = sb_take(&c);
		if (!credential) {
			free(ch);
			goto oom;
		}
		char exp[24];
		snprintf(exp, sizeof exp, "%ld", expires);
		qlist_add(&ql, "X-Amz-Algorithm", 15, ALGORITHM, strlen(ALGORITHM), 0);
		qlist_add(&ql, "X-Amz-Credential", 16, credential, strlen(credential), 0);
		qlist_add(&ql, "X-Amz-Date", 10, res->amz_date, 16, 0);
		qlist_add(&ql, "X-Amz-Expires", 13, exp, strlen(exp), 0);
		if (sign_token)
			qlist_add(&ql, "X-Amz-Security-Token", 20, token, strlen(token), 0);
		qlist_add(&ql, "X-Amz-SignedHeaders", 19, res->signed_headers,
		    strlen(res->signed_headers), 0);
	}
	if (ql.oom) {
		free(ch);
		free(credential);
		goto oom;
	}
	if (ql.n > 1)
		qsort(ql.p, ql.n, sizeof *ql.p, qparam_cmp);

	/* The canonical request. */
	sb_add(&b, req->method);
	sb_addc(&b, '\n');
	canonical_uri(&b, path, flags);
	sb_addc(&b, '\n');
	for (size_t i = 0; i < ql.n; i++) {
		if (i > 0)
			sb_addc(&b, '&');
		sb_add(&b, ql.p[i].k);
		sb_addc(&b, '=');
		sb_add(&b, ql.p[i].v);
	}
	sb_addc(&b, '\n');
	sb_add(&b, ch);
	sb_addc(&b, '\n');
	sb_add(&b, res->signed_headers);
	sb_addc(&b, '\n');
	sb_add(&b, res->payload_hash);
	free(ch);
	res->canonical_request = sb_take(&b);
	if (!res->canonical_request) {
		free(credential);
		goto oom;
	}

	/* The string to sign and the signature. */
	char creq_hash[65];
	if (sha256_hex(res->canonical_request, strlen(res->canonical_request),
	    creq_hash) < 0) {
		free(credential);
		cp_err_set(err, "sigv4: SHA-256 failed");
		goto out;
	}
	sb_add(&b, ALGORITHM "\n");
	sb_add(&b, res->amz_date);
	sb_addc(&b, '\n');
	sb_add(&b, res->scope);
	sb_addc(&b, '\n');
	sb_add(&b, creq_hash);
	res->string_to_sign = sb_take(&b);
	if (!res->string_to_sign) {
		free(credential);
		goto oom;
	}
	unsigned char key[32], sig[32];
	if (cp_sigv4_signing_key(cr->secret_access_key, date8, req->region,
	    req->service, key, err) < 0) {
		free(credential);
		goto out;
	}
	int hr = hmac256(key, 32, res->string_to_sign, strlen(res->string_to_sign), sig);
	OPENSSL_cleanse(key, sizeof key);
	if (hr < 0) {
		free(credential);
		cp_err_set(err, "sigv4: HMAC-SHA256 failed");
		goto out;
	}
	hex_encode(sig, 32, res->signature);

	if (token && !(res->security_token = strdup(token))) {
		free(credential);
		goto oom;
	}
	if (presign) {
		/* The request's query as sent, then ours, in the suite's order. */
		if (query && *query) {
			sb_add(&b, query);
			sb_addc(&b, '&');
		}
		sb_add(&b, "X-Amz-Algorithm=" ALGORITHM "&X-Amz-Credential=");
		sb_encode(&b, credential, strlen(credential), 0);
		sb_add(&b, "&X-Amz-Date=");
		sb_add(&b, res->amz_date);
		sb_add(&b, "&X-Amz-SignedHeaders=");
		sb_encode(&b, res->signed_headers, strlen(res->signed_headers), 0);
		char exp[24];
		snprintf(exp, sizeof exp, "&X-Amz-Expires=%ld", expires);
		sb_add(&b, exp);
		if (token) {
			sb_add(&b, "&X-Amz-Security-Token=");
			sb_encode(&b, token, strlen(token), 0);
		}
		sb_add(&b, "&X-Amz-Signature=");
		sb_add(&b, res->signature);
		free(credential);
		if (!(res->query = sb_take(&b)))
			goto oom;
	} else {
		sb_add(&b, ALGORITHM " Credential=");
		sb_add(&b, cr->access_key_id);
		sb_addc(&b, '/');
		sb_add(&b, res->scope);
		sb_add(&b, ", SignedHeaders=");
		sb_add(&b, res->signed_headers);
		sb_add(&b, ", Signature=");
		sb_add(&b, res->signature);
		if (!(res->authorization = sb_take(&b)))
			goto oom;
		size_t n = 0;
		if (token)
			res->headers[n++] = (struct cp_sigv4_header){
				"X-Amz-Security-Token", res->security_token };
		res->headers[n++] = (struct cp_sigv4_header){ "X-Amz-Date", res->amz_date };
		if (flags & CP_SIGV4_CONTENT_SHA256)
			res->headers[n++] = (struct cp_sigv4_header){
				"x-amz-content-sha256", res->payload_hash };
		res->headers[n++] = (struct cp_sigv4_header){ "Authorization",
			res->authorization };
		res->nheaders = n;
	}
	trace(res, token);
	rc = 0;
	goto out;
oom:
	cp_err_set(err, "sigv4: out of memory");
out:
	free(b.p);
	hlist_free(&hl);
	qlist_free(&ql);
	url_parts_free(&u);
	return rc;
}
