/* json: is a text one JSON value, as RFC 8259 defines it?
 *
 * libjq 1.6 (Debian 12's) parses and prints every JSON value in chatpipe,
 * but its parser is lenient about numbers: any token strtod() takes is a
 * number, so "nan", "NaN", "infinity", "01", "-01", "+1", ".5" and "5." all
 * parse.  Such a text copied into an envelope makes a line that strict
 * parsers refuse.  SQLite's json_valid() (built into libsqlite3 since
 * 3.38, a dependency already, for the embedded store) answers the question
 * exactly, and in about a fifth of the time libjq takes to parse: programs
 * that only need to know whether a text is JSON ask here and skip libjq.
 *
 * cp_json_valid() also refuses what libjq cannot read back, so that a text
 * accepted here always parses with libjq: nesting deeper than libjq's 256
 * levels (checked with libjq when the text has more than 256 '[' and '{'
 * bytes in all), NUL bytes and invalid UTF-8 (SQLite passes both).
 * Whitespace around the value is allowed, as in RFC 8259.
 *
 * Thread safety: any thread; each thread gets its own in-memory SQLite
 * connection on first use, closed when the thread exits (the main
 * thread's by cp_json_end(), or at exit).
 */
#ifndef CP_JSON_H
#define CP_JSON_H

#include <stddef.h>

/* 1: s[0..len) is one JSON value; 0: it is not; -1 with err: SQLite could
 * not be started (out of memory). */
int cp_json_valid(const char *s, size_t len, char *err);

/* Why libjq's parse and cp_json_valid() disagree about a text, for a
 * reject: "not JSON: <libjq's message>", or, when libjq took it, a note
 * naming the lenient forms. */
void cp_json_why_not(const char *s, size_t len, char *err);

/* Closes the calling thread's connection (optional; for leak checkers). */
void cp_json_end(void);

#endif
