/* qopts: the options every queue program shares, and naming its queue.
 *
 *   --queue-url URL    an SQS queue URL, or file:DIR for a local spool
 *   --queue NAME       an SQS queue name, resolved with GetQueueUrl
 *   --region, --profile, --endpoint-url, --ca-bundle, --insecure
 *   -j, --jobs N       requests in flight
 *
 * Flags win over the environment (CHATPIPE_QUEUE_URL, the AWS_*
 * variables, read by lib/awsconf), the environment over the AWS files.
 */
#ifndef CP_QOPTS_H
#define CP_QOPTS_H

#include <popt.h>

#include "queue.h"

struct cp_qopts {
	const char *queue_url;
	const char *queue_name;
	const char *region, *profile, *endpoint_url, *ca_bundle;
	int insecure;
	int jobs;
};

extern struct cp_qopts cp_qopts;
/* The popt table of the options above (for POPT_ARG_INCLUDE_TABLE). */
extern struct poptOption cp_qopts_table[];

/* Fills o from the options (and warns loudly about --insecure). */
void cp_qopts_queue_opts(struct cp_queue_opts *o);

/* The URL of the SQS queue named name (GetQueueUrl).  0 with *url (to
 * free), or -1 with err and *status an exit code. */
int cp_qopts_name_url(struct cp_queue *q, const char *name, char **url,
    int *status, char *err);

/* The queue URL: --queue-url, else --queue resolved through GetQueueUrl,
 * else CHATPIPE_QUEUE_URL.  required: fail when none is given.  *url is
 * static or the caller's to free (free it either way with free(): it is
 * always malloc'd).  0, or -1 with err and *status an exit code. */
int cp_qopts_queue_url(struct cp_queue *q, int required, char **url,
    int *status, char *err);

enum {
	CP_QOPTS_CREATE = 1,       /* make a missing spool (sqs-send) */
	CP_QOPTS_EXPLICIT = 2,     /* only --queue-url or --queue name one;
	                            * none: *url is NULL (sqs-delete) */
};

/* What a queue program does first: the queue client (*q, from the
 * options; at least min_in_flight requests at once), the URL the options
 * name (cp_qopts_queue_url, required unless CP_QOPTS_EXPLICIT), checked
 * with cp_queue_check() so that a configuration error shows before any
 * input is read.  0, or -1 with err and *status the exit code (*q may be
 * set: free it). */
int cp_qopts_open(int flags, int min_in_flight, struct cp_queue **q, char **url,
    int *status, char *err);

/* The exit code a failed status calls for: CP_EX_NOPERM for refused
 * credentials, CP_EX_CONFIG for missing credentials, a missing queue or
 * nothing to reach SQS with (code "ConfigError": no region, a bad URL),
 * CP_EX_TEMPFAIL for a retryable failure, CP_EX_UNAVAILABLE otherwise. */
int cp_qopts_exit_code(const struct cp_queue_status *st);

#endif
