/* Unit tests: the JSON-lines reader and writer on hostile input.
 * Conservation: every line read is either usable or has a reason. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "diag.h"
#include "jsonl.h"

/* A reader over the given bytes, through a pipe filled by a thread (so the
 * reader sees short reads and waits, as in a pipeline). */
struct feed {
	int fd;
	const char *data;
	size_t len;
	size_t repeat;
};

static void *feeder(void *arg)
{
	struct feed *f = arg;
	for (size_t k = 0; k < f->repeat; k++) {
		const char *p = f->data;
		size_t n = f->len;
		while (n > 0) {
			ssize_t w = write(f->fd, p, n > 7919 ? 7919 : n);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				goto out;
			}
			p += w;
			n -= (size_t)w;
		}
	}
out:
	close(f->fd);
	return NULL;
}

struct run {
	size_t lines, ok, rejected, too_long, crlf, no_newline;
	char reasons[16][CP_ERR_LEN];
	size_t full_len[16];
};

static void read_all(const char *data, size_t len, size_t repeat, size_t max_line, struct run *out)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct feed f = { p[1], data, len, repeat };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, feeder, &f), 0);
	char err[CP_ERR_LEN];
	struct cp_reader *r = cp_reader_new(p[0], max_line, err);
	assert_non_null(r);
	memset(out, 0, sizeof *out);
	struct cp_line line;
	int rc;
	while ((rc = cp_reader_next(r, &line, err)) == CP_READ_LINE) {
		assert_int_equal(line.lineno, out->lines + 1);
		out->too_long += line.too_long;
		out->crlf += line.crlf;
		out->no_newline += line.no_newline;
		jv v;
		if (cp_line_check(&line, err) == 0 && cp_line_parse(line.data, line.len, &v, err) == 0) {
			jv_free(v);
			out->ok++;
		} else {
			if (out->rejected < 16) {
				strcpy(out->reasons[out->rejected], err);
				out->full_len[out->rejected] = line.full_len;
			}
			out->rejected++;
		}
		out->lines++;
	}
	assert_int_equal(rc, CP_READ_EOF);
	cp_reader_free(r);
	pthread_join(t, NULL);
	close(p[0]);
	/* Conservation. */
	assert_int_equal(out->lines, out->ok + out->rejected);
}

static void test_empty_and_blank_lines(void **state)
{
	(void)state;
	struct run r;
	const char in[] = "{}\n\n  \n[1]\n";
	read_all(in, sizeof in - 1, 1, 0, &r);
	assert_int_equal(r.lines, 4);
	assert_int_equal(r.ok, 2);
	assert_string_equal(r.reasons[0], "empty line");
	assert_string_equal(r.reasons[1], "empty line");
}

static void test_empty_stream(void **state)
{
	(void)state;
	struct run r;
	read_all("", 0, 1, 0, &r);
	assert_int_equal(r.lines, 0);
	read_all("\n", 1, 1, 0, &r);
	assert_int_equal(r.lines, 1);
	assert_int_equal(r.rejected, 1);
}

/* max_line 16: a line of exactly 16 bytes is read, 17 is too long. */
static void test_max_line_boundary(void **state)
{
	(void)state;
	struct run r;
	const char in[] =
	    "\"12345678901234\"\n"    /* 16 bytes: ok */
	    "\"123456789012345\"\n"   /* 17 bytes: too long */
	    "\"12345678901234\"\r\n"  /* 16 bytes + CRLF: ok */
	    "\"123456789012345\"\r\n" /* 17 + CRLF: too long */
	    "1\n";
	read_all(in, sizeof in - 1, 1, 16, &r);
	assert_int_equal(r.lines, 5);
	assert_int_equal(r.ok, 3);
	assert_int_equal(r.too_long, 2);
	assert_int_equal(r.crlf, 2);
	assert_string_equal(r.reasons[0], "line too long: 17 bytes, the limit is 16");
	assert_int_equal(r.full_len[0], 17);
	assert_int_equal(r.full_len[1], 17);
}

/* The same when the over-long line does not fit the buffer: skipped in
 * pieces, its length still counted without "\r". */
static void test_long_crlf_line_skipped(void **state)
{
	(void)state;
	size_t big = 200000;
	char *in = malloc(big + 16);
	memset(in, ' ', big);
	memcpy(in + big, "\r\n{}\r\n", 6);
	struct run r;
	read_all(in, big + 6, 1, 1000, &r);
	assert_int_equal(r.lines, 2);
	assert_int_equal(r.ok, 1);
	assert_int_equal(r.full_len[0], big);
	free(in);
}

/* A line far beyond the limit is skipped without being buffered. */
static void test_huge_line(void **state)
{
	(void)state;
	size_t big = 10 * 1024 * 1024;
	char *in = malloc(big + 16);
	in[0] = '"';
	memset(in + 1, 'x', big - 2);
	in[big - 1] = '"';
	memcpy(in + big, "\n{\"a\":1}\n", 9);
	struct run r;
	read_all(in, big + 9, 1, 1024 * 1024, &r);
	assert_int_equal(r.lines, 2);
	assert_int_equal(r.ok, 1);
	assert_int_equal(r.too_long, 1);
	assert_int_equal(r.full_len[0], big);
	free(in);
}

static void test_exactly_the_default_limit(void **state)
{
	(void)state;
	size_t n = CP_LINE_MAX_DEFAULT;
	char *in = malloc(2 * n + 8);
	/* One line of exactly the limit, one of the limit plus one byte. */
	in[0] = '"';
	memset(in + 1, 'a', n - 2);
	in[n - 1] = '"';
	in[n] = '\n';
	in[n + 1] = '"';
	memset(in + n + 2, 'b', n - 1);
	in[2 * n + 1] = '"';
	in[2 * n + 2] = '\n';
	struct run r;
	read_all(in, 2 * n + 3, 1, 0, &r);
	assert_int_equal(r.lines, 2);
	assert_int_equal(r.ok, 1);
	assert_int_equal(r.too_long, 1);
	assert_int_equal(r.full_len[0], n + 1);
	free(in);
}

static void test_nul_bytes(void **state)
{
	(void)state;
	struct run r;
	const char in[] = "{\"a\":\"x\0y\"}\n\0\n{}\n";
	read_all(in, sizeof in - 1, 1, 0, &r);
	assert_int_equal(r.lines, 3);
	assert_int_equal(r.ok, 1);
	assert_string_equal(r.reasons[0], "NUL byte at offset 7");
	assert_string_equal(r.reasons[1], "NUL byte at offset 0");
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	static const char *bad[] = {
		"\"\xc0\x80\"",             /* overlong NUL */
		"\"\xe0\x80\x80\"",         /* overlong */
		"\"\xed\xa0\x80\"",         /* UTF-16 surrogate */
		"\"\xf4\x90\x80\x80\"",     /* > U+10FFFF */
		"\"\xf5\x80\x80\x80\"",     /* invalid lead byte */
		"\"\xff\"",                 /* never valid */
		"\"\x80\"",                 /* lone continuation */
		"\"\xe2\x82\"",             /* truncated */
		"\"\xf0\x9f\x98",           /* truncated at the end of the line */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		size_t off = 99;
		assert_false(cp_utf8_valid(bad[i], strlen(bad[i]), &off));
		assert_int_equal(off, 1);
	}
	static const char *good[] = {
		"\"\xc2\xa9\"", "\"\xe2\x82\xac\"", "\"\xf0\x9f\x98\x80\"", "\"\xf4\x8f\xbf\xbf\"",
		"\"\xef\xbf\xbf\"", "plain ascii", "",
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		assert_true(cp_utf8_valid(good[i], strlen(good[i]), NULL));

	struct run r;
	const char in[] = "\"\xff\"\n\"\xf0\x9f\x98\x80\"\n";
	read_all(in, sizeof in - 1, 1, 0, &r);
	assert_int_equal(r.ok, 1);
	assert_string_equal(r.reasons[0], "invalid UTF-8 at offset 1");
}

static void test_last_line_without_newline(void **state)
{
	(void)state;
	struct run r;
	read_all("{}\n[2]", 6, 1, 0, &r);
	assert_int_equal(r.lines, 2);
	assert_int_equal(r.ok, 2);
	assert_int_equal(r.no_newline, 1);
	read_all("{}\r\n[2]\r", 8, 1, 0, &r);
	assert_int_equal(r.lines, 2);
	assert_int_equal(r.ok, 2);
	assert_int_equal(r.crlf, 2);
}

static void test_not_json(void **state)
{
	(void)state;
	struct run r;
	const char in[] = "{\"a\":\n{} {}\nnull\n\"s\"\n12\ntrue\nnope\n{\"a\":1,}\n";
	read_all(in, sizeof in - 1, 1, 0, &r);
	assert_int_equal(r.lines, 8);
	assert_int_equal(r.ok, 4);
	for (size_t i = 0; i < r.rejected; i++)
		assert_memory_equal(r.reasons[i], "not JSON", 8);
}

/* 100 MB through the reader: counted exactly, memory flat. */
static void test_100mb_stream_flat_memory(void **state)
{
	(void)state;
	char chunk[1000];
	size_t n = 0;
	/* 10 lines: 8 good, an empty one and a bad one; 1000 bytes in all. */
	for (int i = 0; i < 8; i++)
		n += (size_t)sprintf(chunk + n, "{\"i\":%d,\"pad\":\"%0100d\"}\n", i, 0);
	n += (size_t)sprintf(chunk + n, "\n");
	n += (size_t)sprintf(chunk + n, "{bad}");
	while (n < sizeof chunk - 1)
		chunk[n++] = ' ';
	chunk[n++] = '\n';
	assert_int_equal(n, 1000);
	struct rusage before, after;
	getrusage(RUSAGE_SELF, &before);
	struct run r;
	read_all(chunk, n, 100000, 0, &r);
	getrusage(RUSAGE_SELF, &after);
	assert_int_equal(r.lines, 1000000);
	assert_int_equal(r.ok, 800000);
	assert_int_equal(r.rejected, 200000);
	/* The reader's buffer stays at its first size (64 KiB). */
	long grew_kb = after.ru_maxrss - before.ru_maxrss;
	print_message("# max RSS grew by %ld KiB over 100 MB\n", grew_kb);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	/* (Sanitizers keep freed memory in quarantine: no meaning there.) */
	assert_true(grew_kb < 16 * 1024);
#endif
}

/* ---- the buffer's growth ---- */

#define CHUNK (64 * 1024) /* the reader's first buffer and largest read */
#define KEPT 4096         /* bytes of an over-long line kept */

/* The reader's input: a pipe fed by a thread (short reads), or a regular
 * file (full reads, as from a redirected file). */
struct src {
	int fd, piped;
	pthread_t t;
	struct feed f;
};

static void src_open(struct src *s, const char *data, size_t len, int piped)
{
	memset(s, 0, sizeof *s);
	s->piped = piped;
	if (piped) {
		int p[2];
		assert_int_equal(pipe(p), 0);
		s->fd = p[0];
		s->f = (struct feed){ p[1], data, len, 1 };
		assert_int_equal(pthread_create(&s->t, NULL, feeder, &s->f), 0);
		return;
	}
	char path[] = "/tmp/cp-reader-XXXXXX";
	s->fd = mkstemp(path);
	assert_true(s->fd >= 0);
	unlink(path);
	for (size_t off = 0; off < len;) {
		ssize_t w = write(s->fd, data + off, len - off);
		assert_true(w > 0);
		off += (size_t)w;
	}
	assert_int_equal(lseek(s->fd, 0, SEEK_SET), 0);
}

static void src_close(struct src *s)
{
	if (s->piped)
		pthread_join(s->t, NULL);
	close(s->fd);
}

struct bufs {
	size_t lines, max, last; /* buffer sizes seen after each line */
};

/* Reads data through a reader and checks every line, field by field,
 * against a plain split of the input; also that the buffer never passes
 * max_line + "\r\n" + one read. */
static void check_lines(const char *data, size_t len, size_t max_line, int piped, struct bufs *b)
{
	struct src s;
	src_open(&s, data, len, piped);
	char err[CP_ERR_LEN];
	struct cp_reader *r = cp_reader_new(s.fd, max_line, err);
	assert_non_null(r);
	size_t limit = max_line ? max_line : CP_LINE_MAX_DEFAULT;
	memset(b, 0, sizeof *b);
	b->max = b->last = cp_reader_buf_size(r);
	assert_int_equal(b->max, CHUNK);
	struct cp_line line;
	size_t pos = 0;
	int rc;
	while ((rc = cp_reader_next(r, &line, err)) == CP_READ_LINE) {
		assert_true(pos < len);
		const char *p = data + pos;
		const char *nl = memchr(p, '\n', len - pos);
		size_t raw = nl ? (size_t)(nl - p) : len - pos;
		size_t full = raw;
		int crlf = 0;
		/* (An over-long last line without a newline keeps its "\r".) */
		if (raw > 0 && p[raw - 1] == '\r' && (nl || raw <= limit + 1)) {
			full--;
			crlf = 1;
		}
		size_t want = full <= limit ? full : full < KEPT ? full : KEPT;
		assert_int_equal(line.lineno, b->lines + 1);
		assert_int_equal(line.full_len, full);
		assert_int_equal(line.len, want);
		assert_int_equal(line.too_long, full > limit);
		assert_int_equal(line.limit, limit);
		assert_int_equal(line.crlf, crlf);
		assert_int_equal(line.no_newline, nl == NULL);
		if (want > 0)
			assert_memory_equal(line.data, p, want);
		pos += raw + (nl != NULL);
		b->lines++;
		b->last = cp_reader_buf_size(r);
		if (b->last > b->max)
			b->max = b->last;
		assert_true(b->last <= limit + 2 + CHUNK);
	}
	assert_int_equal(rc, CP_READ_EOF);
	assert_int_equal(pos, len);
	assert_int_equal(cp_reader_lineno(r), b->lines);
	cp_reader_free(r);
	src_close(&s);
}

/* Appends a line of n bytes (a pattern that differs per line, "\r" in the
 * middle of some) and its end, "\r\n" for every third line. */
static size_t put_line(char *buf, size_t at, size_t n, unsigned k)
{
	for (size_t j = 0; j < n; j++)
		buf[at + j] = (char)('a' + (k * 7 + j) % 26);
	if (n > 2 && k % 5 == 0)
		buf[at + n / 2] = '\r';
	at += n;
	if (k % 3 == 0)
		buf[at++] = '\r';
	buf[at++] = '\n';
	return at;
}

/* Short lines of every length up to 700 bytes, and lines just under, at
 * and just over one and two reads, so that line ends fall everywhere
 * around the reads' and the buffer's boundaries. */
static char *straddling_input(size_t *len)
{
	static const size_t big[] = {
		CHUNK - 2, CHUNK - 1, CHUNK, CHUNK + 1, CHUNK * 3 / 4, CHUNK / 4 * 3 + 1,
		2 * CHUNK - 1, 2 * CHUNK, 2 * CHUNK + 1, 200000, 0, 1,
	};
	size_t cap = 4 * 1024 * 1024;
	char *buf = malloc(cap);
	assert_non_null(buf);
	size_t at = 0;
	unsigned k = 0, seed = 1;
	for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
		for (int j = 0; j < 300; j++) {
			seed = seed * 1103515245u + 12345u;
			at = put_line(buf, at, (seed >> 16) % 700, k++);
		}
		at = put_line(buf, at, big[i], k++);
	}
	assert_true(at < cap);
	*len = at;
	return buf;
}

/* Lines longer than a read, under the limit, come back whole and intact,
 * from a pipe and from a file. */
static void test_lines_straddle_reads(void **state)
{
	(void)state;
	size_t len;
	char *in = straddling_input(&len);
	struct bufs b;
	for (int piped = 0; piped <= 1; piped++) {
		check_lines(in, len, 0, piped, &b);
		assert_int_equal(b.lines, 12 * 301);
		/* It grew for the long lines (up to 512 KiB for 200000 bytes). */
		assert_true(b.max > CHUNK);
		assert_true(b.max <= 512 * 1024);
	}
	/* Without the last newline, and ending in "\r" (stripped). */
	in[len - 1] = '\r';
	check_lines(in, len, 0, 0, &b);
	check_lines(in, len - 1, 0, 1, &b);
	free(in);
}

/* A 5 MiB line among short ones with an 8 MiB limit: read whole; the
 * buffer grows for it (not to the limit) and shrinks back after it. */
static void test_long_line_under_limit(void **state)
{
	(void)state;
	size_t big = 5 * 1024 * 1024, cap = big + 8 * 1024 * 1024;
	char *in = malloc(cap);
	assert_non_null(in);
	size_t at = 0;
	unsigned k = 1;
	while (at < 1024 * 1024)
		at = put_line(in, at, 300, k++);
	at = put_line(in, at, big, k++);
	while (at < big + 4 * 1024 * 1024)
		at = put_line(in, at, 300, k++);
	struct bufs b;
	for (int piped = 0; piped <= 1; piped++) {
		check_lines(in, at, 8 * 1024 * 1024, piped, &b);
		assert_true(b.max >= big);
		assert_true(b.max <= 8 * 1024 * 1024);
		assert_int_equal(b.last, CHUNK);
	}
	free(in);
}

/* Over-long lines, skipped: counted without "\r", their first 4 KiB kept
 * (all of a shorter one, whatever the reads), the next line intact. */
static void test_too_long_lines(void **state)
{
	(void)state;
	size_t cap = 4 * 1024 * 1024;
	char *in = malloc(cap);
	assert_non_null(in);
	size_t at = 0;
	unsigned k = 0;
	static const size_t lens[] = {
		100, 101, 102, 3000, KEPT - 1, KEPT, KEPT + 1, 5000, CHUNK - 1, CHUNK + 5,
		100000, 100001, 100002, 300000, 1000000, 7,
	};
	for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
		at = put_line(in, at, lens[i], k++);
		at = put_line(in, at, 20, k++);
	}
	at = put_line(in, at, 150000, k++); /* the last line, too long, no newline */
	at--;
	assert_true(at < cap);
	struct bufs b;
	for (int piped = 0; piped <= 1; piped++) {
		check_lines(in, at, 100, piped, &b);
		assert_int_equal(b.lines, 33);
		assert_true(b.max <= 100 + 2 + CHUNK);
		check_lines(in, at, 100000, piped, &b);
		assert_true(b.max <= 100000 + 2 + CHUNK);
		/* Ending in "\r" without a newline: kept (the skip's way). */
		in[at - 1] = '\r';
		check_lines(in, at, 100000, piped, &b);
		in[at - 1] = in[at - 2];
	}
	free(in);
}

/* From a file the reads are 64 KiB: a skipped line's "\r" at the end of
 * one read and its "\n" at the start of the next; a short one skipped
 * across two reads. */
static void test_too_long_crlf_across_reads(void **state)
{
	(void)state;
	size_t n = 2 * CHUNK - 1;
	char *in = malloc(n + 16);
	memset(in, 'x', n);
	memcpy(in + n, "\r\n{}\r\n", 6);
	struct bufs b;
	check_lines(in, n + 6, 1000, 0, &b);
	assert_int_equal(b.lines, 2);
	assert_int_equal(b.max, CHUNK);
	/* An over-long line shorter than what is kept, skipped from 500
	 * bytes before the end of the first read: kept whole, not its "\r". */
	size_t first = CHUNK - 500 - 1;
	memset(in, 'y', first);
	in[first] = '\n';
	memset(in + first + 1, 'z', 3000);
	memcpy(in + first + 1 + 3000, "\r\n", 2);
	check_lines(in, first + 3003, 100, 0, &b);
	assert_int_equal(b.lines, 2);
	free(in);
}

/* Short lines never grow the buffer, however high the limit. */
static void test_buffer_stays_small(void **state)
{
	(void)state;
	size_t cap = 10 * 1024 * 1024;
	char *in = malloc(cap + 1024);
	size_t at = 0;
	unsigned k = 0;
	for (; at < cap; k++)
		at = put_line(in, at, 100 + k % 900, k);
	struct bufs b;
	for (int piped = 0; piped <= 1; piped++) {
		check_lines(in, at, 8 * 1024 * 1024, piped, &b);
		assert_int_equal(b.lines, k);
		assert_int_equal(b.max, CHUNK);
	}
	free(in);
}

/* Non-blocking mode: a line longer than a read arrives in pieces; the
 * buffer grows between CP_READ_AGAINs and the line comes back whole. */
static void test_nonblocking_long_line(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	char err[CP_ERR_LEN];
	struct cp_reader *r = cp_reader_new(p[0], 0, err);
	cp_reader_set_nonblock(r, 1);
	size_t n = 300000, piece = 30000;
	char *s = malloc(n);
	for (size_t j = 0; j < n; j++)
		s[j] = (char)('A' + j % 23);
	struct cp_line line;
	for (size_t off = 0; off < n; off += piece) {
		assert_int_equal(write(p[1], s + off, piece), (ssize_t)piece);
		assert_int_equal(cp_reader_next(r, &line, err), CP_READ_AGAIN);
	}
	assert_true(cp_reader_buf_size(r) > CHUNK);
	assert_int_equal(write(p[1], "\r\n[1]\n", 6), 6);
	assert_int_equal(cp_reader_next(r, &line, err), CP_READ_LINE);
	assert_int_equal(line.len, n);
	assert_int_equal(line.full_len, n);
	assert_true(line.crlf);
	assert_false(line.too_long);
	assert_memory_equal(line.data, s, n);
	assert_int_equal(cp_reader_next(r, &line, err), CP_READ_LINE);
	assert_int_equal(line.lineno, 2);
	assert_memory_equal(line.data, "[1]", 3);
	assert_int_equal(cp_reader_next(r, &line, err), CP_READ_AGAIN);
	close(p[1]);
	assert_int_equal(cp_reader_next(r, &line, err), CP_READ_EOF);
	cp_reader_free(r);
	close(p[0]);
	free(s);
}

static void test_writer_and_checked_close(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	int p[2];
	assert_int_equal(pipe(p), 0);
	char err[CP_ERR_LEN];
	struct cp_writer *w = cp_writer_new(p[1], err);
	assert_non_null(w);
	cp_writer_set_linebuf(w, 0);
	assert_int_equal(cp_writer_jv(w, JV_OBJECT(jv_string("k"), jv_string("a\"\n\xe2\x82\xac"))), 0);
	assert_int_equal(cp_writer_line(w, "[1]", 3), 0);
	assert_int_equal(cp_writer_flush(w), 0);
	char buf[128] = "";
	ssize_t k = read(p[0], buf, sizeof buf - 1);
	assert_true(k > 0);
	assert_string_equal(buf, "{\"k\":\"a\\\"\\n\xe2\x82\xac\"}\n[1]\n");
	assert_int_equal(cp_writer_lines(w), 2);
	/* The reader goes away: the error is kept and reported at close. */
	close(p[0]);
	cp_writer_line(w, "{}", 2);
	cp_writer_flush(w);
	assert_int_equal(cp_writer_line(w, "{}", 2), -1);
	assert_int_equal(cp_writer_close(w, 1, err), -1);
	assert_string_equal(err, "writing output: Broken pipe");
}

/* Lines larger than the writer's buffer are written whole. */
static void test_writer_big_line(void **state)
{
	(void)state;
	char path[] = "/tmp/cp-writer-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	char err[CP_ERR_LEN];
	struct cp_writer *w = cp_writer_new(fd, err);
	size_t big = 300000;
	char *s = malloc(big);
	memset(s, 'z', big);
	assert_int_equal(cp_writer_line(w, "a", 1), 0);
	assert_int_equal(cp_writer_line(w, s, big), 0);
	assert_int_equal(cp_writer_line(w, "b", 1), 0);
	assert_int_equal(cp_writer_close(w, 0, err), 0);
	assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)(big + 5));
	char head[3], tail[2];
	assert_int_equal(pread(fd, head, 3, 0), 3);
	assert_memory_equal(head, "a\nz", 3);
	assert_int_equal(pread(fd, tail, 2, (off_t)big + 3), 2);
	assert_memory_equal(tail, "b\n", 2);
	close(fd);
	free(s);
}

/* Non-blocking mode: CP_READ_AGAIN instead of a wait, and a line split
 * across writes (even an over-long one being skipped) resumes intact. */
static void test_nonblocking(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	char err[CP_ERR_LEN];
	struct cp_reader *r = cp_reader_new(p[0], 8, err);
	cp_reader_set_nonblock(r, 1);
	assert_int_equal(cp_reader_fd(r), p[0]);
	struct cp_line line;
	assert_int_equal(cp_reader_next(r, &line, err), CP_READ_AGAIN);
	assert_int_equal(write(p[1], "[1,", 3), 3);
	assert_int_equal(cp_reader_next(r, &line, err), CP_READ_AGAIN);
	assert_int_equal(write(p[1], "2]\n\"0123", 8), 8);
	assert_int_equal(cp_reader_next(r, &line, err), CP_READ_LINE);
	assert_int_equal(line.len, 5);
	assert_memory_equal(line.data, "[1,2]", 5);
	assert_int_equal(cp_reader_next(r, &line, err), CP_READ_AGAIN);
	/* The rest of a 20-byte line, beyond the limit of 8, in pieces. */
	assert_int_equal(write(p[1], "456789", 6), 6);
	assert_int_equal(cp_reader_next(r, &line, err), CP_READ_AGAIN);
	assert_int_equal(write(p[1], "01234\"", 6), 6);
	assert_int_equal(cp_reader_next(r, &line, err), CP_READ_AGAIN);
	assert_int_equal(write(p[1], "\n{}\n", 4), 4);
	assert_int_equal(cp_reader_next(r, &line, err), CP_READ_LINE);
	assert_true(line.too_long);
	assert_int_equal(line.full_len, 17);
	assert_int_equal(line.lineno, 2);
	assert_int_equal(cp_reader_next(r, &line, err), CP_READ_LINE);
	assert_int_equal(line.lineno, 3);
	assert_memory_equal(line.data, "{}", 2);
	assert_int_equal(cp_reader_next(r, &line, err), CP_READ_AGAIN);
	close(p[1]);
	assert_int_equal(cp_reader_next(r, &line, err), CP_READ_EOF);
	cp_reader_free(r);
	close(p[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_100mb_stream_flat_memory),
		cmocka_unit_test(test_empty_and_blank_lines),
		cmocka_unit_test(test_empty_stream),
		cmocka_unit_test(test_max_line_boundary),
		cmocka_unit_test(test_huge_line),
		cmocka_unit_test(test_exactly_the_default_limit),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_last_line_without_newline),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_long_crlf_line_skipped),
		cmocka_unit_test(test_writer_and_checked_close),
		cmocka_unit_test(test_writer_big_line),
		cmocka_unit_test(test_nonblocking),
		cmocka_unit_test(test_lines_straddle_reads),
		cmocka_unit_test(test_long_line_under_limit),
		cmocka_unit_test(test_too_long_lines),
		cmocka_unit_test(test_too_long_crlf_across_reads),
		cmocka_unit_test(test_buffer_stays_small),
		cmocka_unit_test(test_nonblocking_long_line),
	};
	return cmocka_run_group_tests_name("jsonl", tests, NULL, NULL);
}
