/* persist: the worker pool of chat-persist.
 *
 * N worker threads, each with its own database connection (a cp_store) and
 * its own bounded queue.  The reading thread hands each pair over with
 * cp_persist_push(): the pair goes to the worker chosen by a hash of its
 * conversation_id, so one conversation's pairs are stored by one worker,
 * in the order they were read, and no two workers ever write the same
 * conversation row.  Ownership of the pair passes to the pool (it is plain
 * bytes: no jv crosses threads).
 *
 * A worker takes up to `batch` pairs from its queue, waiting at most
 * `linger_ms` after the oldest one arrived for more, and stores them in one
 * transaction.  Only once it is committed are the pairs' lines written to
 * out (in commit order; across workers lines interleave in any order).  A
 * batch that the database refuses because of one record is split in halves
 * until that record is alone; it alone is rejected.  A transient failure
 * (lost connection, server restart, deadlock, lock wait timeout, busy) is
 * retried with capped exponential backoff and jitter, reconnecting, for up
 * to `retry_ms` from the start of the outage; meanwhile the queue fills and
 * cp_persist_push() blocks, so input stops being read.  After that the
 * worker rejects the batch and everything queued to it as retryable and
 * the pool is failed with CP_EX_TEMPFAIL.  A fatal error (access denied,
 * no schema) fails the pool at once with its own exit code, the held pairs
 * rejected as retryable too.
 *
 * Memory is bounded: each queue holds at most 2 * batch pairs and
 * queue_bytes bytes (a single larger pair is let in when its queue is
 * empty).
 *
 * Thread safety: push and finish from one thread (the reader); out, rj and
 * the counters of progress.h are used from the workers.
 */
#ifndef CP_PERSIST_H
#define CP_PERSIST_H

#include <stddef.h>

#include "jsonl.h"
#include "pair.h"
#include "reject.h"
#include "store.h"

struct cp_persist_config {
	const struct cp_store_config *db;
	int workers;
	int batch;
	long linger_ms;
	long retry_ms;
	size_t queue_bytes;     /* per worker */
	struct cp_writer *out;
	struct cp_rejects *rj;
};

struct cp_persist;

/* Before the pool: connects once (retrying transient failures for up to
 * retry_ms), then with migrate applies the pending migrations (*applied
 * counts them), else checks that the schema is there.  Returns 0, or the
 * exit code with err: CP_EX_UNAVAILABLE when the database stayed away. */
int cp_persist_setup(const struct cp_store_config *db, long retry_ms, int migrate,
    int *applied, char *desc, size_t desc_len, char *err);

/* Starts the workers, each connecting its store.  NULL with *code and err
 * when a store fails fatally at once (bad credentials, ...); transient
 * connection failures are left to the workers' retries. */
struct cp_persist *cp_persist_start(const struct cp_persist_config *cfg,
    int *code, char *err);

/* Hands p over: 0, waiting while its worker's queue is full.  -1 when the
 * pool has failed: p is not taken, and the reader stops and rejects it. */
int cp_persist_push(struct cp_persist *pool, struct cp_pair *p);

/* Non-zero once the pool has failed: the exit code it failed with. */
int cp_persist_failed(struct cp_persist *pool);

/* No more input: the workers store what they hold and end.  Returns the
 * pool's exit code (0, or what it failed with) and frees it. */
int cp_persist_finish(struct cp_persist *pool);

#endif
