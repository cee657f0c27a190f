/* stage: the loop of a filter that acts on its lines in batches over the
 * network (sqs-send, sqs-delete, and later pusher-notify): read lines, turn
 * each into an item, gather items with the same key (a queue URL) into
 * batches of at most max_items items and max_bytes bytes, keep up to
 * max_in_flight batches in flight, and end every line on stdout (done) or
 * as a reject, whatever happens.
 *
 * The program supplies the parts that differ (struct cp_stage_ops): how a
 * line becomes an item, how a batch is submitted, how the network is
 * driven.  It reports each item's outcome with cp_stage_item_done() and the
 * end of each batch with cp_stage_batch_done().  The stage then
 *   - writes the item's line, verbatim, on success;
 *   - retries an item that failed on its own and retryably (a batch's
 *     per-entry failure, such as throttling) after a backoff, up to the
 *     retry policy's attempts, then rejects it as retryable;
 *   - rejects an item whose failure is final, or retryable but already
 *     retried by the transport (the whole request's budget spent);
 *   - on a fatal failure (credentials refused, the queue missing) stops
 *     reading, rejects what it holds with the reason, and ends with the
 *     failure's exit code.
 *
 * Flow: a batch is submitted when it is full, when the input has nothing
 * more to give right now (so no line waits for company while the pipeline
 * idles), or after linger_ms.  When max_in_flight batches are out, input is
 * not read (backpressure).  stdout is flushed whenever the stage is about
 * to wait.  SIGTERM/SIGINT or end of input: stop reading, finish what is in
 * flight, exit.  Output order follows completion, not input.
 *
 * Thread safety: one thread; jv values stay on it.
 */
#ifndef CP_STAGE_H
#define CP_STAGE_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <jv.h>

#include "jsonl.h"
#include "reject.h"
#include "retry.h"

struct cp_stage;

struct cp_stage_item {
	uint64_t lineno;
	char *line;                /* the input line, verbatim (owned) */
	size_t line_len;
	char *key;                 /* batching key, e.g. the queue URL (owned) */
	size_t size;               /* bytes counted against max_bytes */
	void *data;                /* the program's payload */
	int attempts;              /* submissions so far */
	int64_t due_ms;            /* retry: not before (monotonic ms) */
	struct cp_stage_item *next;
};

/* How an item ended. */
struct cp_stage_outcome {
	int ok;
	int retryable;             /* may pass later */
	int entry;                 /* the failure is this item's alone (a
	                            * batch's per-entry failure): the stage may
	                            * retry it; else the transport already did */
	int fatal;                 /* 0, or the exit code that ends the run
	                            * (CP_EX_NOPERM, CP_EX_CONFIG, ...) */
	const char *error;         /* the reason, when not ok */
	jv extra;                  /* fields merged into the reject, or
	                            * jv_null() (consumed) */
};

/* How the stage checks a line before prepare. */
enum cp_stage_check {
	CP_STAGE_PARSE = 0,        /* parsed (cp_line_parse): prepare gets its value */
	CP_STAGE_VALIDATE,         /* only checked to be JSON (lib/json, five
	                            * times cheaper than a libjq parse): prepare
	                            * gets jv_invalid() and parses what it needs */
	CP_STAGE_UNCHECKED,        /* neither: prepare checks it, and rejects
	                            * what is not JSON */
};

struct cp_stage_ops {
	/* Turns a line (its value borrowed in v, see check) into it: sets
	 * key, size and data.  0, or -1 with err to reject the line. */
	int (*prepare)(struct cp_stage *s, jv v, struct cp_stage_item *it, char *err);
	enum cp_stage_check check;
	/* Submits a batch of n items of one key; later calls
	 * cp_stage_item_done() for each and cp_stage_batch_done() once.
	 * 0, or -1 with err when the batch cannot go out at all (a
	 * configuration error, such as no region for its queue): the stage
	 * rejects the items and ends the run with CP_EX_CONFIG. */
	int (*submit)(struct cp_stage *s, const char *key,
	    struct cp_stage_item *const *items, size_t n, char *err);
	/* Frees an item's data. */
	void (*free_data)(void *data);
	/* Drives the network: waits up to timeout_ms for it or the fds
	 * (revents set).  -1 with err on a failure of the machinery. */
	int (*run)(struct cp_stage *s, struct pollfd *fds, unsigned nfds,
	    int timeout_ms, char *err);
};

struct cp_stage_opts {
	size_t max_items;          /* per batch (10) */
	size_t max_bytes;          /* per batch (1 MiB) */
	int max_in_flight;         /* batches at once (8) */
	int linger_ms;             /* wait for a fuller batch (0: never) */
	struct cp_retry_policy retry; /* per-item retries (zero: defaults) */
	size_t max_line;           /* longest line (0: 1 MiB) */
};

struct cp_stage *cp_stage_new(const struct cp_stage_ops *ops,
    const struct cp_stage_opts *o, struct cp_writer *out,
    struct cp_rejects *rj, void *user, char *err);
void cp_stage_free(struct cp_stage *s);
void *cp_stage_user(struct cp_stage *s);

/* Runs the loop over fd until the input ends or a stop is requested and
 * everything in flight has ended.  Returns the exit status: 0, the fatal
 * code of a failure, CP_EX_TEMPFAIL when lines were rejected as
 * retryable, CP_EX_DATAERR when others were rejected, CP_EX_IOERR when
 * input or output failed (err says why). */
int cp_stage_run(struct cp_stage *s, int fd, char *err);

/* A filter program's run: opens the rejects (--rejects) and stdout, makes
 * the stage, starts --progress, runs the loop over stdin, and closes all
 * of it in order.  Returns the exit status: cp_stage_run()'s, or
 * CP_EX_IOERR when closing stdout or the rejects failed, CP_EX_CONFIG
 * when the rejects file cannot be opened.  Errors are logged (as the loop
 * logs its own); the -v summary is the program's. */
int cp_stage_main(const struct cp_stage_ops *ops, const struct cp_stage_opts *o,
    const char *tool, void *user);

void cp_stage_item_done(struct cp_stage *s, struct cp_stage_item *it,
    const struct cp_stage_outcome *o);
void cp_stage_batch_done(struct cp_stage *s);

#endif
