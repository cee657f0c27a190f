/* sqs: Amazon SQS over the AWS JSON 1.0 protocol, asynchronously.
 *
 * Every operation is POST / with Content-Type application/x-amz-json-1.0,
 * X-Amz-Target AmazonSQS.<Op>, x-amzn-query-mode true and a JSON body,
 * signed with SigV4 (service "sqs") afresh before each attempt, on one
 * lib/http client: many calls in flight from one thread, retried as
 * lib/retry says.  SQS throttles with 400/403 and a code, so the classifier
 * reads the error code as well as the status.  An ExpiredToken answer makes
 * the credentials be fetched again and the call retried.
 *
 * Where a call goes: the queue URL's own origin unless an endpoint is
 * configured (--endpoint-url, AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, the
 * profile), as lib/awsconf resolves it; the signing region from --region,
 * the environment or profile, else the queue URL's host.  Both are resolved
 * once per queue URL origin and cached.
 *
 * Errors come in two forms (reference/sqs.md §1.5): the body's "__type"
 * ("com.amazonaws.sqs#QueueDoesNotExist") and the x-amzn-query-error header
 * ("AWS.SimpleQueueService.NonExistentQueue;Sender").  The reply carries
 * both: code is the header's code when present, else the __type's name;
 * cp_sqs_code_is() matches either form.
 *
 * Ownership: cp_sqs_call() consumes its request jv.  The reply's result
 * is valid during the done call only (copy what you keep: jv_copy).
 * Thread safety: one client, one thread (as lib/http); jv values never
 * leave that thread.
 */
#ifndef CP_SQS_H
#define CP_SQS_H

#include <stddef.h>

#include <jv.h>

#include "awsconf.h"
#include "diag.h"
#include "http.h"

#define CP_SQS_MAX_BATCH 10                 /* entries per batch call */
#define CP_SQS_MAX_PAYLOAD (1024 * 1024)    /* a message, and a whole batch */
#define CP_SQS_MAX_WAIT 20                  /* long-poll seconds */
#define CP_SQS_MD5_LEN 33
/* The longest line a tool reading envelopes accepts by default: the
 * envelope of a message at the size limit is longer than the message (the
 * body JSON-escaped, up to 6 bytes a character, the attributes, the ids). */
#define CP_SQS_MAX_ENVELOPE (8 * 1024 * 1024)

struct cp_sqs_opts {
	struct cp_aws *aws;        /* borrowed; credentials, region, endpoint */
	int max_in_flight;         /* requests at once (0: 16) */
	long timeout_ms;           /* per attempt, besides long polls (0: 30 s) */
	struct cp_retry_policy retry; /* zero fields: lib/retry's defaults */
	int insecure;              /* do not verify TLS peers */
};

struct cp_sqs;

struct cp_sqs_reply {
	int ok;                    /* a 2xx answer whose body parsed */
	jv result;                 /* the answer's object when ok (borrowed),
	                            * else jv_null() */
	long status;               /* HTTP status, 0 without an answer */
	const char *code;          /* "" when ok; the error code otherwise
	                            * ("AWS.SimpleQueueService.NonExistentQueue",
	                            * "RequestThrottled", or curl's failure as
	                            * "NetworkError") */
	const char *type;          /* the __type's name ("QueueDoesNotExist")
	                            * or "" */
	const char *message;       /* a readable reason, "" when ok */
	int retryable;             /* the failure may pass: retries ran out */
	int auth;                  /* credentials or permissions refused */
	int attempts;
	void *user;
};

typedef void cp_sqs_done_fn(const struct cp_sqs_reply *r, void *user);

struct cp_sqs *cp_sqs_new(const struct cp_sqs_opts *o, char *err);
/* Unfinished calls are dropped without their done call; the dropped hook
 * (if set) gets each one's user pointer, to free it. */
void cp_sqs_free(struct cp_sqs *s);
void cp_sqs_set_dropped(struct cp_sqs *s, void (*dropped)(void *user));
/* Resolves what calls for queue_url need (endpoint, region, credentials)
 * now, so a configuration error shows before any work: 0, or -1 with err. */
int cp_sqs_check(struct cp_sqs *s, const char *queue_url, char *err);
/* The HTTP client, to drive with cp_http_run_fds() and cp_http_pending(). */
struct cp_http *cp_sqs_http(struct cp_sqs *s);

/* Calls AmazonSQS.<op> with request (an object; consumed).  queue_url
 * picks the endpoint and region (NULL: from the configuration alone, for
 * CreateQueue, GetQueueUrl, ListQueues).  timeout_ms 0: the client's (a
 * long poll needs WaitTimeSeconds plus a margin).  0, or -1 with err (then
 * done is never called). */
int cp_sqs_call(struct cp_sqs *s, const char *op, const char *queue_url,
    jv request, long timeout_ms, cp_sqs_done_fn *done, void *user, char *err);

/* The same with the request already as JSON text (an object, len bytes;
 * copied), for callers that write it without jv values. */
int cp_sqs_call_text(struct cp_sqs *s, const char *op, const char *queue_url,
    const char *body, size_t len, long timeout_ms, cp_sqs_done_fn *done,
    void *user, char *err);

/* Does code (either form) name the error short ("QueueDoesNotExist",
 * "NonExistentQueue", "RequestThrottled", ...)? */
int cp_sqs_code_is(const char *code, const char *short_name);

/* Lowercase hex MD5 of data (MD5OfMessageBody). */
void cp_sqs_md5_hex(const void *data, size_t len, char out[CP_SQS_MD5_LEN]);


/* Does the body hold only what SQS accepts (#x9 #xA #xD #x20-#xD7FF
 * #xE000-#xFFFD #x10000-#x10FFFF, as valid UTF-8)?  0, or -1 with err
 * naming the first refused character and its offset. */
int cp_sqs_body_check(const char *body, size_t len, char *err);

#endif
