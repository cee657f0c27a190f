/* chat-persist: stores question/answer pairs in MySQL/MariaDB or SQLite.
 *
 * Reads JSON lines (bare pair records or sqs-poll envelopes), stores each
 * record with a pool of -w worker threads, each with its own connection
 * and batching up to --batch records per transaction, and writes each line
 * verbatim on stdout only once its transaction has committed, so the next
 * stage (sqs-delete) acknowledges only what is stored.  Lines come out in
 * commit order, not input order (one conversation's lines keep theirs).
 * What cannot be stored is rejected with its reason; while the database is
 * away input stops being read, and after --retry-for the held records are
 * rejected as retryable and the exit status is 75.  Replays are no-ops:
 * every message has a persist key, unique in the database.
 * --migrate creates or upgrades the schema instead, and exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "jsonl.h"
#include "opts.h"
#include "pair.h"
#include "persist.h"
#include "progress.h"
#include "record.h"
#include "reject.h"
#include "sig.h"
#include "store.h"

/* All the queues together hold at most this many bytes of records. */
#define BUFFER_BYTES (16 << 20)

static const char *db_url, *password_file, *insert_mode;
static int workers = 4, batch = 500, linger_ms = 10, retry_for = 120, migrate;

static struct poptOption options[] = {
	{ "db", 'd', POPT_ARG_STRING, &db_url, 0,
	  "database: mysql://USER@HOST:PORT/DB, mysql:///DB?socket=PATH or "
	  "sqlite:PATH (default: $CHATPIPE_DB)", "URL" },
	{ "db-password-file", 0, POPT_ARG_STRING, &password_file, 0,
	  "read the database password from FILE (default: $CHATPIPE_DB_PASSWORD, "
	  "else ~/.my.cnf)", "FILE" },
	{ "workers", 'w', POPT_ARG_INT, &workers, 0,
	  "worker threads, each with its own connection (4)", "N" },
	{ "batch", 'b', POPT_ARG_INT, &batch, 0,
	  "records per transaction at most (500)", "N" },
	{ "linger", 0, POPT_ARG_INT, &linger_ms, 0,
	  "wait up to MS for a batch to fill (10)", "MS" },
	{ "retry-for", 0, POPT_ARG_INT, &retry_for, 0,
	  "retry an unavailable database for SEC, then reject what is held as "
	  "retryable and exit 75 (120)", "SEC" },
	{ "insert", 0, POPT_ARG_STRING, &insert_mode, 0,
	  "MySQL rows as bulk array binds or multi-row statements (auto: bulk "
	  "on MariaDB)", "auto|bulk|rows" },
	{ "migrate", 0, POPT_ARG_NONE, &migrate, 0,
	  "create or upgrade the schema, then exit", NULL },
	POPT_TABLEEND
};

static const struct cp_tool tool = {
	.name = "chat-persist",
	.summary = "Store question/answer pairs in MySQL or SQLite; write each line once it is committed.",
	.options = options,
};

/* The password, by precedence: --db-password-file, CHATPIPE_DB_PASSWORD,
 * the URL (warned about), else libmysqlclient's option files. */
static int password(struct cp_store_config *db, char *err)
{
	const char *env = getenv("CHATPIPE_DB_PASSWORD");
	if (!password_file && !env) {
		if (db->password_in_url)
			cp_warn("--db: a password in the URL is visible to other users; "
			    "use CHATPIPE_DB_PASSWORD or --db-password-file");
		return 0;
	}
	free(db->password);
	db->password = NULL;
	if (!password_file)
		return (db->password = strdup(env)) ? 0 : cp_err_set(err, "out of memory");
	int fd = open(password_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cp_err_set(err, "--db-password-file %s: %s", password_file, strerror(errno));
	char buf[1024];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		return cp_err_set(err, "--db-password-file %s: %s", password_file, strerror(errno));
	buf[n] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	db->password = strdup(buf);
	memset(buf, 0, sizeof buf);
	return db->password ? 0 : cp_err_set(err, "out of memory");
}

/* 0, or the exit code with err: 64 for a bad option, 78 for the rest. */
static int configure(struct cp_store_config *db, char *err)
{
	memset(db, 0, sizeof *db);
	if (workers < 1 || workers > 256)
		return cp_err_set(err, "--workers: %d is not from 1 to 256", workers), CP_EX_USAGE;
	if (batch < 1 || batch > 100000)
		return cp_err_set(err, "--batch: %d is not from 1 to 100000", batch), CP_EX_USAGE;
	if (linger_ms < 0 || linger_ms > 60000)
		return cp_err_set(err, "--linger: %d is not from 0 to 60000", linger_ms), CP_EX_USAGE;
	if (retry_for < 0)
		return cp_err_set(err, "--retry-for: %d is negative", retry_for), CP_EX_USAGE;
	enum cp_insert_mode mode = CP_INSERT_AUTO;
	if (insert_mode && strcmp(insert_mode, "bulk") == 0)
		mode = CP_INSERT_BULK;
	else if (insert_mode && strcmp(insert_mode, "rows") == 0)
		mode = CP_INSERT_ROWS;
	else if (insert_mode && strcmp(insert_mode, "auto") != 0)
		return cp_err_set(err, "--insert: '%s' is not auto, bulk or rows",
		    insert_mode), CP_EX_USAGE;
	if (cp_store_url_parse(db_url ? db_url : getenv("CHATPIPE_DB"), db, err) < 0)
		return CP_EX_CONFIG;
	db->create = migrate;
	db->insert = mode;
	return password(db, err) < 0 ? CP_EX_CONFIG : 0;
}

/* The record loop: each line read becomes a pair handed to the pool, or a
 * reject.  Returns 0 or an exit code. */
static int loop(struct cp_persist *pool, struct cp_reader *in, struct cp_rejects *rj)
{
	char err[CP_ERR_LEN];
	struct cp_line line;
	int r;
	while ((r = cp_reader_next(in, &line, err)) == CP_READ_LINE) {
		cp_count_read();
		jv v;
		if (cp_line_check(&line, err) < 0 || cp_line_parse(line.data, line.len, &v, err) < 0)
			goto reject;
		jv rec = cp_record_body(&v);
		jv_free(v);
		struct cp_pair *p = cp_pair_new(&rec, line.data, line.len, line.lineno, err);
		jv_free(rec);
		if (!p)
			goto reject;
		if (cp_persist_push(pool, p) == 0)
			continue;
		/* The pool failed: this line too goes back, and reading stops. */
		cp_count_rejected();
		cp_reject(rj, line.lineno, "not stored: chat-persist is stopping after a "
		    "failure (see its diagnostics)", 1, line.data, line.len, line.full_len);
		free(p);
		return 0;
reject:
		cp_count_rejected();
		if (cp_reject(rj, line.lineno, err, 0, line.data, line.len, line.full_len) < 0)
			return CP_EX_IOERR;
		if (cp_persist_failed(pool))
			return 0;
	}
	if (r == CP_READ_ERROR) {
		cp_error("%s", err);
		return CP_EX_IOERR;
	}
	return 0;
}

int main(int argc, const char **argv)
{
	char err[CP_ERR_LEN], desc[160] = "", url[512];
	int status;
	if (cp_opts_parse(&tool, argc, argv, NULL, &status, err) == CP_OPTS_EXIT) {
		if (status)
			cp_die(status, "%s", err);
		return 0;
	}
	struct cp_store_config db;
	if ((status = configure(&db, err)) != 0)
		cp_die(status, "%s", err);
	if (cp_sig_install(err) < 0)
		cp_die(CP_EX_SOFTWARE, "%s", err);
	cp_store_global_init();
	cp_store_url_redacted(&db, url, sizeof url);
	if (db.kind == CP_DB_MYSQL && db.ssl_mode == CP_SSL_REQUIRED)
		cp_warn("--db: ssl-mode=REQUIRED encrypts but does NOT verify the server: "
		    "anyone on the path can pose as it (use ssl-ca=FILE)");

	int applied = 0;
	status = cp_persist_setup(&db, retry_for * 1000L, migrate, &applied, desc,
	    sizeof desc, err);
	if (status)
		cp_die(status, "%s: %s", url, err);
	cp_info("%s: %s", url, desc);
	if (migrate) {
		cp_log_force(CP_LOG_INFO, "%s: %d migration%s applied", url, applied,
		    applied == 1 ? "" : "s");
		cp_store_config_free(&db);
		return 0;
	}

	struct cp_rejects *rj = cp_rejects_open(cp_common.rejects, tool.name, err);
	if (!rj)
		cp_die(CP_EX_CONFIG, "%s", err);
	struct cp_writer *out = cp_writer_new(1, err);
	struct cp_reader *in = cp_reader_new(0, 0, err);
	if (!out || !in)
		cp_die(CP_EX_SOFTWARE, "%s", err);
	cp_reader_set_idle(in, cp_writer_idle, out);
	size_t per_worker = BUFFER_BYTES / (size_t)workers;
	struct cp_persist_config pcfg = {
		.db = &db, .workers = workers, .batch = batch, .linger_ms = linger_ms,
		.retry_ms = retry_for * 1000L,
		.queue_bytes = per_worker < (1 << 20) ? 1 << 20 : per_worker,
		.out = out, .rj = rj,
	};
	int code = 0;
	struct cp_persist *pool = cp_persist_start(&pcfg, &code, err);
	if (!pool)
		cp_die(code, "%s: %s", url, err);
	if (cp_common.progress && cp_progress_start(err) < 0)
		cp_warn("%s", err);

	int ex = loop(pool, in, rj);
	int pool_ex = cp_persist_finish(pool);
	if (!ex)
		ex = pool_ex;
	cp_progress_stop();
	ex = cp_rejects_finish(out, rj, ex);
	cp_reader_free(in);
	cp_store_config_free(&db);
	if (cp_diag_enabled(CP_LOG_INFO)) {
		cp_progress_summary(err, sizeof err);
		cp_info("%s", err);
	}
	return cp_progress_exit_status(ex);
}
