/* awsconf: see awsconf.h. */
#include "awsconf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jv.h>
#include <openssl/crypto.h>

#include "timeutil.h"

extern char **environ;

#ifndef CP_VERSION
#define CP_VERSION "0"
#endif

#define MAX_FILE (1024 * 1024)      /* a shared file larger is an error */
#define MAX_BODY (64 * 1024)        /* metadata answers, process output */
#define IMDS_TOKEN_TTL 21600        /* seconds, the most IMDS allows */
#define ADVISORY_MS (5 * 60 * 1000) /* refresh this long before expiry */
#define MANDATORY_MS (60 * 1000)    /* give up on the old ones after this */

enum source {
	SRC_NONE = 0, SRC_EXPLICIT, SRC_ENV, SRC_CREDS_FILE, SRC_PROCESS,
	SRC_CONFIG_FILE, SRC_CONTAINER, SRC_IMDS,
};

static const char *const source_names[] = {
	"none", "explicit", "env", "credentials-file", "process", "config-file",
	"container", "imds",
};

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
	struct cp_time t = cp_time_now();
	return t.sec * 1000 + t.nsec / 1000000;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
	    s[n - 1] == '\n'))
		s[--n] = 0;
	return s;
}

static int is_true(const char *s)
{
	return s && strcasecmp(s, "true") == 0;
}

/* Copies s into dst (n bytes) or fails naming what. */
static int copy_field(char *dst, size_t n, const char *s, const char *what,
    char *err)
{
	size_t l = strlen(s);
	if (l >= n)
		return cp_err_set(err, "%s longer than %zu bytes", what, n - 1);
	memcpy(dst, s, l + 1);
	return 0;
}

void cp_aws_key_hint(const char *key, char out[CP_AWS_HINT_LEN])
{
	size_t n = key ? strlen(key) : 0;
	if (n < 12)
		snprintf(out, CP_AWS_HINT_LEN, "***");
	else
		snprintf(out, CP_AWS_HINT_LEN, "%.4s\xe2\x80\xa6%s", key, key + n - 4);
}

/* ---- POSIX shell words (Python's shlex.split), for credential_process
 * and "[profile NAME]" ---- */

static void free_words(char **w)
{
	if (!w)
		return;
	for (char **p = w; *p; p++)
		free(*p);
	free(w);
}

/* A NULL-terminated malloc'd array of words, or NULL with err. */
static char **split_words(const char *s, char *err)
{
	size_t n = strlen(s), nw = 0;
	char **w = calloc(n / 2 + 2, sizeof *w);
	char *cur = malloc(n + 1);
	if (!w || !cur) {
		free(w);
		free(cur);
		cp_err_set(err, "out of memory");
		return NULL;
	}
	size_t k = 0;
	int in_word = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if (in_word) {
				cur[k] = 0;
				w[nw++] = strdup(cur);
				k = 0;
				in_word = 0;
			}
			continue;
		}
		in_word = 1;
		if (c == '\\') {
			if (i + 1 < n)
				cur[k++] = s[++i];
			continue;
		}
		if (c == '\'' || c == '"') {
			size_t j = i + 1;
			for (; j < n && s[j] != c; j++) {
				if (c == '"' && s[j] == '\\' && j + 1 < n &&
				    (s[j + 1] == '"' || s[j + 1] == '\\'))
					j++;
				cur[k++] = s[j];
			}
			if (j >= n) {
				free(cur);
				free_words(w);
				cp_err_set(err, "no closing quotation");
				return NULL;
			}
			i = j;
			continue;
		}
		cur[k++] = c;
	}
	if (in_word) {
		cur[k] = 0;
		w[nw++] = strdup(cur);
	}
	free(cur);
	for (size_t i = 0; i < nw; i++) {
		if (!w[i]) {
			free_words(w);
			cp_err_set(err, "out of memory");
			return NULL;
		}
	}
	return w;
}

/* ---- the INI parser ---- */

struct strs {
	char **v;
	size_t n, cap;
};

static int strs_add(struct strs *s, const char *x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		char **v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	if (!(s->v[s->n] = strdup(x)))
		return -1;
	s->n++;
	return 0;
}

static int strs_has(const struct strs *s, const char *x)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], x) == 0)
			return 1;
	return 0;
}

static void strs_clear(struct strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof *s);
}

struct pending {
	char *key;
	char *value;
	size_t vlen;
	int line, indent, on;
};

static int pending_flush(struct pending *p, const char *section,
    const char *fname, cp_aws_ini_fn *fn, void *user, char *err)
{
	if (!p->on)
		return 0;
	p->on = 0;
	/* configparser drops trailing empty continuation lines. */
	while (p->vlen > 0 && p->value[p->vlen - 1] == '\n')
		p->value[--p->vlen] = 0;
	int rc = fn(section, p->key, p->value, p->line, user);
	free(p->key);
	free(p->value);
	p->key = p->value = NULL;
	if (rc < 0)
		cp_err_set(err, "%s:%d: setting refused", fname, p->line);
	return rc < 0 ? -1 : 0;
}

int cp_aws_ini_parse(const char *text, size_t len, const char *fname,
    cp_aws_ini_fn *fn, void *user, char *err)
{
	struct strs sections = { 0 }, keys = { 0 };
	struct pending p = { 0 };
	char *section = NULL, *line = NULL;
	int lineno = 0, rc = -1;
	if (err)
		*err = 0;
	for (size_t off = 0; off < len;) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (text + off)) : len - off;
		free(line);
		if (!(line = strndup(text + off, l)))
			goto oom;
		off += l + (nl ? 1 : 0);
		lineno++;
		if (strlen(line) != l) {
			cp_err_set(err, "%s:%d: NUL byte", fname, lineno);
			goto out;
		}
		int indent = 0;
		while (line[indent] == ' ' || line[indent] == '\t')
			indent++;
		char *s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (p.on && indent > p.indent) {
			size_t sl = strlen(s);
			char *v = realloc(p.value, p.vlen + sl + 2);
			if (!v)
				goto oom;
			p.value = v;
			v[p.vlen++] = '\n';
			memcpy(v + p.vlen, s, sl + 1);
			p.vlen += sl;
			continue;
		}
		if (pending_flush(&p, section, fname, fn, user, err) < 0)
			goto out;
		if (*s == '[') {
			char *end = strrchr(s, ']');
			if (!end || end == s + 1) {
				cp_err_set(err, "%s:%d: bad section header", fname, lineno);
				goto out;
			}
			*end = 0;
			if (strs_has(&sections, s + 1)) {
				cp_err_set(err, "%s:%d: section [%.64s] repeated", fname,
				    lineno, s + 1);
				goto out;
			}
			free(section);
			if (!(section = strdup(s + 1)) || strs_add(&sections, s + 1) < 0)
				goto oom;
			strs_clear(&keys);
			continue;
		}
		if (!section) {
			cp_err_set(err, "%s:%d: setting before any [section]", fname, lineno);
			goto out;
		}
		size_t d = strcspn(s, "=:");
		if (!s[d]) {
			cp_err_set(err, "%s:%d: expected \"key = value\"", fname, lineno);
			goto out;
		}
		s[d] = 0;
		char *k = trim(s), *v = trim(s + d + 1);
		if (!*k) {
			cp_err_set(err, "%s:%d: empty key", fname, lineno);
			goto out;
		}
		for (char *c = k; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (strs_has(&keys, k)) {
			cp_err_set(err, "%s:%d: key %.64s repeated in [%.64s]", fname,
			    lineno, k, section);
			goto out;
		}
		if (strs_add(&keys, k) < 0)
			goto oom;
		p.key = strdup(k);
		p.value = strdup(v);
		if (!p.key || !p.value) {
			free(p.key);
			free(p.value);
			goto oom;
		}
		p.vlen = strlen(v);
		p.line = lineno;
		p.indent = indent;
		p.on = 1;
	}
	if (pending_flush(&p, section, fname, fn, user, err) < 0)
		goto out;
	rc = 0;
	goto out;
oom:
	cp_err_set(err, "%s: out of memory", fname);
out:
	if (p.on) {
		free(p.key);
		free(p.value);
	}
	free(line);
	free(section);
	strs_clear(&sections);
	strs_clear(&keys);
	return rc;
}

int cp_aws_ini_nested(const char *value, const char *sub, char *out, size_t n)
{
	for (const char *s = value; *s;) {
		size_t l = strcspn(s, "\n");
		const char *eq = memchr(s, '=', l);
		if (eq) {
			const char *k = s, *ke = eq;
			while (k < ke && isspace((unsigned char)*k))
				k++;
			while (ke > k && isspace((unsigned char)ke[-1]))
				ke--;
			if ((size_t)(ke - k) == strlen(sub) && strncmp(k, sub, strlen(sub)) == 0) {
				const char *v = eq + 1, *ve = s + l;
				while (v < ve && isspace((unsigned char)*v))
					v++;
				while (ve > v && isspace((unsigned char)ve[-1]))
					ve--;
				snprintf(out, n, "%.*s", (int)(ve - v), v);
				return 0;
			}
		}
		s += l;
		if (*s)
			s++;
	}
	return -1;
}

/* ---- the shared files ---- */

struct setting {
	char *key, *value;
};

struct section {
	char *name;
	char *profile;   /* the profile it holds, or NULL */
	char *services;  /* "[services NAME]": NAME, or NULL */
	struct setting *s;
	size_t n, cap;
};

struct ini {
	char *path;      /* as found (after ~ expansion) */
	int config;      /* 1: the config file ("[profile NAME]") */
	struct section *sec;
	size_t n, cap;
};

static void ini_free(struct ini *f)
{
	for (size_t i = 0; i < f->n; i++) {
		struct section *s = &f->sec[i];
		for (size_t k = 0; k < s->n; k++) {
			free(s->s[k].key);
			if (s->s[k].value) {
				OPENSSL_cleanse(s->s[k].value, strlen(s->s[k].value));
				free(s->s[k].value);
			}
		}
		free(s->s);
		free(s->name);
		free(s->profile);
		free(s->services);
	}
	free(f->sec);
	free(f->path);
	memset(f, 0, sizeof *f);
}

/* "profile NAME" / "services NAME": NAME when the section splits into the
 * prefix and exactly one more word (botocore's build_profile_map). */
static char *prefixed_name(const char *section, const char *prefix)
{
	size_t pl = strlen(prefix);
	if (strncmp(section, prefix, pl) != 0)
		return NULL;
	char **w = split_words(section, NULL);
	char *r = NULL;
	if (w && w[0] && w[1] && !w[2] && strcmp(w[0], prefix) == 0)
		r = strdup(w[1]);
	free_words(w);
	return r;
}

static int ini_add(const char *section, const char *key, const char *value,
    int line, void *user)
{
	(void)line;
	struct ini *f = user;
	struct section *s = f->n ? &f->sec[f->n - 1] : NULL;
	if (!s || strcmp(s->name, section) != 0) {
		if (f->n == f->cap) {
			size_t cap = f->cap ? 2 * f->cap : 8;
			struct section *v = realloc(f->sec, cap * sizeof *v);
			if (!v)
				return -1;
			f->sec = v;
			f->cap = cap;
		}
		s = &f->sec[f->n++];
		memset(s, 0, sizeof *s);
		if (!(s->name = strdup(section)))
			return -1;
		if (!f->config)
			s->profile = strdup(section);
		else if (strcmp(section, "default") == 0)
			s->profile = strdup("default");
		else
			s->profile = prefixed_name(section, "profile");
		s->services = f->config ? prefixed_name(section, "services") : NULL;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;
		struct setting *v = realloc(s->s, cap * sizeof *v);
		if (!v)
			return -1;
		s->s = v;
		s->cap = cap;
	}
	s->s[s->n].key = strdup(key);
	s->s[s->n].value = strdup(value);
	if (!s->s[s->n].key || !s->s[s->n].value) {
		free(s->s[s->n].key);
		free(s->s[s->n].value);
		return -1;
	}
	s->n++;
	return 0;
}

/* Loads path into f; a missing file is empty.  0, or -1 with err. */
static int ini_load(struct ini *f, const char *path, int config, char *err)
{
	memset(f, 0, sizeof *f);
	f->config = config;
	if (!(f->path = strdup(path)))
		return cp_err_set(err, "out of memory");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return cp_err_set(err, "%s: %s", path, strerror(errno));
	}
	/* Read to the end (a pipe or /dev/null is fine), at most MAX_FILE. */
	size_t n = 0, cap = 4096;
	char *text = malloc(cap);
	ssize_t r = 0;
	while (text) {
		if (n + 1 >= cap) {
			if (cap > MAX_FILE)
				break;
			char *t = realloc(text, cap * 2);
			if (!t) {
				OPENSSL_cleanse(text, n);
				free(text);
				text = NULL;
				break;
			}
			text = t;
			cap *= 2;
		}
		r = read(fd, text + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	int e = errno;
	close(fd);
	if (!text)
		return cp_err_set(err, "out of memory");
	if (r < 0 || n > MAX_FILE) {
		OPENSSL_cleanse(text, n);
		free(text);
		return r < 0 ? cp_err_set(err, "%s: %s", path, strerror(e)) :
		    cp_err_set(err, "%s: larger than 1 MiB", path);
	}
	int rc = cp_aws_ini_parse(text, n, path, ini_add, f, err);
	OPENSSL_cleanse(text, n);
	free(text);
	/* ini_add refuses a setting only when out of memory. */
	if (rc < 0 && err && strstr(err, ": setting refused"))
		cp_err_set(err, "%s: out of memory", path);
	return rc;
}

/* The last section holding profile name (botocore keeps the last). */
static const struct section *ini_profile(const struct ini *f, const char *name)
{
	const struct section *r = NULL;
	for (size_t i = 0; i < f->n; i++)
		if (f->sec[i].profile && strcmp(f->sec[i].profile, name) == 0)
			r = &f->sec[i];
	return r;
}

static const struct section *ini_services(const struct ini *f, const char *name)
{
	const struct section *r = NULL;
	for (size_t i = 0; i < f->n; i++)
		if (f->sec[i].services && strcmp(f->sec[i].services, name) == 0)
			r = &f->sec[i];
	return r;
}

static const char *sec_get(const struct section *s, const char *key)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->s[i].key, key) == 0)
			return s->s[i].value;
	return NULL;
}

/* ---- the provider ---- */

struct cp_aws {
	char **env;                 /* "NAME=value" copies of AWS_* and HOME */
	size_t nenv;
	char *profile;
	int profile_flag;           /* named by --profile */
	char *opt_region, *opt_endpoint, *opt_ca;
	struct cp_aws_creds explicit_creds;
	int have_explicit, imds_region;
	long process_timeout_ms;
	struct ini creds_file, config_file;
	const struct section *pcreds, *pconfig; /* the profile's sections */
	char *ca_bundle;
	const char *ca_source;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct cp_aws_creds cur;
	int have, refreshing;
	enum source kind;
	int64_t refresh_at, mandatory_at;  /* ms; 0 with static credentials */

	pthread_mutex_t imds_lock;
	char imds_token[1024];
	int64_t imds_token_until;          /* ms */
};

static const char *env_get(const struct cp_aws *a, const char *name)
{
	size_t l = strlen(name);
	for (size_t i = 0; i < a->nenv; i++)
		if (strncmp(a->env[i], name, l) == 0 && a->env[i][l] == '=')
			return a->env[i][l + 1] ? a->env[i] + l + 1 : NULL;
	return NULL;
}

/* A setting of the profile: the credentials file wins over the config
 * file (botocore merges the former into the latter). */
static const char *prof_get(const struct cp_aws *a, const char *key)
{
	const char *v = sec_get(a->pcreds, key);
	return v ? v : sec_get(a->pconfig, key);
}

static char *expand_home(const struct cp_aws *a, const char *path)
{
	const char *home = env_get(a, "HOME");
	if (path[0] == '~' && (path[1] == '/' || path[1] == 0) && home) {
		char *r = malloc(strlen(home) + strlen(path));
		if (r)
			sprintf(r, "%s%s", home, path + 1);
		return r;
	}
	return strdup(path);
}

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void cp_aws_free(struct cp_aws *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nenv; i++)
		wipe_free(a->env[i]);
	free(a->env);
	free(a->profile);
	free(a->opt_region);
	free(a->opt_endpoint);
	free(a->opt_ca);
	free(a->ca_bundle);
	ini_free(&a->creds_file);
	ini_free(&a->config_file);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->imds_lock);
	OPENSSL_cleanse(a, sizeof *a);
	free(a);
	curl_global_cleanup();
}

static char *dup_opt(const char *s, int *oom)
{
	if (!s || !*s)
		return NULL;
	char *r = strdup(s);
	if (!r)
		*oom = 1;
	return r;
}

struct cp_aws *cp_aws_new(const struct cp_aws_opts *o, char *err)
{
	static const struct cp_aws_opts none = { 0 };
	if (!o)
		o = &none;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		cp_err_set(err, "aws: libcurl initialisation failed");
		return NULL;
	}
	struct cp_aws *a = calloc(1, sizeof *a);
	if (!a) {
		curl_global_cleanup();
		cp_err_set(err, "aws: out of memory");
		return NULL;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	pthread_mutex_init(&a->imds_lock, NULL);
	int oom = 0;

	size_t n = 0;
	for (char **e = environ; e && *e; e++)
		n++;
	a->env = calloc(n + 1, sizeof *a->env);
	if (!a->env)
		oom = 1;
	for (char **e = environ; a->env && e && *e; e++) {
		if (strncmp(*e, "AWS_", 4) == 0 || strncmp(*e, "HOME=", 5) == 0) {
			if (!(a->env[a->nenv] = strdup(*e)))
				oom = 1;
			else
				a->nenv++;
		}
	}
	a->opt_region = dup_opt(o->region, &oom);
	a->opt_endpoint = dup_opt(o->endpoint_url, &oom);
	a->opt_ca = dup_opt(o->ca_bundle, &oom);
	a->imds_region = o->imds_region;
	a->process_timeout_ms = o->process_timeout_ms > 0 ? o->process_timeout_ms :
	    5 * 60 * 1000;
	if (o->creds) {
		a->explicit_creds = *o->creds;
		a->explicit_creds.source = source_names[SRC_EXPLICIT];
		a->have_explicit = 1;
	}
	const char *pname = NULL;
	int named = 1;
	if (o->profile && *o->profile) {
		pname = o->profile;
		a->profile_flag = 1;
	} else if ((pname = env_get(a, "AWS_DEFAULT_PROFILE")) ||
	    (pname = env_get(a, "AWS_PROFILE"))) {
		/* named in the environment */
	} else {
		pname = "default";
		named = 0;
	}
	a->profile = strdup(pname);
	if (oom || !a->profile) {
		cp_err_set(err, "aws: out of memory");
		goto fail;
	}

	const char *cf = env_get(a, "AWS_SHARED_CREDENTIALS_FILE");
	const char *kf = env_get(a, "AWS_CONFIG_FILE");
	char *cpath = expand_home(a, cf ? cf : "~/.aws/credentials");
	char *kpath = expand_home(a, kf ? kf : "~/.aws/config");
	if (!cpath || !kpath) {
		free(cpath);
		free(kpath);
		cp_err_set(err, "aws: out of memory");
		goto fail;
	}
	/* Without HOME the default files are simply absent. */
	int rc = 0;
	if (cpath[0] != '~')
		rc = ini_load(&a->creds_file, cpath, 0, err);
	if (rc == 0 && kpath[0] != '~')
		rc = ini_load(&a->config_file, kpath, 1, err);
	free(cpath);
	free(kpath);
	if (rc < 0)
		goto fail;
	a->pcreds = ini_profile(&a->creds_file, a->profile);
	a->pconfig = ini_profile(&a->config_file, a->profile);
	if (named && !a->pcreds && !a->pconfig) {
		cp_err_set(err, "aws: the config profile (%.64s) could not be found in %.80s or %.80s",
		    a->profile, a->config_file.path ? a->config_file.path : "~/.aws/config",
		    a->creds_file.path ? a->creds_file.path : "~/.aws/credentials");
		goto fail;
	}

	const char *ca = NULL;
	if (a->opt_ca) {
		ca = a->opt_ca;
		a->ca_source = "--ca-bundle";
	} else if ((ca = env_get(a, "AWS_CA_BUNDLE"))) {
		a->ca_source = "AWS_CA_BUNDLE";
	} else if ((ca = prof_get(a, "ca_bundle")) && *ca) {
		a->ca_source = "profile";
	} else {
		ca = NULL;
	}
	if (ca && !(a->ca_bundle = expand_home(a, ca))) {
		cp_err_set(err, "aws: out of memory");
		goto fail;
	}
	return a;
fail:
	cp_aws_free(a);
	return NULL;
}

const char *cp_aws_profile(const struct cp_aws *a) { return a->profile; }

const char *cp_aws_ca_bundle(const struct cp_aws *a, const char **source)
{
	if (source)
		*source = a->ca_bundle ? a->ca_source : NULL;
	return a->ca_bundle;
}

/* ---- HTTP for the metadata services ---- */

struct hbuf {
	char *p;
	size_t len;
	int over;
};

static size_t hwrite(char *d, size_t size, size_t nmemb, void *u)
{
	struct hbuf *b = u;
	size_t n = size * nmemb;
	if (b->len + n > MAX_BODY) {
		b->over = 1;
		return 0;
	}
	char *p = realloc(b->p, b->len + n + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, d, n);
	b->p = p;
	b->len += n;
	p[b->len] = 0;
	return n;
}

static void hbuf_free(struct hbuf *b)
{
	if (b->p) {
		OPENSSL_cleanse(b->p, b->len);
		free(b->p);
	}
	memset(b, 0, sizeof *b);
}

/* One request: 0 with *status and body (NUL-terminated), or -1 with err
 * when no answer came. */
static int http_do(const struct cp_aws *a, const char *method, const char *url,
    const char *h1, const char *h2, long timeout_ms, long *status,
    struct hbuf *body, char *err)
{
	memset(body, 0, sizeof *body);
	*status = 0;
	CURL *c = curl_easy_init();
	if (!c)
		return cp_err_set(err, "curl_easy_init failed");
	struct curl_slist *hl = NULL, *t;
	if (h1 && (t = curl_slist_append(hl, h1)))
		hl = t;
	if (h2 && (t = curl_slist_append(hl, h2)))
		hl = t;
	if (strcmp(method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
		if ((t = curl_slist_append(hl, "Content-Type:")))
			hl = t;
	}
	char ebuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 1000 ? timeout_ms : 1000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "chatpipe/" CP_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hwrite);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	if (a->ca_bundle)
		curl_easy_setopt(c, CURLOPT_CAINFO, a->ca_bundle);
	CURLcode rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hl);
	if (rc != CURLE_OK) {
		int over = body->over;
		hbuf_free(body);
		if (over)
			return cp_err_set(err, "%s %s: answer longer than %d bytes", method,
			    url, MAX_BODY);
		return cp_err_set(err, "%s %s: %s", method, url,
		    ebuf[0] ? ebuf : curl_easy_strerror(rc));
	}
	if (!body->p && !(body->p = calloc(1, 1)))
		return cp_err_set(err, "out of memory");
	return 0;
}

/* ---- credentials from JSON ---- */

static const char *jget_str(jv o, const char *k, jv *hold)
{
	*hold = jv_object_get(jv_copy(o), jv_string(k));
	return jv_get_kind(*hold) == JV_KIND_STRING ? jv_string_value(*hold) : NULL;
}

/* Fills c from a JSON object's AccessKeyId, SecretAccessKey, token field
 * (tokkey) and Expiration; what names the source in errors. */
static int creds_from_json(jv o, const char *tokkey, int need_token,
    const char *what, struct cp_aws_creds *c, char *err)
{
	jv h1, h2, h3, h4;
	const char *id = jget_str(o, "AccessKeyId", &h1);
	const char *sec = jget_str(o, "SecretAccessKey", &h2);
	const char *tok = jget_str(o, tokkey, &h3);
	const char *exp = jget_str(o, "Expiration", &h4);
	char e2[CP_ERR_LEN];
	int rc = 0;
	memset(c, 0, sizeof *c);
	if (!id || !*id || !sec || !*sec)
		rc = cp_err_set(err, "%s: answer lacks AccessKeyId or SecretAccessKey", what);
	else if (need_token && (!tok || !*tok))
		rc = cp_err_set(err, "%s: answer lacks %s", what, tokkey);
	else if (copy_field(c->access_key_id, sizeof c->access_key_id, id, "AccessKeyId", e2) < 0 ||
	    copy_field(c->secret_access_key, sizeof c->secret_access_key, sec, "SecretAccessKey", e2) < 0 ||
	    (tok && copy_field(c->session_token, sizeof c->session_token, tok, tokkey, e2) < 0))
		rc = cp_err_set(err, "%s: %s", what, e2);
	if (rc == 0 && exp) {
		struct cp_time t;
		if (cp_time_parse(exp, strlen(exp), &t, e2) < 0)
			rc = cp_err_set(err, "%s: bad Expiration: %s", what, e2);
		else
			c->expiration = t.sec > 0 ? t.sec : 1;
	}
	jv_free(h1);
	jv_free(h2);
	jv_free(h3);
	jv_free(h4);
	if (rc < 0)
		cp_aws_creds_clear(c);
	return rc;
}

/* ---- sources ---- */

static int from_env(struct cp_aws *a, struct cp_aws_creds *c, char *err)
{
	const char *id = env_get(a, "AWS_ACCESS_KEY_ID");
	const char *sec = env_get(a, "AWS_SECRET_ACCESS_KEY");
	if (!id)
		return 1;
	if (!sec)
		return cp_err_set(err, "aws: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
	const char *tok = env_get(a, "AWS_SESSION_TOKEN");
	if (!tok)
		tok = env_get(a, "AWS_SECURITY_TOKEN");
	char e2[CP_ERR_LEN];
	if (copy_field(c->access_key_id, sizeof c->access_key_id, id, "AWS_ACCESS_KEY_ID", e2) < 0 ||
	    copy_field(c->secret_access_key, sizeof c->secret_access_key, sec, "AWS_SECRET_ACCESS_KEY", e2) < 0 ||
	    (tok && copy_field(c->session_token, sizeof c->session_token, tok, "AWS_SESSION_TOKEN", e2) < 0))
		return cp_err_set(err, "aws: %s", e2);
	const char *exp = env_get(a, "AWS_CREDENTIAL_EXPIRATION");
	if (exp) {
		struct cp_time t;
		if (cp_time_parse(exp, strlen(exp), &t, e2) < 0)
			return cp_err_set(err, "aws: AWS_CREDENTIAL_EXPIRATION: %s", e2);
		c->expiration = t.sec > 0 ? t.sec : 1;
	}
	return 0;
}

static int from_section(const struct section *s, const char *file,
    const char *profile, struct cp_aws_creds *c, char *err)
{
	const char *id = sec_get(s, "aws_access_key_id");
	const char *sec = sec_get(s, "aws_secret_access_key");
	if (!id || !*id)
		return 1;
	if (!sec || !*sec)
		return cp_err_set(err, "aws: profile %.64s in %.100s has aws_access_key_id but no aws_secret_access_key",
		    profile, file);
	const char *tok = sec_get(s, "aws_session_token");
	if (!tok || !*tok)
		tok = sec_get(s, "aws_security_token");
	char e2[CP_ERR_LEN];
	if (copy_field(c->access_key_id, sizeof c->access_key_id, id, "aws_access_key_id", e2) < 0 ||
	    copy_field(c->secret_access_key, sizeof c->secret_access_key, sec, "aws_secret_access_key", e2) < 0 ||
	    (tok && *tok && copy_field(c->session_token, sizeof c->session_token, tok, "aws_session_token", e2) < 0))
		return cp_err_set(err, "aws: %.100s: %s", file, e2);
	return 0;
}

/* Runs argv with stdin from /dev/null; its stdout (at most MAX_BODY bytes)
 * into *out, the first line of its stderr into errline. */
static int run_process(char **argv, long timeout_ms, struct hbuf *out,
    char *errline, size_t errn, int *status, char *err)
{
	int po[2], pe[2];
	memset(out, 0, sizeof *out);
	errline[0] = 0;
	if (pipe2(po, O_CLOEXEC) < 0)
		return cp_err_set(err, "pipe: %s", strerror(errno));
	if (pipe2(pe, O_CLOEXEC) < 0) {
		int e = errno;
		close(po[0]);
		close(po[1]);
		return cp_err_set(err, "pipe: %s", strerror(e));
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	/* Default SIGPIPE (the tools ignore it) and no blocked signals. */
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	sigset_t def, none;
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(po[1]);
	close(pe[1]);
	if (rc != 0) {
		close(po[0]);
		close(pe[0]);
		return cp_err_set(err, "cannot run %.100s: %s", argv[0], strerror(rc));
	}
	char ebuf[1024];
	size_t elen = 0;
	int64_t deadline = cp_time_mono_ms() + timeout_ms;
	int open_o = 1, open_e = 1, timed_out = 0, too_long = 0;
	while (open_o || open_e) {
		struct pollfd p[2] = {
			{ open_o ? po[0] : -1, POLLIN, 0 },
			{ open_e ? pe[0] : -1, POLLIN, 0 },
		};
		int64_t left = deadline - cp_time_mono_ms();
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		int r = poll(p, 2, left > 1000 ? 1000 : (int)left);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		char buf[4096];
		if (open_o && p[0].revents) {
			ssize_t k = read(po[0], buf, sizeof buf);
			if (k > 0) {
				if (out->len + (size_t)k > MAX_BODY) {
					too_long = 1;
					break;
				}
				char *np = realloc(out->p, out->len + (size_t)k + 1);
				if (!np) {
					too_long = 1;
					break;
				}
				out->p = np;
				memcpy(out->p + out->len, buf, (size_t)k);
				out->len += (size_t)k;
				out->p[out->len] = 0;
			} else if (k == 0 || errno != EINTR) {
				open_o = 0;
			}
		}
		if (open_e && p[1].revents) {
			ssize_t k = read(pe[0], buf, sizeof buf);
			if (k > 0) {
				size_t take = (size_t)k;
				if (take > sizeof ebuf - 1 - elen)
					take = sizeof ebuf - 1 - elen;
				memcpy(ebuf + elen, buf, take);
				elen += take;
			} else if (k == 0 || errno != EINTR) {
				open_e = 0;
			}
		}
	}
	close(po[0]);
	close(pe[0]);
	if (timed_out || too_long)
		kill(pid, SIGKILL);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	ebuf[elen] = 0;
	char *line = trim(ebuf);
	line[strcspn(line, "\n")] = 0;
	snprintf(errline, errn, "%s", trim(line));
	*status = st;
	if (timed_out || too_long) {
		hbuf_free(out);
		return cp_err_set(err, "%s", timed_out ? "timed out" : "output too long");
	}
	if (!out->p && !(out->p = calloc(1, 1)))
		return cp_err_set(err, "out of memory");
	return 0;
}

static int from_process(struct cp_aws *a, struct cp_aws_creds *c, char *err)
{
	const char *cmd = prof_get(a, "credential_process");
	if (!cmd || !*cmd)
		return 1;
	char e2[CP_ERR_LEN];
	char **argv = split_words(cmd, e2);
	if (!argv)
		return cp_err_set(err, "aws: credential_process of profile %.64s: %s",
		    a->profile, e2);
	if (!argv[0]) {
		free_words(argv);
		return cp_err_set(err, "aws: credential_process of profile %.64s is empty",
		    a->profile);
	}
	struct hbuf out;
	char errline[200];
	int st;
	cp_debug("aws: running credential_process of profile %s: %s", a->profile, argv[0]);
	int rc = run_process(argv, a->process_timeout_ms, &out, errline,
	    sizeof errline, &st, e2);
	if (rc < 0) {
		rc = cp_err_set(err, "aws: credential_process %.100s: %s", argv[0], e2);
		free_words(argv);
		return rc;
	}
	if (WIFSIGNALED(st) || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (WIFSIGNALED(st))
			rc = cp_err_set(err, "aws: credential_process %.80s killed by signal %d%s%.120s",
			    argv[0], WTERMSIG(st), *errline ? ": " : "", errline);
		else
			rc = cp_err_set(err, "aws: credential_process %.80s exited with status %d%s%.120s",
			    argv[0], WEXITSTATUS(st), *errline ? ": " : "", errline);
		free_words(argv);
		hbuf_free(&out);
		return rc;
	}
	char what[160];
	snprintf(what, sizeof what, "aws: credential_process %.100s", argv[0]);
	free_words(argv);
	jv o = jv_parse_sized(out.p, (int)out.len);
	hbuf_free(&out);
	if (jv_get_kind(o) != JV_KIND_OBJECT) {
		/* Never quote the output: it may hold a secret. */
		jv_free(o);
		return cp_err_set(err, "%s: output is not a JSON object", what);
	}
	jv v = jv_object_get(jv_copy(o), jv_string("Version"));
	if (jv_get_kind(v) != JV_KIND_NUMBER || jv_number_value(v) != 1) {
		jv_free(v);
		jv_free(o);
		return cp_err_set(err, "%s: unsupported Version (must be 1)", what);
	}
	jv_free(v);
	rc = creds_from_json(o, "SessionToken", 0, what, c, err);
	jv_free(o);
	return rc;
}

static int allowed_full_uri(const char *uri)
{
	if (strncasecmp(uri, "https://", 8) == 0)
		return 1;
	if (strncasecmp(uri, "http://", 7) != 0)
		return 0;
	const char *h = uri + 7;
	size_t l = strcspn(h, "/?#");
	const char *at = memchr(h, '@', l);
	if (at) {
		l -= (size_t)(at + 1 - h);
		h = at + 1;
	}
	char host[256];
	if (l >= sizeof host)
		return 0;
	memcpy(host, h, l);
	host[l] = 0;
	if (host[0] == '[') {
		char *e = strchr(host, ']');
		if (!e)
			return 0;
		*e = 0;
		memmove(host, host + 1, strlen(host + 1) + 1);
	} else {
		host[strcspn(host, ":")] = 0;
	}
	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "169.254.170.2") == 0 ||
	    strcmp(host, "169.254.170.23") == 0 || strcasecmp(host, "fd00:ec2::23") == 0 ||
	    strcmp(host, "::1") == 0)
		return 1;
	/* 127.0.0.0/8 */
	unsigned b[4];
	char extra;
	return sscanf(host, "%u.%u.%u.%u%c", &b[0], &b[1], &b[2], &b[3], &extra) == 4 &&
	    b[0] == 127 && b[1] < 256 && b[2] < 256 && b[3] < 256;
}

static int from_container(struct cp_aws *a, struct cp_aws_creds *c, char *err)
{
	const char *rel = env_get(a, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = env_get(a, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
	char url[2048];
	if (rel) {
		snprintf(url, sizeof url, "http://169.254.170.2%s", rel);
	} else if (full) {
		if (!allowed_full_uri(full))
			return cp_err_set(err, "aws: AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to a loopback address, 169.254.170.2, 169.254.170.23 or fd00:ec2::23");
		snprintf(url, sizeof url, "%s", full);
	} else {
		return 1;
	}
	/* The token: the file (it rotates, read every time), else the
	 * variable.  Sent verbatim; a line break in it is refused. */
	char *tok = NULL;
	const char *tf = env_get(a, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	if (tf) {
		char *path = expand_home(a, tf);
		FILE *f = path ? fopen(path, "re") : NULL;
		if (!f) {
			int e = errno;
			free(path);
			return cp_err_set(err, "aws: AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %.100s: %s",
			    tf, strerror(e));
		}
		free(path);
		char buf[8192];
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = 0;
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = 0;
		tok = strdup(buf);
		OPENSSL_cleanse(buf, sizeof buf);
	} else if (env_get(a, "AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
		tok = strdup(env_get(a, "AWS_CONTAINER_AUTHORIZATION_TOKEN"));
	}
	char *hdr = NULL;
	if (tok) {
		if (strpbrk(tok, "\r\n")) {
			wipe_free(tok);
			return cp_err_set(err, "aws: the container authorization token holds a line break");
		}
		hdr = malloc(strlen(tok) + 16);
		if (hdr)
			sprintf(hdr, "Authorization: %s", tok);
		wipe_free(tok);
		if (!hdr)
			return cp_err_set(err, "aws: out of memory");
	}
	struct hbuf body = { 0 };
	long status = 0;
	char e2[CP_ERR_LEN];
	int rc = -1;
	for (int attempt = 1; attempt <= 3; attempt++) {
		rc = http_do(a, "GET", url, hdr, NULL, 2000, &status, &body, e2);
		if (rc == 0 && status < 500)
			break;
		if (rc == 0 && attempt < 3)
			hbuf_free(&body);
		if (attempt < 3)
			nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	wipe_free(hdr);
	if (rc < 0)
		return cp_err_set(err, "aws: container credentials: %s", e2);
	jv o = jv_parse_sized(body.p, (int)body.len);
	hbuf_free(&body);
	if (status != 200) {
		jv h1, h2;
		const char *code = jv_get_kind(o) == JV_KIND_OBJECT ? jget_str(o, "code", &h1) : NULL;
		const char *msg = jv_get_kind(o) == JV_KIND_OBJECT ? jget_str(o, "message", &h2) : NULL;
		rc = cp_err_set(err, "aws: container credentials: HTTP %ld from %.100s%s%.40s%s%.80s",
		    status, url, code ? ": " : "", code ? code : "", msg ? ": " : "",
		    msg ? msg : "");
		if (jv_get_kind(o) == JV_KIND_OBJECT) {
			jv_free(h1);
			jv_free(h2);
		}
		jv_free(o);
		return rc;
	}
	if (jv_get_kind(o) != JV_KIND_OBJECT) {
		jv_free(o);
		return cp_err_set(err, "aws: container credentials: answer is not a JSON object");
	}
	rc = creds_from_json(o, "Token", 0, "aws: container credentials", c, err);
	jv_free(o);
	return rc;
}

/* ---- IMDS ---- */

static const char *imds_base(const struct cp_aws *a, char *buf, size_t n)
{
	const char *b = env_get(a, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
	if (!b)
		b = prof_get(a, "ec2_metadata_service_endpoint");
	if (!b || !*b) {
		const char *mode = env_get(a, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
		if (!mode)
			mode = prof_get(a, "ec2_metadata_service_endpoint_mode");
		b = mode && strcasecmp(mode, "ipv6") == 0 ? "http://[fd00:ec2::254]" :
		    "http://169.254.169.254";
	}
	snprintf(buf, n, "%s", b);
	size_t l = strlen(buf);
	while (l > 0 && buf[l - 1] == '/')
		buf[--l] = 0;
	return buf;
}

static int imds_disabled(const struct cp_aws *a)
{
	return is_true(env_get(a, "AWS_EC2_METADATA_DISABLED"));
}

/* GET base+path with the session token (fetched or reused); the body on
 * 200.  imds_lock held by the caller.  0, or -1 with err. */
static int imds_get(struct cp_aws *a, const char *path, struct hbuf *body,
    char *err)
{
	char base[512], url[1024];
	imds_base(a, base, sizeof base);
	const char *ts = env_get(a, "AWS_METADATA_SERVICE_TIMEOUT");
	const char *as = env_get(a, "AWS_METADATA_SERVICE_NUM_ATTEMPTS");
	long timeout_ms = ts ? (long)(atof(ts) * 1000) : 1000;
	int attempts = as ? atoi(as) : 1;
	if (timeout_ms <= 0)
		timeout_ms = 1000;
	if (attempts < 1)
		attempts = 1;
	int v1_disabled = is_true(env_get(a, "AWS_EC2_METADATA_V1_DISABLED")) ||
	    is_true(prof_get(a, "ec2_metadata_v1_disabled"));
	long status = 0;
	char e2[CP_ERR_LEN] = "";
	for (int round = 0; round < 2; round++) {
		/* The token: reused until a minute before its TTL. */
		if (!a->imds_token[0] || now_ms() >= a->imds_token_until) {
			a->imds_token[0] = 0;
			snprintf(url, sizeof url, "%s/latest/api/token", base);
			int rc = -1;
			for (int i = 0; i < attempts && rc < 0; i++)
				rc = http_do(a, "PUT", url,
				    "X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL,
				    timeout_ms, &status, body, e2);
			if (rc < 0)
				return cp_err_set(err, "IMDS: %s", e2);
			if (status == 200) {
				char *t = trim(body->p);
				if (!*t || strlen(t) >= sizeof a->imds_token || strpbrk(t, "\r\n")) {
					hbuf_free(body);
					return cp_err_set(err, "IMDS: bad token from %s", url);
				}
				strcpy(a->imds_token, t);
				a->imds_token_until = now_ms() + (IMDS_TOKEN_TTL - 60) * 1000LL;
				cp_debug("aws: IMDSv2 token from %s", base);
			} else if ((status == 403 || status == 404 || status == 405) &&
			    !v1_disabled) {
				cp_debug("aws: IMDS token PUT answered %ld, trying IMDSv1", status);
			} else {
				hbuf_free(body);
				return cp_err_set(err, "IMDS: PUT %s: HTTP %ld", url, status);
			}
			hbuf_free(body);
		}
		char th[1100];
		snprintf(th, sizeof th, "X-aws-ec2-metadata-token: %s", a->imds_token);
		snprintf(url, sizeof url, "%s%s", base, path);
		int rc = -1;
		for (int i = 0; i < attempts && rc < 0; i++)
			rc = http_do(a, "GET", url, a->imds_token[0] ? th : NULL, NULL,
			    timeout_ms, &status, body, e2);
		OPENSSL_cleanse(th, sizeof th);
		if (rc < 0)
			return cp_err_set(err, "IMDS: %s", e2);
		if (status == 200)
			return 0;
		hbuf_free(body);
		if (status == 401 && round == 0) {
			/* The token expired or was revoked: a new one, once. */
			a->imds_token[0] = 0;
			continue;
		}
		if (status == 404)
			return cp_err_set(err, "IMDS: GET %s: HTTP 404 (no such data%s)", url,
			    strstr(path, "security-credentials") ?
			    ": no IAM role attached to this instance?" : "");
		return cp_err_set(err, "IMDS: GET %s: HTTP %ld", url, status);
	}
	return cp_err_set(err, "IMDS: GET %s: HTTP 401 even with a new token", url);
}

static int from_imds(struct cp_aws *a, struct cp_aws_creds *c, char *err)
{
	if (imds_disabled(a))
		return 1;
	struct hbuf body;
	pthread_mutex_lock(&a->imds_lock);
	int rc = imds_get(a, "/latest/meta-data/iam/security-credentials/", &body, err);
	if (rc < 0) {
		pthread_mutex_unlock(&a->imds_lock);
		return -1;
	}
	char role[256];
	char *r = trim(body.p);
	r[strcspn(r, "\r\n")] = 0;
	snprintf(role, sizeof role, "%s", r);
	hbuf_free(&body);
	if (!role[0] || strchr(role, '/')) {
		pthread_mutex_unlock(&a->imds_lock);
		return cp_err_set(err, "IMDS: no IAM role attached to this instance");
	}
	char path[400];
	snprintf(path, sizeof path, "/latest/meta-data/iam/security-credentials/%s", role);
	rc = imds_get(a, path, &body, err);
	pthread_mutex_unlock(&a->imds_lock);
	if (rc < 0)
		return -1;
	jv o = jv_parse_sized(body.p, (int)body.len);
	hbuf_free(&body);
	if (jv_get_kind(o) != JV_KIND_OBJECT) {
		jv_free(o);
		return cp_err_set(err, "IMDS: role %.64s: answer is not a JSON object", role);
	}
	jv h1, h2;
	const char *code = jget_str(o, "Code", &h1);
	if (code && strcmp(code, "Success") != 0) {
		const char *msg = jget_str(o, "Message", &h2);
		rc = cp_err_set(err, "IMDS: role %.64s: %.40s%s%.100s", role, code,
		    msg ? ": " : "", msg ? msg : "");
		jv_free(h2);
	} else {
		char what[120];
		snprintf(what, sizeof what, "IMDS: role %.64s", role);
		rc = creds_from_json(o, "Token", 1, what, c, err);
		if (rc == 0 && !c->expiration)
			rc = cp_err_set(err, "IMDS: role %.64s: answer lacks Expiration", role);
	}
	jv_free(h1);
	jv_free(o);
	return rc;
}

/* ---- the chain ---- */

static int unsupported_profile(struct cp_aws *a, char *err)
{
	static const char *const keys[][2] = {
		{ "role_arn", "assumes a role (role_arn)" },
		{ "web_identity_token_file", "uses web identity (web_identity_token_file)" },
		{ "sso_start_url", "uses IAM Identity Center (sso_start_url)" },
		{ "sso_session", "uses IAM Identity Center (sso_session)" },
		{ "login_session", "uses console login (login_session)" },
	};
	if (env_get(a, "AWS_WEB_IDENTITY_TOKEN_FILE") && env_get(a, "AWS_ROLE_ARN"))
		return cp_err_set(err, "aws: AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN ask for web identity credentials, which chatpipe does not support; use credential_process or static keys");
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		if (prof_get(a, keys[i][0]))
			return cp_err_set(err, "aws: profile %.64s %s, which chatpipe does not support; use credential_process (e.g. \"aws configure export-credentials --format process\")",
			    a->profile, keys[i][1]);
	return 0;
}

static int fetch(struct cp_aws *a, enum source k, struct cp_aws_creds *c,
    char *err)
{
	memset(c, 0, sizeof *c);
	int rc;
	switch (k) {
	case SRC_EXPLICIT:
		if (!a->have_explicit)
			return 1;
		*c = a->explicit_creds;
		if (!c->access_key_id[0] || !c->secret_access_key[0])
			return cp_err_set(err, "aws: explicit credentials lack a key id or secret");
		rc = 0;
		break;
	case SRC_ENV:
		rc = a->profile_flag ? 1 : from_env(a, c, err);
		break;
	case SRC_CREDS_FILE:
		rc = from_section(a->pcreds, a->creds_file.path, a->profile, c, err);
		break;
	case SRC_PROCESS:
		rc = from_process(a, c, err);
		break;
	case SRC_CONFIG_FILE:
		rc = from_section(a->pconfig, a->config_file.path, a->profile, c, err);
		break;
	case SRC_CONTAINER:
		rc = from_container(a, c, err);
		break;
	case SRC_IMDS:
		rc = from_imds(a, c, err);
		break;
	default:
		return 1;
	}
	if (rc == 0)
		c->source = source_names[k];
	else
		cp_aws_creds_clear(c);
	return rc;
}

/* The first source that has credentials. */
static int resolve(struct cp_aws *a, struct cp_aws_creds *c, enum source *kind,
    char *err)
{
	for (enum source k = SRC_EXPLICIT; k <= SRC_IMDS; k++) {
		if (k == SRC_CREDS_FILE && unsupported_profile(a, err) < 0)
			return -1;
		char e2[CP_ERR_LEN] = "";
		int rc = fetch(a, k, c, e2);
		if (rc == 0) {
			*kind = k;
			return 0;
		}
		if (rc < 0 && k != SRC_IMDS)
			return cp_err_set(err, "%s", e2);
		if (k == SRC_IMDS) {
			const char *why = imds_disabled(a) ? "IMDS disabled" : e2;
			return cp_err_set(err, "aws: no credentials found (environment, profile %.40s in %.60s and %.60s, no container endpoint; %.100s)",
			    a->profile,
			    a->creds_file.path ? a->creds_file.path : "no credentials file",
			    a->config_file.path ? a->config_file.path : "no config file", why);
		}
	}
	return cp_err_set(err, "aws: no credentials found");
}

static void log_creds(const struct cp_aws *a, const struct cp_aws_creds *c,
    int refresh)
{
	if (!cp_diag_enabled(CP_LOG_DEBUG))
		return;
	char hint[CP_AWS_HINT_LEN], exp[CP_TIME_LEN] = "never";
	cp_aws_key_hint(c->access_key_id, hint);
	if (c->expiration)
		cp_time_format_prec((struct cp_time){ c->expiration, 0 }, 0, exp);
	cp_debug("aws: credentials %sfrom %s%s%s, key %s%s, expire %s",
	    refresh ? "refreshed " : "", c->source,
	    strstr(c->source, "file") || !strcmp(c->source, "process") ? " of profile " : "",
	    strstr(c->source, "file") || !strcmp(c->source, "process") ? a->profile : "",
	    hint, c->session_token[0] ? " with a session token" : "", exp);
}

int cp_aws_creds_get(struct cp_aws *a, struct cp_aws_creds *out, char *err)
{
	pthread_mutex_lock(&a->lock);
	for (;;) {
		int64_t now = now_ms();
		if (a->have && (a->cur.expiration == 0 || now < a->refresh_at)) {
			*out = a->cur;
			pthread_mutex_unlock(&a->lock);
			return 0;
		}
		if (!a->refreshing)
			break;
		if (a->have && now < a->mandatory_at) {
			/* Another thread refreshes; these are still good. */
			*out = a->cur;
			pthread_mutex_unlock(&a->lock);
			return 0;
		}
		pthread_cond_wait(&a->cond, &a->lock);
	}
	a->refreshing = 1;
	int first = !a->have;
	enum source kind = a->kind;
	pthread_mutex_unlock(&a->lock);

	struct cp_aws_creds nc;
	char e2[CP_ERR_LEN] = "";
	int rc;
	if (first)
		rc = resolve(a, &nc, &kind, e2);
	else if ((rc = fetch(a, kind, &nc, e2)) > 0)
		rc = cp_err_set(e2, "aws: credentials from %s are gone", source_names[kind]);
	int64_t now = now_ms();
	if (rc == 0 && nc.expiration && nc.expiration * 1000 <= now) {
		char t[CP_TIME_LEN];
		cp_time_format_prec((struct cp_time){ nc.expiration, 0 }, 0, t);
		rc = cp_err_set(e2, "aws: credentials from %s expired at %s", nc.source, t);
		cp_aws_creds_clear(&nc);
	}

	pthread_mutex_lock(&a->lock);
	a->refreshing = 0;
	pthread_cond_broadcast(&a->cond);
	if (rc == 0) {
		a->cur = nc;
		a->have = 1;
		a->kind = kind;
		if (nc.expiration) {
			int64_t exp = nc.expiration * 1000, life = exp - now;
			a->refresh_at = exp - (life / 2 < ADVISORY_MS ? life / 2 : ADVISORY_MS);
			a->mandatory_at = exp - (life / 4 < MANDATORY_MS ? life / 4 : MANDATORY_MS);
		} else {
			a->refresh_at = a->mandatory_at = 0;
		}
		*out = a->cur;
		pthread_mutex_unlock(&a->lock);
		cp_aws_creds_clear(&nc);
		log_creds(a, out, !first);
		return 0;
	}
	if (a->have && now < a->mandatory_at) {
		/* Keep the old ones a little longer; try again soon. */
		int64_t retry = (a->mandatory_at - now) / 2;
		a->refresh_at = now + (retry < 5000 ? retry : 5000);
		*out = a->cur;
		pthread_mutex_unlock(&a->lock);
		cp_debug("%s; keeping the current credentials for now", e2);
		return 0;
	}
	pthread_mutex_unlock(&a->lock);
	return cp_err_set(err, "%s", e2);
}

void cp_aws_creds_invalidate(struct cp_aws *a)
{
	pthread_mutex_lock(&a->lock);
	if (a->have && a->cur.expiration)
		a->refresh_at = 0;
	pthread_mutex_unlock(&a->lock);
}

/* ---- region ---- */

static int valid_region(const char *r)
{
	size_t n = strlen(r);
	if (n == 0 || n >= CP_AWS_REGION_LEN || r[0] == '-' || r[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)r[i]) && r[i] != '-')
			return 0;
	return 1;
}

/* A region-shaped label: letters, dashes, ending in "-<digits>". */
static int region_label(const char *s, size_t n)
{
	size_t i = n;
	while (i > 0 && isdigit((unsigned char)s[i - 1]))
		i--;
	if (i == n || i < 3 || s[i - 1] != '-')
		return 0;
	for (size_t k = 0; k + 1 < i; k++)
		if (!islower((unsigned char)s[k]) && s[k] != '-')
			return 0;
	return islower((unsigned char)s[0]);
}

/* The host of an http(s) URL, lowercased, without port or userinfo. */
static int url_host(const char *url, char *host, size_t n, const char **rest)
{
	const char *p = strstr(url, "://");
	if (!p)
		return -1;
	size_t sl = (size_t)(p - url);
	if (!((sl == 4 && strncasecmp(url, "http", 4) == 0) ||
	    (sl == 5 && strncasecmp(url, "https", 5) == 0)))
		return -1;
	const char *h = p + 3;
	size_t l = strcspn(h, "/?#");
	if (rest)
		*rest = h + l;
	const char *at = memchr(h, '@', l);
	if (at) {
		l -= (size_t)(at + 1 - h);
		h = at + 1;
	}
	if (l == 0 || l >= n)
		return -1;
	memcpy(host, h, l);
	host[l] = 0;
	return (int)l;
}

int cp_aws_region_from_url(const char *url, char out[CP_AWS_REGION_LEN])
{
	char host[512];
	if (!url || url_host(url, host, sizeof host, NULL) < 0)
		return -1;
	if (host[0] != '[')
		host[strcspn(host, ":")] = 0;
	for (char *c = host; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	size_t hl = strlen(host);
	while (hl > 0 && host[hl - 1] == '.')
		host[--hl] = 0;
	if (strcmp(host, "queue.amazonaws.com") == 0) {
		snprintf(out, CP_AWS_REGION_LEN, "us-east-1");
		return 0;
	}
	const char *d1 = strchr(host, '.');
	if (!d1)
		return -1;
	const char *d2 = strchr(d1 + 1, '.');
	size_t l0 = (size_t)(d1 - host);
	const char *l1 = d1 + 1;
	size_t l1n = d2 ? (size_t)(d2 - l1) : strlen(l1);
	/* sqs.REGION.* and sqs-fips.REGION.* (also sqs.REGION.api.aws and
	 * the emulators' sqs.REGION.localhost) */
	if (d2 && ((l0 == 3 && strncmp(host, "sqs", 3) == 0) ||
	    (l0 == 8 && strncmp(host, "sqs-fips", 8) == 0)) &&
	    region_label(l1, l1n) && l1n < CP_AWS_REGION_LEN) {
		snprintf(out, CP_AWS_REGION_LEN, "%.*s", (int)l1n, l1);
		return 0;
	}
	/* REGION.queue.amazonaws.com(.cn) */
	if (d2 && l1n == 5 && strncmp(l1, "queue", 5) == 0 &&
	    strncmp(d2 + 1, "amazonaws.com", 13) == 0 && region_label(host, l0) &&
	    l0 < CP_AWS_REGION_LEN) {
		snprintf(out, CP_AWS_REGION_LEN, "%.*s", (int)l0, host);
		return 0;
	}
	return -1;
}

int cp_aws_url_origin(const char *url, char out[CP_AWS_URL_LEN])
{
	char host[CP_AWS_URL_LEN];
	if (!url || url_host(url, host, sizeof host, NULL) < 0)
		return -1;
	const char *p = strstr(url, "://");
	int n = snprintf(out, CP_AWS_URL_LEN, "%.*s://%s", (int)(p - url), url, host);
	if (n < 0 || n >= CP_AWS_URL_LEN)
		return -1;
	for (char *c = out; *c != ':'; c++)
		*c = (char)tolower((unsigned char)*c);
	return 0;
}

int cp_aws_region(struct cp_aws *a, const char *queue_url,
    char out[CP_AWS_REGION_LEN], const char **source, char *err)
{
	const char *r = NULL, *src = NULL;
	if (a->opt_region) {
		r = a->opt_region;
		src = "--region";
	} else if ((r = env_get(a, "AWS_REGION"))) {
		src = "AWS_REGION";
	} else if ((r = env_get(a, "AWS_DEFAULT_REGION"))) {
		src = "AWS_DEFAULT_REGION";
	} else if ((r = prof_get(a, "region")) && *r) {
		src = "profile";
	} else if (queue_url && cp_aws_region_from_url(queue_url, out) == 0) {
		if (source)
			*source = "queue URL";
		return 0;
	} else if (a->imds_region && !imds_disabled(a)) {
		struct hbuf body;
		char e2[CP_ERR_LEN];
		pthread_mutex_lock(&a->imds_lock);
		int rc = imds_get(a, "/latest/meta-data/placement/region", &body, e2);
		pthread_mutex_unlock(&a->imds_lock);
		if (rc < 0)
			return cp_err_set(err, "aws: no region configured, and %s", e2);
		char *t = trim(body.p);
		int ok = valid_region(t);
		if (ok)
			snprintf(out, CP_AWS_REGION_LEN, "%s", t);
		hbuf_free(&body);
		if (!ok)
			return cp_err_set(err, "aws: IMDS gave an invalid region");
		if (source)
			*source = "IMDS";
		return 0;
	} else {
		return cp_err_set(err, "aws: no region: use --region, AWS_REGION or AWS_DEFAULT_REGION, or set region in profile %.64s of %.100s",
		    a->profile, a->config_file.path ? a->config_file.path : "~/.aws/config");
	}
	if (!valid_region(r))
		return cp_err_set(err, "aws: invalid region \"%.64s\" (from %s)", r, src);
	snprintf(out, CP_AWS_REGION_LEN, "%s", r);
	if (source)
		*source = src;
	return 0;
}

/* ---- endpoints ---- */

static int set_endpoint(const char *url, const char *src, char out[CP_AWS_URL_LEN],
    const char **source, char *err)
{
	char host[CP_AWS_URL_LEN];
	if (url_host(url, host, sizeof host, NULL) < 0)
		return cp_err_set(err, "aws: endpoint \"%.100s\" (from %s) is not an http(s) URL",
		    url, src);
	size_t n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n >= CP_AWS_URL_LEN)
		return cp_err_set(err, "aws: endpoint from %s is too long", src);
	memcpy(out, url, n);
	out[n] = 0;
	if (source)
		*source = src;
	return 0;
}

int cp_aws_endpoint(struct cp_aws *a, const char *service, const char *region,
    const char *queue_url, char out[CP_AWS_URL_LEN], const char **source,
    char *err)
{
	if (!service || !*service || strlen(service) > 64)
		return cp_err_set(err, "aws: endpoint: bad service name");
	if (a->opt_endpoint)
		return set_endpoint(a->opt_endpoint, "--endpoint-url", out, source, err);
	int ignore = is_true(env_get(a, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) ||
	    is_true(prof_get(a, "ignore_configured_endpoint_urls"));
	if (!ignore) {
		char var[96], key[80];
		snprintf(var, sizeof var, "AWS_ENDPOINT_URL_");
		size_t vl = strlen(var), kl = 0;
		for (const char *s = service; *s; s++) {
			char c = *s == '-' || *s == ' ' ? '_' : *s;
			var[vl++] = (char)toupper((unsigned char)c);
			key[kl++] = (char)tolower((unsigned char)c);
		}
		var[vl] = 0;
		key[kl] = 0;
		const char *v;
		if ((v = env_get(a, var)))
			return set_endpoint(v, "AWS_ENDPOINT_URL_<SERVICE>", out, source, err);
		if ((v = env_get(a, "AWS_ENDPOINT_URL")))
			return set_endpoint(v, "AWS_ENDPOINT_URL", out, source, err);
		const char *svc = prof_get(a, "services");
		const struct section *s = svc ? ini_services(&a->config_file, svc) : NULL;
		const char *nested = sec_get(s, key);
		char buf[CP_AWS_URL_LEN];
		if (nested && cp_aws_ini_nested(nested, "endpoint_url", buf, sizeof buf) == 0 &&
		    *buf)
			return set_endpoint(buf, "profile services", out, source, err);
		if ((v = prof_get(a, "endpoint_url")) && *v)
			return set_endpoint(v, "profile endpoint_url", out, source, err);
	}
	if (queue_url && *queue_url) {
		if (cp_aws_url_origin(queue_url, out) < 0)
			return cp_err_set(err, "aws: queue URL \"%.100s\" is not an http(s) URL",
			    queue_url);
		if (source)
			*source = "queue URL";
		return 0;
	}
	if (!region || !valid_region(region))
		return cp_err_set(err, "aws: no endpoint for %.64s without a valid region", service);
	snprintf(out, CP_AWS_URL_LEN, "https://%s.%s.amazonaws.com%s", service, region,
	    strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
	for (char *c = out + 8; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (source)
		*source = "default";
	return 0;
}
