/* jsonl-cat: the record loop of lib/, on its own, for the tests.
 *
 * Reads JSON lines on stdin, writes each line's record (the body of an
 * envelope, else the line) or, with --jq, the expression's value, and
 * rejects what it cannot use.  It keeps every promise a chatpipe program
 * keeps (conservation, flush before waiting, signals, checked stdout, exit
 * codes), so the tests can hold the library to them without a network.
 * Not installed.
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "jqexpr.h"
#include "jsonl.h"
#include "opts.h"
#include "progress.h"
#include "record.h"
#include "reject.h"
#include "sig.h"

static const char *jq_program;
static int max_line, delay_ms;

static struct poptOption options[] = {
	{ "jq", 'e', POPT_ARG_STRING, &jq_program, 0, "write the value of EXPR for each record", "EXPR" },
	{ "max-line", 0, POPT_ARG_INT, &max_line, 0, "longest line accepted (bytes)", "N" },
	{ "delay-ms", 0, POPT_ARG_INT, &delay_ms, 0, "sleep N ms per line (tests)", "N" },
	POPT_TABLEEND
};

static const struct cp_tool tool = {
	.name = "jsonl-cat",
	.summary = "Copy JSON lines' records to stdout, rejecting bad lines (a test driver).",
	.options = options,
};

int main(int argc, const char **argv)
{
	char err[CP_ERR_LEN];
	poptContext pc;
	int status;
	if (cp_opts_parse(&tool, argc, argv, &pc, &status, err) == CP_OPTS_EXIT) {
		if (status)
			cp_die(status, "%s", err);
		return 0;
	}
	poptFreeContext(pc);
	if (cp_sig_install(err) < 0)
		cp_die(CP_EX_SOFTWARE, "%s", err);

	struct cp_jq *jq = NULL;
	if (jq_program && !(jq = cp_jq_new(jq_program, err)))
		cp_die(CP_EX_USAGE, "%s", err);
	struct cp_rejects *rj = cp_rejects_open(cp_common.rejects, tool.name, err);
	if (!rj)
		cp_die(CP_EX_CONFIG, "%s", err);
	struct cp_writer *out = cp_writer_new(1, err);
	struct cp_reader *in = cp_reader_new(0, (size_t)max_line, err);
	if (!out || !in)
		cp_die(CP_EX_SOFTWARE, "%s", err);
	cp_reader_set_idle(in, cp_writer_idle, out);
	if (cp_common.progress && cp_progress_start(err) < 0)
		cp_warn("%s", err);

	int ex = 0, r;
	struct cp_line line;
	while ((r = cp_reader_next(in, &line, err)) == CP_READ_LINE) {
		cp_count_read();
		jv v;
		if (cp_line_check(&line, err) < 0 || cp_line_parse(line.data, line.len, &v, err) < 0)
			goto reject;
		jv rec = cp_record_body(&v);
		jv_free(v);
		if (jq && cp_jq_eval(jq, rec, &rec, err) < 0)
			goto reject;
		/* A busy stage: the sleep resumes after a first signal. */
		struct timespec d = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };
		while (delay_ms && nanosleep(&d, &d) < 0)
			;
		if (cp_writer_jv(out, rec) < 0)
			break;
		cp_count_written();
		continue;
reject:
		cp_count_rejected();
		if (cp_reject(rj, line.lineno, err, 0, line.data, line.len, line.full_len) < 0) {
			ex = CP_EX_IOERR;
			break;
		}
	}
	if (r == CP_READ_ERROR) {
		cp_error("%s", err);
		ex = CP_EX_IOERR;
	}
	cp_progress_stop();
	ex = cp_rejects_finish(out, rj, ex);
	cp_reader_free(in);
	cp_jq_free(jq);
	if (cp_diag_enabled(CP_LOG_INFO)) {
		cp_progress_summary(err, sizeof err);
		cp_info("%s", err);
	}
	return cp_progress_exit_status(ex);
}
