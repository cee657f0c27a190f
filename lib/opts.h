/* opts: the command line, one popt table shared by every program.
 *
 * Every program takes the common options (BRIEF §3):
 *   -h, --help        help on stdout, exit 0
 *       --version     version on stdout, exit 0
 *   -v, --verbose     more diagnostics (repeatable: -vv traces requests)
 *   -q, --quiet       errors only
 *       --rejects FILE  append rejects to FILE instead of stderr
 *       --log-format text|json
 *       --progress    live count and rate on stderr
 * and its own table.  Options of the tool's table whose val is not 0 are
 * handed to its on_option callback as they are met.
 *
 * cp_opts_parse() leaves the diagnostics level and format set.  It prints
 * only what was asked for (help, version) and reports usage errors through
 * err for the program to print.
 */
#ifndef CP_OPTS_H
#define CP_OPTS_H

#include <popt.h>

struct cp_common_opts {
	int verbose;          /* number of -v */
	int quiet;
	const char *rejects;  /* NULL: stderr */
	const char *log_format;
	int progress;
};

extern struct cp_common_opts cp_common;

struct cp_tool {
	const char *name;     /* "sqs-send" */
	const char *args;     /* usage after the options, e.g. "[FILE]..." */
	const char *summary;  /* one line: what the tool does */
	struct poptOption *options; /* the tool's own table, or NULL */
	/* Called for each tool option with val != 0; returns 0 or -1 with err. */
	int (*on_option)(int val, const char *arg, char *err);
};

enum { CP_OPTS_RUN = 0, CP_OPTS_EXIT = 1 };

/* CP_OPTS_RUN: go on; *pc holds the remaining arguments (poptGetArg) and
 * is freed with poptFreeContext().  pc NULL: the tool takes no arguments
 * (its input is stdin), and one is a usage error.  CP_OPTS_EXIT: stop
 * with *status (0 after --help or --version; CP_EX_USAGE with err set). */
int cp_opts_parse(const struct cp_tool *tool, int argc, const char **argv,
    poptContext *pc, int *status, char *err);

/* Prints the help text to stdout (what --help prints). */
void cp_opts_help(const struct cp_tool *tool, poptContext pc);

/* Parses a whole non-negative number within [min, max], for option
 * values; 0 or -1 with err naming the option. */
int cp_opts_number(const char *opt, const char *arg, long long min,
    long long max, long long *out, char *err);

#endif
