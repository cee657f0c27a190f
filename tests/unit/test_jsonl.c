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
	/* The reader allocates its buffer once (about 1.1 MiB). */
	long grew_kb = after.ru_maxrss - before.ru_maxrss;
	print_message("# max RSS grew by %ld KiB over 100 MB\n", grew_kb);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	/* (Sanitizers keep freed memory in quarantine: no meaning there.) */
	assert_true(grew_kb < 16 * 1024);
#endif
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
	};
	return cmocka_run_group_tests_name("jsonl", tests, NULL, NULL);
}
