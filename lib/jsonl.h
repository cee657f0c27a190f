/* jsonl: streaming JSON-lines input and output.
 *
 * Reader.  cp_reader_next() yields one line at a time from a file
 * descriptor, with its 1-based line number, the newline and a CRLF's "\r"
 * removed.  Memory is bounded by max_line: a longer line is skipped to its
 * end (never buffered whole) and reported with too_long set, its first bytes
 * (up to 4 KiB) kept for the reject.  Within that bound the buffer follows
 * the lines: it reads 64 KiB at a time, doubles only while a line does not
 * fit (up to max_line plus one read), and shrinks back some reads after a
 * long line, so a high max_line costs nothing until a line needs it.  A
 * last line without a newline is still a line.
 * The line's bytes stay valid until the next call.  Before the reader blocks
 * waiting for input it calls the idle hook (the writer's flush, so nothing
 * sits in a buffer while the pipeline idles), and it wakes up when the
 * signal module reports a stop (cp_sig_fd), returning CP_READ_STOP.
 *
 * Checks.  cp_line_check() finds what makes a line unusable before JSON
 * parsing (empty, NUL bytes, invalid UTF-8, over-long); cp_line_parse()
 * parses exactly one JSON value with libjq, once lib/json has said it is
 * JSON as RFC 8259 defines it (libjq 1.6 also reads "nan", "01", "+1").
 * Both fill err with a reason that names the byte offset where it matters.
 *
 * Writer.  Lines go to a file descriptor through a block buffer; the buffer
 * is flushed when full, when cp_writer_flush() is called (the reader's idle
 * hook), and after every line when the descriptor is a terminal.  Write
 * errors are sticky: cp_writer_close() reports the first one.  The writer
 * takes a mutex per call, so worker threads may write lines directly.
 *
 * Ownership: jv arguments are consumed, as in libjq.
 */
#ifndef CP_JSONL_H
#define CP_JSONL_H

#include <stddef.h>
#include <stdint.h>

#include <jv.h>

/* The queue's message limit: lines up to this many bytes are handled. */
#define CP_LINE_MAX_DEFAULT (1024 * 1024)

struct cp_line {
	const char *data;  /* not NUL-terminated; valid until the next call */
	size_t len;        /* bytes in data (truncated when too_long) */
	uint64_t lineno;   /* 1-based */
	size_t full_len;   /* the line's real length, newline excluded */
	int too_long;      /* full_len > limit; data holds the first bytes */
	size_t limit;      /* the reader's max_line */
	int crlf;          /* the line ended in "\r\n" */
	int no_newline;    /* the last line of the stream had no newline */
};

enum {
	CP_READ_ERROR = -1, CP_READ_EOF = 0, CP_READ_LINE = 1, CP_READ_STOP = 2,
	CP_READ_AGAIN = 3, /* non-blocking mode: no whole line until fd is readable */
};

struct cp_reader;

/* fd is not closed by the reader.  max_line 0 means CP_LINE_MAX_DEFAULT. */
struct cp_reader *cp_reader_new(int fd, size_t max_line, char *err);
void cp_reader_free(struct cp_reader *r);
/* Called before a blocking wait for input. */
void cp_reader_set_idle(struct cp_reader *r, void (*idle)(void *), void *arg);
/* When set (the default is on), a stop request from the signal module ends
 * the stream with CP_READ_STOP once the current line is consumed. */
void cp_reader_set_stoppable(struct cp_reader *r, int on);
/* Non-blocking mode, for programs that wait on the network and the input
 * at once: instead of waiting, cp_reader_next() returns CP_READ_AGAIN, and
 * the program polls cp_reader_fd() (and flushes what it holds) itself. */
void cp_reader_set_nonblock(struct cp_reader *r, int on);
int cp_reader_fd(const struct cp_reader *r);
/* CP_READ_LINE, CP_READ_EOF, CP_READ_STOP, CP_READ_AGAIN (non-blocking
 * mode) or CP_READ_ERROR (err set). */
int cp_reader_next(struct cp_reader *r, struct cp_line *line, char *err);
uint64_t cp_reader_lineno(const struct cp_reader *r);
/* The line buffer's size now, in bytes (for tests of its growth). */
size_t cp_reader_buf_size(const struct cp_reader *r);

/* 0 when the line may be parsed, -1 with a reason otherwise. */
int cp_line_check(const struct cp_line *line, char *err);
/* Is s[0..len) valid UTF-8 (no overlongs, surrogates or > U+10FFFF)?
 * Returns 1, or 0 with *bad set to the offset of the first invalid byte. */
int cp_utf8_valid(const char *s, size_t len, size_t *bad);
/* Parses exactly one JSON value (RFC 8259).  0 and *out set, or -1 with
 * err. */
int cp_line_parse(const char *s, size_t len, jv *out, char *err);

struct cp_writer;

struct cp_writer *cp_writer_new(int fd, char *err);
/* Force line buffering on or off (default: on when fd is a terminal). */
void cp_writer_set_linebuf(struct cp_writer *w, int on);
/* Appends data and a newline.  0, or -1 after a write error. */
int cp_writer_line(struct cp_writer *w, const char *data, size_t len);
/* Dumps v compactly on one line (consumes v). */
int cp_writer_jv(struct cp_writer *w, jv v);
int cp_writer_flush(struct cp_writer *w);
/* For cp_reader_set_idle(): flushes, ignoring the result (it is sticky). */
void cp_writer_idle(void *w);
uint64_t cp_writer_lines(const struct cp_writer *w);
/* Flushes, frees the writer and reports the first write error, if any.
 * The descriptor is closed too when close_fd is set. */
int cp_writer_close(struct cp_writer *w, int close_fd, char *err);

#endif
