/* opts: see opts.h. */
#include "opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <mysql.h>
#include <sqlite3.h>

#include "diag.h"

struct cp_common_opts cp_common;

enum {
	OPT_HELP = 0x7f01,
	OPT_VERSION,
	OPT_VERBOSE,
	OPT_QUIET,
};

static struct poptOption common_table[] = {
	{ "help", 'h', POPT_ARG_NONE, NULL, OPT_HELP, "show this help and exit", NULL },
	{ "version", 0, POPT_ARG_NONE, NULL, OPT_VERSION, "show the version and exit", NULL },
	{ "verbose", 'v', POPT_ARG_NONE, NULL, OPT_VERBOSE,
	  "more diagnostics: once, a summary at exit; twice, a trace of requests", NULL },
	{ "quiet", 'q', POPT_ARG_NONE, NULL, OPT_QUIET, "print errors only", NULL },
	{ "rejects", 0, POPT_ARG_STRING, &cp_common.rejects, 0,
	  "append rejected lines to FILE (default: stderr)", "FILE" },
	{ "log-format", 0, POPT_ARG_STRING, &cp_common.log_format, 0,
	  "diagnostics as text or json lines", "text|json" },
	{ "progress", 0, POPT_ARG_NONE, &cp_common.progress, 0,
	  "show a live count and rate on stderr", NULL },
	POPT_TABLEEND
};

void cp_opts_help(const struct cp_tool *tool, poptContext pc)
{
	printf("Usage: %s [OPTION]...%s%s\n%s\n", tool->name,
	    tool->args ? " " : "", tool->args ? tool->args : "", tool->summary);
	/* popt's help starts with its own usage line: keep only the tables. */
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (m) {
		poptPrintHelp(pc, m, 0);
		fclose(m);
		const char *tables = strchr(text, '\n');
		fputs(tables ? tables + 1 : text, stdout);
		free(text);
	}
	printf("\nExit status: 0 ok, 64 usage, 65 input rejected, 69 unavailable,\n"
	    "70 internal, 74 I/O error, 75 temporary failure, 77 denied, 78 config.\n"
	    "See %s(1) and chatpipe(7).\n", tool->name);
}

static void version(const struct cp_tool *tool)
{
	printf("%s (chatpipe) %s\n", tool->name, CP_VERSION);
	printf("%s sqlite/%s mariadb-connector-c/%s\n", curl_version(),
	    sqlite3_libversion(), mysql_get_client_info());
}

int cp_opts_parse(const struct cp_tool *tool, int argc, const char **argv,
    poptContext *out, int *status, char *err)
{
	struct poptOption none[] = { POPT_TABLEEND };
	struct poptOption table[] = {
		{ NULL, 0, POPT_ARG_INCLUDE_TABLE, tool->options ? tool->options : none, 0,
		  tool->options ? "Options:" : NULL, NULL },
		{ NULL, 0, POPT_ARG_INCLUDE_TABLE, common_table, 0, "Common options:", NULL },
		POPT_TABLEEND
	};
	cp_diag_init(tool->name);
	poptContext pc = poptGetContext(tool->name, argc, argv, table, 0);
	int help = 0, ver = 0, rc;
	*status = 0;
	while ((rc = poptGetNextOpt(pc)) > 0) {
		switch (rc) {
		case OPT_HELP: help = 1; break;
		case OPT_VERSION: ver = 1; break;
		case OPT_VERBOSE: cp_common.verbose++; break;
		case OPT_QUIET: cp_common.quiet = 1; break;
		default: {
			/* poptGetOptArg hands the string over: the callback
			 * copies what it keeps. */
			char *arg = poptGetOptArg(pc);
			int r = tool->on_option ? tool->on_option(rc, arg, err) : 0;
			free(arg);
			if (r < 0) {
				*status = CP_EX_USAGE;
				goto exit;
			}
		}
		}
	}
	if (rc < -1) {
		cp_err_set(err, "%s: %s (try '%s --help')",
		    poptBadOption(pc, POPT_BADOPTION_NOALIAS), poptStrerror(rc), tool->name);
		*status = CP_EX_USAGE;
		goto exit;
	}
	if (help) {
		cp_opts_help(tool, pc);
		goto exit;
	}
	if (ver) {
		version(tool);
		goto exit;
	}
	enum cp_log_format fmt = CP_LOG_TEXT;
	if (cp_common.log_format && cp_diag_parse_format(cp_common.log_format, &fmt) < 0) {
		cp_err_set(err, "--log-format: '%s' is neither text nor json", cp_common.log_format);
		*status = CP_EX_USAGE;
		goto exit;
	}
	cp_diag_set_format(fmt);
	cp_diag_set_level(cp_common.quiet ? CP_LOG_ERROR : CP_LOG_WARNING + cp_common.verbose);
	if (!out) {
		if (poptPeekArg(pc)) {
			cp_err_set(err, "unexpected argument '%s': %s takes no arguments (try '%s --help')",
			    poptPeekArg(pc), tool->name, tool->name);
			*status = CP_EX_USAGE;
			goto exit;
		}
		poptFreeContext(pc);
		return CP_OPTS_RUN;
	}
	*out = pc;
	return CP_OPTS_RUN;
exit:
	poptFreeContext(pc);
	return CP_OPTS_EXIT;
}

int cp_opts_number(const char *opt, const char *arg, long long min,
    long long max, long long *out, char *err)
{
	char *end;
	errno = 0;
	long long v = arg ? strtoll(arg, &end, 10) : 0;
	if (!arg || !*arg || *end || errno || v < min || v > max)
		return cp_err_set(err, "%s: '%s' is not a whole number from %lld to %lld",
		    opt, arg ? arg : "", min, max);
	*out = v;
	return 0;
}
