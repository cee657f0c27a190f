/* reject: what a tool could not do with a line, never silently dropped.
 *
 * Each reject is one JSON line (BRIEF §2):
 *   {"line":17,"tool":"chat-persist","error":"…","retryable":false,"input":"…"}
 * "input" is the line verbatim when it is valid UTF-8 without NUL bytes.
 * Otherwise "input" holds it with invalid bytes replaced by U+FFFD and
 * "input_base64" holds the exact bytes.  An over-long line keeps only its
 * first bytes: "input_truncated":true and "input_bytes" give its real size.
 *
 * Rejects go to a file (--rejects FILE, opened for appending) or to stderr.
 * Each is written with one write(2) under a mutex: safe from any thread,
 * and lines from several processes appending to one file do not mix.
 */
#ifndef CP_REJECT_H
#define CP_REJECT_H

#include <stddef.h>
#include <stdint.h>

#include <jv.h>

struct cp_rejects;

/* path NULL or "-" means stderr.  NULL with err on failure. */
struct cp_rejects *cp_rejects_open(const char *path, const char *tool, char *err);
/* Writes one reject.  input[0..len) is the line as read; full_len its real
 * length (> len when it was truncated).  0, or -1 on a write error. */
int cp_reject(struct cp_rejects *rj, uint64_t lineno, const char *error,
    int retryable, const char *input, size_t len, size_t full_len);
/* The same with extra fields merged into the object (consumes extra, which
 * must be an object or jv_null()). */
int cp_reject_jv(struct cp_rejects *rj, uint64_t lineno, const char *error,
    int retryable, const char *input, size_t len, size_t full_len, jv extra);
uint64_t cp_rejects_count(const struct cp_rejects *rj);
/* 0, or -1 with err when a reject could not be written or closed. */
int cp_rejects_close(struct cp_rejects *rj, char *err);

struct cp_writer;
/* The end of a filter's run: closes the writer of stdout (not the fd) and
 * the rejects, logging what failed.  Returns ex, or CP_EX_IOERR when
 * closing the output failed, or the rejects while ex was 0. */
int cp_rejects_finish(struct cp_writer *out, struct cp_rejects *rj, int ex);

#endif
