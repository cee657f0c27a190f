/* aws-whoami: lib/awsconf on its own, for the tests.
 *
 * Resolves credentials, region, endpoint and CA bundle the way every
 * chatpipe AWS tool does, and writes one JSON line saying which source
 * gave each (the key id shortened to its type prefix and last 4
 * characters; never a secret or a token):
 *   {"profile":"default","source":"imds","key":"ASIA…0001","token":true,
 *    "expiration":"…"|null,"region":"…"|null,"region_source":"…",
 *    "endpoint":"…"|null,"endpoint_source":"…","ca_bundle":…}
 * A region or endpoint that cannot be resolved gives null and
 * "region_error"/"endpoint_error".  With --repeat N it then fetches the
 * credentials N more times, --interval-ms apart (from --threads T threads
 * at once), one line per fetch:
 *   {"n":1,"thread":0,"ms":1500,"source":"imds","key":"ASIA…0002",
 *    "expiration":"…","valid":true}
 * where valid says the credentials had not expired when handed out.
 * Exits 0, 78 when the configuration is unusable (malformed file, unknown
 * profile), 77 when no credentials could be had.  Not installed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jv.h>

#include "awsconf.h"
#include "diag.h"
#include "opts.h"
#include "timeutil.h"

static const char *profile, *region, *endpoint_url, *ca_bundle, *queue_url;
static const char *service = "sqs";
static int imds_region, repeat, interval_ms = 1000, nthreads = 1, invalidate;

static struct poptOption options[] = {
	{ "profile", 0, POPT_ARG_STRING, &profile, 0, "AWS profile", "NAME" },
	{ "region", 0, POPT_ARG_STRING, &region, 0, "AWS region", "REGION" },
	{ "endpoint-url", 0, POPT_ARG_STRING, &endpoint_url, 0, "endpoint URL", "URL" },
	{ "ca-bundle", 0, POPT_ARG_STRING, &ca_bundle, 0, "CA bundle", "FILE" },
	{ "service", 0, POPT_ARG_STRING, &service, 0, "service for the endpoint (sqs)", "NAME" },
	{ "queue-url", 0, POPT_ARG_STRING, &queue_url, 0, "an SQS queue URL", "URL" },
	{ "imds-region", 0, POPT_ARG_NONE, &imds_region, 0, "let IMDS give the region", NULL },
	{ "repeat", 0, POPT_ARG_INT, &repeat, 0, "fetch the credentials N more times", "N" },
	{ "interval-ms", 0, POPT_ARG_INT, &interval_ms, 0, "between fetches (1000)", "MS" },
	{ "threads", 0, POPT_ARG_INT, &nthreads, 0, "fetch from T threads at once (1)", "T" },
	{ "invalidate", 0, POPT_ARG_NONE, &invalidate, 0, "invalidate before each fetch", NULL },
	POPT_TABLEEND
};

static const struct cp_tool tool = {
	.name = "aws-whoami",
	.summary = "Show where AWS credentials, region and endpoint come from (a test driver).",
	.options = options,
};

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t start_ms;

static jv str_or_null(const char *s) { return s ? jv_string(s) : jv_null(); }

static jv expiration(const struct cp_aws_creds *c)
{
	if (!c->expiration)
		return jv_null();
	char b[CP_TIME_LEN];
	cp_time_format_prec((struct cp_time){ c->expiration, 0 }, 0, b);
	return jv_string(b);
}

static void emit(jv o)
{
	jv s = jv_dump_string(o, 0);
	pthread_mutex_lock(&out_lock);
	printf("%s\n", jv_string_value(s));
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
	jv_free(s);
}

struct worker {
	struct cp_aws *a;
	int id, failed;
};

static void *fetcher(void *p)
{
	struct worker *w = p;
	for (int n = 1; n <= repeat; n++) {
		nanosleep(&(struct timespec){ interval_ms / 1000,
		    (long)(interval_ms % 1000) * 1000000 }, NULL);
		if (invalidate)
			cp_aws_creds_invalidate(w->a);
		struct cp_aws_creds c;
		char err[CP_ERR_LEN], hint[CP_AWS_HINT_LEN];
		if (cp_aws_creds_get(w->a, &c, err) < 0) {
			cp_error("fetch %d: %s", n, err);
			w->failed = 1;
			continue;
		}
		struct cp_time now = cp_time_now();
		cp_aws_key_hint(c.access_key_id, hint);
		jv o = JV_OBJECT(jv_string("n"), jv_number(n),
		    jv_string("thread"), jv_number(w->id),
		    jv_string("ms"), jv_number((double)(cp_time_mono_ms() - start_ms)),
		    jv_string("source"), jv_string(c.source),
		    jv_string("key"), jv_string(hint),
		    jv_string("expiration"), expiration(&c),
		    jv_string("valid"), jv_bool(!c.expiration || c.expiration > now.sec));
		cp_aws_creds_clear(&c);
		emit(o);
	}
	return NULL;
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
	poptFreeContext(pc);
	if (nthreads < 1 || nthreads > 64 || repeat < 0 || interval_ms < 0)
		cp_die(CP_EX_USAGE, "--threads 1..64, --repeat and --interval-ms >= 0");
	start_ms = cp_time_mono_ms();

	struct cp_aws_opts o = {
		.profile = profile, .region = region, .endpoint_url = endpoint_url,
		.ca_bundle = ca_bundle, .imds_region = imds_region,
	};
	struct cp_aws *a = cp_aws_new(&o, err);
	if (!a)
		cp_die(CP_EX_CONFIG, "%s", err);
	struct cp_aws_creds c;
	if (cp_aws_creds_get(a, &c, err) < 0) {
		cp_aws_free(a);
		cp_die(CP_EX_NOPERM, "%s", err);
	}
	char hint[CP_AWS_HINT_LEN], r[CP_AWS_REGION_LEN], e[CP_AWS_URL_LEN];
	char rerr[CP_ERR_LEN] = "", eerr[CP_ERR_LEN] = "";
	cp_aws_key_hint(c.access_key_id, hint);
	const char *rsrc = NULL, *esrc = NULL, *casrc = NULL;
	int have_r = cp_aws_region(a, queue_url, r, &rsrc, rerr) == 0;
	int have_e = cp_aws_endpoint(a, service, have_r ? r : NULL, queue_url, e,
	    &esrc, eerr) == 0;
	const char *ca = cp_aws_ca_bundle(a, &casrc);
	jv out = JV_OBJECT(jv_string("profile"), jv_string(cp_aws_profile(a)),
	    jv_string("source"), jv_string(c.source),
	    jv_string("key"), jv_string(hint),
	    jv_string("token"), jv_bool(c.session_token[0] != 0),
	    jv_string("expiration"), expiration(&c),
	    jv_string("region"), have_r ? jv_string(r) : jv_null(),
	    jv_string("region_source"), str_or_null(rsrc),
	    jv_string("endpoint"), have_e ? jv_string(e) : jv_null(),
	    jv_string("endpoint_source"), str_or_null(esrc));
	out = jv_object_set(out, jv_string("ca_bundle"), str_or_null(ca));
	out = jv_object_set(out, jv_string("ca_source"), str_or_null(casrc));
	if (!have_r)
		out = jv_object_set(out, jv_string("region_error"), jv_string(rerr));
	if (!have_e)
		out = jv_object_set(out, jv_string("endpoint_error"), jv_string(eerr));
	cp_aws_creds_clear(&c);
	emit(out);

	int failed = 0;
	if (repeat > 0) {
		pthread_t t[64];
		struct worker w[64];
		for (int i = 0; i < nthreads; i++) {
			w[i] = (struct worker){ .a = a, .id = i };
			if (pthread_create(&t[i], NULL, fetcher, &w[i]) != 0)
				cp_die(CP_EX_SOFTWARE, "pthread_create failed");
		}
		for (int i = 0; i < nthreads; i++) {
			pthread_join(t[i], NULL);
			failed |= w[i].failed;
		}
	}
	cp_aws_free(a);
	if (fflush(stdout) != 0 || ferror(stdout))
		cp_die(CP_EX_IOERR, "stdout: write error");
	return failed ? CP_EX_NOPERM : 0;
}
