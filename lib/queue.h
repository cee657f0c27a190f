/* queue: one interface over Amazon SQS (lib/sqs) and the local spool
 * (lib/spool), for sqs-send, sqs-poll, sqs-delete and sqs-queue.
 *
 * A queue is named by its URL: "file:DIR" for a spool, an http(s) URL for
 * SQS.  Operations are asynchronous: each submits work and returns; its
 * callback runs later, from inside cp_queue_run(), exactly once (unless the
 * queue is freed first).  SQS calls run concurrently on one HTTP client;
 * spool operations run one at a time inside cp_queue_run() (a spool
 * receive may wait up to its wait time, ending early on the stop fd).
 *
 * Results carry what the program needs to decide: ok, or a failure with
 * its code and message, retryable (throttling, unavailability: try again
 * later) and auth (credentials refused: exit 77) or config (no credentials,
 * no such queue: exit 78/69).
 *
 * MD5s are verified here: a sent message's MD5OfMessageBody and
 * MD5OfMessageAttributes against what was sent, a received message's
 * against its body and attributes.  A received message that fails is not
 * handed over (it stays in the queue and comes back after its visibility
 * timeout, or moves to the dead-letter queue); it is counted in
 * cp_queue_corrupt() and logged.
 *
 * Ownership: entries and receipts passed in are copied; what a callback
 * receives is valid during the call (jv values borrowed, as in lib/sqs).
 * Thread safety: one thread.
 */
#ifndef CP_QUEUE_H
#define CP_QUEUE_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <jv.h>

#include "awsconf.h"
#include "diag.h"
#include "retry.h"

struct cp_queue_opts {
	struct cp_aws_opts aws;    /* --profile, --region, --endpoint-url, … */
	int max_in_flight;         /* SQS requests at once (0: 16) */
	int insecure;
	struct cp_retry_policy retry;
};

struct cp_queue;

struct cp_queue *cp_queue_new(const struct cp_queue_opts *o, char *err);
/* Unfinished operations are dropped without their callbacks. */
void cp_queue_free(struct cp_queue *q);

/* Is url a spool URL? */
int cp_queue_is_spool(const char *url);

/* How an operation (or one entry of a batch) ended. */
struct cp_queue_status {
	int ok;
	int retryable;             /* may pass later (throttled, unavailable) */
	int auth;                  /* credentials or permissions refused */
	int missing;               /* the queue does not exist */
	int stale;                 /* delete/visibility: the receipt handle no
	                            * longer names an in-flight message */
	int config;                /* the configuration is wrong (no region,
	                            * no credentials, an unusable spool) */
	int entry;                 /* this entry failed alone (a batch's
	                            * per-entry failure): worth retrying it */
	const char *code;          /* "" when ok */
	const char *message;       /* "" when ok */
};

/* ---- send ---- */

struct cp_queue_entry {
	const char *body;
	size_t body_len;
	const char *attrs;         /* MessageAttributes JSON (SQS shape) or NULL */
	size_t attrs_len;
	int delay;                 /* DelaySeconds, -1: the queue's */
	const char *group_id;      /* FIFO MessageGroupId or NULL */
	const char *dedup_id;      /* FIFO MessageDeduplicationId or NULL */
};

struct cp_queue_sent {
	struct cp_queue_status st;
	const char *message_id;    /* when ok */
	const char *sequence;      /* FIFO SequenceNumber or "" */
};

/* Called once per batch with the n results, in entry order. */
typedef void cp_queue_send_fn(const struct cp_queue_sent *r, size_t n, void *user);

/* SendMessageBatch of n (1..10) entries, whose bodies add up to at most
 * 1 MiB.  0, or -1 with err (nothing submitted, no callback). */
int cp_queue_send(struct cp_queue *q, const char *url,
    const struct cp_queue_entry *e, size_t n, cp_queue_send_fn *done,
    void *user, char *err);

/* ---- receive ---- */

struct cp_queue_msg {
	const char *queue_url;
	const char *message_id;
	const char *receipt;
	const char *body;
	size_t body_len;
	int receive_count;
	int64_t sent_ms;           /* SentTimestamp, 0 if unknown */
	jv attributes;             /* system attributes, SQS's strings (borrowed) */
	jv message_attributes;     /* MessageAttributes object (borrowed) */
};

/* Called once per receive, with the messages that passed their MD5 checks
 * (n may be 0: an empty poll). */
typedef void cp_queue_recv_fn(const struct cp_queue_status *st,
    const struct cp_queue_msg *m, size_t n, void *user);

struct cp_queue_recv {
	int max;                   /* 1..10 */
	int wait;                  /* 0..20 s */
	int visibility;            /* s, -1: the queue's */
	int stop_fd;               /* ends a spool long poll early; -1: none */
};

int cp_queue_receive(struct cp_queue *q, const char *url,
    const struct cp_queue_recv *o, cp_queue_recv_fn *done, void *user, char *err);

/* ---- delete, change visibility ---- */

/* Called once per batch, with one status per receipt, in order. */
typedef void cp_queue_ack_fn(const struct cp_queue_status *st, size_t n, void *user);

/* DeleteMessageBatch of n (1..10) receipt handles. */
int cp_queue_delete(struct cp_queue *q, const char *url,
    const char *const *receipts, size_t n, cp_queue_ack_fn *done, void *user,
    char *err);
/* ChangeMessageVisibilityBatch: visible again in seconds (0: at once). */
int cp_queue_visibility(struct cp_queue *q, const char *url,
    const char *const *receipts, size_t n, int seconds, cp_queue_ack_fn *done,
    void *user, char *err);

/* Prepares what operations on url need (a spool's directory, opened and
 * with create made when missing; SQS's endpoint, region and credentials),
 * so a program finds a configuration error before reading any input.
 * 0, or -1 with err and *st (missing or config set). */
int cp_queue_check(struct cp_queue *q, const char *url, int create,
    struct cp_queue_status *st, char *err);

/* ---- driving ---- */

/* Operations submitted and not yet called back. */
int cp_queue_pending(const struct cp_queue *q);
/* Runs due work and waits up to timeout_ms for the network or the caller's
 * fds (revents set as by poll).  Returns the number of callbacks made, or
 * -1 with err. */
int cp_queue_run(struct cp_queue *q, struct pollfd *fds, unsigned nfds,
    int timeout_ms, char *err);

/* Received messages that failed their MD5 check and were withheld. */
uint64_t cp_queue_corrupt(const struct cp_queue *q);

/* ---- management, synchronous (sqs-queue) ---- */

/* Runs one SQS operation (or its spool equivalent) to completion: *out
 * gets the answer object (the caller owns it).  For a spool URL the
 * operations are CreateQueue (request {"Attributes":{…}}), DeleteQueue,
 * PurgeQueue, GetQueueAttributes and GetQueueUrl.  0, or -1 with err and
 * *st describing the failure. */
int cp_queue_call(struct cp_queue *q, const char *op, const char *url,
    jv request, jv *out, struct cp_queue_status *st, char *err);

#endif
