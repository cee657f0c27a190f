/* stage: see stage.h. */
#include "stage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "json.h"
#include "opts.h"
#include "progress.h"
#include "sig.h"
#include "timeutil.h"

struct batch {
	char *key;
	struct cp_stage_item *head, *tail;
	size_t n, bytes;
	int64_t first_ms; /* when its first item came */
};

struct cp_stage {
	struct cp_stage_ops ops;
	struct cp_stage_opts o;
	struct cp_writer *out;
	struct cp_rejects *rj;
	void *user;
	struct batch *open;
	size_t nopen;
	struct cp_stage_item *retry; /* waiting for their due time */
	int in_flight;
	int fatal;
	char fatal_msg[CP_ERR_LEN];
	int rejected_retryable, rejected_final, io_error;
	char io_msg[CP_ERR_LEN];
	struct cp_retry_rng rng;
};

struct cp_stage *cp_stage_new(const struct cp_stage_ops *ops,
    const struct cp_stage_opts *o, struct cp_writer *out,
    struct cp_rejects *rj, void *user, char *err)
{
	struct cp_stage *s = calloc(1, sizeof *s);
	if (!s) {
		cp_err_set(err, "out of memory");
		return NULL;
	}
	s->ops = *ops;
	s->o = *o;
	if (!s->o.max_items)
		s->o.max_items = 10;
	if (!s->o.max_bytes)
		s->o.max_bytes = 1024 * 1024;
	if (s->o.max_in_flight <= 0)
		s->o.max_in_flight = 8;
	struct cp_retry_policy d;
	cp_retry_policy_default(&d);
	if (!s->o.retry.base_ms)
		s->o.retry.base_ms = d.base_ms;
	if (!s->o.retry.throttle_base_ms)
		s->o.retry.throttle_base_ms = d.throttle_base_ms;
	if (!s->o.retry.cap_ms)
		s->o.retry.cap_ms = d.cap_ms;
	if (!s->o.retry.max_attempts)
		s->o.retry.max_attempts = d.max_attempts;
	s->out = out;
	s->rj = rj;
	s->user = user;
	if (cp_retry_rng_seed_random(&s->rng, err) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

static void item_free(struct cp_stage *s, struct cp_stage_item *it)
{
	if (it->data && s->ops.free_data)
		s->ops.free_data(it->data);
	free(it->line);
	free(it->key);
	free(it);
}

void cp_stage_free(struct cp_stage *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nopen; i++) {
		while (s->open[i].head) {
			struct cp_stage_item *n = s->open[i].head->next;
			item_free(s, s->open[i].head);
			s->open[i].head = n;
		}
		free(s->open[i].key);
	}
	free(s->open);
	while (s->retry) {
		struct cp_stage_item *n = s->retry->next;
		item_free(s, s->retry);
		s->retry = n;
	}
	free(s);
}

void *cp_stage_user(struct cp_stage *s) { return s->user; }

static void reject(struct cp_stage *s, struct cp_stage_item *it, const char *error,
    int retryable, jv extra)
{
	if (jv_get_kind(extra) != JV_KIND_OBJECT) {
		jv_free(extra);
		extra = jv_object();
	}
	if (it->attempts > 1)
		extra = jv_object_set(extra, jv_string("attempts"), jv_number(it->attempts));
	cp_count_rejected();
	if (retryable)
		s->rejected_retryable++;
	else
		s->rejected_final++;
	if (cp_reject_jv(s->rj, it->lineno, error, retryable, it->line, it->line_len,
	    it->line_len, extra) < 0 && !s->io_error) {
		s->io_error = 1;
		snprintf(s->io_msg, sizeof s->io_msg, "writing rejects failed");
	}
	item_free(s, it);
}

/* Submits a batch (taken out of the open list). */
static void submit(struct cp_stage *s, size_t bi)
{
	struct batch b = s->open[bi];
	s->open[bi] = s->open[--s->nopen];
	struct cp_stage_item **items = malloc(b.n * sizeof *items);
	char err[CP_ERR_LEN] = "out of memory";
	size_t n = 0;
	for (struct cp_stage_item *it = b.head; it; it = it->next) {
		it->attempts++;
		if (items)
			items[n++] = it;
	}
	if (items && s->ops.submit(s, b.key, items, n, err) == 0) {
		s->in_flight++;
	} else {
		/* Nothing can go out (no region for the queue, say): the
		 * configuration is wrong, and every item ends here. */
		if (items && !s->fatal) {
			s->fatal = CP_EX_CONFIG;
			snprintf(s->fatal_msg, sizeof s->fatal_msg, "%s", err);
			cp_error("%s", err);
		}
		struct cp_stage_item *it = b.head;
		while (it) {
			struct cp_stage_item *next = it->next;
			reject(s, it, err, 0, jv_null());
			it = next;
		}
	}
	free(items);
	free(b.key);
}

/* Adds an item to the open batch of its key, submitting the batch first
 * when the item would not fit. */
static void add(struct cp_stage *s, struct cp_stage_item *it, int64_t now)
{
	size_t i;
	for (i = 0; i < s->nopen; i++)
		if (strcmp(s->open[i].key, it->key) == 0)
			break;
	if (i < s->nopen && (s->open[i].n >= s->o.max_items ||
	    s->open[i].bytes + it->size > s->o.max_bytes)) {
		submit(s, i);
		i = s->nopen;
	}
	if (i == s->nopen) {
		struct batch *nb = realloc(s->open, (s->nopen + 1) * sizeof *nb);
		char *key = strdup(it->key);
		if (!nb || !key) {
			free(key);
			if (nb)
				s->open = nb;
			reject(s, it, "out of memory", 1, jv_null());
			return;
		}
		s->open = nb;
		memset(&s->open[i], 0, sizeof s->open[i]);
		s->open[i].key = key;
		s->open[i].first_ms = now;
		s->nopen++;
	}
	struct batch *b = &s->open[i];
	it->next = NULL;
	if (b->tail)
		b->tail->next = it;
	else
		b->head = it;
	b->tail = it;
	b->n++;
	b->bytes += it->size;
	if (b->n >= s->o.max_items || b->bytes >= s->o.max_bytes)
		submit(s, i);
}

/* Checks a line as ops.check says (v stays jv_invalid() unless it is
 * parsed).  0, or -1 with why. */
static int check_json(struct cp_stage *s, const struct cp_line *line, jv *v, char *why)
{
	if (s->ops.check == CP_STAGE_UNCHECKED)
		return 0;
	if (s->ops.check == CP_STAGE_PARSE)
		return cp_line_parse(line->data, line->len, v, why);
	int valid = cp_json_valid(line->data, line->len, why);
	if (valid == 0)
		cp_json_why_not(line->data, line->len, why);
	return valid == 1 ? 0 : -1;
}

/* Reads and prepares one line; returns the reader's status. */
static int take_line(struct cp_stage *s, struct cp_reader *in, int64_t now, char *err)
{
	struct cp_line line;
	int r = cp_reader_next(in, &line, err);
	if (r != CP_READ_LINE)
		return r;
	cp_count_read();
	struct cp_stage_item *it = calloc(1, sizeof *it);
	char why[CP_ERR_LEN];
	jv v = jv_invalid();
	if (!it || !(it->line = malloc(line.len + 1))) {
		free(it);
		cp_count_rejected();
		s->rejected_retryable++;
		cp_reject(s->rj, line.lineno, "out of memory", 1, line.data, line.len, line.full_len);
		return r;
	}
	memcpy(it->line, line.data, line.len);
	it->line[line.len] = 0;
	it->line_len = line.len;
	it->lineno = line.lineno;
	if (cp_line_check(&line, why) < 0 || check_json(s, &line, &v, why) < 0) {
		cp_count_rejected();
		s->rejected_final++;
		cp_reject(s->rj, line.lineno, why, 0, line.data, line.len, line.full_len);
		item_free(s, it);
		return r;
	}
	int p = s->ops.prepare(s, v, it, why);
	jv_free(v);
	if (p < 0) {
		reject(s, it, why, 0, jv_null());
		return r;
	}
	if (!it->key && !(it->key = strdup(""))) {
		reject(s, it, "out of memory", 1, jv_null());
		return r;
	}
	if (it->size > s->o.max_bytes) {
		snprintf(why, sizeof why, "too large: %zu bytes, a batch holds at most %zu",
		    it->size, s->o.max_bytes);
		reject(s, it, why, 0, jv_null());
		return r;
	}
	add(s, it, now);
	return r;
}

void cp_stage_item_done(struct cp_stage *s, struct cp_stage_item *it,
    const struct cp_stage_outcome *o)
{
	if (o->ok) {
		jv_free(o->extra);
		if (cp_writer_line(s->out, it->line, it->line_len) < 0) {
			if (!s->io_error) {
				s->io_error = 1;
				snprintf(s->io_msg, sizeof s->io_msg, "writing output failed");
			}
			if (!s->fatal) {
				s->fatal = CP_EX_IOERR;
				snprintf(s->fatal_msg, sizeof s->fatal_msg, "output is closed");
			}
		} else {
			cp_count_written();
		}
		item_free(s, it);
		return;
	}
	if (o->fatal && !s->fatal) {
		s->fatal = o->fatal;
		snprintf(s->fatal_msg, sizeof s->fatal_msg, "%s", o->error);
		cp_error("%s", o->error);
	}
	long delay;
	if (!o->fatal && o->retryable && o->entry && it->attempts < s->o.retry.max_attempts &&
	    !s->fatal) {
		delay = cp_retry_delay_ms(&s->o.retry, it->attempts - 1, &s->rng);
		it->due_ms = cp_time_mono_ms() + delay;
		cp_debug("line %ju: %s; retry %d in %ld ms", (uintmax_t)it->lineno, o->error,
		    it->attempts, delay);
		it->next = s->retry;
		s->retry = it;
		jv_free(o->extra);
		return;
	}
	reject(s, it, o->error, o->retryable && !o->fatal, o->extra);
}

void cp_stage_batch_done(struct cp_stage *s) { s->in_flight--; }

/* Moves due retries into batches; returns the time until the next one is
 * due (ms), or -1 when none waits. */
static long due_retries(struct cp_stage *s, int64_t now)
{
	long next = -1;
	struct cp_stage_item **pp = &s->retry;
	while (*pp) {
		struct cp_stage_item *it = *pp;
		if (s->fatal) {
			*pp = it->next;
			reject(s, it, s->fatal_msg, 0, jv_null());
			continue;
		}
		if (it->due_ms <= now && s->in_flight < s->o.max_in_flight) {
			*pp = it->next;
			add(s, it, now);
			continue;
		}
		long left = it->due_ms > now ? (long)(it->due_ms - now) : 0;
		if (next < 0 || left < next)
			next = left;
		pp = &it->next;
	}
	return next;
}

int cp_stage_run(struct cp_stage *s, int fd, char *err)
{
	struct cp_reader *in = cp_reader_new(fd, s->o.max_line, err);
	if (!in)
		return CP_EX_SOFTWARE;
	cp_reader_set_nonblock(in, 1);
	int eof = 0, status = 0;
	char rerr[CP_ERR_LEN];
	for (;;) {
		int64_t now = cp_time_mono_ms();
		long retry_in = due_retries(s, now);
		int idle = 0;
		while (!eof && !s->fatal && s->in_flight < s->o.max_in_flight) {
			int r = take_line(s, in, now, rerr);
			if (r == CP_READ_LINE)
				continue;
			if (r == CP_READ_AGAIN) {
				idle = 1;
			} else {
				eof = 1;
				if (r == CP_READ_ERROR) {
					cp_error("%s", rerr);
					status = CP_EX_IOERR;
				}
			}
			break;
		}
		if (s->fatal) {
			eof = 1;
			for (size_t i = 0; i < s->nopen; i++) {
				struct cp_stage_item *it = s->open[i].head;
				while (it) {
					struct cp_stage_item *next = it->next;
					reject(s, it, s->fatal_msg, 0, jv_null());
					it = next;
				}
				free(s->open[i].key);
			}
			s->nopen = 0;
		}
		/* Send what is gathered when nothing more is coming right now. */
		long linger_in = -1;
		for (size_t i = 0; i < s->nopen && s->in_flight < s->o.max_in_flight;) {
			long age = (long)(now - s->open[i].first_ms);
			if (idle || eof || age >= s->o.linger_ms) {
				submit(s, i);
				continue;
			}
			long left = s->o.linger_ms - age;
			if (linger_in < 0 || left < linger_in)
				linger_in = left;
			i++;
		}
		if (eof && s->nopen == 0 && !s->retry && s->in_flight == 0)
			break;
		if (cp_writer_flush(s->out) < 0 && !s->fatal) {
			s->fatal = CP_EX_IOERR;
			snprintf(s->fatal_msg, sizeof s->fatal_msg, "output is closed");
		}
		struct pollfd fds[2];
		unsigned nfds = 0;
		int want_input = !eof && !s->fatal && s->in_flight < s->o.max_in_flight;
		if (want_input)
			fds[nfds++] = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (cp_sig_fd() >= 0)
			fds[nfds++] = (struct pollfd){ .fd = cp_sig_fd(), .events = POLLIN };
		long timeout = -1;
		if (retry_in >= 0)
			timeout = retry_in;
		if (linger_in >= 0 && (timeout < 0 || linger_in < timeout))
			timeout = linger_in;
		if (s->nopen && s->in_flight >= s->o.max_in_flight)
			timeout = timeout < 0 || timeout > 1000 ? 1000 : timeout;
		if (timeout < 0 && !want_input && s->in_flight == 0)
			timeout = 100; /* only retries or a stop to wait for */
		if (s->ops.run(s, fds, nfds, timeout < 0 ? 1000 : (int)timeout, err) < 0) {
			cp_error("%s", err);
			status = CP_EX_SOFTWARE;
			break;
		}
		if (cp_sig_stopping() && !eof) {
			cp_info("stopping: finishing %d batches in flight", s->in_flight);
			eof = 1;
		}
	}
	cp_reader_free(in);
	if (status)
		return status;
	if (s->fatal)
		return s->fatal;
	if (s->io_error) {
		cp_err_set(err, "%s", s->io_msg);
		return CP_EX_IOERR;
	}
	if (s->rejected_retryable)
		return CP_EX_TEMPFAIL;
	if (s->rejected_final)
		return CP_EX_DATAERR;
	return 0;
}

int cp_stage_main(const struct cp_stage_ops *ops, const struct cp_stage_opts *o,
    const char *tool, void *user)
{
	char err[CP_ERR_LEN];
	struct cp_rejects *rj = cp_rejects_open(cp_common.rejects, tool, err);
	if (!rj) {
		cp_error("%s", err);
		return CP_EX_CONFIG;
	}
	struct cp_writer *out = cp_writer_new(1, err);
	struct cp_stage *s = out ? cp_stage_new(ops, o, out, rj, user, err) : NULL;
	if (!s) {
		cp_error("%s", err);
		if (out)
			cp_writer_close(out, 0, NULL);
		cp_rejects_close(rj, NULL);
		return CP_EX_SOFTWARE;
	}
	if (cp_common.progress && cp_progress_start(err) < 0)
		cp_warn("%s", err);
	int ex = cp_stage_run(s, 0, err);
	cp_progress_stop();
	cp_stage_free(s);
	ex = cp_rejects_finish(out, rj, ex);
	return ex;
}
