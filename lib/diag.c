/* diag: see diag.h. */
#include "diag.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jv.h>

static const char *prog = "chatpipe";
static int level = CP_LOG_WARNING;
static enum cp_log_format format = CP_LOG_TEXT;

static const char *const level_names[] = {
	"fatal", "error", "warning", "info", "debug", "trace",
};

void cp_diag_init(const char *p) { prog = p; }
const char *cp_diag_prog(void) { return prog; }
void cp_diag_set_level(int l) { level = l < CP_LOG_FATAL ? CP_LOG_FATAL : l; }
int cp_diag_level(void) { return level; }
int cp_diag_enabled(int l) { return l <= level; }
void cp_diag_set_format(enum cp_log_format f) { format = f; }

int cp_diag_parse_format(const char *s, enum cp_log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = CP_LOG_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = CP_LOG_JSON;
	else
		return -1;
	return 0;
}

/* Copies src into dst (size n) with control characters escaped, so the
 * message stays on one line. */
static size_t escape_line(char *dst, size_t n, const char *src)
{
	size_t o = 0;
	for (const unsigned char *s = (const unsigned char *)src; *s && o + 5 < n; s++) {
		if (*s == '\n') {
			dst[o++] = '\\';
			dst[o++] = 'n';
		} else if (*s == '\r') {
			dst[o++] = '\\';
			dst[o++] = 'r';
		} else if (*s < 0x20 || *s == 0x7f) {
			o += (size_t)snprintf(dst + o, n - o, "\\x%02x", *s);
		} else {
			dst[o++] = (char)*s;
		}
	}
	dst[o] = 0;
	return o;
}

static void write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		s += w;
		n -= (size_t)w;
	}
}

static void vlog(int l, const char *fmt, va_list ap)
{
	int saved = errno;
	char raw[4096], line[8192];
	vsnprintf(raw, sizeof raw, fmt, ap);
	const char *lname = level_names[l < 0 ? 0 : l > CP_LOG_TRACE ? CP_LOG_TRACE : l];
	if (format == CP_LOG_JSON) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		char stamp[80];
		snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
		jv o = JV_OBJECT(jv_string("ts"), jv_string(stamp),
		    jv_string("prog"), jv_string(prog),
		    jv_string("level"), jv_string(lname),
		    jv_string("msg"), jv_string(raw));
		jv s = jv_dump_string(o, 0);
		snprintf(line, sizeof line, "%s\n", jv_string_value(s));
		jv_free(s);
	} else {
		int o = snprintf(line, sizeof line, "%s: %s: ", prog, lname);
		size_t e = escape_line(line + o, sizeof line - (size_t)o - 1, raw);
		line[(size_t)o + e] = '\n';
		line[(size_t)o + e + 1] = 0;
	}
	write_all(2, line, strlen(line));
	errno = saved;
}

void cp_vlog(int l, const char *fmt, va_list ap)
{
	if (l > level && l != CP_LOG_FATAL)
		return;
	vlog(l, fmt, ap);
}

void cp_log_force(int l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(l, fmt, ap);
	va_end(ap);
}

void cp_log(int l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cp_vlog(l, fmt, ap);
	va_end(ap);
}

void cp_die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cp_vlog(CP_LOG_FATAL, fmt, ap);
	va_end(ap);
	exit(code);
}

int cp_err_set(char *err, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, CP_ERR_LEN, fmt, ap);
		va_end(ap);
	}
	return -1;
}

const char *cp_exit_name(int code)
{
	switch (code) {
	case CP_EX_OK: return "ok";
	case CP_EX_USAGE: return "usage";
	case CP_EX_DATAERR: return "dataerr";
	case CP_EX_NOINPUT: return "noinput";
	case CP_EX_UNAVAILABLE: return "unavailable";
	case CP_EX_SOFTWARE: return "software";
	case CP_EX_IOERR: return "ioerr";
	case CP_EX_TEMPFAIL: return "tempfail";
	case CP_EX_NOPERM: return "noperm";
	case CP_EX_CONFIG: return "config";
	default: return "unknown";
	}
}
