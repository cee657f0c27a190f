/* sqs-queue: create, delete, purge, find and inspect queues.
 *
 *   sqs-queue create NAME|file:DIR [--visibility-timeout S] [--retention S]
 *             [--delay S] [--receive-wait S] [--fifo] [--content-dedup]
 *             [--dlq URL --max-receives N]
 *   sqs-queue delete|purge|attributes [NAME|URL]
 *   sqs-queue url NAME
 *   sqs-queue list [PREFIX]
 *
 * Reads arguments, writes one JSON object on stdout: the queue URL, or the
 * attributes with the counts a person asks for first (visible, in flight,
 * delayed).  The queue is an SQS queue, or a local spool (file:DIR).  For
 * ad-hoc debugging and for scripts: the output is stable JSON.
 */
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "jsonl.h"
#include "opts.h"
#include "qopts.h"
#include "sig.h"

static int vis = -1, retention = -1, delay = -1, rwait = -1, fifo, content_dedup, max_receives;
static const char *dlq;

static struct poptOption options[] = {
	{ "visibility-timeout", 0, POPT_ARG_INT, &vis, 0, "create: default visibility timeout (30 s)", "S" },
	{ "retention", 0, POPT_ARG_INT, &retention, 0, "create: message retention (345600 s = 4 days)", "S" },
	{ "delay", 0, POPT_ARG_INT, &delay, 0, "create: default delivery delay (0 s)", "S" },
	{ "receive-wait", 0, POPT_ARG_INT, &rwait, 0, "create: default long-poll wait (0 s)", "S" },
	{ "fifo", 0, POPT_ARG_NONE, &fifo, 0, "create: a FIFO queue (SQS; the name ends in .fifo)", NULL },
	{ "content-dedup", 0, POPT_ARG_NONE, &content_dedup, 0,
	  "create: FIFO deduplication by the body's SHA-256", NULL },
	{ "dlq", 0, POPT_ARG_STRING, &dlq, 0, "create: the dead-letter queue's URL (or file:DIR)", "URL" },
	{ "max-receives", 0, POPT_ARG_INT, &max_receives, 0,
	  "create: receives before a message moves to the dead-letter queue", "N" },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cp_qopts_table, 0, "Queue and AWS options:", NULL },
	POPT_TABLEEND
};

static const struct cp_tool tool = {
	.name = "sqs-queue",
	.args = "create|delete|purge|url|attributes|stats|list [NAME|URL]",
	.summary = "Create, delete, purge, find and inspect SQS queues and local spools.",
	.options = options,
};

static struct cp_queue *queue;

static int fail(const struct cp_queue_status *st, const char *err)
{
	cp_error("%s", err);
	return cp_qopts_exit_code(st);
}

static int call(const char *op, const char *url, jv req, jv *out, int *ex)
{
	char err[CP_ERR_LEN];
	struct cp_queue_status st;
	if (cp_queue_call(queue, op, url, req, out, &st, err) < 0) {
		*ex = fail(&st, err);
		return -1;
	}
	return 0;
}

static jv str_int(int v) { return jv_string_fmt("%d", v); }

/* The dead-letter queue as a RedrivePolicy target: an SQS queue's ARN. */
static int dlq_target(jv *target, int *ex)
{
	if (cp_queue_is_spool(dlq)) {
		*target = jv_string(dlq);
		return 0;
	}
	jv out;
	jv req = JV_OBJECT(jv_string("QueueUrl"), jv_string(dlq),
	    jv_string("AttributeNames"), JV_ARRAY(jv_string("QueueArn")));
	if (call("GetQueueAttributes", dlq, req, &out, ex) < 0)
		return -1;
	jv arn = jv_getpath(out, JV_ARRAY(jv_string("Attributes"), jv_string("QueueArn")));
	if (jv_get_kind(arn) != JV_KIND_STRING) {
		jv_free(arn);
		cp_error("the dead-letter queue %s has no QueueArn", dlq);
		*ex = CP_EX_UNAVAILABLE;
		return -1;
	}
	*target = arn;
	return 0;
}

static int create(const char *name, jv *result)
{
	int ex = 0;
	jv a = jv_object();
	if (vis >= 0)
		a = jv_object_set(a, jv_string("VisibilityTimeout"), str_int(vis));
	if (retention >= 0)
		a = jv_object_set(a, jv_string("MessageRetentionPeriod"), str_int(retention));
	if (delay >= 0)
		a = jv_object_set(a, jv_string("DelaySeconds"), str_int(delay));
	if (rwait >= 0)
		a = jv_object_set(a, jv_string("ReceiveMessageWaitTimeSeconds"), str_int(rwait));
	if (fifo)
		a = jv_object_set(a, jv_string("FifoQueue"), jv_string("true"));
	if (content_dedup)
		a = jv_object_set(a, jv_string("ContentBasedDeduplication"), jv_string("true"));
	if (dlq) {
		jv target;
		if (dlq_target(&target, &ex) < 0) {
			jv_free(a);
			return ex;
		}
		jv p = JV_OBJECT(jv_string("deadLetterTargetArn"), target,
		    jv_string("maxReceiveCount"), jv_number(max_receives));
		a = jv_object_set(a, jv_string("RedrivePolicy"), jv_dump_string(p, 0));
	}
	int spool = cp_queue_is_spool(name);
	jv req = JV_OBJECT(jv_string("Attributes"), a);
	if (!spool)
		req = jv_object_set(req, jv_string("QueueName"), jv_string(name));
	jv out;
	if (call("CreateQueue", spool ? name : NULL, req, &out, &ex) < 0)
		return ex;
	*result = JV_OBJECT(jv_string("queue_url"), jv_object_get(out, jv_string("QueueUrl")));
	return 0;
}

static long count(jv attrs, const char *name)
{
	jv v = jv_object_get(jv_copy(attrs), jv_string(name));
	long n = jv_get_kind(v) == JV_KIND_STRING ? atol(jv_string_value(v)) : 0;
	jv_free(v);
	return n;
}

static int attributes(const char *url, jv *result)
{
	int ex = 0;
	jv out;
	jv req = JV_OBJECT(jv_string("QueueUrl"), jv_string(url),
	    jv_string("AttributeNames"), JV_ARRAY(jv_string("All")));
	if (call("GetQueueAttributes", url, req, &out, &ex) < 0)
		return ex;
	jv a = jv_object_get(out, jv_string("Attributes"));
	if (jv_get_kind(a) != JV_KIND_OBJECT) {
		jv_free(a);
		a = jv_object();
	}
	*result = JV_OBJECT(jv_string("queue_url"), jv_string(url),
	    jv_string("visible"), jv_number((double)count(a, "ApproximateNumberOfMessages")),
	    jv_string("in_flight"), jv_number((double)count(a, "ApproximateNumberOfMessagesNotVisible")),
	    jv_string("delayed"), jv_number((double)count(a, "ApproximateNumberOfMessagesDelayed")),
	    jv_string("attributes"), a);
	return 0;
}

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
	const char *verb = poptGetArg(pc), *arg = poptGetArg(pc);
	if (!verb)
		cp_die(CP_EX_USAGE, "which command: create, delete, purge, url, attributes or list? (try 'sqs-queue --help')");
	if (poptPeekArg(pc))
		cp_die(CP_EX_USAGE, "unexpected argument '%s'", poptPeekArg(pc));
	if ((dlq != NULL) != (max_receives > 0))
		cp_die(CP_EX_USAGE, "--dlq and --max-receives go together");
	if (cp_sig_install(err) < 0)
		cp_die(CP_EX_SOFTWARE, "%s", err);
	struct cp_queue_opts qo;
	cp_qopts_queue_opts(&qo);
	if (!(queue = cp_queue_new(&qo, err)))
		cp_die(CP_EX_SOFTWARE, "%s", err);

	jv result = jv_invalid();
	int ex = 0;
	char *url = NULL;
	if (strcmp(verb, "create") == 0) {
		if (!arg)
			cp_die(CP_EX_USAGE, "create: which queue? a NAME, or file:DIR for a spool");
		ex = create(arg, &result);
	} else if (strcmp(verb, "url") == 0) {
		if (!arg)
			cp_die(CP_EX_USAGE, "url: which queue NAME?");
		jv out;
		jv req = JV_OBJECT(jv_string("QueueName"), jv_string(arg));
		const char *u = cp_queue_is_spool(arg) ? arg : NULL;
		if (call("GetQueueUrl", u, req, &out, &ex) == 0)
			result = JV_OBJECT(jv_string("queue_url"), jv_object_get(out, jv_string("QueueUrl")));
	} else if (strcmp(verb, "list") == 0) {
		jv out;
		jv req = arg ? JV_OBJECT(jv_string("QueueNamePrefix"), jv_string(arg)) : jv_object();
		if (call("ListQueues", NULL, req, &out, &ex) == 0) {
			jv urls = jv_object_get(out, jv_string("QueueUrls"));
			result = JV_OBJECT(jv_string("queue_urls"),
			    jv_get_kind(urls) == JV_KIND_ARRAY ? urls : (jv_free(urls), jv_array()));
		}
	} else if (strcmp(verb, "delete") == 0 || strcmp(verb, "purge") == 0 ||
	    strcmp(verb, "attributes") == 0 || strcmp(verb, "stats") == 0) {
		if (arg && !cp_queue_is_spool(arg) && strncmp(arg, "http://", 7) != 0 &&
		    strncmp(arg, "https://", 8) != 0) {
			/* A queue name, as create takes it. */
			if (cp_qopts_name_url(queue, arg, &url, &status, err) < 0)
				cp_die(status, "%s", err);
		} else if (arg) {
			url = strdup(arg);
		} else if (cp_qopts_queue_url(queue, 1, &url, &status, err) < 0) {
			cp_die(status, "%s", err);
		}
		if (verb[0] == 'a' || verb[0] == 's') {
			ex = attributes(url, &result);
		} else {
			jv out;
			jv req = JV_OBJECT(jv_string("QueueUrl"), jv_string(url));
			if (call(verb[0] == 'd' ? "DeleteQueue" : "PurgeQueue", url, req, &out, &ex) == 0) {
				jv_free(out);
				result = JV_OBJECT(jv_string("queue_url"), jv_string(url),
				    jv_string(verb[0] == 'd' ? "deleted" : "purged"), jv_true());
			}
		}
	} else {
		cp_die(CP_EX_USAGE, "unknown command '%s': create, delete, purge, url, attributes or list", verb);
	}
	poptFreeContext(pc);
	cp_queue_free(queue);
	free(url);
	if (jv_is_valid(result)) {
		struct cp_writer *w = cp_writer_new(1, err);
		if (!w || cp_writer_jv(w, result) < 0 || cp_writer_close(w, 0, err) < 0)
			cp_die(CP_EX_IOERR, "%s", err);
	} else {
		jv_free(result);
	}
	return ex;
}
