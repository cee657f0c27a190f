/* diag: diagnostics, exit codes and error buffers.
 *
 * Every diagnostic is one line on stderr: "PROG: level: text", or with
 * --log-format json one JSON object per line:
 *   {"ts":"…","prog":"sqs-send","level":"warning","msg":"…"}
 * Newlines and control characters in the text are escaped, never printed
 * raw, so one message is always one line.
 *
 * Only programs (cmd/) call the printing functions.  Library modules report
 * failures by returning an error and filling a caller-owned buffer of
 * CP_ERR_LEN bytes with cp_err_set(); the program decides what to print and
 * which exit code to use.
 *
 * Thread safety: cp_diag_init() and the setters run before threads start;
 * the printing functions may be called from any thread (each message is
 * formatted into a local buffer and written with one write(2)).
 */
#ifndef CP_DIAG_H
#define CP_DIAG_H

#include <stdarg.h>

/* Exit codes: a sysexits subset, our own constants (chatpipe(7)). */
enum {
	CP_EX_OK = 0,
	CP_EX_USAGE = 64,       /* bad command line */
	CP_EX_DATAERR = 65,     /* some input lines were rejected */
	CP_EX_NOINPUT = 66,     /* cannot open an input file */
	CP_EX_UNAVAILABLE = 69, /* a service is unavailable */
	CP_EX_SOFTWARE = 70,    /* internal error */
	CP_EX_IOERR = 74,       /* reading or writing failed */
	CP_EX_TEMPFAIL = 75,    /* temporary failure, retry later */
	CP_EX_NOPERM = 77,      /* permission or authentication denied */
	CP_EX_CONFIG = 78,      /* configuration error */
};

enum cp_level {
	CP_LOG_FATAL = 0,
	CP_LOG_ERROR,
	CP_LOG_WARNING,
	CP_LOG_INFO,    /* shown with -v */
	CP_LOG_DEBUG,   /* shown with -vv */
	CP_LOG_TRACE,   /* shown with -vvv */
};

enum cp_log_format { CP_LOG_TEXT, CP_LOG_JSON };

#define CP_ERR_LEN 256

/* Program name used in every message; the string must outlive the process. */
void cp_diag_init(const char *prog);
const char *cp_diag_prog(void);

/* Messages at or below this level are printed.  The default is
 * CP_LOG_WARNING; -v raises it by one per v, -q lowers it to CP_LOG_ERROR. */
void cp_diag_set_level(int level);
int cp_diag_level(void);
int cp_diag_enabled(int level);

void cp_diag_set_format(enum cp_log_format format);
/* Parses "text" or "json"; returns 0, or -1 for anything else. */
int cp_diag_parse_format(const char *s, enum cp_log_format *out);

void cp_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cp_vlog(int level, const char *fmt, va_list ap);
/* Prints whatever the level threshold (what the user asked for, such as
 * --progress and the -v summary, labelled with level). */
void cp_log_force(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define cp_error(...) cp_log(CP_LOG_ERROR, __VA_ARGS__)
#define cp_warn(...) cp_log(CP_LOG_WARNING, __VA_ARGS__)
#define cp_info(...) cp_log(CP_LOG_INFO, __VA_ARGS__)
#define cp_debug(...) cp_log(CP_LOG_DEBUG, __VA_ARGS__)
#define cp_trace(...) cp_log(CP_LOG_TRACE, __VA_ARGS__)

/* Prints a fatal message and exits with code. */
void cp_die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* Library side: formats into err (CP_ERR_LEN bytes; NULL is allowed) and
 * returns -1, so a function can end with "return cp_err_set(err, …);". */
int cp_err_set(char *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A name for an exit code ("usage", "tempfail", …), for logs and chatd. */
const char *cp_exit_name(int code);

#endif
