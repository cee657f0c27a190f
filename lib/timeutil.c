/* timeutil: see timeutil.h. */
#include "timeutil.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#define NSEC_PER_SEC 1000000000
#define SEC_PER_DAY 86400

/* The representable range: 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
#define MIN_SEC INT64_C(-62167219200)
#define MAX_SEC INT64_C(253402300799)

static bool is_leap(int64_t y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int month_days(int64_t y, int m)
{
	static const unsigned char days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant,
 * "chrono-Compatible Low-Level Date Algorithms"); m 1..12, d 1..31. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;                                /* [0, 399] */
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;        /* [0, 146096] */
	return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;                                     /* [0, 146096] */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);              /* [0, 365] */
	int64_t mp = (5 * doy + 2) / 153;                                   /* [0, 11] */
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* ---- parsing ---- */

/* Reports what was expected at offset at: the byte found there, or the end
 * of the input. */
static int expected(char *err, const char *s, size_t len, size_t at,
    const char *what)
{
	if (at >= len)
		return cp_err_set(err, "truncated at offset %zu: expected %s",
		    at, what);
	unsigned char c = (unsigned char)s[at];
	if (c > 0x20 && c < 0x7f)
		return cp_err_set(err, "unexpected '%c' at offset %zu: expected %s",
		    c, at, what);
	return cp_err_set(err, "unexpected byte 0x%02x at offset %zu: expected %s",
	    c, at, what);
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Reads exactly n digits at *at into *v and advances *at. */
static int digits(const char *s, size_t len, size_t *at, int n, int *v,
    const char *what, char *err)
{
	int x = 0;
	for (int k = 0; k < n; k++) {
		size_t i = *at + (size_t)k;
		if (i >= len || !is_digit((unsigned char)s[i]))
			return expected(err, s, len, i, what);
		x = x * 10 + (s[i] - '0');
	}
	*at += (size_t)n;
	*v = x;
	return 0;
}

static int literal(const char *s, size_t len, size_t *at, char c,
    const char *what, char *err)
{
	if (*at >= len || s[*at] != c)
		return expected(err, s, len, *at, what);
	(*at)++;
	return 0;
}

int cp_time_parse(const char *s, size_t len, struct cp_time *out, char *err)
{
	if (s == NULL || len == 0)
		return cp_err_set(err, "empty time string");

	size_t at = 0;
	int year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
	if (digits(s, len, &at, 4, &year, "4-digit year", err) < 0 ||
	    literal(s, len, &at, '-', "'-' after the year", err) < 0 ||
	    digits(s, len, &at, 2, &mon, "2-digit month", err) < 0)
		return -1;
	if (mon < 1 || mon > 12)
		return cp_err_set(err, "invalid month %02d (01-12)", mon);
	if (literal(s, len, &at, '-', "'-' after the month", err) < 0 ||
	    digits(s, len, &at, 2, &day, "2-digit day", err) < 0)
		return -1;
	if (day < 1 || day > month_days(year, mon))
		return cp_err_set(err, "invalid day %02d for %04d-%02d (01-%02d)",
		    day, year, mon, month_days(year, mon));

	if (at >= len)
		return cp_err_set(err, "missing time after the date");
	if (s[at] != 'T' && s[at] != 't' && s[at] != ' ')
		return expected(err, s, len, at, "'T' between date and time");
	at++;

	if (digits(s, len, &at, 2, &hour, "2-digit hour", err) < 0)
		return -1;
	if (hour > 23)
		return cp_err_set(err, "invalid hour %02d (00-23)", hour);
	if (literal(s, len, &at, ':', "':' after the hour", err) < 0 ||
	    digits(s, len, &at, 2, &min, "2-digit minute", err) < 0)
		return -1;
	if (min > 59)
		return cp_err_set(err, "invalid minute %02d (00-59)", min);
	if (literal(s, len, &at, ':', "':' after the minute", err) < 0 ||
	    digits(s, len, &at, 2, &sec, "2-digit second", err) < 0)
		return -1;
	if (sec > 60)
		return cp_err_set(err, "invalid second %02d (00-60)", sec);

	int32_t nsec = 0;
	if (at < len && s[at] == '.') {
		at++;
		int n = 0;
		while (at < len && is_digit((unsigned char)s[at])) {
			if (n == 9)
				return cp_err_set(err, "more than 9 fractional digits");
			nsec = nsec * 10 + (s[at] - '0');
			n++;
			at++;
		}
		if (n == 0)
			return expected(err, s, len, at, "fractional digits after '.'");
		for (; n < 9; n++)
			nsec *= 10;
	}

	int offset = 0; /* seconds east of UTC */
	if (at >= len)
		return cp_err_set(err, "missing time offset (Z or +HH:MM/-HH:MM)");
	if (s[at] == 'Z' || s[at] == 'z') {
		at++;
	} else if (s[at] == '+' || s[at] == '-') {
		int sign = s[at] == '-' ? -1 : 1, oh = 0, om = 0;
		at++;
		if (digits(s, len, &at, 2, &oh, "2-digit offset hour", err) < 0)
			return -1;
		if (oh > 23)
			return cp_err_set(err, "invalid offset hour %02d (00-23)", oh);
		if (literal(s, len, &at, ':', "':' in the time offset", err) < 0 ||
		    digits(s, len, &at, 2, &om, "2-digit offset minute", err) < 0)
			return -1;
		if (om > 59)
			return cp_err_set(err, "invalid offset minute %02d (00-59)", om);
		offset = sign * (oh * 3600 + om * 60);
	} else {
		return expected(err, s, len, at, "time offset (Z or +HH:MM/-HH:MM)");
	}
	if (at < len)
		return cp_err_set(err, "trailing characters at offset %zu after "
		    "the time offset", at);

	/* A leap second becomes the start of the next second: sec 60 is
	 * simply one more second, the fraction goes. */
	if (sec == 60)
		nsec = 0;
	int64_t t = days_from_civil(year, mon, day) * SEC_PER_DAY +
	    hour * 3600 + min * 60 + sec - offset;
	if (t < MIN_SEC || t > MAX_SEC)
		return cp_err_set(err, "time out of range: %s in UTC",
		    t < MIN_SEC ? "before 0000-01-01T00:00:00Z" :
		    "after 9999-12-31T23:59:59Z");
	out->sec = t;
	out->nsec = nsec;
	return 0;
}

/* ---- formatting ---- */

/* Carries an out-of-range nsec into sec; false when the result lies outside
 * years 0000-9999. */
static bool normalize(struct cp_time *t)
{
	/* Checked first so that the carry cannot overflow. */
	if (t->sec < MIN_SEC - 3 || t->sec > MAX_SEC + 3)
		return false;
	int64_t carry = t->nsec / NSEC_PER_SEC;
	int32_t ns = t->nsec % NSEC_PER_SEC;
	if (ns < 0) {
		ns += NSEC_PER_SEC;
		carry--;
	}
	t->sec += carry;
	t->nsec = ns;
	return t->sec >= MIN_SEC && t->sec <= MAX_SEC;
}

static char *put_digits(char *p, int64_t v, int n)
{
	for (int k = n - 1; k >= 0; k--) {
		p[k] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

size_t cp_time_format_prec(struct cp_time t, int digits, char buf[CP_TIME_LEN])
{
	if (digits < 0 || digits > 9 || !normalize(&t)) {
		buf[0] = 0;
		return 0;
	}
	int64_t days = t.sec / SEC_PER_DAY, secs = t.sec % SEC_PER_DAY;
	if (secs < 0) {
		secs += SEC_PER_DAY;
		days--;
	}
	int64_t y;
	int m, d;
	civil_from_days(days, &y, &m, &d);

	char *p = buf;
	p = put_digits(p, y, 4);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, secs / 3600, 2);
	*p++ = ':';
	p = put_digits(p, secs / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, secs % 60, 2);
	if (digits > 0) {
		int64_t frac = t.nsec;
		for (int k = digits; k < 9; k++)
			frac /= 10;
		*p++ = '.';
		p = put_digits(p, frac, digits);
	}
	*p++ = 'Z';
	*p = 0;
	return (size_t)(p - buf);
}

size_t cp_time_format(struct cp_time t, char buf[CP_TIME_LEN])
{
	return cp_time_format_prec(t, 6, buf);
}

int64_t cp_time_to_unix_us(struct cp_time t)
{
	int64_t carry = t.nsec / NSEC_PER_SEC;
	int32_t ns = t.nsec % NSEC_PER_SEC;
	if (ns < 0) {
		ns += NSEC_PER_SEC;
		carry--;
	}
	int64_t sec;
	if (__builtin_add_overflow(t.sec, carry, &sec))
		return t.sec < 0 ? INT64_MIN : INT64_MAX;
	int64_t us;
	if (__builtin_mul_overflow(sec, 1000000, &us) ||
	    __builtin_add_overflow(us, ns / 1000, &us))
		return sec < 0 ? INT64_MIN : INT64_MAX;
	return us;
}

/* ---- clocks ---- */

struct cp_time cp_time_now(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return (struct cp_time){ 0, 0 };
	return (struct cp_time){ ts.tv_sec, (int32_t)ts.tv_nsec };
}

int64_t cp_time_mono_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

int64_t cp_time_mono_ms(void)
{
	return cp_time_mono_ns() / 1000000;
}

/* ---- UUIDv7 ---- */

#define UUID_MS_MAX ((UINT64_C(1) << 48) - 1)
#define UUID_COUNTER_MAX 0xfff

static pthread_mutex_t uuid_lock = PTHREAD_MUTEX_INITIALIZER;
static bool uuid_started;
static uint64_t uuid_last_ms; /* the timestamp field of the last id */
static unsigned uuid_counter; /* its rand_a */

int cp_time_uuidv7(char out[CP_UUID_LEN], char *err)
{
	struct cp_time now = cp_time_now();
	int64_t ms = now.sec < 0 ? 0 : now.sec * 1000 + now.nsec / 1000000;
	return cp_time_uuidv7_at(out, ms, err);
}

int cp_time_uuidv7_at(char out[CP_UUID_LEN], int64_t now_ms, char *err)
{
	/* rnd[0..1] seed the counter, rnd[2..9] fill rand_b. */
	unsigned char rnd[10];
	if (RAND_bytes(rnd, sizeof rnd) != 1) {
		char why[160];
		ERR_error_string_n(ERR_get_error(), why, sizeof why);
		out[0] = 0;
		return cp_err_set(err, "UUIDv7: RAND_bytes failed: %s", why);
	}
	unsigned seed = ((unsigned)rnd[0] << 8 | rnd[1]) & (UUID_COUNTER_MAX >> 1);

	uint64_t ms_now = now_ms < 0 ? 0 : (uint64_t)now_ms;
	if (ms_now > UUID_MS_MAX)
		ms_now = UUID_MS_MAX;

	pthread_mutex_lock(&uuid_lock);
	if (!uuid_started || ms_now > uuid_last_ms) {
		uuid_last_ms = ms_now;
		uuid_counter = seed;
		uuid_started = true;
	} else if (uuid_counter < UUID_COUNTER_MAX) {
		uuid_counter++;
	} else if (uuid_last_ms < UUID_MS_MAX) {
		/* Counter overflow: borrow the next millisecond. */
		uuid_last_ms++;
		uuid_counter = seed;
	} else {
		/* Year 10889: nothing left to increase, ids stop being ordered. */
		uuid_counter = seed;
	}
	uint64_t ms = uuid_last_ms;
	unsigned counter = uuid_counter;
	pthread_mutex_unlock(&uuid_lock);

	unsigned char b[16];
	for (int k = 0; k < 6; k++)
		b[k] = (unsigned char)(ms >> (40 - 8 * k));
	b[6] = (unsigned char)(0x70 | counter >> 8);
	b[7] = (unsigned char)counter;
	b[8] = (unsigned char)(0x80 | (rnd[2] & 0x3f));
	memcpy(b + 9, rnd + 3, 7);

	static const char hex[] = "0123456789abcdef";
	char *p = out;
	for (int k = 0; k < 16; k++) {
		if (k == 4 || k == 6 || k == 8 || k == 10)
			*p++ = '-';
		*p++ = hex[b[k] >> 4];
		*p++ = hex[b[k] & 15];
	}
	*p = 0;
	return 0;
}
