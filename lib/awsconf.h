/* awsconf: AWS credentials, region and endpoints, resolved as the AWS CLI
 * resolves them (reference/bedrock-sigv4.md §4, BRIEF §4).
 *
 * Credentials, first source that has them:
 *   1. explicit (opts.creds, e.g. from the program's own options);
 *   2. the environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 *      (+ AWS_SESSION_TOKEN, or the legacy AWS_SECURITY_TOKEN;
 *      AWS_CREDENTIAL_EXPIRATION); skipped when --profile is given (not
 *      when AWS_PROFILE is set: then the environment still wins, as in
 *      the CLI; the JavaScript SDK differs there);
 *   3. the profile (opts.profile, else AWS_DEFAULT_PROFILE, else
 *      AWS_PROFILE, else "default") in the shared files: static keys in
 *      the credentials file (AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials,
 *      sections "[NAME]"), then credential_process, then static keys in the
 *      config file (AWS_CONFIG_FILE, ~/.aws/config, sections
 *      "[profile NAME]" and "[default]").  A profile that assumes a role,
 *      uses SSO or web identity (or AWS_ROLE_ARN with
 *      AWS_WEB_IDENTITY_TOKEN_FILE in the environment) is an error
 *      naming the unsupported feature, never silently skipped;
 *   4. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 *      (http://169.254.170.2 + it), else AWS_CONTAINER_CREDENTIALS_FULL_URI
 *      (https, or http to a loopback address, 169.254.170.2,
 *      169.254.170.23 or fd00:ec2::23), with the Authorization header from
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read at every fetch; a
 *      trailing newline is dropped, where the SDKs would refuse it) or
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN; 1 s to connect, 2 s per
 *      attempt, 3 attempts;
 *   5. EC2 IMDSv2, unless AWS_EC2_METADATA_DISABLED=true: PUT
 *      /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds: 21600; the
 *      token is kept until shortly before its TTL and fetched again after
 *      a 401), then /latest/meta-data/iam/security-credentials/ and
 *      .../ROLE.  Base: AWS_EC2_METADATA_SERVICE_ENDPOINT (or the profile's
 *      ec2_metadata_service_endpoint), else http://169.254.169.254 (or
 *      http://[fd00:ec2::254] with ..._ENDPOINT_MODE=IPv6).  Timeout
 *      AWS_METADATA_SERVICE_TIMEOUT seconds (1), attempts
 *      AWS_METADATA_SERVICE_NUM_ATTEMPTS (1).  Without a token (403, 404,
 *      405 on the PUT) it falls back to IMDSv1, as the CLI does, unless
 *      AWS_EC2_METADATA_V1_DISABLED=true.
 * A configured source that fails (a credential_process exiting non-zero,
 * a container endpoint answering 4xx) is an error: the chain does not go
 * on past it.  HTTP requests follow libcurl's proxy variables (http_proxy,
 * no_proxy), as the CLI follows Python's.
 *
 * credential_process: the command line is split as the CLI splits it
 * (POSIX shell words: quotes and backslashes, no expansions) and run
 * without a shell (execvp), stdin from /dev/null (our stdin is data),
 * stderr captured for the error message, opts.process_timeout_ms to
 * finish.  Its stdout must be JSON with Version 1, AccessKeyId,
 * SecretAccessKey, and optionally SessionToken and Expiration (RFC 3339).
 *
 * Refresh: credentials with an expiration are fetched again from the same
 * source when less than min(5 min, half their lifetime) is left; if that
 * fails they are kept (and the failure retried a few seconds later) until
 * min(1 min, a quarter of their lifetime) is left, then the error is
 * returned.  Credentials that arrive already expired are an error.
 * Static credentials are never refetched.
 *
 * Region: opts.region > AWS_REGION > AWS_DEFAULT_REGION > the profile's
 * region > the queue URL's host (sqs.REGION.amazonaws.com,
 * REGION.queue.amazonaws.com, ...) > IMDS placement/region (only with
 * opts.imds_region) > an error saying how to set one.
 *
 * Endpoint for a service (SigV4 "sqs", "bedrock-runtime", ...):
 * opts.endpoint_url > AWS_ENDPOINT_URL_<SERVICE> (upper case, '-' and ' '
 * as '_') > AWS_ENDPOINT_URL > the profile's services section
 * ("services = NAME", "[services NAME]", "sqs =\n  endpoint_url = URL") >
 * the profile's endpoint_url > the queue URL's origin when one is given >
 * https://SERVICE.REGION.amazonaws.com (.com.cn for cn-* regions).
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true (or the profile's
 * ignore_configured_endpoint_urls) skips the environment and the files.
 * Trailing slashes are removed.
 *
 * CA bundle: opts.ca_bundle > AWS_CA_BUNDLE > the profile's ca_bundle.
 *
 * Files: parsed as botocore's configparser does: "[section]" headers,
 * "key = value" or "key: value" (keys case-insensitive, values trimmed,
 * no inline comments), whole-line comments starting with '#' or ';',
 * indented lines continuing the value above (nested "sub = value"
 * settings), "~" expanded in file names.  A missing file is empty; an
 * unreadable or malformed one (no section, no '=', a section or key
 * repeated) is an error naming file and line.  A profile named by
 * --profile or the environment that exists in neither file is an error.
 * The environment (every AWS_* variable, and HOME) and the files are
 * read once, by cp_aws_new().
 *
 * Secrets: never logged.  cp_debug lines say which source gave
 * credentials, with the key id shortened by cp_aws_key_hint(); error
 * texts never hold a secret, a token or a process's stdout.
 *
 * Errors: functions that can fail return -1 (NULL) and fill err
 * (CP_ERR_LEN bytes, may be NULL) with one line naming the source.
 *
 * Thread safety: cp_aws_new() and cp_aws_free() on one thread; everything
 * else may be called from any thread at once.  cp_aws_creds_get() holds a
 * mutex; one caller refreshes while the others keep using the current
 * credentials (or wait when those are no longer usable).  The result is
 * always the caller's own copy.  cp_aws_new() initialises libcurl
 * (curl_global_init).
 */
#ifndef CP_AWSCONF_H
#define CP_AWSCONF_H

#include <stddef.h>

#include "diag.h"
#include "sigv4.h"

#define CP_AWS_REGION_LEN 64   /* a region name and the NUL */
#define CP_AWS_URL_LEN 1024    /* an endpoint URL and the NUL */
#define CP_AWS_HINT_LEN 16     /* cp_aws_key_hint()'s output */

struct cp_aws_opts {
	const char *profile;       /* --profile; NULL: from the environment */
	const char *region;        /* --region */
	const char *endpoint_url;  /* --endpoint-url */
	const char *ca_bundle;     /* --ca-bundle */
	const struct cp_aws_creds *creds; /* explicit credentials (copied) */
	int imds_region;           /* 1: IMDS may give the region, last */
	long process_timeout_ms;   /* credential_process; 0: 5 minutes */
};

struct cp_aws;

/* Reads the environment and the shared files.  NULL with err when a file
 * is malformed or the named profile does not exist. */
struct cp_aws *cp_aws_new(const struct cp_aws_opts *opts, char *err);
/* Frees a, wiping the credentials it held.  NULL is a no-op. */
void cp_aws_free(struct cp_aws *a);

/* The profile in use ("default" unless one was named). */
const char *cp_aws_profile(const struct cp_aws *a);

/* Current credentials into *out (the caller's copy; wipe it with
 * cp_aws_creds_clear()), resolving the chain the first time and
 * refreshing as described above.  0, or -1 with err. */
int cp_aws_creds_get(struct cp_aws *a, struct cp_aws_creds *out, char *err);
/* Makes the next cp_aws_creds_get() fetch temporary credentials again
 * (after the service said ExpiredToken, say).  Static ones stay. */
void cp_aws_creds_invalidate(struct cp_aws *a);

/* The region, by the rules above; queue_url may be NULL.  *source (may be
 * NULL) is set to a static string: "--region", "AWS_REGION",
 * "AWS_DEFAULT_REGION", "profile", "queue URL" or "IMDS".  0, or -1 with
 * err. */
int cp_aws_region(struct cp_aws *a, const char *queue_url,
    char out[CP_AWS_REGION_LEN], const char **source, char *err);

/* The endpoint URL (no trailing slash) for service in region (region may
 * be NULL when an endpoint is configured), by the rules above; queue_url
 * may be NULL.  *source: "--endpoint-url", "AWS_ENDPOINT_URL_<SERVICE>",
 * "AWS_ENDPOINT_URL", "profile services", "profile endpoint_url",
 * "queue URL" or "default".  0, or -1 with err. */
int cp_aws_endpoint(struct cp_aws *a, const char *service, const char *region,
    const char *queue_url, char out[CP_AWS_URL_LEN], const char **source,
    char *err);

/* The CA bundle file for the HTTP layer, or NULL for the system's.
 * *source (may be NULL): "--ca-bundle", "AWS_CA_BUNDLE" or "profile". */
const char *cp_aws_ca_bundle(const struct cp_aws *a, const char **source);

/* The region named by an SQS queue URL's host: sqs.REGION.*,
 * sqs-fips.REGION.*, REGION.queue.amazonaws.com, and
 * queue.amazonaws.com (us-east-1).  0, or -1 when the host names none. */
int cp_aws_region_from_url(const char *url, char out[CP_AWS_REGION_LEN]);
/* "scheme://host[:port]" of an http(s) URL (userinfo dropped).  0, or -1
 * when url is not one. */
int cp_aws_url_origin(const char *url, char out[CP_AWS_URL_LEN]);
/* A key id fit for logs: "AKIA…WXYZ" (type prefix and last 4), or "***"
 * for one shorter than 12 characters. */
void cp_aws_key_hint(const char *key_id, char out[CP_AWS_HINT_LEN]);

/* The shared-file parser (exposed for tests): calls fn for every setting
 * of text (len bytes) in order, with its section, its lowercased key, its
 * value (continuation lines joined with '\n', the first line possibly
 * empty for nested settings) and its line number; fn returns 0 to go on.
 * 0, or -1 with err "FNAME:LINE: ..." on malformed text, or when fn
 * returns -1 ("FNAME:LINE: setting refused"). */
typedef int cp_aws_ini_fn(const char *section, const char *key,
    const char *value, int line, void *user);
int cp_aws_ini_parse(const char *text, size_t len, const char *fname,
    cp_aws_ini_fn *fn, void *user, char *err);

/* The value of sub in a nested setting's value ("\nsub = v\nother = w"),
 * into out (n bytes); 0, or -1 when absent. */
int cp_aws_ini_nested(const char *value, const char *sub, char *out, size_t n);

#endif
