/* sigv4: AWS Signature Version 4 (AWS4-HMAC-SHA256) on OpenSSL.
 *
 * Signs one HTTP request, either with headers (the Authorization header
 * and friends) or presigned (the signature in the query string).  Passes
 * every case of the official suite (aws-c-auth's v4 suite, header and query
 * forms); reference/bedrock-sigv4.md §3 lists the rules.
 *
 * What the caller gives, exactly as it goes on the wire:
 *
 *   path   the request path as sent, already percent-encoded where the
 *          caller's URL encodes (a Bedrock model id "a:0" is sent as
 *          "/model/a%3A0/converse").  For every service but S3 the
 *          canonical URI is that path with dot segments and empty segments
 *          removed (RFC 3986 5.2.4 plus "//" collapsed, as botocore and
 *          @smithy/signature-v4 do) and then URI-encoded AGAIN, byte by
 *          byte, keeping only A-Z a-z 0-9 - _ . ~ and '/': "%3A" is signed
 *          as "%253A", a raw space as "%20", raw UTF-8 as "%E1%88%B4".
 *          CP_SIGV4_NO_NORMALIZE keeps the path's segments as they are;
 *          CP_SIGV4_NO_ENCODE_PATH signs the path bytes as they are (S3:
 *          CP_SIGV4_S3 is both).  An empty path is "/".
 *   query  the query string as sent, without '?'.  Each name and value is
 *          percent-decoded and re-encoded (so "%E1%88%B4", "ሴ" and
 *          "%e1%88%b4" sign alike; '+' is a plus, not a space; a '%' not
 *          followed by two hex digits is a literal '%'); a parameter
 *          without '=' has the empty value; empty parameters ("a&&b") are
 *          dropped; pairs are sorted by encoded name, then encoded value.
 *   headers  name/value pairs, in order.  Names are lowercased, values
 *          trimmed with every run of blanks (space, tab, CR, LF: a folded
 *          value) collapsed to one space, quotes or not; repeated names
 *          are joined with ',' in their order.  Host must be among them
 *          or given in .host (with ":port" when the port is not the
 *          scheme's default, as curl sends it).  Never signed: what
 *          proxies and HTTP libraries add or rewrite (@smithy/signature-v4's
 *          and botocore's lists: user-agent, connection, expect,
 *          keep-alive, te, trailer, transfer-encoding, upgrade, proxy-*,
 *          sec-*, x-amzn-trace-id, cache-control, from, max-forwards,
 *          pragma, referer), and what the signer produces itself
 *          (authorization, x-amz-date, x-amz-security-token,
 *          x-amz-content-sha256): stale copies of those from an earlier
 *          attempt are ignored, so a request can be re-signed in place.
 *   payload  the body bytes (hashed here), or payload_hash (64 hex digits,
 *          or a literal such as "UNSIGNED-PAYLOAD") when already known.
 *
 * .url may be given instead of .host, .path and .query: they are taken
 * from it (userinfo and fragment dropped, Host as curl sends it).  Give
 * libcurl that same URL: it sends "%XX" unchanged, and removes dot
 * segments itself (unless CURLOPT_PATH_AS_IS), which signs the same here.
 *
 * Session tokens: with creds->session_token set, X-Amz-Security-Token is
 * added before signing and signed (X-Amz-Security-Token in the query when
 * presigning); CP_SIGV4_OMIT_TOKEN adds it after signing, unsigned (a few
 * legacy services; never for Bedrock or SQS).
 *
 * Signing keys are derived with the HMAC chain and cached process-wide
 * per (date, region, service, SHA-256 of the secret), 8 entries.
 *
 * Tracing: with cp_diag_enabled(CP_LOG_TRACE), one cp_trace line each for
 * the canonical request and the string to sign, session token replaced by
 * "***".  Nothing else is logged; the secret never is.
 *
 * Ownership: the request is only read.  cp_sigv4_sign() fills a
 * caller-provided result whose strings it allocates; the caller frees them
 * with cp_sigv4_result_free() (also after a failure; a zeroed result is
 * safe to free).
 *
 * Errors: cp_sigv4_sign() returns -1 and fills err (CP_ERR_LEN bytes, may
 * be NULL): missing method/region/service/credentials/Host, a bad amz_date,
 * a header name that is not an HTTP token, expires out of 1..604800, out of
 * memory.
 *
 * Thread safety: every function may be called from any thread; the key
 * cache is behind a mutex.
 */
#ifndef CP_SIGV4_H
#define CP_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"

#define CP_AWS_KEY_ID_MAX 128   /* access key id, with the NUL */
#define CP_AWS_SECRET_MAX 128   /* secret access key, with the NUL */
#define CP_AWS_TOKEN_MAX 8192   /* session token, with the NUL */

/* A set of credentials: a plain value the holder owns (copy it freely;
 * wipe it with cp_aws_creds_clear()).  lib/awsconf fills it. */
struct cp_aws_creds {
	char access_key_id[CP_AWS_KEY_ID_MAX];
	char secret_access_key[CP_AWS_SECRET_MAX];
	char session_token[CP_AWS_TOKEN_MAX];  /* "" when none */
	int64_t expiration;  /* Unix seconds; 0: does not expire */
	const char *source;  /* a static string: where they came from
	                      * ("explicit", "env", "credentials-file",
	                      * "process", "config-file", "container", "imds") */
};

/* Overwrites every byte of c (OPENSSL_cleanse). */
void cp_aws_creds_clear(struct cp_aws_creds *c);

struct cp_sigv4_header {
	const char *name;
	const char *value;
};

enum {
	CP_SIGV4_NO_NORMALIZE = 1 << 0,   /* keep ".", ".." and "//" */
	CP_SIGV4_NO_ENCODE_PATH = 1 << 1, /* canonical URI = the path's bytes */
	CP_SIGV4_CONTENT_SHA256 = 1 << 2, /* add and sign x-amz-content-sha256
	                                   * (header form only) */
	CP_SIGV4_OMIT_TOKEN = 1 << 3,     /* session token added unsigned */
	CP_SIGV4_PRESIGN = 1 << 4,        /* query-string authentication */
};
#define CP_SIGV4_S3 (CP_SIGV4_NO_NORMALIZE | CP_SIGV4_NO_ENCODE_PATH)

struct cp_sigv4_request {
	const char *method;       /* "GET", "POST", ... (used as given) */
	const char *url;          /* optional: sets host, path and query */
	const char *host;         /* signed as Host when headers have none */
	const char *path;         /* as sent; NULL or "": "/" */
	const char *query;        /* as sent, without '?'; NULL: none */
	const struct cp_sigv4_header *headers;
	size_t nheaders;
	const void *payload;      /* hashed unless payload_hash is set */
	size_t payload_len;
	const char *payload_hash; /* optional, used verbatim */
	const char *region;       /* "us-east-1" */
	const char *service;      /* the signing name: "sqs", "bedrock" */
	const struct cp_aws_creds *creds;
	const char *amz_date;     /* "YYYYMMDDTHHMMSSZ"; NULL: now (UTC) */
	unsigned flags;           /* CP_SIGV4_* */
	long expires;             /* presigned: X-Amz-Expires (s); 0: 900 */
};

#define CP_SIGV4_DATE_LEN 17  /* "20150830T123600Z" and the NUL */

struct cp_sigv4_result {
	char amz_date[CP_SIGV4_DATE_LEN];
	char scope[160];          /* "20150830/us-east-1/service/aws4_request" */
	char payload_hash[128];   /* the canonical request's last line */
	char signature[65];       /* lowercase hex */
	char *canonical_request;
	char *string_to_sign;
	char *signed_headers;     /* "host;x-amz-date" */
	char *authorization;      /* header form: the Authorization value */
	char *security_token;     /* a copy of the token when one is sent */
	char *query;              /* presigned: the whole query to send (the
	                           * request's own, then the X-Amz-* ones) */
	/* Header form: the headers to add (replacing any of the same name),
	 * in this order: X-Amz-Security-Token (with a token), X-Amz-Date,
	 * x-amz-content-sha256 (with the flag), Authorization.  Presigned: none.
	 * The values point into this result.  A caller re-signing a request
	 * in place removes an X-Amz-Security-Token left from an earlier
	 * attempt when the new credentials have none. */
	size_t nheaders;
	struct cp_sigv4_header headers[4];
};

/* Signs req into res (which need not be initialised).  0, or -1 with err;
 * either way res is to be freed with cp_sigv4_result_free(). */
int cp_sigv4_sign(const struct cp_sigv4_request *req,
    struct cp_sigv4_result *res, char *err);
/* Frees what res holds (wiping the token copy) and zeroes it. */
void cp_sigv4_result_free(struct cp_sigv4_result *res);

/* The signing key HMAC(HMAC(HMAC(HMAC("AWS4" secret, date8), region),
 * service), "aws4_request"), from the cache when it is there.  date8 is
 * "YYYYMMDD".  0, or -1 with err. */
int cp_sigv4_signing_key(const char *secret, const char *date8,
    const char *region, const char *service, unsigned char key[32], char *err);
/* Cache counters since the start of the process (for tests). */
void cp_sigv4_cache_stats(unsigned long *hits, unsigned long *misses);

/* s (len bytes) percent-encoded: every byte but A-Z a-z 0-9 - _ . ~ (and
 * '/' when keep_slash) as %XX, uppercase.  For building paths from labels
 * ("/model/" + encode(model_id, 0) + "/converse").  A malloc'd string, or
 * NULL when out of memory. */
char *cp_sigv4_encode(const char *s, size_t len, int keep_slash);

/* Writes the X-Amz-Date form of Unix time t ("YYYYMMDDTHHMMSSZ"). */
void cp_sigv4_amz_date(int64_t t, char out[CP_SIGV4_DATE_LEN]);

#endif
