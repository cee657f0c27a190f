/* spool: see spool.h for the design (layout, state machine, crash points). */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <jv.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define NSEC 1000000000LL
#define MSEC 1000000LL
#define SWEEP_MS 1000           /* default minimum time between sweeps */
#define TMP_MAX_AGE 600         /* temp files older than this are dead */
#define CONFIG_CHECK_MS 1000    /* how often a handle looks at config */
#define CHUNK 64                /* names read from a bucket at a time */
#define NAME_LEN 128            /* a message file name and its NUL */
#define HEADER_MAX (CP_SPOOL_MAX_ATTRS * 2 + 4096)
#define CONFIG_MAX 16384
#define ATTRS_MAX_N 10
#define LIST_MAX_N 1000         /* values in a *ListValues attribute */

/* A message's name, parsed: ID.SENT.COUNT.FIRST[.DUE.TOKEN]. */
struct mname {
	char id[CP_UUID_LEN];
	int64_t sent;           /* ms */
	int64_t first;          /* ms, 0 = never received */
	long count;
	int64_t due;            /* ms: the deadline set by the receive */
	char token[17];         /* "" for a ready name */
};

/* A bucket directory opened for renaming into. */
struct bref {
	int64_t sec;
	int fd;                 /* -1 until opened */
	int durable;            /* ready/ fsynced since fd was opened */
};

struct cp_spool {
	char *dir;
	int dirfd, tmpfd, readyfd, inflightfd;
	struct cp_spool_config cfg;
	struct timespec cfg_mtime;
	ino_t cfg_ino;
	int64_t cfg_checked;    /* ns */

	/* The receive cursor: sorted buckets, the open one, a chunk of it. */
	int64_t *buckets;
	size_t nbuckets, bcap, bi;
	DIR *cur;
	int64_t cur_sec;
	char chunk[CHUNK][NAME_LEN];
	int nchunk, ichunk, rot;

	struct bref sb;         /* the bucket the last send used */

	int sweep_ms;
	int64_t sweep_checked;  /* ns */

	int ino_fd;             /* inotify, for long polls; -1 */
	struct cp_spool *dlq;
	uint64_t rng;
	char uid[24];
	char warning[CP_ERR_LEN];
	int has_warning;
};

/* ---- small helpers ---- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * NSEC + st->st_mtim.tv_nsec;
}

static int set_mtime(int fd, int64_t ns)
{
	struct timespec t[2] = {
		{ 0, UTIME_OMIT },
		{ (time_t)(ns / NSEC), (long)(ns % NSEC) },
	};
	return futimens(fd, t);
}

static uint64_t rnd(struct cp_spool *q)
{
	uint64_t z = (q->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void token_hex(struct cp_spool *q, char out[17])
{
	snprintf(out, 17, "%016llx", (unsigned long long)rnd(q));
}

static void warn(struct cp_spool *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void warn(struct cp_spool *q, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q->warning, sizeof q->warning, fmt, ap);
	va_end(ap);
	q->has_warning = 1;
}

/* cp_err_set() that keeps errno (callers test it after a failure). */
static int fail(char *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(char *err, const char *fmt, ...)
{
	int e = errno;
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, CP_ERR_LEN, fmt, ap);
		va_end(ap);
	}
	errno = e;
	return -1;
}

static int einval(char *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int einval(char *err, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, CP_ERR_LEN, fmt, ap);
		va_end(ap);
	}
	errno = EINVAL;
	return -1;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads up to n bytes from offset 0; returns the count or -1. */
static ssize_t pread_all(int fd, void *p, size_t n)
{
	char *s = p;
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, s + got, n - got, (off_t)got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static int fsync_fd(int fd)
{
	while (fsync(fd) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

/* opendir() of name relative to dfd, with its own file description. */
static DIR *opendir_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

static int md5_hex(const void *p, size_t n, char out[CP_SPOOL_MD5_LEN])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	out[0] = 0;
	if (!EVP_Digest(p, n, d, &len, EVP_md5(), NULL) || len != 16)
		return -1;
	for (unsigned i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return 0;
}

static int is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* ---- names ---- */

static int valid_uuid(const char *s)
{
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!is_hex((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

static int parse_num(const char **p, int64_t *out, int maxdigits)
{
	const char *s = *p;
	int64_t v = 0;
	int n = 0;
	while (*s >= '0' && *s <= '9') {
		if (++n > maxdigits)
			return -1;
		v = v * 10 + (*s - '0');
		s++;
	}
	if (n == 0)
		return -1;
	*p = s;
	*out = v;
	return 0;
}

/* Parses a ready name (inflight 0) or an in-flight name (inflight 1). */
static int parse_name(const char *s, struct mname *m, int inflight)
{
	size_t len = strnlen(s, NAME_LEN);
	if (len >= NAME_LEN || len < 37 || !valid_uuid(s) || s[36] != '.')
		return -1;
	memcpy(m->id, s, 36);
	m->id[36] = 0;
	const char *p = s + 37;
	int64_t c;
	if (parse_num(&p, &m->sent, 15) < 0 || *p != '.')
		return -1;
	p++;
	if (parse_num(&p, &c, 9) < 0 || *p != '.')
		return -1;
	p++;
	if (parse_num(&p, &m->first, 15) < 0)
		return -1;
	m->count = (long)c;
	m->token[0] = 0;
	m->due = 0;
	if (!inflight)
		return *p ? -1 : 0;
	if (*p != '.')
		return -1;
	p++;
	if (parse_num(&p, &m->due, 15) < 0 || *p != '.')
		return -1;
	p++;
	for (int i = 0; i < 16; i++)
		if (!is_hex((unsigned char)p[i]))
			return -1;
	if (p[16])
		return -1;
	memcpy(m->token, p, 16);
	m->token[16] = 0;
	return 0;
}

static void fmt_name(char buf[NAME_LEN], const struct mname *m, int inflight)
{
	if (inflight)
		snprintf(buf, NAME_LEN, "%s.%lld.%ld.%lld.%lld.%s", m->id,
		    (long long)m->sent, m->count, (long long)m->first, (long long)m->due, m->token);
	else
		snprintf(buf, NAME_LEN, "%s.%lld.%ld.%lld", m->id,
		    (long long)m->sent, m->count, (long long)m->first);
}

/* A bucket name: decimal seconds.  -1 when s is not one. */
static int64_t parse_bucket(const char *s)
{
	int64_t v;
	const char *p = s;
	if (parse_num(&p, &v, 18) < 0 || *p)
		return -1;
	return v;
}

/* ---- URLs ---- */

int cp_spool_is_url(const char *url)
{
	return url && strncmp(url, "file:", 5) == 0;
}

int cp_spool_url_path(const char *url, char *path, size_t size, char *err)
{
	if (!cp_spool_is_url(url))
		return einval(err, "%s: not a spool URL (file:DIR)", url ? url : "(null)");
	const char *p = url + 5;
	if (strncmp(p, "//", 2) == 0) {
		p += 2;
		if (strncmp(p, "localhost/", 10) == 0)
			p += 9;
		else if (*p != '/')
			return einval(err, "%s: only local file: URLs are spools", url);
	}
	if (!*p)
		return einval(err, "%s: no directory in the spool URL", url);
	if (strlen(p) >= size)
		return einval(err, "%s: path too long", url);
	strcpy(path, p);
	return 0;
}

/* ---- configuration ---- */

void cp_spool_config_default(struct cp_spool_config *c)
{
	memset(c, 0, sizeof *c);
	c->visibility_timeout = 30;
	c->delay_seconds = 0;
	c->retention_period = 345600;
	c->receive_wait = 0;
	c->max_receive_count = 0;
	c->fifo = 0;
}

static int config_check(const struct cp_spool_config *c, char *err)
{
	if (c->visibility_timeout < 0 || c->visibility_timeout > CP_SPOOL_MAX_VISIBILITY)
		return einval(err, "VisibilityTimeout %d is not in 0..%d", c->visibility_timeout, CP_SPOOL_MAX_VISIBILITY);
	if (c->delay_seconds < 0 || c->delay_seconds > CP_SPOOL_MAX_DELAY)
		return einval(err, "DelaySeconds %d is not in 0..%d", c->delay_seconds, CP_SPOOL_MAX_DELAY);
	if (c->retention_period < CP_SPOOL_MIN_RETENTION || c->retention_period > CP_SPOOL_MAX_RETENTION)
		return einval(err, "MessageRetentionPeriod %d is not in %d..%d", c->retention_period,
		    CP_SPOOL_MIN_RETENTION, CP_SPOOL_MAX_RETENTION);
	if (c->receive_wait < 0 || c->receive_wait > CP_SPOOL_MAX_WAIT)
		return einval(err, "ReceiveMessageWaitTimeSeconds %d is not in 0..%d", c->receive_wait, CP_SPOOL_MAX_WAIT);
	if (c->max_receive_count < 0 || c->max_receive_count > CP_SPOOL_MAX_RECEIVE_COUNT)
		return einval(err, "maxReceiveCount %d is not in 1..%d", c->max_receive_count, CP_SPOOL_MAX_RECEIVE_COUNT);
	if (c->max_receive_count > 0 && !c->dead_letter_queue[0])
		return einval(err, "maxReceiveCount needs a dead-letter queue");
	if (c->max_receive_count == 0 && c->dead_letter_queue[0])
		return einval(err, "a dead-letter queue needs maxReceiveCount");
	if (memchr(c->dead_letter_queue, '\n', strnlen(c->dead_letter_queue, CP_SPOOL_PATH_LEN)))
		return einval(err, "dead-letter queue path with a newline");
	if (c->fifo)
		return einval(err, "a spool cannot be a FIFO queue: use SQS for FIFO");
	return 0;
}

static size_t config_format(const struct cp_spool_config *c, char *buf, size_t n)
{
	int len = snprintf(buf, n,
	    "# chatpipe spool queue (lib/spool.h): Name=value, SQS attribute names\n"
	    "VisibilityTimeout=%d\n"
	    "DelaySeconds=%d\n"
	    "MessageRetentionPeriod=%d\n"
	    "ReceiveMessageWaitTimeSeconds=%d\n"
	    "MaxReceiveCount=%d\n"
	    "DeadLetterQueue=%s\n"
	    "FifoQueue=%s\n"
	    "CreatedTimestamp=%lld\n",
	    c->visibility_timeout, c->delay_seconds, c->retention_period,
	    c->receive_wait, c->max_receive_count, c->dead_letter_queue,
	    c->fifo ? "true" : "false", (long long)c->created);
	return len < 0 || (size_t)len >= n ? 0 : (size_t)len;
}

static int config_int(const char *key, const char *v, long long max, long long *out, char *err)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || end == v || *end || x < 0 || x > max)
		return einval(err, "config: bad %s value \"%s\"", key, v);
	*out = x;
	return 0;
}

static int config_parse(char *text, struct cp_spool_config *c, char *err)
{
	cp_spool_config_default(c);
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (*line == '#' || *line == 0)
			continue;
		char *eq = strchr(line, '=');
		if (!eq)
			return einval(err, "config: bad line \"%.40s\"", line);
		*eq = 0;
		const char *k = line, *v = eq + 1;
		long long x = 0;
		if (strcmp(k, "DeadLetterQueue") == 0) {
			if (strlen(v) >= sizeof c->dead_letter_queue)
				return einval(err, "config: DeadLetterQueue too long");
			strcpy(c->dead_letter_queue, v);
			continue;
		}
		if (strcmp(k, "FifoQueue") == 0) {
			c->fifo = strcmp(v, "true") == 0;
			continue;
		}
		if (config_int(k, v, INT64_MAX / 2, &x, err) < 0)
			return -1;
		if (strcmp(k, "VisibilityTimeout") == 0)
			c->visibility_timeout = (int)(x > INT_MAX ? INT_MAX : x);
		else if (strcmp(k, "DelaySeconds") == 0)
			c->delay_seconds = (int)(x > INT_MAX ? INT_MAX : x);
		else if (strcmp(k, "MessageRetentionPeriod") == 0)
			c->retention_period = (int)(x > INT_MAX ? INT_MAX : x);
		else if (strcmp(k, "ReceiveMessageWaitTimeSeconds") == 0)
			c->receive_wait = (int)(x > INT_MAX ? INT_MAX : x);
		else if (strcmp(k, "MaxReceiveCount") == 0)
			c->max_receive_count = (int)(x > INT_MAX ? INT_MAX : x);
		else if (strcmp(k, "CreatedTimestamp") == 0)
			c->created = x;
		/* other names: from a newer version, ignored */
	}
	return config_check(c, err);
}

/* Reads DIR/config; st (may be NULL) gets its stat. */
static int config_read(int dfd, struct cp_spool_config *c, struct stat *st, char *err)
{
	int fd = openat(dfd, "config", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, "config: %s", strerror(errno));
	char buf[CONFIG_MAX + 1];
	struct stat s;
	ssize_t n = fstat(fd, &s) < 0 ? -1 : pread_all(fd, buf, CONFIG_MAX);
	int e = errno;
	close(fd);
	if (n < 0) {
		errno = e;
		return fail(err, "config: %s", strerror(errno));
	}
	buf[n] = 0;
	if (st)
		*st = s;
	return config_parse(buf, c, err);
}

static int config_equal(const struct cp_spool_config *a, const struct cp_spool_config *b)
{
	return a->visibility_timeout == b->visibility_timeout &&
	    a->delay_seconds == b->delay_seconds &&
	    a->retention_period == b->retention_period &&
	    a->receive_wait == b->receive_wait &&
	    a->max_receive_count == b->max_receive_count &&
	    strcmp(a->dead_letter_queue, b->dead_letter_queue) == 0 &&
	    a->fifo == b->fifo;
}

/* Writes DIR/config durably: replace 1 renames over an existing one,
 * replace 0 links it in only if there is none.  0 written, 1 one existed
 * (replace 0), -1 error. */
static int config_write(int dfd, const struct cp_spool_config *c, int replace, char *err)
{
	char text[CONFIG_MAX], tmp[64];
	size_t len = config_format(c, text, sizeof text);
	unsigned char r[8];
	if (RAND_bytes(r, sizeof r) != 1)
		memcpy(r, &(int64_t){ now_ns() }, 8);
	snprintf(tmp, sizeof tmp, "config.%ld.%02x%02x%02x%02x%02x%02x%02x%02x.tmp", (long)getpid(),
	    r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	/* In tmp/, so a crash leaves nothing that sweeps do not remove. */
	int tfd = openat(dfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0)
		return fail(err, "config: tmp: %s", strerror(errno));
	int rc = 0;
	int fd = openat(tfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0) {
		rc = fail(err, "config: %s", strerror(errno));
		goto out;
	}
	if (len == 0 || write_all(fd, text, len) < 0 || fsync_fd(fd) < 0) {
		int e = errno;
		close(fd);
		unlinkat(tfd, tmp, 0);
		errno = e ? e : EINVAL;
		rc = fail(err, "config: %s", strerror(errno));
		goto out;
	}
	close(fd);
	if (replace) {
		if (renameat(tfd, tmp, dfd, "config") < 0) {
			int e = errno;
			unlinkat(tfd, tmp, 0);
			errno = e;
			rc = fail(err, "config: %s", strerror(errno));
			goto out;
		}
	} else {
		if (linkat(tfd, tmp, dfd, "config", 0) < 0) {
			if (errno != EEXIST) {
				int e = errno;
				unlinkat(tfd, tmp, 0);
				errno = e;
				rc = fail(err, "config: %s", strerror(errno));
				goto out;
			}
			rc = 1;
		}
		unlinkat(tfd, tmp, 0);
	}
	if (fsync_fd(dfd) < 0)
		rc = fail(err, "fsync: %s", strerror(errno));
out:;
	int e = errno;
	close(tfd);
	errno = e;
	return rc;
}

/* The subdirectories and the scan file; existing ones are fine.  (The
 * scan file is also made on demand, so a reader without write access to
 * DIR can still open the queue.) */
static int make_layout(int dfd, char *err)
{
	static const char *const sub[] = { "tmp", "ready", "inflight" };
	for (size_t i = 0; i < sizeof sub / sizeof *sub; i++)
		if (mkdirat(dfd, sub[i], 0777) < 0 && errno != EEXIST)
			return fail(err, "mkdir %s: %s", sub[i], strerror(errno));
	int fd = openat(dfd, "scan", O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
	if (fd >= 0)
		close(fd);
	return 0;
}

/* fsync of the directory holding path (so a new entry in it is durable). */
static int fsync_parent(const char *path)
{
	char buf[CP_SPOOL_PATH_LEN];
	snprintf(buf, sizeof buf, "%s", path);
	size_t n = strlen(buf);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = 0;
	char *slash = strrchr(buf, '/');
	const char *parent = ".";
	if (slash == buf)
		parent = "/";
	else if (slash) {
		*slash = 0;
		parent = buf;
	}
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync_fd(fd);
	close(fd);
	return rc;
}

/* The dead-letter queue named in c (a path or file: URL), made absolute;
 * it must be an existing queue other than dfd's. */
static int resolve_dlq(struct cp_spool_config *c, int dfd, char *err)
{
	char path[CP_SPOOL_PATH_LEN], real[PATH_MAX];
	const char *in = c->dead_letter_queue;
	if (cp_spool_is_url(in)) {
		if (cp_spool_url_path(in, path, sizeof path, err) < 0)
			return -1;
	} else {
		snprintf(path, sizeof path, "%s", in);
	}
	if (!realpath(path, real))
		return fail(err, "dead-letter queue %s: %s", path, strerror(errno));
	int fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, "dead-letter queue %s: %s", real, strerror(errno));
	struct stat a, b;
	int isq = fstatat(fd, "config", &a, 0) == 0;
	int same = dfd >= 0 && fstat(fd, &a) == 0 && fstat(dfd, &b) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev;
	close(fd);
	if (!isq) {
		errno = ENOENT;
		return fail(err, "dead-letter queue %s is not a spool queue", real);
	}
	if (same)
		return einval(err, "a queue cannot be its own dead-letter queue");
	if (strlen(real) >= sizeof c->dead_letter_queue)
		return einval(err, "dead-letter queue path too long");
	strcpy(c->dead_letter_queue, real);
	return 0;
}

/* Creates dir's queue.  strict: an existing one must have the same
 * attributes.  c is already checked. */
static int create_queue(const char *dir, struct cp_spool_config *c, int strict, char *err)
{
	if (mkdir(dir, 0777) < 0 && errno != EEXIST)
		return fail(err, "%s: %s", dir, strerror(errno));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail(err, "%s: %s", dir, strerror(errno));
	int rc = -1;
	if (c->dead_letter_queue[0] && resolve_dlq(c, dfd, err) < 0)
		goto out;
	if (make_layout(dfd, err) < 0)
		goto out;
	c->created = now_ns() / NSEC;
	int w = config_write(dfd, c, 0, err);
	if (w < 0)
		goto out;
	if (w == 1 && strict) {
		struct cp_spool_config old;
		if (config_read(dfd, &old, NULL, err) < 0)
			goto out;
		if (!config_equal(&old, c)) {
			errno = EEXIST;
			fail(err, "%s: queue already exists with other attributes", dir);
			goto out;
		}
	}
	if (fsync_parent(dir) < 0) {
		fail(err, "%s: fsync: %s", dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:;
	int e = errno;
	close(dfd);
	errno = e;
	return rc;
}

int cp_spool_create(const char *dir, const struct cp_spool_config *c0, char *err)
{
	struct cp_spool_config c;
	if (c0)
		c = *c0;
	else
		cp_spool_config_default(&c);
	if (config_check(&c, err) < 0)
		return -1;
	return create_queue(dir, &c, 1, err);
}

int cp_spool_set_config(const char *dir, const struct cp_spool_config *c0, char *err)
{
	struct cp_spool_config c = *c0, old;
	if (config_check(&c, err) < 0)
		return -1;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail(err, "%s: %s", dir, strerror(errno));
	int rc = -1;
	if (config_read(dfd, &old, NULL, err) < 0)
		goto out;
	if (c.dead_letter_queue[0] && resolve_dlq(&c, dfd, err) < 0)
		goto out;
	c.created = old.created;
	rc = config_write(dfd, &c, 1, err) < 0 ? -1 : 0;
out:;
	int e = errno;
	close(dfd);
	errno = e;
	return rc;
}

/* ---- removing trees (DeleteQueue) ---- */

static int rm_tree_at(int dfd, const char *name, int depth)
{
	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if ((errno != EISDIR && errno != EPERM) || depth > 4)
		return -1;
	DIR *d = opendir_at(dfd, name);
	if (!d)
		return -1;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    rm_tree_at(dirfd(d), de->d_name, depth + 1) < 0)
			rc = -1;
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

int cp_spool_remove(const char *dir, char *err)
{
	char path[CP_SPOOL_PATH_LEN], aside[CP_SPOOL_PATH_LEN + 64];
	snprintf(path, sizeof path, "%s", dir);
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		path[--n] = 0;
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail(err, "%s: %s", dir, strerror(errno));
	struct stat st;
	int isq = fstatat(dfd, "config", &st, 0) == 0;
	close(dfd);
	if (!isq) {
		errno = ENOENT;
		return fail(err, "%s: not a spool queue (no config file)", dir);
	}
	unsigned char r[4] = { 0 };
	RAND_bytes(r, sizeof r);
	snprintf(aside, sizeof aside, "%s.deleted.%ld.%02x%02x%02x%02x", path, (long)getpid(),
	    r[0], r[1], r[2], r[3]);
	if (rename(path, aside) < 0)
		return fail(err, "%s: %s", dir, strerror(errno));
	fsync_parent(path);
	/* Someone may still be renaming into it: a few tries. */
	for (int i = 0; i < 5; i++)
		if (rm_tree_at(AT_FDCWD, aside, 0) == 0)
			return 0;
	return fail(err, "%s: removing: %s", aside, strerror(errno));
}

/* ---- opening ---- */

static int open_sub(int dfd, const char *name, char *err)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fail(err, "%s: %s", name, strerror(errno));
	return fd;
}

struct cp_spool *cp_spool_open(const char *dir, int flags, char *err)
{
	struct cp_spool *q = calloc(1, sizeof *q);
	if (!q || !(q->dir = strdup(dir))) {
		free(q);
		errno = ENOMEM;
		fail(err, "out of memory");
		return NULL;
	}
	q->dirfd = q->tmpfd = q->readyfd = q->inflightfd = q->ino_fd = -1;
	q->sb.fd = -1;
	q->sweep_ms = SWEEP_MS;
	struct stat st;
	q->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int missing = q->dirfd < 0 ? errno == ENOENT :
	    fstatat(q->dirfd, "config", &st, 0) < 0 && errno == ENOENT;
	if (missing && (flags & CP_SPOOL_CREATE)) {
		struct cp_spool_config c;
		cp_spool_config_default(&c);
		if (create_queue(dir, &c, 0, err) < 0)
			goto fail;
		if (q->dirfd < 0)
			q->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (q->dirfd < 0) {
		fail(err, "%s: %s", dir, errno == ENOENT ? "no such queue" : strerror(errno));
		goto fail;
	}
	if (config_read(q->dirfd, &q->cfg, &st, err) < 0) {
		if (errno == ENOENT)
			fail(err, "%s: not a spool queue (no config file)", dir);
		goto fail;
	}
	q->cfg_mtime = st.st_mtim;
	q->cfg_ino = st.st_ino;
	q->cfg_checked = now_ns();
	if (make_layout(q->dirfd, err) < 0 ||
	    (q->tmpfd = open_sub(q->dirfd, "tmp", err)) < 0 ||
	    (q->readyfd = open_sub(q->dirfd, "ready", err)) < 0 ||
	    (q->inflightfd = open_sub(q->dirfd, "inflight", err)) < 0)
		goto fail;
	if (RAND_bytes((unsigned char *)&q->rng, sizeof q->rng) != 1)
		q->rng = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32);
	snprintf(q->uid, sizeof q->uid, "%lu", (unsigned long)getuid());
	return q;
fail:;
	int e = errno;
	cp_spool_close(q);
	errno = e;
	return NULL;
}

static void cursor_reset(struct cp_spool *q)
{
	if (q->cur)
		closedir(q->cur);
	q->cur = NULL;
	q->nchunk = q->ichunk = 0;
	q->nbuckets = q->bi = 0;
}

void cp_spool_close(struct cp_spool *q)
{
	if (!q)
		return;
	cursor_reset(q);
	int fds[] = { q->dirfd, q->tmpfd, q->readyfd, q->inflightfd, q->ino_fd, q->sb.fd };
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	cp_spool_close(q->dlq);
	free(q->buckets);
	free(q->dir);
	free(q);
}

const struct cp_spool_config *cp_spool_get_config(struct cp_spool *q) { return &q->cfg; }
const char *cp_spool_dir(const struct cp_spool *q) { return q->dir; }

const char *cp_spool_warning(struct cp_spool *q)
{
	if (!q->has_warning)
		return NULL;
	q->has_warning = 0;
	return q->warning;
}

void cp_spool_set_sweep_interval(struct cp_spool *q, int ms)
{
	q->sweep_ms = ms < 0 ? 0 : ms;
}

/* Re-reads the configuration when the file changed (checked once a
 * second). */
static void config_refresh(struct cp_spool *q, int64_t now)
{
	if (now - q->cfg_checked < CONFIG_CHECK_MS * MSEC && now >= q->cfg_checked)
		return;
	q->cfg_checked = now;
	struct stat st;
	if (fstatat(q->dirfd, "config", &st, 0) < 0)
		return;
	if (st.st_ino == q->cfg_ino && st.st_mtim.tv_sec == q->cfg_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == q->cfg_mtime.tv_nsec)
		return;
	struct cp_spool_config c;
	char err[CP_ERR_LEN];
	if (config_read(q->dirfd, &c, &st, err) < 0) {
		warn(q, "%s: %s (keeping the previous configuration)", q->dir, err);
		return;
	}
	q->cfg = c;
	q->cfg_mtime = st.st_mtim;
	q->cfg_ino = st.st_ino;
}

/* ---- message attributes ---- */

static int b64_val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict base64 (padding required).  *out is malloc'd. */
static int b64_decode(const char *s, size_t n, unsigned char **out, size_t *outlen)
{
	if (n % 4)
		return -1;
	unsigned char *o = malloc(n / 4 * 3 + 1);
	if (!o)
		return -1;
	size_t k = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int j = 0; j < 4; j++) {
			if (s[i + j] == '=' && i + 4 == n && j >= 2) {
				v[j] = 0;
				pad++;
			} else if (pad || (v[j] = b64_val((unsigned char)s[i + j])) < 0) {
				free(o);
				return -1;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		o[k++] = (unsigned char)(w >> 16);
		if (pad < 2)
			o[k++] = (unsigned char)(w >> 8);
		if (pad < 1)
			o[k++] = (unsigned char)w;
	}
	*out = o;
	*outlen = k;
	return 0;
}

static void md5_field(EVP_MD_CTX *h, const void *p, size_t n)
{
	unsigned char len[4] = {
		(unsigned char)(n >> 24), (unsigned char)(n >> 16),
		(unsigned char)(n >> 8), (unsigned char)n,
	};
	EVP_DigestUpdate(h, len, 4);
	EVP_DigestUpdate(h, p, n);
}

static int valid_attr_name(const char *s, size_t n)
{
	if (n == 0 || n > 256 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	if (strncasecmp(s, "AWS.", 4) == 0 || strncasecmp(s, "Amazon.", 7) == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return 0;
		if (c == '.' && i > 0 && s[i - 1] == '.')
			return 0;
	}
	return 1;
}

/* "String", "Number", "Binary", each with an optional ".label"; returns
 * 'S', 'N', 'B' or 0. */
static int data_type(const char *s, size_t n)
{
	static const char *const base[] = { "String", "Number", "Binary" };
	if (n > 256)
		return 0;
	for (int i = 0; i < 3; i++) {
		size_t b = strlen(base[i]);
		if (n >= b && memcmp(s, base[i], b) == 0 && (n == b || (s[b] == '.' && n > b + 1))) {
			for (size_t j = b; j < n; j++)
				if ((unsigned char)s[j] < 0x20 || s[j] == 0x7f)
					return 0;
			return "SNB"[i];
		}
	}
	return 0;
}

static int valid_number(const char *s)
{
	const char *p = s;
	if (*p == '+' || *p == '-')
		p++;
	int digits = 0;
	while (*p >= '0' && *p <= '9')
		p++, digits++;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++, digits++;
	}
	if (!digits)
		return 0;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == 0;
}

/* Feeds one value (a JSON string; decoded when binary) to h. */
static int md5_value(EVP_MD_CTX *h, jv v, int type, const char *name, char *err)
{
	int rc = 0;
	if (jv_get_kind(v) != JV_KIND_STRING || jv_string_length_bytes(jv_copy(v)) == 0) {
		rc = einval(err, "message attribute %s: the value must be a non-empty string", name);
	} else if (type == 'B') {
		unsigned char *bin;
		size_t blen;
		if (b64_decode(jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)), &bin, &blen) < 0) {
			rc = einval(err, "message attribute %s: BinaryValue is not base64", name);
		} else {
			md5_field(h, bin, blen);
			free(bin);
		}
	} else {
		if (type == 'N' && !valid_number(jv_string_value(v)))
			rc = einval(err, "message attribute %s: \"%.40s\" is not a Number", name, jv_string_value(v));
		else
			md5_field(h, jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)));
	}
	jv_free(v);
	return rc;
}

/* One attribute (name, value object) into h. */
static int md5_attr(EVP_MD_CTX *h, jv k, jv a, char *err)
{
	const char *name = jv_string_value(k);
	size_t nlen = (size_t)jv_string_length_bytes(jv_copy(k));
	int rc = -1;
	jv dt = jv_invalid();
	if (!valid_attr_name(name, nlen)) {
		einval(err, "message attribute name \"%.64s\" is invalid", name);
		goto out;
	}
	if (jv_get_kind(a) != JV_KIND_OBJECT) {
		einval(err, "message attribute %s is not an object", name);
		goto out;
	}
	int nvals = 0, known = 1;
	jv_object_foreach(a, key, val) {
		const char *ks = jv_string_value(key);
		if (strcmp(ks, "StringValue") == 0 || strcmp(ks, "BinaryValue") == 0 ||
		    strcmp(ks, "StringListValues") == 0 || strcmp(ks, "BinaryListValues") == 0) {
			if (jv_get_kind(val) != JV_KIND_NULL)
				nvals++;
		} else if (strcmp(ks, "DataType") != 0) {
			known = 0;
		}
		jv_free(key);
		jv_free(val);
	}
	if (!known) {
		einval(err, "message attribute %s: unknown member (DataType, StringValue, BinaryValue expected)", name);
		goto out;
	}
	dt = jv_object_get(jv_copy(a), jv_string("DataType"));
	int type = 0;
	if (jv_get_kind(dt) == JV_KIND_STRING)
		type = data_type(jv_string_value(dt), (size_t)jv_string_length_bytes(jv_copy(dt)));
	if (!type) {
		einval(err, "message attribute %s: DataType must be String, Number or Binary", name);
		goto out;
	}
	if (nvals != 1) {
		einval(err, "message attribute %s: exactly one value expected", name);
		goto out;
	}
	md5_field(h, name, nlen);
	md5_field(h, jv_string_value(dt), (size_t)jv_string_length_bytes(jv_copy(dt)));
	const char *single = type == 'B' ? "BinaryValue" : "StringValue";
	const char *list = type == 'B' ? "BinaryListValues" : "StringListValues";
	jv v = jv_object_get(jv_copy(a), jv_string(single));
	if (jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL) {
		unsigned char t = type == 'B' ? 2 : 1;
		EVP_DigestUpdate(h, &t, 1);
		rc = md5_value(h, v, type, name, err);
		goto out;
	}
	jv_free(v);
	v = jv_object_get(jv_copy(a), jv_string(list));
	if (jv_get_kind(v) != JV_KIND_ARRAY || jv_array_length(jv_copy(v)) < 1 ||
	    jv_array_length(jv_copy(v)) > LIST_MAX_N) {
		jv_free(v);
		einval(err, "message attribute %s: a %s of type %s expected", name, single, jv_string_value(dt));
		goto out;
	}
	unsigned char t = type == 'B' ? 4 : 3;
	EVP_DigestUpdate(h, &t, 1);
	rc = 0;
	int len = jv_array_length(jv_copy(v));
	for (int i = 0; i < len && rc == 0; i++)
		rc = md5_value(h, jv_array_get(jv_copy(v), i), type, name, err);
	jv_free(v);
out:
	jv_free(dt);
	jv_free(k);
	jv_free(a);
	return rc;
}

/* Checks attributes and computes their MD5; *parsed (may be NULL) gets the
 * object. */
static int attrs_check(const char *json, size_t len, char md5[CP_SPOOL_MD5_LEN], jv *parsed, char *err)
{
	md5[0] = 0;
	if (len > CP_SPOOL_MAX_ATTRS)
		return einval(err, "message attributes: %zu bytes of JSON, more than %d", len, CP_SPOOL_MAX_ATTRS);
	jv v = jv_parse_sized(json, (int)len);
	if (!jv_is_valid(v)) {
		jv msg = jv_invalid_get_msg(v);
		einval(err, "message attributes: %s", jv_get_kind(msg) == JV_KIND_STRING ?
		    jv_string_value(msg) : "invalid JSON");
		jv_free(msg);
		return -1;
	}
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		return einval(err, "message attributes: a JSON object expected");
	}
	int n = jv_object_length(jv_copy(v));
	if (n > ATTRS_MAX_N) {
		jv_free(v);
		return einval(err, "message attributes: %d attributes, at most %d", n, ATTRS_MAX_N);
	}
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	if (!h || !EVP_DigestInit_ex(h, EVP_md5(), NULL)) {
		EVP_MD_CTX_free(h);
		jv_free(v);
		errno = ENOMEM;
		return fail(err, "MD5 unavailable");
	}
	jv keys = jv_keys(jv_copy(v)); /* sorted by code point: SQS's order
	                                * for the ASCII names allowed */
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		jv k = jv_array_get(jv_copy(keys), i);
		rc = md5_attr(h, jv_copy(k), jv_object_get(jv_copy(v), k), err);
	}
	jv_free(keys);
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	if (rc == 0 && (!EVP_DigestFinal_ex(h, d, &dl) || dl != 16))
		rc = fail(err, "MD5 failed");
	EVP_MD_CTX_free(h);
	if (rc < 0) {
		jv_free(v);
		return -1;
	}
	for (int i = 0; i < 16; i++)
		snprintf(md5 + 2 * i, 3, "%02x", d[i]);
	if (parsed)
		*parsed = v;
	else
		jv_free(v);
	return 0;
}

int cp_spool_attrs_md5(const char *json, size_t len, char out[CP_SPOOL_MD5_LEN], char *err)
{
	return attrs_check(json, len, out, NULL, err);
}

/* ---- buckets ---- */

/* Opens (creating it if needed) the bucket b->sec of queue t. */
static int bucket_open(struct cp_spool *t, struct bref *b, char *err)
{
	char name[24];
	snprintf(name, sizeof name, "%lld", (long long)b->sec);
	b->durable = 0;
	/* A receiver may remove the (empty, past) bucket between our mkdir
	 * and open: then again. */
	for (int tries = 0;; tries++) {
		if (mkdirat(t->readyfd, name, 0777) < 0 && errno != EEXIST)
			return fail(err, "mkdir ready/%s: %s", name, strerror(errno));
		b->fd = openat(t->readyfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (b->fd >= 0)
			return 0;
		if (errno != ENOENT || tries >= 100)
			return fail(err, "ready/%s: %s", name, strerror(errno));
	}
}

/* Renames srcfd/src to dst in bucket b of queue t, creating the bucket
 * again if a receiver removed it meanwhile.  0 moved, 1 the source is
 * gone, -1 error. */
static int put_ready(struct cp_spool *t, int srcfd, const char *src, const char *dst,
    struct bref *b, char *err)
{
	for (int tries = 0;; tries++) {
		if (b->fd < 0 && bucket_open(t, b, err) < 0)
			return -1;
		if (renameat(srcfd, src, b->fd, dst) == 0)
			return 0;
		if (errno != ENOENT || tries >= 10)
			return fail(err, "rename %s: %s", src, strerror(errno));
		struct stat st;
		if (fstatat(srcfd, src, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return errno == ENOENT ? 1 : fail(err, "%s: %s", src, strerror(errno));
		close(b->fd); /* the bucket was removed under us */
		b->fd = -1;
	}
}

/* ---- in-flight messages ---- */

/* Opens and locks inflight/name, checking that the name still links to
 * the locked file.  1 (fd and st set), 0 gone, -1 error. */
static int lock_inflight(struct cp_spool *q, const char *name, int *fdp, struct stat *st, char *err)
{
	int fd = openat(q->inflightfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : fail(err, "inflight/%s: %s", name, strerror(errno));
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int e = errno;
			close(fd);
			errno = e;
			return fail(err, "flock: %s", strerror(errno));
		}
	}
	struct stat now;
	if (fstat(fd, st) < 0 || fstatat(q->inflightfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
	    now.st_ino != st->st_ino || now.st_dev != st->st_dev || st->st_nlink == 0) {
		close(fd);
		return 0;
	}
	*fdp = fd;
	return 1;
}

static struct cp_spool *dlq_handle(struct cp_spool *q, char *err)
{
	if (q->dlq && strcmp(q->dlq->dir, q->cfg.dead_letter_queue) == 0)
		return q->dlq;
	cp_spool_close(q->dlq);
	q->dlq = cp_spool_open(q->cfg.dead_letter_queue, 0, err);
	return q->dlq;
}

/* The DLQ is on another filesystem: a durable copy there, then the
 * original goes. */
static int copy_to_dlq(struct cp_spool *d, int fd, const char *rname, struct bref *b, char *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return fail(err, "fstat: %s", strerror(errno));
	size_t size = (size_t)st.st_size;
	char *buf = malloc(size ? size : 1);
	if (!buf) {
		errno = ENOMEM;
		return fail(err, "out of memory");
	}
	char tmp[NAME_LEN + 24];
	snprintf(tmp, sizeof tmp, "%.36s.dlq.%016llx", rname, (unsigned long long)rnd(d));
	int rc = -1;
	int out = -1;
	if (pread_all(fd, buf, size) != (ssize_t)size) {
		fail(err, "read: %s", strerror(errno ? errno : EIO));
		goto done;
	}
	out = openat(d->tmpfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (out < 0 || write_all(out, buf, size) < 0 || fdatasync(out) < 0) {
		fail(err, "dead-letter copy: %s", strerror(errno));
		if (out >= 0)
			unlinkat(d->tmpfd, tmp, 0);
		goto done;
	}
	rc = put_ready(d, d->tmpfd, tmp, rname, b, err);
	if (rc != 0) {
		unlinkat(d->tmpfd, tmp, 0);
		rc = -1;
	}
done:
	if (out >= 0)
		close(out);
	free(buf);
	return rc;
}

/* Moves the locked in-flight message to the dead-letter queue. */
static int to_dlq(struct cp_spool *q, int fd, const char *iname, const struct mname *m, int64_t now)
{
	char err[CP_ERR_LEN];
	struct cp_spool *d = dlq_handle(q, err);
	if (!d) {
		warn(q, "message %s stays here: dead-letter queue: %s", m->id, err);
		return -1;
	}
	struct mname r = *m;
	r.token[0] = 0;
	char rname[NAME_LEN];
	fmt_name(rname, &r, 0);
	struct bref b = { now / NSEC, -1, 0 };
	int rc = put_ready(d, q->inflightfd, iname, rname, &b, err);
	if (rc < 0 && errno == EXDEV) {
		rc = copy_to_dlq(d, fd, rname, &b, err);
		if (rc == 0) {
			fsync_fd(b.fd);
			fsync_fd(d->readyfd);
			unlinkat(q->inflightfd, iname, 0);
		}
	} else if (rc == 0) {
		fsync_fd(b.fd);
		fsync_fd(d->readyfd);
		fsync_fd(q->inflightfd);
	}
	if (b.fd >= 0)
		close(b.fd);
	if (rc < 0)
		warn(q, "message %s stays here: dead-letter queue %s: %s", m->id, d->dir, err);
	return rc;
}

static int retention_over(const struct cp_spool *q, const struct mname *m, int64_t now)
{
	return now / MSEC - m->sent > (int64_t)q->cfg.retention_period * 1000;
}

/* The locked in-flight message is visible again: gone when past its
 * retention, to the dead-letter queue when received maxReceiveCount
 * times, else back to ready/ in the current second's bucket. */
static int release(struct cp_spool *q, int fd, const char *iname, const struct mname *m,
    int64_t now, char *err)
{
	if (retention_over(q, m, now)) {
		if (unlinkat(q->inflightfd, iname, 0) < 0 && errno != ENOENT)
			return fail(err, "unlink: %s", strerror(errno));
		return 0;
	}
	if (q->cfg.max_receive_count > 0 && m->count >= q->cfg.max_receive_count)
		return to_dlq(q, fd, iname, m, now) < 0 ? 1 : 0;
	set_mtime(fd, now);
	struct mname r = *m;
	r.token[0] = 0;
	char rname[NAME_LEN];
	fmt_name(rname, &r, 0);
	struct bref b = { now / NSEC, -1, 0 };
	int rc = put_ready(q, q->inflightfd, iname, rname, &b, err);
	if (b.fd >= 0)
		close(b.fd);
	return rc < 0 ? -1 : 0;
}

/* Makes inflight/name visible again if its deadline has passed. */
static void expire(struct cp_spool *q, const char *name, int64_t now)
{
	struct mname m;
	struct stat st;
	int fd;
	char err[CP_ERR_LEN];
	if (parse_name(name, &m, 1) < 0)
		return;
	int r = lock_inflight(q, name, &fd, &st, err);
	if (r < 0)
		warn(q, "%s", err);
	if (r != 1)
		return;
	if (mtime_ns(&st) <= now && release(q, fd, name, &m, now, err) < 0)
		warn(q, "requeueing %s: %s", m.id, err);
	close(fd);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in soon/: in-flight messages whose deadline a change of
 * visibility moved before their DUE.  A sorted array, NULL-terminated. */
static char **read_soon(struct cp_spool *q, size_t *np)
{
	*np = 0;
	DIR *d = opendir_at(q->dirfd, "soon");
	if (!d)
		return NULL;
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **nv = realloc(v, cap * sizeof *v);
			if (!nv)
				break;
			v = nv;
		}
		if (!(v[n] = strdup(de->d_name)))
			break;
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_str);
	*np = n;
	return v;
}

static int sweep(struct cp_spool *q, int tmp_age, char *err)
{
	int64_t now = now_ns();
	size_t nsoon;
	char **soon = read_soon(q, &nsoon);
	DIR *d = opendir_at(q->inflightfd, ".");
	if (!d) {
		for (size_t i = 0; i < nsoon; i++)
			free(soon[i]);
		free(soon);
		return fail(err, "inflight: %s", strerror(errno));
	}
	struct dirent *de;
	struct stat st;
	struct mname m;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || parse_name(de->d_name, &m, 1) < 0)
			continue;
		/* Not due yet: the deadline can only be later, unless soon/
		 * says it was moved earlier.  No stat needed. */
		const char *key = de->d_name;
		if (m.due * MSEC > now && !(nsoon && bsearch(&key, soon, nsoon, sizeof *soon, cmp_str)))
			continue;
		if (fstatat(q->inflightfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || mtime_ns(&st) > now)
			continue;
		expire(q, de->d_name, now);
	}
	closedir(d);
	/* Markers of messages no longer in flight go. */
	if (nsoon) {
		int sfd = openat(q->dirfd, "soon", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		for (size_t i = 0; i < nsoon; i++) {
			if (sfd >= 0 && fstatat(q->inflightfd, soon[i], &st, AT_SYMLINK_NOFOLLOW) < 0 &&
			    errno == ENOENT)
				unlinkat(sfd, soon[i], 0);
			free(soon[i]);
		}
		if (sfd >= 0)
			close(sfd);
	}
	free(soon);
	if (!(d = opendir_at(q->tmpfd, ".")))
		return fail(err, "tmp: %s", strerror(errno));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(q->tmpfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    now - mtime_ns(&st) >= (int64_t)tmp_age * NSEC)
			unlinkat(q->tmpfd, de->d_name, 0);
	}
	closedir(d);
	return 0;
}

/* Runs a sweep when none ran (in any process) for sweep_ms. */
static void maybe_sweep(struct cp_spool *q, int64_t now)
{
	int64_t check = q->sweep_ms < 100 ? q->sweep_ms : 100;
	if (now - q->sweep_checked < check * MSEC && now >= q->sweep_checked)
		return;
	q->sweep_checked = now;
	struct stat st;
	if (fstatat(q->dirfd, "scan", &st, 0) == 0) {
		int64_t last = mtime_ns(&st);
		/* (a stamp far in the future is a clock stepped back) */
		if (now - last < (int64_t)q->sweep_ms * MSEC && last <= now + 60 * NSEC)
			return;
	}
	if (utimensat(q->dirfd, "scan", NULL, 0) < 0 && errno == ENOENT) {
		int fd = openat(q->dirfd, "scan", O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
		if (fd >= 0)
			close(fd);
	}
	char err[CP_ERR_LEN];
	if (sweep(q, TMP_MAX_AGE, err) < 0)
		warn(q, "sweep: %s", err);
}

int cp_spool_sweep(struct cp_spool *q, int tmp_max_age, char *err)
{
	utimensat(q->dirfd, "scan", NULL, 0);
	q->sweep_checked = now_ns();
	return sweep(q, tmp_max_age < 0 ? TMP_MAX_AGE : tmp_max_age, err);
}

/* ---- sending ---- */

struct prepared {
	int ok;
	char id[CP_UUID_LEN];
	char name[NAME_LEN];
	jv hdr;                 /* the header line, a jv string */
	int64_t sec;            /* bucket */
	int written;            /* tmp/ID exists */
	int fd;                 /* tmp/ID, open until synced */
};

static int valid_id_string(const char *s, const char *what, char *err)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128)
		return einval(err, "%s must have 1 to 128 characters", what);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return einval(err, "%s: only printable ASCII characters are allowed", what);
	return 0;
}

static int prepare(struct cp_spool *q, const struct cp_spool_entry *e, struct prepared *p,
    struct cp_spool_result *r, int64_t now, char *err)
{
	jv attrs = jv_invalid();
	if (!e->body && e->body_len)
		return einval(err, "no body");
	if (e->body_len > CP_SPOOL_MAX_BODY)
		return einval(err, "message body of %zu bytes is longer than %d", e->body_len, CP_SPOOL_MAX_BODY);
	int delay = e->delay_seconds < 0 ? q->cfg.delay_seconds : e->delay_seconds;
	if (delay > CP_SPOOL_MAX_DELAY)
		return einval(err, "DelaySeconds %d is not in 0..%d", delay, CP_SPOOL_MAX_DELAY);
	if (e->group_id && valid_id_string(e->group_id, "MessageGroupId", err) < 0)
		return -1;
	if (e->dedup_id && valid_id_string(e->dedup_id, "MessageDeduplicationId", err) < 0)
		return -1;
	if (e->attrs && e->attrs_len && attrs_check(e->attrs, e->attrs_len, r->md5_attrs, &attrs, err) < 0)
		return -1;
	if (jv_is_valid(attrs) && jv_object_length(jv_copy(attrs)) == 0) {
		jv_free(attrs); /* {}: no attributes, as SQS reports it */
		attrs = jv_invalid();
		r->md5_attrs[0] = 0;
	}
	if (md5_hex(e->body ? e->body : "", e->body_len, r->md5_body) < 0) {
		jv_free(attrs);
		return fail(err, "MD5 failed");
	}
	if (cp_time_uuidv7(p->id, err) < 0) {
		jv_free(attrs);
		return -1;
	}
	int64_t sent = now / MSEC;
	jv h = JV_OBJECT(jv_string("spool"), jv_number(1), jv_string("id"), jv_string(p->id),
	    jv_string("sent"), jv_number((double)sent), jv_string("len"), jv_number((double)e->body_len),
	    jv_string("md5"), jv_string(r->md5_body), jv_string("sender"), jv_string(q->uid));
	if (jv_is_valid(attrs)) {
		h = jv_object_set(h, jv_string("attrs"), attrs);
		h = jv_object_set(h, jv_string("attrs_md5"), jv_string(r->md5_attrs));
	}
	if (e->group_id)
		h = jv_object_set(h, jv_string("group"), jv_string(e->group_id));
	if (e->dedup_id)
		h = jv_object_set(h, jv_string("dedup"), jv_string(e->dedup_id));
	p->hdr = jv_dump_string(h, 0);
	p->sec = now / NSEC + (delay ? delay + (now % NSEC != 0) : 0);
	struct mname m = { .sent = sent, .first = 0, .count = 0 };
	memcpy(m.id, p->id, sizeof m.id);
	m.token[0] = 0;
	fmt_name(p->name, &m, 0);
	memcpy(r->id, p->id, sizeof r->id);
	p->ok = 1;
	return 0;
}

static int write_tmp(struct cp_spool *q, struct prepared *p, const struct cp_spool_entry *e, char *err)
{
	int fd = openat(q->tmpfd, p->id, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		return fail(err, "tmp/%s: %s", p->id, strerror(errno));
	p->written = 1;
	struct iovec iov[3] = {
		{ (void *)jv_string_value(p->hdr), (size_t)jv_string_length_bytes(jv_copy(p->hdr)) },
		{ "\n", 1 },
		{ (void *)(e->body ? e->body : ""), e->body_len },
	};
	size_t total = iov[0].iov_len + 1 + e->body_len, done = 0;
	int iovi = 0;
	while (done < total) {
		ssize_t w = writev(fd, iov + iovi, 3 - iovi);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto bad;
		}
		done += (size_t)w;
		while (iovi < 3 && (size_t)w >= iov[iovi].iov_len) {
			w -= (ssize_t)iov[iovi].iov_len;
			iovi++;
		}
		if (iovi < 3) {
			iov[iovi].iov_base = (char *)iov[iovi].iov_base + w;
			iov[iovi].iov_len -= (size_t)w;
		}
	}
	p->fd = fd;
	return 0;
bad:;
	int ee = errno;
	if (fd >= 0)
		close(fd);
	errno = ee;
	return fail(err, "writing tmp/%s: %s", p->id, strerror(errno));
}

static int send_batch(struct cp_spool *q, const struct cp_spool_entry *e, size_t n,
    struct cp_spool_result *r, char *err)
{
	struct prepared p[CP_SPOOL_RECV_MAX];
	struct bref refs[CP_SPOOL_RECV_MAX];
	size_t nrefs = 0, nok = 0, i;
	int used_sb = 0, rc = -1;
	int64_t now = now_ns();
	config_refresh(q, now);
	memset(p, 0, sizeof p);
	for (i = 0; i < n; i++) {
		memset(&r[i], 0, sizeof r[i]);
		p[i].hdr = jv_invalid();
		p[i].fd = -1;
		if (prepare(q, &e[i], &p[i], &r[i], now, r[i].err) < 0) {
			r[i].status = -1;
			snprintf(err, CP_ERR_LEN, "%s", r[i].err);
		} else {
			nok++;
		}
	}
	if (nok == 0) {
		rc = 0;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!p[i].ok)
			continue;
		if (write_tmp(q, &p[i], &e[i], err) < 0)
			goto out;
		/* Start the write-out now and wait for all of them after, so
		 * their block allocations share one journal commit. */
		if (nok > 1)
			sync_file_range(p[i].fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	}
	for (i = 0; i < n; i++) {
		if (!p[i].ok)
			continue;
		int rs = fdatasync(p[i].fd);
		if (close(p[i].fd) < 0)
			rs = -1;
		p[i].fd = -1;
		if (rs < 0) {
			fail(err, "writing tmp/%s: %s", p[i].id, strerror(errno));
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		if (!p[i].ok)
			continue;
		struct bref *b = NULL;
		if (q->sb.fd >= 0 && q->sb.sec == p[i].sec) {
			b = &q->sb;
			used_sb = 1;
		} else {
			for (size_t j = 0; j < nrefs && !b; j++)
				if (refs[j].sec == p[i].sec)
					b = &refs[j];
			if (!b) {
				b = &refs[nrefs++];
				*b = (struct bref){ p[i].sec, -1, 0 };
			}
		}
		int pr = put_ready(q, q->tmpfd, p[i].id, p[i].name, b, err);
		if (pr == 1) {
			errno = ENOENT;
			fail(err, "tmp/%s vanished before its rename (stale temp files are removed after %d s)",
			    p[i].id, TMP_MAX_AGE);
		}
		if (pr != 0)
			goto out;
		p[i].written = 0;
	}
	/* Durable: each bucket written to, and ready/ when a bucket is new to
	 * this handle (its entry in ready/ may not be on disk yet). */
	int need_ready = used_sb && !q->sb.durable;
	if (used_sb && fsync_fd(q->sb.fd) < 0)
		goto sync_failed;
	for (i = 0; i < nrefs; i++) {
		need_ready |= !refs[i].durable;
		if (fsync_fd(refs[i].fd) < 0)
			goto sync_failed;
	}
	if (need_ready && fsync_fd(q->readyfd) < 0)
		goto sync_failed;
	if (used_sb)
		q->sb.durable = 1;
	for (i = 0; i < nrefs; i++)
		refs[i].durable = 1;
	for (i = 0; i < n; i++)
		if (p[i].ok)
			r[i].status = 0;
	rc = (int)nok;
	goto out;
sync_failed:
	fail(err, "fsync: %s", strerror(errno));
out:;
	int e2 = errno;
	if (rc < 0) {
		for (i = 0; i < n; i++) {
			if (p[i].ok) {
				r[i].status = -1;
				snprintf(r[i].err, sizeof r[i].err, "%s", err);
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (p[i].fd >= 0)
			close(p[i].fd);
		if (p[i].written)
			unlinkat(q->tmpfd, p[i].id, 0);
		jv_free(p[i].hdr);
	}
	/* Keep the current second's bucket open for the next send. */
	for (i = 0; i < nrefs; i++) {
		if (rc > 0 && refs[i].sec == now / NSEC && refs[i].fd >= 0) {
			if (q->sb.fd >= 0)
				close(q->sb.fd);
			q->sb = refs[i];
		} else if (refs[i].fd >= 0) {
			close(refs[i].fd);
		}
	}
	errno = e2;
	return rc;
}

int cp_spool_send_batch(struct cp_spool *q, const struct cp_spool_entry *e, size_t n,
    struct cp_spool_result *r, char *err)
{
	if (n < 1 || n > CP_SPOOL_RECV_MAX)
		return einval(err, "a batch has 1 to %d entries, not %zu", CP_SPOOL_RECV_MAX, n);
	char lerr[CP_ERR_LEN] = "";
	int rc = send_batch(q, e, n, r, lerr);
	int e2 = errno;
	if (err)
		snprintf(err, CP_ERR_LEN, "%s", lerr);
	errno = e2;
	return rc;
}

int cp_spool_send(struct cp_spool *q, const struct cp_spool_entry *e, struct cp_spool_result *r,
    char *err)
{
	int n = cp_spool_send_batch(q, e, 1, r, err);
	if (n == 1)
		return 0;
	if (n == 0) {
		if (err)
			snprintf(err, CP_ERR_LEN, "%s", r->err);
		errno = EINVAL;
	}
	return -1;
}

/* ---- receiving ---- */

void cp_spool_recv_default(struct cp_spool_recv *o)
{
	o->max = CP_SPOOL_RECV_MAX;
	o->visibility_timeout = -1;
	o->wait_seconds = -1;
	o->stop_fd = -1;
}

void cp_spool_msg_free(struct cp_spool_msg *m)
{
	if (!m)
		return;
	free(m->mem_);
	m->mem_ = NULL;
	m->body = m->attrs = NULL;
	m->body_len = m->attrs_len = 0;
}

static void watch_bucket(struct cp_spool *q, int64_t sec)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d/%lld", q->readyfd, (long long)sec);
	inotify_add_watch(q->ino_fd, p, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Reads the list of buckets again. */
static int relist(struct cp_spool *q, int64_t now_sec, char *err)
{
	DIR *d = opendir_at(q->readyfd, ".");
	if (!d)
		return fail(err, "ready: %s", strerror(errno));
	q->nbuckets = q->bi = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		int64_t sec = parse_bucket(de->d_name);
		if (sec < 0)
			continue;
		if (q->nbuckets == q->bcap) {
			size_t cap = q->bcap ? q->bcap * 2 : 64;
			int64_t *nb = realloc(q->buckets, cap * sizeof *nb);
			if (!nb) {
				closedir(d);
				errno = ENOMEM;
				return fail(err, "out of memory");
			}
			q->buckets = nb;
			q->bcap = cap;
		}
		q->buckets[q->nbuckets++] = sec;
	}
	closedir(d);
	if (q->nbuckets > 1)
		qsort(q->buckets, q->nbuckets, sizeof *q->buckets, cmp_i64);
	if (q->ino_fd >= 0)
		for (size_t i = 0; i < q->nbuckets && q->buckets[i] <= now_sec + 1; i++)
			watch_bucket(q, q->buckets[i]);
	return 0;
}

static int fill_chunk(struct cp_spool *q)
{
	int n = 0;
	struct dirent *de;
	while (n < CHUNK && (de = readdir(q->cur))) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= NAME_LEN)
			continue;
		strcpy(q->chunk[n++], de->d_name);
	}
	q->nchunk = n;
	q->ichunk = 0;
	q->rot = n ? (int)(rnd(q) % (uint64_t)n) : 0;
	return n;
}

/* The next name to try: 1 (*name, *bfd set), 0 when nothing is visible,
 * -1 error.  *relisted: whether this receive already read ready/. */
static int next_name(struct cp_spool *q, int64_t now_sec, int *relisted, const char **name,
    int *bfd, char *err)
{
	for (;;) {
		if (q->ichunk < q->nchunk) {
			int i = (q->rot + q->ichunk++) % q->nchunk;
			*name = q->chunk[i];
			*bfd = dirfd(q->cur);
			return 1;
		}
		if (q->cur) {
			if (fill_chunk(q) > 0)
				continue;
			closedir(q->cur);
			q->cur = NULL;
			if (q->cur_sec < now_sec) {
				char b[24];
				snprintf(b, sizeof b, "%lld", (long long)q->cur_sec);
				unlinkat(q->readyfd, b, AT_REMOVEDIR); /* if empty */
			}
			q->bi++;
			continue;
		}
		while (q->bi < q->nbuckets && q->buckets[q->bi] <= now_sec) {
			char b[24];
			snprintf(b, sizeof b, "%lld", (long long)q->buckets[q->bi]);
			if ((q->cur = opendir_at(q->readyfd, b))) {
				q->cur_sec = q->buckets[q->bi];
				break;
			}
			q->bi++; /* removed meanwhile */
		}
		if (q->cur)
			continue;
		if (*relisted)
			return 0;
		if (relist(q, now_sec, err) < 0)
			return -1;
		*relisted = 1;
	}
}

/* Reads the locked message file into out.  1 ok, 0 corrupt (why set),
 * -1 I/O error (why set). */
static int load(int fd, const struct stat *st, const struct mname *n, const char *iname,
    struct cp_spool_msg *out, char *why)
{
	size_t size = (size_t)st->st_size;
	memset(out, 0, sizeof *out);
	if (st->st_size < 2 || size > CP_SPOOL_MAX_BODY + (size_t)HEADER_MAX) {
		snprintf(why, CP_ERR_LEN, "size %lld out of range", (long long)st->st_size);
		return 0;
	}
	char *buf = malloc(size + 1);
	if (!buf) {
		snprintf(why, CP_ERR_LEN, "out of memory");
		return -1;
	}
	ssize_t got = pread_all(fd, buf, size);
	if (got < 0) {
		snprintf(why, CP_ERR_LEN, "read: %s", strerror(errno));
		free(buf);
		return -1;
	}
	int rc = 0;
	jv h = jv_invalid();
	if ((size_t)got != size) {
		snprintf(why, CP_ERR_LEN, "short file");
		goto out;
	}
	buf[size] = 0;
	char *nl = memchr(buf, '\n', size);
	if (!nl) {
		snprintf(why, CP_ERR_LEN, "no header");
		goto out;
	}
	size_t hlen = (size_t)(nl - buf), blen = size - hlen - 1;
	h = jv_parse_sized(buf, (int)hlen);
	if (jv_get_kind(h) != JV_KIND_OBJECT) {
		snprintf(why, CP_ERR_LEN, "bad header");
		goto out;
	}
	jv id = jv_object_get(jv_copy(h), jv_string("id"));
	jv len = jv_object_get(jv_copy(h), jv_string("len"));
	jv md5 = jv_object_get(jv_copy(h), jv_string("md5"));
	int good = jv_get_kind(id) == JV_KIND_STRING && strcmp(jv_string_value(id), n->id) == 0 &&
	    jv_get_kind(len) == JV_KIND_NUMBER && jv_number_value(len) == (double)blen &&
	    jv_get_kind(md5) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(md5)) == 32;
	if (good) {
		md5_hex(nl + 1, blen, out->md5_body);
		good = strcmp(out->md5_body, jv_string_value(md5)) == 0;
	}
	jv_free(id);
	jv_free(len);
	jv_free(md5);
	if (!good) {
		snprintf(why, CP_ERR_LEN, "header does not match the body (length or MD5)");
		goto out;
	}
#define MSG_STR(key, f) { key, offsetof(struct cp_spool_msg, f), \
	sizeof ((struct cp_spool_msg *)0)->f }
	static const struct {
		const char *key;
		size_t off, size;
	} strs[] = {
		MSG_STR("sender", sender_id),
		MSG_STR("group", group_id),
		MSG_STR("dedup", dedup_id),
		MSG_STR("attrs_md5", md5_attrs),
	};
#undef MSG_STR
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
		jv s = jv_object_get(jv_copy(h), jv_string(strs[i].key));
		char *dst = (char *)out + strs[i].off;
		dst[0] = 0;
		if (jv_get_kind(s) == JV_KIND_STRING)
			snprintf(dst, strs[i].size, "%s", jv_string_value(s));
		jv_free(s);
	}
	jv a = jv_object_get(jv_copy(h), jv_string("attrs"));
	size_t alen = 0;
	if (jv_get_kind(a) == JV_KIND_OBJECT) {
		jv s = jv_dump_string(a, 0);
		alen = (size_t)jv_string_length_bytes(jv_copy(s));
		char *nb = realloc(buf, size + 1 + alen + 1);
		if (!nb) {
			jv_free(s);
			snprintf(why, CP_ERR_LEN, "out of memory");
			rc = -1;
			goto out;
		}
		buf = nb;
		memcpy(buf + size + 1, jv_string_value(s), alen + 1);
		jv_free(s);
		out->attrs = buf + size + 1;
		out->attrs_len = alen;
	} else {
		jv_free(a);
	}
	out->mem_ = buf;
	out->body = buf + hlen + 1;
	out->body_len = blen;
	memcpy(out->id, n->id, sizeof out->id);
	snprintf(out->receipt, sizeof out->receipt, "%s", iname);
	out->receive_count = (int)n->count;
	out->sent_ms = n->sent;
	out->first_receive_ms = n->first;
	buf = NULL;
	rc = 1;
out:
	jv_free(h);
	free(buf);
	if (rc != 1) {
		out->attrs = NULL;
		out->attrs_len = 0;
	}
	return rc;
}

/* A message that cannot be read goes to corrupt/, never to a receiver. */
static void set_aside(struct cp_spool *q, const char *iname, const char *why)
{
	mkdirat(q->dirfd, "corrupt", 0777);
	int cfd = openat(q->dirfd, "corrupt", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cfd < 0 || renameat(q->inflightfd, iname, cfd, iname) < 0)
		warn(q, "corrupt message inflight/%s (%s) could not be set aside: %s", iname, why,
		    strerror(errno));
	else
		warn(q, "corrupt message set aside as corrupt/%s: %s", iname, why);
	if (cfd >= 0)
		close(cfd);
}

/* Tries to receive ready message bfd/name.  1 received into out, 0 not
 * (someone else got it, or it was expired, dead-lettered, set aside),
 * -1 error. */
static int claim(struct cp_spool *q, int bfd, const char *name, int vis, struct cp_spool_msg *out,
    int64_t now, char *err)
{
	struct mname m;
	if (parse_name(name, &m, 0) < 0)
		return 0; /* not a message */
	if (retention_over(q, &m, now)) {
		unlinkat(bfd, name, 0);
		return 0;
	}
	int dead = q->cfg.max_receive_count > 0 && m.count >= q->cfg.max_receive_count;
	int64_t deadline = now_ns() + (int64_t)vis * NSEC;
	struct mname n = m;
	token_hex(q, n.token);
	n.due = deadline / MSEC;
	if (!dead) {
		n.count = m.count + 1;
		if (!n.first)
			n.first = now / MSEC;
	}
	char iname[NAME_LEN];
	fmt_name(iname, &n, 1);
	/* The deadline goes on first, so a sweep never sees the claimed
	 * message with its old (past) mtime; set again under the lock below,
	 * in case a rival receiver that lost the rename overwrote it. */
	struct timespec t[2] = {
		{ 0, UTIME_OMIT },
		{ (time_t)(deadline / NSEC), (long)(deadline % NSEC) },
	};
	if (utimensat(bfd, name, t, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
		return 0; /* another receiver was faster */
	if (renameat(bfd, name, q->inflightfd, iname) < 0) {
		if (errno == ENOENT)
			return 0; /* another receiver was faster */
		return fail(err, "rename %s: %s", name, strerror(errno));
	}
	int fd;
	struct stat st;
	int r = lock_inflight(q, iname, &fd, &st, err);
	if (r != 1)
		return r; /* a sweep requeued it meanwhile: 0 */
	if (dead) {
		to_dlq(q, fd, iname, &n, now);
		close(fd);
		return 0;
	}
	set_mtime(fd, deadline);
	char why[CP_ERR_LEN];
	r = load(fd, &st, &n, iname, out, why);
	if (r == 0)
		set_aside(q, iname, why);
	else if (r < 0)
		warn(q, "message %s left in flight: %s", n.id, why);
	close(fd);
	return r == 1;
}

static int attempt(struct cp_spool *q, int max, int vis, struct cp_spool_msg *out, char *err)
{
	int64_t now = now_ns();
	config_refresh(q, now);
	maybe_sweep(q, now);
	now = now_ns();
	int got = 0, relisted = 0;
	while (got < max) {
		const char *name;
		int bfd;
		int r = next_name(q, now / NSEC, &relisted, &name, &bfd, err);
		if (r < 0)
			return got ? got : -1;
		if (r == 0)
			break;
		r = claim(q, bfd, name, vis, &out[got], now, err);
		if (r < 0)
			return got ? got : -1;
		got += r;
	}
	return got;
}

static int ino_setup(struct cp_spool *q)
{
	if (q->ino_fd >= 0)
		return 0;
	q->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (q->ino_fd < 0)
		return -1;
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", q->readyfd);
	if (inotify_add_watch(q->ino_fd, p, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR) < 0) {
		close(q->ino_fd);
		q->ino_fd = -1;
		return -1;
	}
	return 0;
}

static void ino_drain(struct cp_spool *q)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (read(q->ino_fd, buf, sizeof buf) > 0)
		;
}

int cp_spool_receive(struct cp_spool *q, const struct cp_spool_recv *o, struct cp_spool_msg *out,
    char *err)
{
	if (o->max < 1 || o->max > CP_SPOOL_RECV_MAX)
		return einval(err, "MaxNumberOfMessages %d is not in 1..%d", o->max, CP_SPOOL_RECV_MAX);
	if (o->visibility_timeout > CP_SPOOL_MAX_VISIBILITY)
		return einval(err, "VisibilityTimeout %d is not in 0..%d", o->visibility_timeout,
		    CP_SPOOL_MAX_VISIBILITY);
	if (o->wait_seconds > CP_SPOOL_MAX_WAIT)
		return einval(err, "WaitTimeSeconds %d is not in 0..%d", o->wait_seconds, CP_SPOOL_MAX_WAIT);
	memset(out, 0, sizeof *out * (size_t)o->max);
	config_refresh(q, now_ns());
	int vis = o->visibility_timeout < 0 ? q->cfg.visibility_timeout : o->visibility_timeout;
	int wait = o->wait_seconds < 0 ? q->cfg.receive_wait : o->wait_seconds;
	int n = attempt(q, o->max, vis, out, err);
	if (n != 0 || wait == 0)
		return n;
	int64_t end = cp_time_mono_ms() + (int64_t)wait * 1000;
	int have_ino = ino_setup(q) == 0;
	for (;;) {
		/* With inotify set up, the attempt's relist watches the visible
		 * buckets before reading them: no arrival is missed. */
		if ((n = attempt(q, o->max, vis, out, err)) != 0)
			return n;
		int64_t left = end - cp_time_mono_ms();
		if (left <= 0)
			return 0;
		int64_t t = have_ino ? 1000 : 50;
		if (q->sweep_ms < t)
			t = q->sweep_ms;
		int64_t now = now_ns();
		for (size_t i = 0; i < q->nbuckets; i++) {
			if (q->buckets[i] > now / NSEC) {
				int64_t until = (q->buckets[i] * NSEC - now) / MSEC + 1;
				if (until < t)
					t = until;
				break;
			}
		}
		if (t > left)
			t = left;
		if (t < 1)
			t = 1;
		struct pollfd pf[2];
		int nf = 0;
		if (have_ino)
			pf[nf++] = (struct pollfd){ .fd = q->ino_fd, .events = POLLIN };
		if (o->stop_fd >= 0)
			pf[nf++] = (struct pollfd){ .fd = o->stop_fd, .events = POLLIN };
		int pr = poll(pf, (nfds_t)nf, (int)t);
		if (pr < 0 && errno != EINTR)
			return fail(err, "poll: %s", strerror(errno));
		if (pr > 0 && o->stop_fd >= 0 && pf[nf - 1].revents)
			return 0;
		if (have_ino)
			ino_drain(q);
	}
}

/* ---- delete, change visibility ---- */

static int check_receipt(const char *receipt, struct mname *m, char *err)
{
	if (!receipt || parse_name(receipt, m, 1) < 0)
		return einval(err, "invalid receipt handle \"%.80s\"", receipt ? receipt : "(null)");
	return 0;
}

int cp_spool_delete(struct cp_spool *q, const char *receipt, char *err)
{
	struct mname m;
	if (check_receipt(receipt, &m, err) < 0)
		return -1;
	if (unlinkat(q->inflightfd, receipt, 0) == 0)
		return 0;
	if (errno == ENOENT)
		return CP_SPOOL_STALE;
	return fail(err, "delete %s: %s", m.id, strerror(errno));
}

static int mark_soon(struct cp_spool *q, const char *name, char *err)
{
	if (mkdirat(q->dirfd, "soon", 0777) < 0 && errno != EEXIST)
		return fail(err, "mkdir soon: %s", strerror(errno));
	int sfd = openat(q->dirfd, "soon", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd = sfd < 0 ? -1 : openat(sfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
	int e = errno;
	if (fd >= 0)
		close(fd);
	if (sfd >= 0)
		close(sfd);
	errno = e;
	return fd < 0 ? fail(err, "soon/%s: %s", name, strerror(errno)) : 0;
}

int cp_spool_change_visibility(struct cp_spool *q, const char *receipt, int seconds, char *err)
{
	struct mname m;
	if (check_receipt(receipt, &m, err) < 0)
		return -1;
	if (seconds < 0 || seconds > CP_SPOOL_MAX_VISIBILITY)
		return einval(err, "VisibilityTimeout %d is not in 0..%d", seconds, CP_SPOOL_MAX_VISIBILITY);
	int fd;
	struct stat st;
	int r = lock_inflight(q, receipt, &fd, &st, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return CP_SPOOL_STALE;
	int64_t now = now_ns();
	int rc = 0;
	if (seconds == 0) {
		config_refresh(q, now);
		if (release(q, fd, receipt, &m, now, err) < 0)
			rc = -1;
	} else {
		int64_t deadline = now + (int64_t)seconds * NSEC;
		/* Earlier than DUE: a marker first, or sweeps would not look. */
		if (deadline < m.due * MSEC && mark_soon(q, receipt, err) < 0)
			rc = -1;
		else if (set_mtime(fd, deadline) < 0)
			rc = fail(err, "change visibility of %s: %s", m.id, strerror(errno));
	}
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* ---- purge, stats ---- */

/* Calls fn on each entry of dfd/name (not . or ..). */
static int each_entry(int dfd, const char *name, int (*fn)(int, const char *, void *), void *arg)
{
	DIR *d = opendir_at(dfd, name);
	if (!d)
		return -1;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && fn(dirfd(d), de->d_name, arg) < 0)
			rc = -1;
	closedir(d);
	return rc;
}

static int purge_file(int dfd, const char *name, void *arg)
{
	(void)arg;
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

static int purge_bucket(int dfd, const char *name, void *arg)
{
	(void)arg;
	if (parse_bucket(name) < 0)
		return 0;
	int rc = each_entry(dfd, name, purge_file, NULL);
	unlinkat(dfd, name, AT_REMOVEDIR);
	return rc < 0 && errno != ENOENT ? -1 : 0;
}

int cp_spool_purge(struct cp_spool *q, char *err)
{
	cursor_reset(q);
	if (each_entry(q->readyfd, ".", purge_bucket, NULL) < 0)
		return fail(err, "purge ready: %s", strerror(errno));
	if (each_entry(q->inflightfd, ".", purge_file, NULL) < 0)
		return fail(err, "purge inflight: %s", strerror(errno));
	return 0;
}

struct count_ctx {
	struct cp_spool_stats *s;
	int64_t now;
	long *into;
};

static int count_ready(int dfd, const char *name, void *arg)
{
	struct count_ctx *c = arg;
	struct mname m;
	if (parse_name(name, &m, 0) == 0)
		(*c->into)++;
	(void)dfd;
	return 0;
}

static int count_bucket(int dfd, const char *name, void *arg)
{
	struct count_ctx *c = arg;
	int64_t sec = parse_bucket(name);
	if (sec < 0)
		return 0;
	c->into = sec <= c->now / NSEC ? &c->s->visible : &c->s->delayed;
	if (each_entry(dfd, name, count_ready, c) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

static int count_inflight(int dfd, const char *name, void *arg)
{
	struct count_ctx *c = arg;
	struct mname m;
	struct stat st;
	if (parse_name(name, &m, 1) < 0 || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (mtime_ns(&st) > c->now)
		c->s->not_visible++;
	else
		c->s->visible++;
	return 0;
}

static int count_any(int dfd, const char *name, void *arg)
{
	(void)dfd;
	(void)name;
	(*(long *)arg)++;
	return 0;
}

int cp_spool_stats(struct cp_spool *q, struct cp_spool_stats *s, char *err)
{
	memset(s, 0, sizeof *s);
	struct count_ctx c = { s, now_ns(), NULL };
	if (each_entry(q->readyfd, ".", count_bucket, &c) < 0)
		return fail(err, "ready: %s", strerror(errno));
	if (each_entry(q->inflightfd, ".", count_inflight, &c) < 0)
		return fail(err, "inflight: %s", strerror(errno));
	if (each_entry(q->tmpfd, ".", count_any, &s->tmp) < 0)
		return fail(err, "tmp: %s", strerror(errno));
	if (each_entry(q->dirfd, "corrupt", count_any, &s->corrupt) < 0 && errno != ENOENT)
		return fail(err, "corrupt: %s", strerror(errno));
	return 0;
}
