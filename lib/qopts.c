/* qopts: see qopts.h. */
#include "qopts.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"

struct cp_qopts cp_qopts;

struct poptOption cp_qopts_table[] = {
	{ "queue-url", 0, POPT_ARG_STRING, &cp_qopts.queue_url, 0,
	  "the queue: an SQS queue URL, or file:DIR for a local spool (CHATPIPE_QUEUE_URL)", "URL" },
	{ "queue", 0, POPT_ARG_STRING, &cp_qopts.queue_name, 0,
	  "an SQS queue name, resolved with GetQueueUrl", "NAME" },
	{ "region", 0, POPT_ARG_STRING, &cp_qopts.region, 0,
	  "AWS region (AWS_REGION, the profile, the queue URL)", "REGION" },
	{ "profile", 0, POPT_ARG_STRING, &cp_qopts.profile, 0,
	  "AWS profile of ~/.aws/config and credentials (AWS_PROFILE)", "NAME" },
	{ "endpoint-url", 0, POPT_ARG_STRING, &cp_qopts.endpoint_url, 0,
	  "send requests here (AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL)", "URL" },
	{ "ca-bundle", 0, POPT_ARG_STRING, &cp_qopts.ca_bundle, 0,
	  "CA certificates to verify TLS peers with (AWS_CA_BUNDLE)", "FILE" },
	{ "insecure", 0, POPT_ARG_NONE, &cp_qopts.insecure, 0,
	  "do not verify TLS peers (never in production)", NULL },
	{ "jobs", 'j', POPT_ARG_INT, &cp_qopts.jobs, 0,
	  "requests in flight at once", "N" },
	POPT_TABLEEND
};

void cp_qopts_queue_opts(struct cp_queue_opts *o)
{
	memset(o, 0, sizeof *o);
	o->aws.profile = cp_qopts.profile;
	o->aws.region = cp_qopts.region;
	o->aws.endpoint_url = cp_qopts.endpoint_url;
	o->aws.ca_bundle = cp_qopts.ca_bundle;
	o->insecure = cp_qopts.insecure;
	o->max_in_flight = cp_qopts.jobs > 0 ? cp_qopts.jobs * 2 : 16;
	if (cp_qopts.insecure)
		cp_warn("--insecure: TLS peers are NOT verified; anyone on the path can read and change this traffic");
}

int cp_qopts_exit_code(const struct cp_queue_status *st)
{
	if (st->auth)
		return strcmp(st->code, "CredentialsError") == 0 ? CP_EX_CONFIG : CP_EX_NOPERM;
	/* No such queue, or nothing to reach SQS with (no region, not an
	 * http(s) URL): the configuration is wrong. */
	if (st->missing || st->config || (st->code && strcmp(st->code, "ConfigError") == 0))
		return CP_EX_CONFIG;
	if (st->retryable)
		return CP_EX_TEMPFAIL;
	return CP_EX_UNAVAILABLE;
}

int cp_qopts_name_url(struct cp_queue *q, const char *name, char **url,
    int *status, char *err)
{
	jv out;
	struct cp_queue_status st;
	*url = NULL;
	*status = 0;
	jv req = JV_OBJECT(jv_string("QueueName"), jv_string(name));
	if (cp_queue_call(q, "GetQueueUrl", NULL, req, &out, &st, err) < 0) {
		*status = cp_qopts_exit_code(&st);
		return -1;
	}
	jv v = jv_object_get(out, jv_string("QueueUrl"));
	if (jv_get_kind(v) != JV_KIND_STRING) {
		jv_free(v);
		*status = CP_EX_UNAVAILABLE;
		return cp_err_set(err, "GetQueueUrl answered without a QueueUrl");
	}
	*url = strdup(jv_string_value(v));
	jv_free(v);
	if (!*url) {
		*status = CP_EX_SOFTWARE;
		return cp_err_set(err, "out of memory");
	}
	return 0;
}

int cp_qopts_queue_url(struct cp_queue *q, int required, char **url,
    int *status, char *err)
{
	*url = NULL;
	*status = 0;
	const char *u = cp_qopts.queue_url;
	if (u && cp_qopts.queue_name) {
		*status = CP_EX_USAGE;
		return cp_err_set(err, "--queue-url and --queue name the queue twice: give one");
	}
	if (!u && cp_qopts.queue_name)
		return cp_qopts_name_url(q, cp_qopts.queue_name, url, status, err);
	if (!u)
		u = getenv("CHATPIPE_QUEUE_URL");
	if (!u || !*u) {
		if (!required)
			return 0;
		*status = CP_EX_USAGE;
		return cp_err_set(err, "no queue: give --queue-url URL (file:DIR for a local spool), --queue NAME, or set CHATPIPE_QUEUE_URL");
	}
	*url = strdup(u);
	return *url ? 0 : cp_err_set(err, "out of memory");
}

int cp_qopts_open(int flags, int min_in_flight, struct cp_queue **q, char **url,
    int *status, char *err)
{
	struct cp_queue_opts qo;
	*url = NULL;
	*status = 0;
	cp_qopts_queue_opts(&qo);
	if (qo.max_in_flight < min_in_flight)
		qo.max_in_flight = min_in_flight;
	if (!(*q = cp_queue_new(&qo, err))) {
		*status = CP_EX_SOFTWARE;
		return -1;
	}
	if ((flags & CP_QOPTS_EXPLICIT) && !cp_qopts.queue_url && !cp_qopts.queue_name)
		return 0;
	if (cp_qopts_queue_url(*q, 1, url, status, err) < 0)
		return -1;
	struct cp_queue_status st;
	if (cp_queue_check(*q, *url, (flags & CP_QOPTS_CREATE) != 0, &st, err) < 0) {
		*status = cp_qopts_exit_code(&st);
		return -1;
	}
	return 0;
}
