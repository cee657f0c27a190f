/* store: see store.h.  The URL, and the dispatch to the back ends. */
#include "store.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mysql.h>

#include "diag.h"
#include "migrations.h"
#include "store_impl.h"

struct cp_store {
	const struct cp_store_ops *ops;
	const struct cp_store_config *cfg;
	void *db;
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s[0..n) into a new string; NULL on a bad escape or %00. */
static char *pct_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0 ||
		    (s[i + 1] == '0' && s[i + 2] == '0')) {
			free(out);
			return NULL;
		}
		*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
		i += 2;
	}
	*o = 0;
	return out;
}

void cp_store_config_free(struct cp_store_config *c)
{
	char **fields[] = { &c->user, &c->password, &c->host, &c->db, &c->socket,
		&c->path, &c->ssl_ca, &c->ssl_capath, &c->ssl_cert, &c->ssl_key };
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		if (*fields[i] == c->password && c->password)
			memset(c->password, 0, strlen(c->password));
		free(*fields[i]);
		*fields[i] = NULL;
	}
}

static int set_field(char **dst, const char *s, size_t n, const char *what, char *err)
{
	free(*dst);
	*dst = pct_decode(s, n);
	if (!*dst)
		return cp_err_set(err, "--db: bad percent-encoding in the %s", what);
	return 0;
}

static int parse_params(const char *q, struct cp_store_config *c, char *err)
{
	while (*q) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		if (!eq)
			return cp_err_set(err, "--db: parameter '%.*s' has no value", (int)n, q);
		size_t klen = (size_t)(eq - q), vlen = n - klen - 1;
		char key[32];
		snprintf(key, sizeof key, "%.*s", (int)klen, q);
		char *val = pct_decode(eq + 1, vlen);
		if (!val)
			return cp_err_set(err, "--db: bad percent-encoding in %s", key);
		char **dst = NULL;
		if (strcmp(key, "socket") == 0)
			dst = &c->socket;
		else if (strcmp(key, "ssl-ca") == 0)
			dst = &c->ssl_ca;
		else if (strcmp(key, "ssl-capath") == 0)
			dst = &c->ssl_capath;
		else if (strcmp(key, "ssl-cert") == 0)
			dst = &c->ssl_cert;
		else if (strcmp(key, "ssl-key") == 0)
			dst = &c->ssl_key;
		if (dst) {
			free(*dst);
			*dst = val;
		} else if (strcmp(key, "ssl-mode") == 0) {
			static const char *const modes[] = { "DISABLED", "REQUIRED",
				"VERIFY_CA", "VERIFY_IDENTITY" };
			int m = -1;
			for (int i = 0; i < 4; i++)
				if (strcasecmp(val, modes[i]) == 0)
					m = i;
			free(val);
			if (m < 0)
				return cp_err_set(err, "--db: ssl-mode must be DISABLED, "
				    "REQUIRED, VERIFY_CA or VERIFY_IDENTITY");
			c->ssl_mode = (enum cp_ssl_mode)(CP_SSL_DISABLED + m);
		} else {
			free(val);
			return cp_err_set(err, "--db: unknown parameter '%s' (socket, "
			    "ssl-mode, ssl-ca, ssl-capath, ssl-cert, ssl-key)", key);
		}
		q += n;
		if (*q == '&')
			q++;
	}
	return 0;
}

static int parse_mysql(const char *s, struct cp_store_config *c, char *err)
{
	c->kind = CP_DB_MYSQL;
	/* authority: [user[:password]@]host[:port], up to '/' */
	const char *slash = strchr(s, '/');
	if (!slash)
		return cp_err_set(err, "--db: mysql URL without a database "
		    "(mysql://user@host:port/db)");
	const char *auth = s, *auth_end = slash;
	const char *at = NULL;
	for (const char *p = auth; p < auth_end; p++)
		if (*p == '@')
			at = p;
	const char *hostp = auth;
	if (at) {
		const char *colon = memchr(auth, ':', (size_t)(at - auth));
		const char *uend = colon ? colon : at;
		if (uend > auth && set_field(&c->user, auth, (size_t)(uend - auth), "user", err) < 0)
			return -1;
		if (colon) {
			if (set_field(&c->password, colon + 1, (size_t)(at - colon - 1),
			    "password", err) < 0)
				return -1;
			c->password_in_url = 1;
		}
		hostp = at + 1;
	}
	const char *hend = auth_end;
	if (*hostp == '[') { /* [IPv6]:port */
		const char *rb = memchr(hostp, ']', (size_t)(auth_end - hostp));
		if (!rb)
			return cp_err_set(err, "--db: unclosed '[' in the host");
		if (set_field(&c->host, hostp + 1, (size_t)(rb - hostp - 1), "host", err) < 0)
			return -1;
		hostp = rb + 1;
		hend = hostp;
		if (hostp < auth_end && *hostp != ':')
			return cp_err_set(err, "--db: junk after ']' in the host");
	} else {
		const char *colon = memchr(hostp, ':', (size_t)(auth_end - hostp));
		hend = colon ? colon : auth_end;
		if (hend > hostp && set_field(&c->host, hostp, (size_t)(hend - hostp),
		    "host", err) < 0)
			return -1;
		hostp = hend;
	}
	if (hostp < auth_end && *hostp == ':') {
		char *end;
		long port = strtol(hostp + 1, &end, 10);
		if (end != auth_end || port < 1 || port > 65535)
			return cp_err_set(err, "--db: bad port '%.*s'",
			    (int)(auth_end - hostp - 1), hostp + 1);
		c->port = (unsigned)port;
	}
	const char *dbp = slash + 1;
	size_t dlen = strcspn(dbp, "?");
	if (dlen == 0)
		return cp_err_set(err, "--db: mysql URL without a database "
		    "(mysql://user@host:port/db)");
	if (set_field(&c->db, dbp, dlen, "database", err) < 0)
		return -1;
	if (dbp[dlen] == '?' && parse_params(dbp + dlen + 1, c, err) < 0)
		return -1;
	return 0;
}

int cp_store_url_parse(const char *url, struct cp_store_config *c, char *err)
{
	memset(c, 0, sizeof *c);
	if (!url || !*url)
		return cp_err_set(err, "no database: give --db URL or set CHATPIPE_DB");
	if (strncmp(url, "mysql://", 8) == 0 || strncmp(url, "mariadb://", 10) == 0) {
		if (parse_mysql(strchr(url, '/') + 2, c, err) < 0) {
			cp_store_config_free(c);
			return -1;
		}
		return 0;
	}
	if (strncmp(url, "sqlite:", 7) == 0) {
		const char *p = url + 7;
		if (strncmp(p, "//", 2) == 0)
			p += 2;
		if (!*p || strcmp(p, ":memory:") == 0)
			return cp_err_set(err, "--db: sqlite URL without a file (sqlite:PATH)");
		c->kind = CP_DB_SQLITE;
		c->path = strdup(p);
		if (!c->path)
			return cp_err_set(err, "out of memory");
		return 0;
	}
	return cp_err_set(err, "--db: '%.*s…' is neither mysql://… nor sqlite:PATH",
	    (int)strcspn(url, ":/@"), url);
}

void cp_store_url_redacted(const struct cp_store_config *c, char *buf, size_t len)
{
	if (c->kind == CP_DB_SQLITE) {
		snprintf(buf, len, "sqlite:%s", c->path);
		return;
	}
	char port[16] = "";
	if (c->port)
		snprintf(port, sizeof port, ":%u", c->port);
	snprintf(buf, len, "mysql://%s%s%s%s%s/%s%s%s", c->user ? c->user : "",
	    c->password_in_url ? ":***" : "", c->user || c->password_in_url ? "@" : "",
	    c->host ? c->host : "", port, c->db,
	    c->socket ? "?socket=" : "", c->socket ? c->socket : "");
}

void cp_store_global_init(void) { mysql_library_init(0, NULL, NULL); }
void cp_store_thread_init(void) { mysql_thread_init(); }
void cp_store_thread_end(void) { mysql_thread_end(); }

int cp_store_open(const struct cp_store_config *cfg, struct cp_store **out,
    int *code, char *err)
{
	*out = NULL;
	struct cp_store *st = calloc(1, sizeof *st);
	if (!st) {
		*code = CP_EX_SOFTWARE;
		cp_err_set(err, "out of memory");
		return CP_STORE_FATAL;
	}
	st->cfg = cfg;
	st->ops = cfg->kind == CP_DB_SQLITE ? &cp_store_sqlite_ops : &cp_store_mysql_ops;
	int r = st->ops->open(cfg, &st->db, code, err);
	if (r == CP_STORE_FATAL) {
		free(st);
		return r;
	}
	*out = st;
	return r;
}

void cp_store_close(struct cp_store *st)
{
	if (!st)
		return;
	st->ops->close(st->db);
	free(st);
}

int cp_store_write(struct cp_store *st, struct cp_pair *const *pairs, size_t n,
    int *code, char *err)
{
	return st->ops->write(st->db, pairs, n, code, err);
}

int cp_store_migrate(struct cp_store *st, int *applied, int *code, char *err)
{
	*applied = 0;
	return st->ops->migrate(st->db, applied, code, err);
}

int cp_store_check(struct cp_store *st, int *newer, int *code, char *err)
{
	size_t n;
	cp_migrations(st->cfg->kind == CP_DB_SQLITE ? "sqlite" : "mysql", &n);
	int v = 0;
	*newer = 0;
	int r = st->ops->version(st->db, &v, code, err);
	if (r != CP_STORE_OK)
		return r;
	if (v < (int)n) {
		*code = CP_EX_CONFIG;
		if (v == 0)
			cp_err_set(err, "the database has no chatpipe schema: "
			    "run chat-persist --migrate");
		else
			cp_err_set(err, "the database schema is at version %d, this "
			    "chat-persist needs %zu: run chat-persist --migrate", v, n);
		return CP_STORE_FATAL;
	}
	*newer = v > (int)n;
	return CP_STORE_OK;
}

const char *cp_store_describe(struct cp_store *st) { return st->ops->describe(st->db); }
