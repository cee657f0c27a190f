/* spool-tool: drives lib/spool from the shell, for tests/integration/spool.t
 * and bench/spool.sh.  Not installed.
 *
 *   spool-tool create DIR [-v VIS] [-d DELAY] [-r RETENTION] [-w WAIT]
 *                         [-m MAXRECV -D DLQDIR]
 *   spool-tool send DIR N [-s SIZE] [-p PREFIX] [-b BATCH] [-a ATTRS] [-q]
 *       sends bodies "PREFIX-i" (i = 0..N-1) padded with one repeated
 *       letter to SIZE bytes; prints "sent TAG ID" once each send returned
 *       success (a line per write, so a kill -9 never leaves half a line).
 *   spool-tool drain DIR [-v VIS] [-w WAIT] [-n MAX] [-u FILE] [-H MS] [-q]
 *       receives and deletes until a receive comes back empty (and, with
 *       -u, FILE exists); prints "recv TAG ID COUNT" before each delete and
 *       "del TAG ID" (or "stale TAG ID") after it.  -H holds each batch MS
 *       milliseconds before deleting.  -n stops after MAX messages.  -K
 *       keeps them in flight (no deletes).
 *   spool-tool recv DIR [-v VIS] [-w WAIT] [-n MAX]
 *       receives without deleting: "ID RECEIPT COUNT TAG" per message.
 *   spool-tool delete DIR RECEIPT        prints deleted / stale
 *   spool-tool cv DIR RECEIPT SECONDS    prints ok / stale
 *   spool-tool stats DIR                 prints visible= not_visible= ...
 *   spool-tool purge DIR | remove DIR | sweep DIR [TMPAGE]
 *   spool-tool probe DIR N [-s SIZE]
 *       the disk's own pace, for comparison: N times create a file, write
 *       SIZE bytes, fdatasync, rename, fsync the directory (what one send
 *       costs at least); prints the rate on stderr.
 * Common: -S MS sets the sweep interval.  -q prints a rate line on stderr
 * instead of a line per message.  Exit 0, 1 on a failed check, 2 on
 * errors.
 */
#include <fcntl.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "timeutil.h"

static int vis = -1, wait_s = 0, delay = -1, retention = -1, maxrecv = 0, qwait = -1;
static int quiet, batch = 1, hold_ms, sweep_ms = -1, keep;
static long size, max_msgs = -1;
static const char *prefix = "m", *dlq, *until, *attrs;

static void die(const char *what, const char *err)
{
	fprintf(stderr, "spool-tool: %s: %s\n", what, err);
	exit(2);
}

static struct cp_spool *open_q(const char *dir)
{
	char err[CP_ERR_LEN];
	struct cp_spool *q = cp_spool_open(dir, 0, err);
	if (!q)
		die(dir, err);
	if (sweep_ms >= 0)
		cp_spool_set_sweep_interval(q, sweep_ms);
	return q;
}

static void warnings(struct cp_spool *q)
{
	const char *w;
	while ((w = cp_spool_warning(q)))
		fprintf(stderr, "spool-tool: warning: %s\n", w);
}

static void rate(const char *what, long n, int64_t t0)
{
	double s = (double)(cp_time_mono_ns() - t0) / 1e9;
	if (quiet)
		fprintf(stderr, "%s %ld in %.3f s: %.0f/s\n", what, n, s, s > 0 ? n / s : 0.0);
}

/* The body's tag: up to the first padding byte. */
static void tag_of(const struct cp_spool_msg *m, char *tag, size_t n)
{
	size_t i = 0;
	while (i < m->body_len && i + 1 < n && m->body[i] != ' ')
		tag[i] = m->body[i], i++;
	tag[i] = 0;
}

/* A body is TAG, or TAG, a space and one letter repeated: anything else
 * was damaged on the way. */
static int body_ok(const struct cp_spool_msg *m)
{
	const char *sp = memchr(m->body, ' ', m->body_len);
	if (!sp)
		return 1;
	size_t off = (size_t)(sp - m->body) + 1;
	for (size_t i = off + 1; i < m->body_len; i++)
		if (m->body[i] != m->body[off])
			return 0;
	return 1;
}

static int cmd_create(const char *dir)
{
	struct cp_spool_config c;
	char err[CP_ERR_LEN];
	cp_spool_config_default(&c);
	if (vis >= 0)
		c.visibility_timeout = vis;
	if (delay >= 0)
		c.delay_seconds = delay;
	if (retention >= 0)
		c.retention_period = retention;
	if (qwait >= 0)
		c.receive_wait = qwait;
	if (maxrecv > 0) {
		c.max_receive_count = maxrecv;
		snprintf(c.dead_letter_queue, sizeof c.dead_letter_queue, "%s", dlq ? dlq : "");
	}
	if (cp_spool_create(dir, &c, err) < 0)
		die(dir, err);
	return 0;
}

static int cmd_send(const char *dir, long n)
{
	struct cp_spool *q = open_q(dir);
	char err[CP_ERR_LEN];
	struct cp_spool_entry e[CP_SPOOL_RECV_MAX];
	struct cp_spool_result r[CP_SPOOL_RECV_MAX];
	char *bodies[CP_SPOOL_RECV_MAX];
	size_t cap = (size_t)(size > 64 ? size : 64) + 1;
	for (int i = 0; i < CP_SPOOL_RECV_MAX; i++)
		if (!(bodies[i] = malloc(cap)))
			die("malloc", "out of memory");
	setvbuf(stdout, NULL, _IOLBF, 0);
	int64_t t0 = cp_time_mono_ns();
	for (long i = 0; i < n;) {
		int k = 0;
		for (; k < batch && i + k < n; k++) {
			int len = snprintf(bodies[k], cap, "%s-%ld", prefix, i + k);
			if (size > len) {
				bodies[k][len] = ' ';
				memset(bodies[k] + len + 1, 'a' + (int)((i + k) % 26), (size_t)(size - len - 1));
				len = (int)size;
			}
			e[k] = (struct cp_spool_entry){ .body = bodies[k], .body_len = (size_t)len,
			    .attrs = attrs, .attrs_len = attrs ? strlen(attrs) : 0, .delay_seconds = delay };
		}
		int got = cp_spool_send_batch(q, e, (size_t)k, r, err);
		if (got < 0)
			die("send", err);
		for (int j = 0; j < k; j++) {
			if (r[j].status < 0)
				die("send", r[j].err);
			if (!quiet)
				printf("sent %s-%ld %s\n", prefix, i + j, r[j].id);
		}
		i += k;
	}
	rate("sent", n, t0);
	for (int i = 0; i < CP_SPOOL_RECV_MAX; i++)
		free(bodies[i]);
	cp_spool_close(q);
	return 0;
}

static int cmd_drain(const char *dir)
{
	struct cp_spool *q = open_q(dir);
	char err[CP_ERR_LEN], tag[256];
	struct cp_spool_msg m[CP_SPOOL_RECV_MAX];
	struct cp_spool_recv o;
	cp_spool_recv_default(&o);
	o.visibility_timeout = vis;
	o.wait_seconds = wait_s;
	long total = 0;
	int bad = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	int64_t t0 = cp_time_mono_ns();
	for (;;) {
		if (max_msgs >= 0 && total >= max_msgs)
			break;
		if (max_msgs >= 0 && max_msgs - total < o.max)
			o.max = (int)(max_msgs - total);
		int n = cp_spool_receive(q, &o, m, err);
		warnings(q);
		if (n < 0)
			die("receive", err);
		if (n == 0) {
			struct stat st;
			if (!until || stat(until, &st) == 0)
				break;
			continue;
		}
		for (int i = 0; i < n; i++) {
			tag_of(&m[i], tag, sizeof tag);
			if (!body_ok(&m[i])) {
				fprintf(stderr, "spool-tool: damaged body %s\n", tag);
				bad = 1;
			}
			if (!quiet)
				printf("recv %s %s %d\n", tag, m[i].id, m[i].receive_count);
		}
		if (hold_ms)
			nanosleep(&(struct timespec){ hold_ms / 1000, (hold_ms % 1000) * 1000000L }, NULL);
		for (int i = 0; i < n; i++) {
			if (keep) {
				cp_spool_msg_free(&m[i]);
				continue;
			}
			int r = cp_spool_delete(q, m[i].receipt, err);
			if (r < 0)
				die("delete", err);
			if (!quiet) {
				tag_of(&m[i], tag, sizeof tag);
				printf("%s %s %s\n", r == CP_SPOOL_STALE ? "stale" : "del", tag, m[i].id);
			}
			cp_spool_msg_free(&m[i]);
		}
		total += n;
	}
	rate(keep ? "received" : "received+deleted", total, t0);
	cp_spool_close(q);
	return bad;
}

static int cmd_recv(const char *dir)
{
	struct cp_spool *q = open_q(dir);
	char err[CP_ERR_LEN], tag[256];
	struct cp_spool_msg m[CP_SPOOL_RECV_MAX];
	struct cp_spool_recv o;
	cp_spool_recv_default(&o);
	o.visibility_timeout = vis;
	o.wait_seconds = wait_s;
	o.max = max_msgs > 0 && max_msgs <= CP_SPOOL_RECV_MAX ? (int)max_msgs : 1;
	int n = cp_spool_receive(q, &o, m, err);
	warnings(q);
	if (n < 0)
		die("receive", err);
	for (int i = 0; i < n; i++) {
		tag_of(&m[i], tag, sizeof tag);
		printf("%s %s %d %s\n", m[i].id, m[i].receipt, m[i].receive_count, tag);
		cp_spool_msg_free(&m[i]);
	}
	cp_spool_close(q);
	return 0;
}

static int cmd_probe(const char *dir, long n)
{
	char *buf = malloc((size_t)size + 1);
	memset(buf, 'x', (size_t)size + 1);
	if (mkdir(dir, 0777) < 0 && errno != EEXIST)
		die(dir, strerror(errno));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		die(dir, strerror(errno));
	int64_t t0 = cp_time_mono_ns();
	for (long i = 0; i < n; i++) {
		char a[32], b[32];
		snprintf(a, sizeof a, "%ld.tmp", i);
		snprintf(b, sizeof b, "%ld", i);
		int fd = openat(dfd, a, O_WRONLY | O_CREAT | O_EXCL, 0666);
		if (fd < 0 || write(fd, buf, (size_t)size) != (ssize_t)size || fdatasync(fd) < 0 ||
		    close(fd) < 0 || renameat(dfd, a, dfd, b) < 0 || fsync(dfd) < 0)
			die("probe", strerror(errno));
	}
	quiet = 1;
	rate("write+fdatasync+rename+fsync", n, t0);
	for (long i = 0; i < n; i++) {
		char b[32];
		snprintf(b, sizeof b, "%ld", i);
		unlinkat(dfd, b, 0);
	}
	close(dfd);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "visibility", 1, 0, 'v' }, { "wait", 1, 0, 'w' }, { "delay", 1, 0, 'd' },
		{ "retention", 1, 0, 'r' }, { "max-receives", 1, 0, 'm' }, { "dlq", 1, 0, 'D' },
		{ "queue-wait", 1, 0, 'W' }, { "size", 1, 0, 's' }, { "prefix", 1, 0, 'p' },
		{ "batch", 1, 0, 'b' }, { "attrs", 1, 0, 'a' }, { "quiet", 0, 0, 'q' },
		{ "max", 1, 0, 'n' }, { "until", 1, 0, 'u' }, { "hold-ms", 1, 0, 'H' },
		{ "sweep-ms", 1, 0, 'S' }, { "keep", 0, 0, 'K' }, { 0, 0, 0, 0 },
	};
	/* GNU getopt permutes: options may follow the command and its
	 * arguments. */
	int c;
	while ((c = getopt_long(argc, argv, "v:w:d:r:m:D:W:s:p:b:a:qn:u:H:S:K", lo, NULL)) != -1) {
		switch (c) {
		case 'v': vis = atoi(optarg); break;
		case 'w': wait_s = atoi(optarg); break;
		case 'd': delay = atoi(optarg); break;
		case 'r': retention = atoi(optarg); break;
		case 'm': maxrecv = atoi(optarg); break;
		case 'D': dlq = optarg; break;
		case 'W': qwait = atoi(optarg); break;
		case 's': size = atol(optarg); break;
		case 'p': prefix = optarg; break;
		case 'b': batch = atoi(optarg); break;
		case 'a': attrs = optarg; break;
		case 'q': quiet = 1; break;
		case 'n': max_msgs = atol(optarg); break;
		case 'u': until = optarg; break;
		case 'H': hold_ms = atoi(optarg); break;
		case 'S': sweep_ms = atoi(optarg); break;
		case 'K': keep = 1; break;
		default: return 2;
		}
	}
	if (batch < 1 || batch > CP_SPOOL_RECV_MAX)
		die("-b", "batch size is 1..10");
	char **args = argv + optind;
	int na = argc - optind;
	if (na < 2) {
		fprintf(stderr, "usage: spool-tool CMD DIR [ARGS] [OPTIONS] (see the source)\n");
		return 2;
	}
	const char *cmd = args[0], *dir = args[1];
	char err[CP_ERR_LEN];
	if (strcmp(cmd, "create") == 0)
		return cmd_create(dir);
	if (strcmp(cmd, "send") == 0)
		return cmd_send(dir, na > 2 ? atol(args[2]) : 1);
	if (strcmp(cmd, "drain") == 0)
		return cmd_drain(dir);
	if (strcmp(cmd, "recv") == 0)
		return cmd_recv(dir);
	if (strcmp(cmd, "probe") == 0)
		return cmd_probe(dir, na > 2 ? atol(args[2]) : 1000);
	if (strcmp(cmd, "remove") == 0) {
		if (cp_spool_remove(dir, err) < 0)
			die(dir, err);
		return 0;
	}
	struct cp_spool *q = open_q(dir);
	int rc = 0;
	if (strcmp(cmd, "delete") == 0 && na > 2) {
		int r = cp_spool_delete(q, args[2], err);
		if (r < 0)
			die("delete", err);
		puts(r == CP_SPOOL_STALE ? "stale" : "deleted");
	} else if (strcmp(cmd, "cv") == 0 && na > 3) {
		int r = cp_spool_change_visibility(q, args[2], atoi(args[3]), err);
		if (r < 0)
			die("change visibility", err);
		puts(r == CP_SPOOL_STALE ? "stale" : "ok");
	} else if (strcmp(cmd, "stats") == 0) {
		struct cp_spool_stats s;
		if (cp_spool_stats(q, &s, err) < 0)
			die("stats", err);
		printf("visible=%ld not_visible=%ld delayed=%ld corrupt=%ld tmp=%ld\n", s.visible,
		    s.not_visible, s.delayed, s.corrupt, s.tmp);
	} else if (strcmp(cmd, "purge") == 0) {
		if (cp_spool_purge(q, err) < 0)
			die("purge", err);
	} else if (strcmp(cmd, "sweep") == 0) {
		if (cp_spool_sweep(q, na > 2 ? atoi(args[2]) : -1, err) < 0)
			die("sweep", err);
		warnings(q);
	} else {
		fprintf(stderr, "spool-tool: unknown command %s\n", cmd);
		rc = 2;
	}
	cp_spool_close(q);
	return rc;
}
