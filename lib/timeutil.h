/* timeutil: time values, RFC 3339 parsing and formatting, clocks, UUIDv7.
 *
 * A struct cp_time is a UTC instant: seconds since the Unix epoch (negative
 * before 1970) and nanoseconds, 0 <= nsec < 1000000000.  It is a plain value;
 * nothing in this module allocates, and every buffer is the caller's.
 *
 * Parsing accepts exactly RFC 3339 date-time:
 *   YYYY-MM-DD(T|t| )HH:MM:SS[.1-9 digits](Z|z|+HH:MM|-HH:MM)
 * Years 0000-9999, months and days checked against the Gregorian calendar
 * (leap years: divisible by 4, not by 100 unless by 400), hours 00-23,
 * minutes 00-59, seconds 00-60, offset hours 00-23 and minutes 00-59.  The
 * offset is applied, so the result is UTC; "-00:00" is taken as UTC.  A time
 * whose UTC equivalent falls outside 0000-01-01T00:00:00Z..
 * 9999-12-31T23:59:59.999999999Z (possible only through the offset) is
 * rejected, so everything that parses can be formatted.
 * Leap seconds: ":60" is accepted in any minute and folded to the start of
 * the next second (its fraction is checked, then dropped), so
 * "2016-12-31T23:59:60.5Z" parses as 2017-01-01T00:00:00Z.  Time stays
 * monotonic: every :59.x sorts before, every following :00.x not before.
 * The calendar arithmetic is our own (days from civil, H. Hinnant), not
 * timegm/mktime, so it is exact and independent of TZ and locale.
 *
 * Errors: functions that can fail return -1 and fill err (CP_ERR_LEN bytes,
 * may be NULL) with a message naming the problem ("invalid month 13",
 * "missing time offset (Z or +HH:MM/-HH:MM)", "more than 9 fractional
 * digits", …); on error *out is left unchanged.  Formatting cannot fail
 * except on values out of range, which give "" and a length of 0.
 *
 * Thread safety: every function may be called from any thread.  The UUIDv7
 * generator keeps one process-wide state behind a mutex.
 */
#ifndef CP_TIMEUTIL_H
#define CP_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"

struct cp_time {
	int64_t sec;  /* UTC seconds since 1970-01-01T00:00:00Z */
	int32_t nsec; /* 0 ..= 999999999 */
};

/* Enough for "YYYY-MM-DDTHH:MM:SS.fffffffffZ" and the NUL (31 bytes). */
#define CP_TIME_LEN 32
/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" and the NUL. */
#define CP_UUID_LEN 37

/* Parses the len bytes at s (no NUL needed; nothing past s[len - 1] is
 * read; an embedded NUL is an ordinary invalid byte) as an RFC 3339
 * date-time, see above.  Returns 0 and sets *out, or -1 and fills err. */
int cp_time_parse(const char *s, size_t len, struct cp_time *out, char *err);

/* Writes t as "YYYY-MM-DDTHH:MM:SS.ffffffZ": UTC, exactly 6 fractional
 * digits (microseconds, truncated, never rounded).  Returns the length (27).
 * An nsec outside 0..999999999 is first carried into sec.  A t outside years
 * 0000-9999 writes "" and returns 0. */
size_t cp_time_format(struct cp_time t, char buf[CP_TIME_LEN]);

/* The same with digits fractional digits, 0 to 9 (0: no '.' at all; the
 * usual ones are 0, 3, 6, 9), truncated.  Returns the length, or 0 with ""
 * in buf when digits is not 0..9 or t is out of range. */
size_t cp_time_format_prec(struct cp_time t, int digits, char buf[CP_TIME_LEN]);

/* Microseconds since the epoch, truncated towards the past (floor); an nsec
 * outside 0..999999999 is carried first; saturates at INT64_MIN/INT64_MAX. */
int64_t cp_time_to_unix_us(struct cp_time t);

/* Wall clock (CLOCK_REALTIME). */
struct cp_time cp_time_now(void);
/* CLOCK_MONOTONIC in nanoseconds and milliseconds: for durations and
 * deadlines only, the origin is unspecified. */
int64_t cp_time_mono_ns(void);
int64_t cp_time_mono_ms(void);

/* Writes a new RFC 9562 UUIDv7 to out as 36 lowercase hex characters in
 * 8-4-4-4-12 form plus the NUL: 48-bit big-endian Unix milliseconds,
 * version 7, a 12-bit counter in rand_a, variant 10, 62 random bits
 * (OpenSSL RAND_bytes).  Monotonic (RFC 9562 section 6.2, method 1): the
 * counter is seeded randomly with its top bit 0 (so at least 2048 ids fit in
 * one millisecond) when the clock reaches a new millisecond, and counts up
 * while it does not (a clock that steps back counts as standing still); when
 * the counter overflows, the timestamp field is advanced by one millisecond
 * and the counter reseeded.  So ids from one process, from any threads, are
 * strictly increasing in string (and byte) order; under sustained bursts or
 * after the clock steps back, the timestamp field may run ahead of the clock
 * until the clock catches up.  Returns 0, or -1 and fills err when the
 * random generator fails (out is then ""). */
int cp_time_uuidv7(char out[CP_UUID_LEN], char *err);

/* What cp_time_uuidv7 does once it has read the clock: the same generator
 * and the same process-wide state, with now_ms (Unix milliseconds, clamped
 * to 0..2^48-1) taken as the clock reading.  A now_ms behind the last id
 * counts as a clock step back.  For tests, which cannot otherwise reach the
 * counter-overflow and clock-step paths; a now_ms ahead of the real clock
 * moves every later id's timestamp at least that far. */
int cp_time_uuidv7_at(char out[CP_UUID_LEN], int64_t now_ms, char *err);

#endif
