/* jsonl: see jsonl.h. */
#include "jsonl.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "json.h"
#include "sig.h"

#define READ_CHUNK (64 * 1024) /* the most one read() asks for; the first buffer */
#define MIN_READ (READ_CHUNK / 4)  /* the buffer grows when less is free */
#define SHRINK_AFTER 16            /* fills needing no more than a chunk, then shrink */
#define KEEP_TOO_LONG 4096 /* bytes of an over-long line kept for its reject */

struct cp_reader {
	int fd;
	char *buf;
	size_t cap, start, end, scanned; /* scanned: bytes after start without '\n' */
	size_t max_line;
	size_t max_cap;        /* what the buffer may grow to: max_line, "\r\n", a read */
	unsigned small_fills;  /* fills in a row that a first-size buffer would do */
	uint64_t lineno;
	int eof, stoppable, nonblock;
	/* An over-long line being skipped (resumable in non-blocking mode). */
	int skipping;
	size_t skip_total, skip_kept;
	char skip_last;
	void (*idle)(void *);
	void *idle_arg;
	char *keep; /* the first bytes of an over-long line */
};

struct cp_reader *cp_reader_new(int fd, size_t max_line, char *err)
{
	struct cp_reader *r = calloc(1, sizeof *r);
	if (!r) {
		cp_err_set(err, "out of memory");
		return NULL;
	}
	r->fd = fd;
	r->max_line = max_line ? max_line : CP_LINE_MAX_DEFAULT;
	/* At most room for a whole line of max_line bytes, "\r\n" and one
	 * read; at first, one read's worth.  The buffer grows (fill()) only
	 * while a line does not fit. */
	r->max_cap = r->max_line <= SIZE_MAX - 2 - READ_CHUNK ?
	    r->max_line + 2 + READ_CHUNK : SIZE_MAX;
	r->cap = READ_CHUNK;
	r->buf = malloc(r->cap);
	r->keep = malloc(KEEP_TOO_LONG);
	r->stoppable = 1;
	if (!r->buf || !r->keep) {
		cp_reader_free(r);
		cp_err_set(err, "out of memory");
		return NULL;
	}
	return r;
}

void cp_reader_free(struct cp_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r->keep);
	free(r);
}

void cp_reader_set_idle(struct cp_reader *r, void (*idle)(void *), void *arg)
{
	r->idle = idle;
	r->idle_arg = arg;
}

void cp_reader_set_stoppable(struct cp_reader *r, int on) { r->stoppable = on; }
void cp_reader_set_nonblock(struct cp_reader *r, int on) { r->nonblock = on; }
int cp_reader_fd(const struct cp_reader *r) { return r->fd; }
uint64_t cp_reader_lineno(const struct cp_reader *r) { return r->lineno; }
size_t cp_reader_buf_size(const struct cp_reader *r) { return r->cap; }

/* Waits until fd is readable (calling the idle hook first if it would
 * block).  1 readable, 0 stop requested, 2 would block (non-blocking
 * mode), -1 error. */
static int wait_input(struct cp_reader *r)
{
	struct pollfd p[2] = {
		{ .fd = r->fd, .events = POLLIN },
		{ .fd = r->stoppable ? cp_sig_fd() : -1, .events = POLLIN },
	};
	int timeout = 0;
	for (;;) {
		if (r->stoppable && cp_sig_stopping())
			return 0;
		int n = poll(p, 2, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n > 0 && p[0].revents)
			return 1;
		if (n > 0 && p[1].revents && r->stoppable && cp_sig_stopping())
			return 0;
		if (r->nonblock)
			return 2;
		if (timeout == 0 && r->idle)
			r->idle(r->idle_arg);
		timeout = -1;
	}
}

/* Sizes the buffer for the bytes it holds (from 0 to end): doubles it, up
 * to max_cap, when less than MIN_READ is free, and gives a grown buffer
 * back once SHRINK_AFTER fills in a row found a first-size one enough.
 * Callers hold at most max_line + 1 bytes, so at max_cap more than
 * READ_CHUNK is free.  0, or -1 when out of memory. */
static int size_buffer(struct cp_reader *r, char *err)
{
	if (r->cap > READ_CHUNK) {
		if (r->end > READ_CHUNK / 2)
			r->small_fills = 0;
		else if (++r->small_fills >= SHRINK_AFTER) {
			char *b = realloc(r->buf, READ_CHUNK);
			if (b) {
				r->buf = b;
				r->cap = READ_CHUNK;
			}
			r->small_fills = 0;
		}
	}
	if (r->cap - r->end < MIN_READ && r->cap < r->max_cap) {
		size_t cap = r->cap > r->max_cap / 2 ? r->max_cap : 2 * r->cap;
		char *b = realloc(r->buf, cap);
		if (!b)
			return cp_err_set(err, "out of memory reading a line of over %zu bytes", r->end);
		r->buf = b;
		r->cap = cap;
		r->small_fills = 0;
	}
	return 0;
}

/* Reads more bytes at the end of the buffer, at most READ_CHUNK.  1 got
 * bytes or EOF (r->eof), 0 stop, 2 would block, -1 error. */
static int fill(struct cp_reader *r, char *err)
{
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (size_buffer(r, err) < 0)
		return -1;
	int w = wait_input(r);
	if (w != 1) {
		if (w < 0)
			cp_err_set(err, "waiting for input: %s", strerror(errno));
		return w;
	}
	size_t want = r->cap - r->end;
	if (want > READ_CHUNK)
		want = READ_CHUNK;
	for (;;) {
		ssize_t n = read(r->fd, r->buf + r->end, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cp_err_set(err, "reading input: %s", strerror(errno));
		if (n == 0)
			r->eof = 1;
		r->end += (size_t)n;
		return 1;
	}
}

static int read_status(int f)
{
	return f < 0 ? CP_READ_ERROR : f == 2 ? CP_READ_AGAIN : CP_READ_STOP;
}

/* Discards an over-long line up to and including its newline.  The first
 * KEEP_TOO_LONG bytes are copied to r->keep as they go by.  Resumable: the
 * state lives in the reader, so a non-blocking read may stop and come back.
 * On entry the buffer's bytes from start hold no newline (r->scanned). */
static int skip_long(struct cp_reader *r, struct cp_line *line, char *err)
{
	if (!r->skipping) {
		r->skipping = 1;
		r->skip_kept = 0;
		r->skip_total = 0;
		r->skip_last = 0;
	}
	for (;;) {
		char *p = r->buf + r->start;
		char *nl = memchr(p + r->scanned, '\n', r->end - r->start - r->scanned);
		size_t n = nl ? (size_t)(nl - p) : r->end - r->start;
		r->scanned = 0;
		if (r->skip_kept < KEEP_TOO_LONG) {
			size_t k = KEEP_TOO_LONG - r->skip_kept;
			if (k > n)
				k = n;
			memcpy(r->keep + r->skip_kept, p, k);
			r->skip_kept += k;
		}
		r->skip_total += n;
		if (n > 0)
			r->skip_last = p[n - 1];
		r->start += n;
		if (nl) {
			r->start++;
			if (r->skip_last == '\r') {
				r->skip_total--;
				line->crlf = 1;
			}
			break;
		}
		if (r->eof) {
			line->no_newline = 1;
			break;
		}
		int f = fill(r, err);
		if (f != 1)
			return read_status(f);
	}
	r->skipping = 0;
	line->data = r->keep;
	/* Not the "\r" of a line shorter than what is kept. */
	line->len = r->skip_kept < r->skip_total ? r->skip_kept : r->skip_total;
	line->full_len = r->skip_total;
	line->too_long = 1;
	line->lineno = ++r->lineno;
	return CP_READ_LINE;
}

int cp_reader_next(struct cp_reader *r, struct cp_line *line, char *err)
{
	memset(line, 0, sizeof *line);
	line->limit = r->max_line;
	if (r->stoppable && cp_sig_stopping())
		return CP_READ_STOP;
	if (r->skipping)
		return skip_long(r, line, err);
	for (;;) {
		char *p = r->buf + r->start + r->scanned;
		char *nl = memchr(p, '\n', r->end - r->start - r->scanned);
		if (nl || (r->eof && r->end > r->start)) {
			size_t len = nl ? (size_t)(nl - (r->buf + r->start)) : r->end - r->start;
			line->data = r->buf + r->start;
			line->no_newline = !nl;
			r->start += len + (nl != NULL);
			r->scanned = 0;
			if (len > 0 && line->data[len - 1] == '\r') {
				len--;
				line->crlf = 1;
			}
			line->len = line->full_len = len;
			line->lineno = ++r->lineno;
			if (len > r->max_line) {
				line->too_long = 1;
				line->len = len < KEEP_TOO_LONG ? len : KEEP_TOO_LONG;
			}
			return CP_READ_LINE;
		}
		if (r->eof)
			return CP_READ_EOF;
		r->scanned = r->end - r->start;
		/* Longer than a line may be even with "\r": skip it whole. */
		if (r->end - r->start > r->max_line + 1)
			return skip_long(r, line, err);
		int f = fill(r, err);
		if (f != 1)
			return read_status(f);
	}
}

int cp_utf8_valid(const char *str, size_t len, size_t *bad)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		/* ASCII, 8 bytes at a time. */
		uint64_t w;
		if (i + 8 <= len && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080u))) {
			i += 8;
			continue;
		}
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		unsigned min, cp;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1; min = 0x80; cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2; min = 0x800; cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3; min = 0x10000; cp = c & 0x07;
		} else {
			goto invalid;
		}
		if (i + n >= len)
			goto invalid;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto invalid;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto invalid;
		i += n + 1;
	}
	return 1;
invalid:
	if (bad)
		*bad = i;
	return 0;
}

int cp_line_check(const struct cp_line *line, char *err)
{
	if (line->too_long)
		return cp_err_set(err, "line too long: %zu bytes, the limit is %zu",
		    line->full_len, line->limit);
	size_t n = line->len, bad;
	const char *s = line->data;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0)
		return cp_err_set(err, "empty line");
	const char *nul = memchr(line->data, 0, line->len);
	if (nul)
		return cp_err_set(err, "NUL byte at offset %zu", (size_t)(nul - line->data));
	if (!cp_utf8_valid(line->data, line->len, &bad))
		return cp_err_set(err, "invalid UTF-8 at offset %zu", bad);
	return 0;
}

int cp_line_parse(const char *s, size_t len, jv *out, char *err)
{
	if (len > (size_t)0x7fffffff)
		return cp_err_set(err, "line too long to parse");
	/* RFC 8259's JSON, not all that libjq 1.6 reads (see json.h). */
	int valid = cp_json_valid(s, len, err);
	if (valid < 0)
		return -1;
	if (!valid) {
		cp_json_why_not(s, len, err);
		return -1;
	}
	jv v = jv_parse_sized(s, (int)len);
	if (jv_is_valid(v)) {
		*out = v;
		return 0;
	}
	jv msg = jv_invalid_get_msg(v);
	if (jv_get_kind(msg) == JV_KIND_STRING)
		cp_err_set(err, "not JSON: %s", jv_string_value(msg));
	else
		cp_err_set(err, "not JSON");
	jv_free(msg);
	return -1;
}

/* ---- writer ---- */

#define WRITE_BUF (64 * 1024)

struct cp_writer {
	int fd;
	int linebuf;
	int error; /* sticky errno of the first failed write */
	char *buf;
	size_t len;
	uint64_t lines;
	pthread_mutex_t mu;
};

struct cp_writer *cp_writer_new(int fd, char *err)
{
	struct cp_writer *w = calloc(1, sizeof *w);
	if (!w || !(w->buf = malloc(WRITE_BUF))) {
		free(w);
		cp_err_set(err, "out of memory");
		return NULL;
	}
	w->fd = fd;
	w->linebuf = isatty(fd);
	pthread_mutex_init(&w->mu, NULL);
	return w;
}

void cp_writer_set_linebuf(struct cp_writer *w, int on) { w->linebuf = on; }

static int write_all(struct cp_writer *w, const char *s, size_t n)
{
	if (w->error)
		return -1;
	while (n > 0) {
		ssize_t k = write(w->fd, s, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			w->error = errno;
			return -1;
		}
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

static int flush_locked(struct cp_writer *w)
{
	int r = write_all(w, w->buf, w->len);
	w->len = 0;
	return r;
}

int cp_writer_line(struct cp_writer *w, const char *data, size_t len)
{
	int r = 0;
	pthread_mutex_lock(&w->mu);
	if (w->len + len + 1 > WRITE_BUF) {
		r = flush_locked(w);
		if (r == 0 && len + 1 > WRITE_BUF) {
			r = write_all(w, data, len);
			if (r == 0)
				r = write_all(w, "\n", 1);
			goto out;
		}
	}
	memcpy(w->buf + w->len, data, len);
	w->buf[w->len + len] = '\n';
	w->len += len + 1;
	if (w->linebuf)
		r = flush_locked(w);
out:
	if (r == 0)
		w->lines++;
	pthread_mutex_unlock(&w->mu);
	return w->error ? -1 : r;
}

int cp_writer_jv(struct cp_writer *w, jv v)
{
	jv s = jv_dump_string(v, 0);
	int r = cp_writer_line(w, jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)));
	jv_free(s);
	return r;
}

int cp_writer_flush(struct cp_writer *w)
{
	pthread_mutex_lock(&w->mu);
	int r = flush_locked(w);
	pthread_mutex_unlock(&w->mu);
	return r;
}

void cp_writer_idle(void *w) { (void)cp_writer_flush(w); }

uint64_t cp_writer_lines(const struct cp_writer *w) { return w->lines; }

int cp_writer_close(struct cp_writer *w, int close_fd, char *err)
{
	int r = cp_writer_flush(w);
	if (close_fd && close(w->fd) < 0 && !w->error)
		w->error = errno;
	if (w->error) {
		cp_err_set(err, "writing output: %s", strerror(w->error));
		r = -1;
	}
	pthread_mutex_destroy(&w->mu);
	free(w->buf);
	free(w);
	return r;
}
