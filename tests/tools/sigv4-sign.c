/* sigv4-sign: lib/sigv4 on its own, for the tests.
 *
 * Signs one request with the credentials lib/awsconf resolves (the
 * environment, a profile, ...) and writes one JSON line:
 *   {"authorization":"AWS4-HMAC-SHA256 Credential=…","amz_date":"…",
 *    "signed_headers":"…","signature":"…","payload_hash":"…",
 *    "canonical_request":"…","string_to_sign":"…","query":"…"|null,
 *    "headers":[["X-Amz-Date","…"],…]}
 * The session token is shown as "***" wherever it would appear (headers,
 * canonical request, presigned query).  Exits 0, 64 on bad usage, 77
 * without credentials, 70 when signing fails.  Not installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jv.h>

#include "awsconf.h"
#include "diag.h"
#include "opts.h"
#include "sigv4.h"

static const char *method = "GET", *url, *data, *region, *service, *date,
    *payload_hash;
static int content_sha256, presign, s3, no_normalize, omit_token;
static long expires;
static struct cp_sigv4_header *hdrs;
static size_t nhdrs;

enum { OPT_HEADER = 1 };

static struct poptOption options[] = {
	{ "method", 'X', POPT_ARG_STRING, &method, 0, "request method (GET)", "METHOD" },
	{ "url", 0, POPT_ARG_STRING, &url, 0, "the URL, as sent", "URL" },
	{ "header", 'H', POPT_ARG_STRING, NULL, OPT_HEADER, "a request header", "'NAME: VALUE'" },
	{ "data", 'd', POPT_ARG_STRING, &data, 0, "request body", "TEXT" },
	{ "region", 0, POPT_ARG_STRING, &region, 0, "signing region", "REGION" },
	{ "service", 0, POPT_ARG_STRING, &service, 0, "signing name", "NAME" },
	{ "date", 0, POPT_ARG_STRING, &date, 0, "X-Amz-Date (now)", "YYYYMMDDTHHMMSSZ" },
	{ "payload-hash", 0, POPT_ARG_STRING, &payload_hash, 0, "the payload hash, verbatim", "HEX" },
	{ "content-sha256", 0, POPT_ARG_NONE, &content_sha256, 0, "add x-amz-content-sha256", NULL },
	{ "presign", 0, POPT_ARG_NONE, &presign, 0, "sign in the query string", NULL },
	{ "expires", 0, POPT_ARG_LONG, &expires, 0, "presigned: seconds (900)", "S" },
	{ "s3", 0, POPT_ARG_NONE, &s3, 0, "S3 path rules (no normalising, no encoding)", NULL },
	{ "no-normalize", 0, POPT_ARG_NONE, &no_normalize, 0, "keep dot segments", NULL },
	{ "omit-token", 0, POPT_ARG_NONE, &omit_token, 0, "add the session token unsigned", NULL },
	POPT_TABLEEND
};

static int on_option(int val, const char *arg, char *err)
{
	if (val != OPT_HEADER)
		return 0;
	/* A copy of arg (popt's is freed after this call): split in place,
	 * freed at the end. */
	char *name = strdup(arg), *c = name ? strchr(name, ':') : NULL;
	if (!name)
		return cp_err_set(err, "out of memory");
	if (!c) {
		cp_err_set(err, "--header: \"%s\" has no ':'", arg);
		free(name);
		return -1;
	}
	struct cp_sigv4_header *h = realloc(hdrs, (nhdrs + 1) * sizeof *h);
	if (!h) {
		free(name);
		return cp_err_set(err, "out of memory");
	}
	*c = 0;
	hdrs = h;
	hdrs[nhdrs].name = name;
	hdrs[nhdrs++].value = c + 1;
	return 0;
}

static const struct cp_tool tool = {
	.name = "sigv4-sign",
	.summary = "Sign one request with lib/sigv4 and show the result (a test driver).",
	.options = options,
	.on_option = on_option,
};

/* s with the token (and its URI encoding) replaced by "***". */
static jv masked(const char *s, const char *token)
{
	if (!s)
		return jv_null();
	if (!token || !*token)
		return jv_string(s);
	char *enc = cp_sigv4_encode(token, strlen(token), 0);
	jv out = jv_string("");
	while (*s) {
		size_t tl = strlen(token), el = enc ? strlen(enc) : 0;
		if (strncmp(s, token, tl) == 0) {
			out = jv_string_append_str(out, "***");
			s += tl;
		} else if (el && strncmp(s, enc, el) == 0) {
			out = jv_string_append_str(out, "***");
			s += el;
		} else {
			out = jv_string_append_buf(out, s, 1);
			s++;
		}
	}
	free(enc);
	return out;
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
	if (!url || !region || !service)
		cp_die(CP_EX_USAGE, "--url, --region and --service are required");

	struct cp_aws *a = cp_aws_new(NULL, err);
	if (!a)
		cp_die(CP_EX_CONFIG, "%s", err);
	struct cp_aws_creds c;
	if (cp_aws_creds_get(a, &c, err) < 0)
		cp_die(CP_EX_NOPERM, "%s", err);
	cp_aws_free(a);

	struct cp_sigv4_request q = {
		.method = method, .url = url, .headers = hdrs, .nheaders = nhdrs,
		.payload = data, .payload_len = data ? strlen(data) : 0,
		.payload_hash = payload_hash, .region = region, .service = service,
		.creds = &c, .amz_date = date, .expires = expires,
		.flags = (content_sha256 ? CP_SIGV4_CONTENT_SHA256 : 0) |
		    (presign ? CP_SIGV4_PRESIGN : 0) | (s3 ? CP_SIGV4_S3 : 0) |
		    (no_normalize ? CP_SIGV4_NO_NORMALIZE : 0) |
		    (omit_token ? CP_SIGV4_OMIT_TOKEN : 0),
	};
	struct cp_sigv4_result r;
	if (cp_sigv4_sign(&q, &r, err) < 0)
		cp_die(CP_EX_SOFTWARE, "%s", err);
	const char *tok = c.session_token;
	jv hl = jv_array();
	for (size_t i = 0; i < r.nheaders; i++)
		hl = jv_array_append(hl, JV_ARRAY(jv_string(r.headers[i].name),
		    masked(r.headers[i].value, tok)));
	jv o = JV_OBJECT(jv_string("authorization"), masked(r.authorization, tok),
	    jv_string("amz_date"), jv_string(r.amz_date),
	    jv_string("signed_headers"), jv_string(r.signed_headers),
	    jv_string("signature"), jv_string(r.signature),
	    jv_string("payload_hash"), jv_string(r.payload_hash),
	    jv_string("canonical_request"), masked(r.canonical_request, tok),
	    jv_string("string_to_sign"), jv_string(r.string_to_sign),
	    jv_string("query"), masked(r.query, tok));
	o = jv_object_set(o, jv_string("headers"), hl);
	jv s = jv_dump_string(o, 0);
	printf("%s\n", jv_string_value(s));
	jv_free(s);
	cp_sigv4_result_free(&r);
	cp_aws_creds_clear(&c);
	for (size_t i = 0; i < nhdrs; i++)
		free((char *)hdrs[i].name);
	free(hdrs);
	if (fflush(stdout) != 0 || ferror(stdout))
		cp_die(CP_EX_IOERR, "stdout: write error");
	return 0;
}
