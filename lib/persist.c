/* persist: see persist.h. */
#include "persist.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diag.h"
#include "progress.h"
#include "retry.h"
#include "sig.h"
#include "timeutil.h"

/* Reconnecting: the first retries come fast (a deadlock, a blip), then at
 * most every two seconds or so while the server is away. */
static const struct cp_retry_policy db_policy = {
	.base_ms = 50, .throttle_base_ms = 50, .cap_ms = 2000,
	.max_attempts = 1 << 30, .budget_ms = 0,
};

struct queue {
	pthread_mutex_t mu;
	pthread_cond_t nonempty, nonfull;
	struct cp_pair *head, *tail;
	size_t count, bytes, max_count, max_bytes;
	int closed;
};

struct worker {
	struct cp_persist *pool;
	int id;
	pthread_t thread;
	int started;
	struct queue q;
	struct cp_store *store;
	struct cp_retry_rng rng;
	struct cp_pair **batch;
	int gave_up;
	char why[CP_ERR_LEN + 64];    /* the reason held pairs are rejected for */
	int64_t outage_ms;       /* when the current outage began, or 0 */
	int attempt;
};

struct cp_persist {
	struct cp_persist_config cfg;
	int n;
	struct worker *w;
	atomic_int failed;
};

static void fail(struct cp_persist *pool, int code)
{
	int zero = 0;
	atomic_compare_exchange_strong(&pool->failed, &zero, code);
}

int cp_persist_failed(struct cp_persist *pool) { return atomic_load(&pool->failed); }

static void deadline_in(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void sleep_ms(long ms)
{
	struct timespec d = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&d, &d) < 0 && errno == EINTR)
		;
}

/* ---- what happens to a pair in the end ---- */

static void done(struct worker *w, struct cp_pair *p)
{
	if (cp_writer_line(w->pool->cfg.out, p->line, p->line_len) < 0)
		fail(w->pool, CP_EX_IOERR);
	cp_count_written();
	free(p);
}

static void reject(struct worker *w, struct cp_pair *p, const char *why, int retryable)
{
	cp_count_rejected();
	if (cp_reject(w->pool->cfg.rj, p->lineno, why, retryable, p->line, p->line_len,
	    p->line_len) < 0)
		fail(w->pool, CP_EX_IOERR);
	free(p);
}

static void give_up(struct worker *w, int code, const char *why)
{
	if (!w->gave_up) {
		w->gave_up = 1;
		snprintf(w->why, sizeof w->why, "%s", why);
		cp_error("worker %d: %s: rejecting what it holds as retryable", w->id, why);
	}
	fail(w->pool, code);
	/* The reader may wait on this queue: let it see the failure. */
	pthread_mutex_lock(&w->q.mu);
	pthread_cond_broadcast(&w->q.nonfull);
	pthread_mutex_unlock(&w->q.mu);
}

/* ---- storing a batch ---- */

static void store(struct worker *w, struct cp_pair **pairs, size_t n)
{
	const struct cp_persist_config *cfg = &w->pool->cfg;
	char err[CP_ERR_LEN];
	for (;;) {
		if (w->gave_up) {
			for (size_t i = 0; i < n; i++)
				reject(w, pairs[i], w->why, 1);
			return;
		}
		int code = 0;
		int r = cp_store_write(w->store, pairs, n, &code, err);
		if (r == CP_STORE_OK) {
			if (w->outage_ms) {
				cp_warn("worker %d: the database is back after %.1f s", w->id,
				    (double)(cp_time_mono_ms() - w->outage_ms) / 1000);
				w->outage_ms = 0;
			}
			w->attempt = 0;
			for (size_t i = 0; i < n; i++)
				done(w, pairs[i]);
			return;
		}
		if (r == CP_STORE_RECORD) {
			if (n == 1) {
				cp_debug("worker %d: line %ju: %s", w->id,
				    (uintmax_t)pairs[0]->lineno, err);
				reject(w, pairs[0], err, 0);
				return;
			}
			/* Find the record: halves, each its own transaction. */
			store(w, pairs, n / 2);
			store(w, pairs + n / 2, n - n / 2);
			return;
		}
		if (r == CP_STORE_FATAL) {
			give_up(w, code, err);
			continue;
		}
		/* CP_STORE_RETRY */
		int64_t now = cp_time_mono_ms();
		if (!w->outage_ms) {
			w->outage_ms = now;
			cp_warn("worker %d: %s: retrying for up to %ld s", w->id, err,
			    cfg->retry_ms / 1000);
		} else {
			cp_debug("worker %d: %s: retrying", w->id, err);
		}
		long delay = cp_retry_delay_ms(&db_policy, w->attempt++, &w->rng);
		if (now + delay - w->outage_ms > cfg->retry_ms) {
			char why[CP_ERR_LEN + 64];
			snprintf(why, sizeof why, "database unavailable for %.0f s: %s",
			    (double)(now - w->outage_ms) / 1000, err);
			give_up(w, CP_EX_TEMPFAIL, why);
			continue;
		}
		sleep_ms(delay);
	}
}

/* Takes the next batch into w->batch: up to cfg.batch pairs, lingering for
 * more until linger_ms after the oldest arrived.  0 once closed and empty. */
static size_t take(struct worker *w)
{
	const struct cp_persist_config *cfg = &w->pool->cfg;
	struct queue *q = &w->q;
	pthread_mutex_lock(&q->mu);
	while (!q->head && !q->closed)
		pthread_cond_wait(&q->nonempty, &q->mu);
	if (q->head && !q->closed && !w->gave_up && cfg->linger_ms > 0 &&
	    q->count < (size_t)cfg->batch) {
		int64_t left = q->head->enqueued_ms + cfg->linger_ms - cp_time_mono_ms();
		if (left > 0) {
			struct timespec dl;
			deadline_in(&dl, left);
			while (q->count < (size_t)cfg->batch && !q->closed &&
			    pthread_cond_timedwait(&q->nonempty, &q->mu, &dl) != ETIMEDOUT)
				;
		}
	}
	size_t n = 0;
	while (q->head && n < (size_t)cfg->batch) {
		struct cp_pair *p = q->head;
		q->head = p->next;
		q->count--;
		q->bytes -= p->size;
		p->next = NULL;
		w->batch[n++] = p;
	}
	if (!q->head)
		q->tail = NULL;
	if (n)
		pthread_cond_broadcast(&q->nonfull);
	pthread_mutex_unlock(&q->mu);
	return n;
}

static int queue_empty(struct queue *q)
{
	pthread_mutex_lock(&q->mu);
	int empty = q->head == NULL;
	pthread_mutex_unlock(&q->mu);
	return empty;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	cp_sig_block_in_thread();
	cp_store_thread_init();
	size_t n;
	while ((n = take(w)) > 0) {
		store(w, w->batch, n);
		/* About to wait for input: nothing stays in the buffer. */
		if (queue_empty(&w->q))
			cp_writer_flush(w->pool->cfg.out);
	}
	cp_store_close(w->store);
	w->store = NULL;
	cp_store_thread_end();
	return NULL;
}

/* ---- the reader's side ---- */

static uint64_t mix(uint64_t x)
{
	/* splitmix64's finalizer: neighbouring ids spread over the workers. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

int cp_persist_push(struct cp_persist *pool, struct cp_pair *p)
{
	struct worker *w = &pool->w[mix((uint64_t)p->conversation_id) % (uint64_t)pool->n];
	struct queue *q = &w->q;
	pthread_mutex_lock(&q->mu);
	int flushed = 0;
	while (!cp_persist_failed(pool) && q->count > 0 &&
	    (q->count >= q->max_count || q->bytes + p->size > q->max_bytes)) {
		if (!flushed) {
			/* About to wait for the database: flush what is done. */
			pthread_mutex_unlock(&q->mu);
			cp_writer_flush(pool->cfg.out);
			pthread_mutex_lock(&q->mu);
			flushed = 1;
			continue;
		}
		struct timespec dl;
		deadline_in(&dl, 200);
		pthread_cond_timedwait(&q->nonfull, &q->mu, &dl);
	}
	if (cp_persist_failed(pool)) {
		pthread_mutex_unlock(&q->mu);
		return -1;
	}
	p->next = NULL;
	p->enqueued_ms = cp_time_mono_ms();
	if (q->tail)
		q->tail->next = p;
	else
		q->head = p;
	q->tail = p;
	q->count++;
	q->bytes += p->size;
	if (q->count == 1 || q->count >= (size_t)pool->cfg.batch)
		pthread_cond_signal(&q->nonempty);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

static void queue_init(struct queue *q, size_t max_count, size_t max_bytes)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->nonempty, &ca);
	pthread_cond_init(&q->nonfull, &ca);
	pthread_condattr_destroy(&ca);
	q->max_count = max_count;
	q->max_bytes = max_bytes;
}

static void queue_destroy(struct queue *q)
{
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->nonempty);
	pthread_cond_destroy(&q->nonfull);
}

static void pool_free(struct cp_persist *pool)
{
	for (int i = 0; i < pool->n; i++) {
		struct worker *w = &pool->w[i];
		cp_store_close(w->store);
		free(w->batch);
		queue_destroy(&w->q);
	}
	free(pool->w);
	free(pool);
}

struct cp_persist *cp_persist_start(const struct cp_persist_config *cfg,
    int *code, char *err)
{
	struct cp_persist *pool = calloc(1, sizeof *pool);
	if (!pool || !(pool->w = calloc((size_t)cfg->workers, sizeof *pool->w))) {
		free(pool);
		*code = CP_EX_SOFTWARE;
		cp_err_set(err, "out of memory");
		return NULL;
	}
	pool->cfg = *cfg;
	pool->n = cfg->workers;
	size_t max_count = (size_t)cfg->batch * 2 < 16 ? 16 : (size_t)cfg->batch * 2;
	for (int i = 0; i < pool->n; i++) {
		struct worker *w = &pool->w[i];
		w->pool = pool;
		w->id = i + 1;
		queue_init(&w->q, max_count, cfg->queue_bytes);
		char e[CP_ERR_LEN];
		if (cp_retry_rng_seed_random(&w->rng, e) < 0)
			cp_debug("%s", e);
		w->batch = malloc((size_t)cfg->batch * sizeof *w->batch);
		if (!w->batch) {
			*code = CP_EX_SOFTWARE;
			cp_err_set(err, "out of memory");
			pool_free(pool);
			return NULL;
		}
		/* Connected here, used by the worker only from now on. */
		int r = cp_store_open(cfg->db, &w->store, code, err);
		if (r == CP_STORE_FATAL) {
			pool_free(pool);
			return NULL;
		}
		if (r == CP_STORE_RETRY)
			cp_warn("worker %d: %s: it will retry", w->id, err);
	}
	for (int i = 0; i < pool->n; i++) {
		struct worker *w = &pool->w[i];
		int e = pthread_create(&w->thread, NULL, work, w);
		if (e) {
			cp_err_set(err, "starting a worker: %s", strerror(e));
			*code = CP_EX_SOFTWARE;
			fail(pool, CP_EX_SOFTWARE);
			break;
		}
		w->started = 1;
	}
	if (cp_persist_failed(pool)) {
		cp_persist_finish(pool);
		return NULL;
	}
	return pool;
}

int cp_persist_finish(struct cp_persist *pool)
{
	for (int i = 0; i < pool->n; i++) {
		struct queue *q = &pool->w[i].q;
		pthread_mutex_lock(&q->mu);
		q->closed = 1;
		pthread_cond_broadcast(&q->nonempty);
		pthread_mutex_unlock(&q->mu);
	}
	for (int i = 0; i < pool->n; i++)
		if (pool->w[i].started)
			pthread_join(pool->w[i].thread, NULL);
	int code = cp_persist_failed(pool);
	pool_free(pool);
	return code;
}

int cp_persist_setup(const struct cp_store_config *db, long retry_ms, int migrate,
    int *applied, char *desc, size_t desc_len, char *err)
{
	struct cp_retry_rng rng;
	cp_retry_rng_seed(&rng, (uint64_t)cp_time_mono_ns());
	int64_t start = cp_time_mono_ms();
	struct cp_store *st = NULL;
	int code = 0, r = CP_STORE_RETRY;
	for (int attempt = 0;; attempt++) {
		if (!st)
			r = cp_store_open(db, &st, &code, err);
		if (st && r != CP_STORE_FATAL) {
			int newer = 0;
			r = migrate ? cp_store_migrate(st, applied, &code, err)
			            : cp_store_check(st, &newer, &code, err);
			if (r == CP_STORE_OK && newer)
				cp_warn("the database schema is newer than this chat-persist knows");
		}
		if (r != CP_STORE_RETRY)
			break;
		long delay = cp_retry_delay_ms(&db_policy, attempt, &rng);
		if (cp_time_mono_ms() + delay - start > retry_ms || cp_sig_stopping()) {
			char e[CP_ERR_LEN];
			memcpy(e, err, CP_ERR_LEN);
			cp_err_set(err, "database unavailable: %s", e);
			code = CP_EX_UNAVAILABLE;
			break;
		}
		if (attempt == 0)
			cp_warn("%s: retrying for up to %ld s", err, retry_ms / 1000);
		sleep_ms(delay);
	}
	if (st && desc)
		snprintf(desc, desc_len, "%s", cp_store_describe(st));
	cp_store_close(st);
	return r == CP_STORE_OK ? 0 : code ? code : CP_EX_SOFTWARE;
}
