/* Unit tests for lib/awsconf: the shared-file parser, the credential
 * chain's precedence (explicit, environment, credentials file,
 * credential_process, config file; --profile against AWS_PROFILE),
 * credential_process (good, failing, malformed, expired, slow, quoted
 * command lines, refresh and keeping old credentials when a refresh
 * fails, many threads at once), unsupported profiles, region and endpoint
 * precedence, regions from queue URLs, the CA bundle and key hints.
 *
 * Every test runs in a fresh temp HOME with every AWS_* variable unset
 * and AWS_EC2_METADATA_DISABLED=true, so nothing reaches 169.254.169.254;
 * the container and IMDS paths are driven over loopback by
 * tests/integration/awsconf.t. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "awsconf.h"
#include "timeutil.h"

extern char **environ;

static char home[256];

/* ---- helpers ---- */

static void clear_aws_env(void)
{
	for (;;) {
		char name[256] = "";
		for (char **e = environ; *e; e++) {
			if (strncmp(*e, "AWS_", 4) == 0) {
				size_t l = strcspn(*e, "=");
				snprintf(name, sizeof name, "%.*s", (int)l, *e);
				break;
			}
		}
		if (!name[0])
			return;
		unsetenv(name);
	}
}

static void rm_rf(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static int setup(void **state)
{
	(void)state;
	clear_aws_env();
	snprintf(home, sizeof home, "%s/chatpipe-awsconf.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(home))
		return -1;
	char d[300];
	snprintf(d, sizeof d, "%s/.aws", home);
	mkdir(d, 0700);
	setenv("HOME", home, 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(home);
	clear_aws_env();
	return 0;
}

/* Writes text to HOME/rel (mode 0600, or 0700 for scripts). */
static const char *put(const char *rel, const char *text, int exec)
{
	static char path[4][512];
	static int k;
	char *p = path[k++ % 4];
	snprintf(p, 512, "%s/%s", home, rel);
	FILE *f = fopen(p, "w");
	if (!f)
		fail_msg("cannot write %s", p);
	fputs(text, f);
	fclose(f);
	chmod(p, exec ? 0700 : 0600);
	return p;
}

static struct cp_aws *new_aws(const struct cp_aws_opts *o)
{
	char err[CP_ERR_LEN] = "";
	struct cp_aws *a = cp_aws_new(o, err);
	if (!a)
		fail_msg("cp_aws_new: %s", err);
	return a;
}

/* Resolves credentials and checks their key id and source. */
static void expect_creds(const struct cp_aws_opts *o, const char *key,
    const char *source)
{
	struct cp_aws *a = new_aws(o);
	struct cp_aws_creds c;
	char err[CP_ERR_LEN] = "";
	if (cp_aws_creds_get(a, &c, err) < 0)
		fail_msg("creds_get: %s", err);
	if (strcmp(c.access_key_id, key) != 0 || strcmp(c.source, source) != 0)
		fail_msg("got key %s from %s, want %s from %s", c.access_key_id,
		    c.source, key, source);
	cp_aws_creds_clear(&c);
	cp_aws_free(a);
}

static void expect_creds_error(const struct cp_aws_opts *o, const char *needle)
{
	struct cp_aws *a = new_aws(o);
	struct cp_aws_creds c;
	char err[CP_ERR_LEN] = "";
	if (cp_aws_creds_get(a, &c, err) == 0)
		fail_msg("creds_get succeeded (key %s from %s), want an error with \"%s\"",
		    c.access_key_id, c.source, needle);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
	cp_aws_free(a);
}

static void expect_new_error(const struct cp_aws_opts *o, const char *needle)
{
	char err[CP_ERR_LEN] = "";
	struct cp_aws *a = cp_aws_new(o, err);
	if (a) {
		cp_aws_free(a);
		fail_msg("cp_aws_new succeeded, want an error with \"%s\"", needle);
	}
	if (!strstr(err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

/* An RFC 3339 time offset seconds from now. */
static const char *at(long offset)
{
	static char buf[4][CP_TIME_LEN];
	static int k;
	char *b = buf[k++ % 4];
	struct cp_time t = cp_time_now();
	t.sec += offset;
	t.nsec = 0;
	cp_time_format_prec(t, 0, b);
	return b;
}

/* ---- the parser ---- */

struct collect {
	char buf[4096];
};

static int collect(const char *section, const char *key, const char *value,
    int line, void *user)
{
	struct collect *c = user;
	size_t n = strlen(c->buf);
	snprintf(c->buf + n, sizeof c->buf - n, "[%s] %s=<%s> @%d\n", section, key,
	    value, line);
	return 0;
}

static int refuse(const char *section, const char *key, const char *value,
    int line, void *user)
{
	(void)section;
	(void)value;
	(void)line;
	(void)user;
	return strcmp(key, "bad") == 0 ? -1 : 0;
}

static void parse_ok(const char *text, const char *want)
{
	struct collect c = { "" };
	char err[CP_ERR_LEN] = "";
	if (cp_aws_ini_parse(text, strlen(text), "f", collect, &c, err) < 0)
		fail_msg("parse failed: %s\n%s", err, text);
	if (strcmp(c.buf, want) != 0)
		fail_msg("parsed\n%s\ngot\n%s\nwant\n%s", text, c.buf, want);
}

static void parse_bad(const char *text, const char *needle)
{
	struct collect c = { "" };
	char err[CP_ERR_LEN] = "";
	if (cp_aws_ini_parse(text, strlen(text), "f", collect, &c, err) == 0)
		fail_msg("accepted:\n%s", text);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

static void ini_parser(void **state)
{
	(void)state;
	parse_ok("", "");
	parse_ok("# only\n; comments\n\n", "");
	parse_ok("[default]\nregion = us-east-1\n",
	    "[default] region=<us-east-1> @2\n");
	/* Whitespace, ':' as delimiter, keys lowercased, values kept as they
	 * are (no inline comments, as in botocore), CRLF. */
	parse_ok("  [profile dev]  \r\n"
	    "AWS_Access_Key_ID=AKIA1\r\n"
	    "region : eu-west-1 # not a comment\r\n"
	    "  # an indented comment\r\n"
	    "  ; another\r\n"
	    "empty =\r\n"
	    "url = http://h:1/x=y\r\n",
	    "[profile dev] aws_access_key_id=<AKIA1> @2\n"
	    "[profile dev] region=<eu-west-1 # not a comment> @3\n"
	    "[profile dev] empty=<> @6\n"
	    "[profile dev] url=<http://h:1/x=y> @7\n");
	/* Nested settings: indented lines continue the value. */
	parse_ok("[services s]\n"
	    "sqs =\n"
	    "  endpoint_url = http://localhost:4566\n"
	    "\n"
	    "  other = 1\n"
	    "s3 =\n"
	    "\tmax = 2\n"
	    "[default]\n"
	    "  region = r\n"
	    "    more\n"
	    "x = 1\n",
	    "[services s] sqs=<\nendpoint_url = http://localhost:4566\nother = 1> @2\n"
	    "[services s] s3=<\nmax = 2> @6\n"
	    "[default] region=<r\nmore> @9\n"
	    "[default] x=<1> @11\n");
	/* A last line without a newline; the header up to the last ']'. */
	parse_ok("[a]b]\nk=v", "[a]b] k=<v> @2\n");

	parse_bad("region = x\n", "f:1: setting before any [section]");
	parse_bad("[default]\nregion\n", "f:2: expected \"key = value\"");
	parse_bad("[default]\n = v\n", "f:2: empty key");
	parse_bad("[default]\n[other]\n[default]\n", "f:3: section [default] repeated");
	parse_bad("[default]\nRegion = a\nregion = b\n", "f:3: key region repeated in [default]");
	parse_bad("[default\n", "f:1: bad section header");
	parse_bad("[]\n", "f:1: bad section header");
	char err[CP_ERR_LEN] = "";
	const char *t = "[s]\nok = 1\nbad = 2\n";
	assert_int_equal(cp_aws_ini_parse(t, strlen(t), "g", refuse, NULL, err), -1);
	assert_string_equal(err, "g:3: setting refused");
	/* Only len bytes are read; a NUL inside is an error. */
	assert_int_equal(cp_aws_ini_parse("[s]\nk=v\0x\n", 10, "g", refuse, NULL, err), -1);
	assert_string_equal(err, "g:2: NUL byte");

	char out[64];
	assert_int_equal(cp_aws_ini_nested("\nendpoint_url = http://x\nother=1", "other",
	    out, sizeof out), 0);
	assert_string_equal(out, "1");
	assert_int_equal(cp_aws_ini_nested("\nendpoint_url = http://x ", "endpoint_url",
	    out, sizeof out), 0);
	assert_string_equal(out, "http://x");
	assert_int_equal(cp_aws_ini_nested("\nendpoint_url = http://x", "endpoint", out,
	    sizeof out), -1);
}

static void malformed_files(void **state)
{
	(void)state;
	put(".aws/config", "[default]\nregion = x\nregion = y\n", 0);
	expect_new_error(NULL, "config:3: key region repeated in [default]");
	put(".aws/config", "", 0);
	put(".aws/credentials", "aws_access_key_id = A\n", 0);
	expect_new_error(NULL, "credentials:1: setting before any [section]");
	/* A directory where a file should be. */
	put(".aws/credentials", "", 0);
	char d[400];
	snprintf(d, sizeof d, "%s/dir", home);
	mkdir(d, 0700);
	setenv("AWS_CONFIG_FILE", d, 1);
	expect_new_error(NULL, "Is a directory");
	/* /dev/null is an empty file. */
	setenv("AWS_CONFIG_FILE", "/dev/null", 1);
	expect_creds_error(NULL, "no credentials found");
}

/* ---- the chain ---- */

#define CREDS_FILE \
	"[default]\n" \
	"aws_access_key_id = AKIDCREDSFILE0001\n" \
	"aws_secret_access_key = secret-creds-file\n" \
	"[dev]\n" \
	"aws_access_key_id = AKIDCREDSFILEDEV1\n" \
	"aws_secret_access_key = secret-creds-file-dev\n" \
	"aws_session_token = token-dev\n"

#define CONFIG_FILE \
	"[default]\n" \
	"aws_access_key_id = AKIDCONFIGFILE001\n" \
	"aws_secret_access_key = secret-config\n" \
	"region = eu-west-1\n" \
	"[profile dev]\n" \
	"region = eu-central-1\n" \
	"[profile cfgonly]\n" \
	"aws_access_key_id = AKIDCONFIGONLY001\n" \
	"aws_secret_access_key = secret-cfgonly\n" \
	"[notaprofile]\n" \
	"aws_access_key_id = AKIDNOTAPROFILE01\n" \
	"aws_secret_access_key = x\n" \
	"[profile \"spaced name\"]\n" \
	"aws_access_key_id = AKIDSPACEDNAME001\n" \
	"aws_secret_access_key = x\n"

static void chain_precedence(void **state)
{
	(void)state;
	put(".aws/credentials", CREDS_FILE, 0);
	put(".aws/config", CONFIG_FILE, 0);
	/* The credentials file wins over the config file. */
	expect_creds(NULL, "AKIDCREDSFILE0001", "credentials-file");
	/* A profile only in the config file. */
	setenv("AWS_PROFILE", "cfgonly", 1);
	expect_creds(NULL, "AKIDCONFIGONLY001", "config-file");
	setenv("AWS_PROFILE", "spaced name", 1);
	expect_creds(NULL, "AKIDSPACEDNAME001", "config-file");
	/* "[notaprofile]" in the config file is no profile. */
	setenv("AWS_PROFILE", "notaprofile", 1);
	expect_new_error(NULL, "the config profile (notaprofile) could not be found");
	/* AWS_DEFAULT_PROFILE is read before AWS_PROFILE (botocore). */
	setenv("AWS_DEFAULT_PROFILE", "dev", 1);
	expect_creds(NULL, "AKIDCREDSFILEDEV1", "credentials-file");
	unsetenv("AWS_DEFAULT_PROFILE");
	unsetenv("AWS_PROFILE");

	/* The environment wins over the files, even with AWS_PROFILE set... */
	setenv("AWS_ACCESS_KEY_ID", "AKIDENVIRONMENT01", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret-env", 1);
	expect_creds(NULL, "AKIDENVIRONMENT01", "env");
	setenv("AWS_PROFILE", "dev", 1);
	expect_creds(NULL, "AKIDENVIRONMENT01", "env");
	/* ...but not over --profile. */
	struct cp_aws_opts o = { .profile = "dev" };
	expect_creds(&o, "AKIDCREDSFILEDEV1", "credentials-file");
	o.profile = "nosuch";
	expect_new_error(&o, "the config profile (nosuch) could not be found");
	/* Explicit credentials win over everything. */
	struct cp_aws_creds ex = { .access_key_id = "AKIDEXPLICIT00001",
		.secret_access_key = "s" };
	o.profile = "dev";
	o.creds = &ex;
	expect_creds(&o, "AKIDEXPLICIT00001", "explicit");

	/* The session token comes along; the secret too. */
	o.creds = NULL;
	struct cp_aws *a = new_aws(&o);
	struct cp_aws_creds c;
	char err[CP_ERR_LEN];
	assert_int_equal(cp_aws_creds_get(a, &c, err), 0);
	assert_string_equal(c.secret_access_key, "secret-creds-file-dev");
	assert_string_equal(c.session_token, "token-dev");
	assert_int_equal(c.expiration, 0);
	assert_string_equal(cp_aws_profile(a), "dev");
	cp_aws_free(a);
	unsetenv("AWS_PROFILE");

	/* Session token and legacy security token from the environment. */
	setenv("AWS_SECURITY_TOKEN", "legacy", 1);
	a = new_aws(NULL);
	assert_int_equal(cp_aws_creds_get(a, &c, err), 0);
	assert_string_equal(c.session_token, "legacy");
	cp_aws_free(a);
	setenv("AWS_SESSION_TOKEN", "modern", 1);
	a = new_aws(NULL);
	assert_int_equal(cp_aws_creds_get(a, &c, err), 0);
	assert_string_equal(c.session_token, "modern");
	assert_string_equal(cp_aws_profile(a), "default");
	cp_aws_free(a);
}

static void files_from_env_vars(void **state)
{
	(void)state;
	const char *cf = put("my-creds", "[default]\naws_access_key_id = AKIDFROMVARFILE01\n"
	    "aws_secret_access_key = s\n", 0);
	const char *kf = put("my-config", "[default]\nregion = ap-south-1\n", 0);
	put(".aws/credentials", CREDS_FILE, 0);
	setenv("AWS_SHARED_CREDENTIALS_FILE", cf, 1);
	setenv("AWS_CONFIG_FILE", kf, 1);
	expect_creds(NULL, "AKIDFROMVARFILE01", "credentials-file");
	/* "~" is expanded. */
	setenv("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials", 1);
	expect_creds(NULL, "AKIDCREDSFILE0001", "credentials-file");
	/* Missing files are empty. */
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/creds", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
	expect_creds_error(NULL, "no credentials found");
	expect_creds_error(NULL, "IMDS disabled");
}

static void partial_and_unsupported(void **state)
{
	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKIDONLYKEY000001", 1);
	expect_creds_error(NULL, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
	unsetenv("AWS_ACCESS_KEY_ID");
	/* A secret alone is ignored, as in botocore. */
	setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
	expect_creds_error(NULL, "no credentials found");
	unsetenv("AWS_SECRET_ACCESS_KEY");

	put(".aws/credentials", "[default]\naws_access_key_id = AKIDNOSECRET00001\n", 0);
	expect_creds_error(NULL, "has aws_access_key_id but no aws_secret_access_key");
	put(".aws/credentials", "", 0);

	put(".aws/config", "[default]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = x\n", 0);
	expect_creds_error(NULL, "assumes a role (role_arn), which chatpipe does not support");
	put(".aws/config", "[default]\nsso_session = s\n", 0);
	expect_creds_error(NULL, "IAM Identity Center");
	put(".aws/config", "", 0);
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/t", 1);
	setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/r", 1);
	expect_creds_error(NULL, "web identity");
	/* The environment's keys still come first. */
	setenv("AWS_ACCESS_KEY_ID", "AKIDENVIRONMENT01", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
	expect_creds(NULL, "AKIDENVIRONMENT01", "env");

	/* Expired environment credentials. */
	setenv("AWS_CREDENTIAL_EXPIRATION", "2020-01-01T00:00:00Z", 1);
	expect_creds_error(NULL, "credentials from env expired at 2020-01-01T00:00:00Z");
	setenv("AWS_CREDENTIAL_EXPIRATION", "tomorrow", 1);
	expect_creds_error(NULL, "AWS_CREDENTIAL_EXPIRATION");
	setenv("AWS_CREDENTIAL_EXPIRATION", at(3600), 1);
	struct cp_aws *a = new_aws(NULL);
	struct cp_aws_creds c;
	char err[CP_ERR_LEN];
	assert_int_equal(cp_aws_creds_get(a, &c, err), 0);
	assert_true(c.expiration > time(NULL) + 3500);
	cp_aws_free(a);
}

static void metadata_sources_offline(void **state)
{
	(void)state;
	/* A FULL_URI to a host that is neither https nor local is refused
	 * before any connection. */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds", 1);
	expect_creds_error(NULL, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https");
	/* A token with a line break is refused. */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds", 1);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "a\nb", 1);
	expect_creds_error(NULL, "line break");
	/* Nobody listens on port 1: a configured container source that
	 * fails is an error, the chain stops there. */
	unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	expect_creds_error(NULL, "container credentials: GET http://127.0.0.1:1/creds");
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	/* IMDS on a closed loopback port: no credentials, saying why. */
	unsetenv("AWS_EC2_METADATA_DISABLED");
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1/", 1);
	expect_creds_error(NULL, "IMDS: PUT http://127.0.0.1:1/latest/api/token");
	setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
	expect_creds_error(NULL, "IMDS disabled");
}

/* ---- credential_process ---- */

/* A script printing a credential document; $1 picks the key id. */
static void process_script(const char *body)
{
	char text[4096];
	snprintf(text, sizeof text, "#!/bin/sh\n%s\n", body);
	put("proc.sh", text, 1);
}

static void set_process(const char *cmdline)
{
	char text[2048];
	snprintf(text, sizeof text, "[default]\ncredential_process = %s\n", cmdline);
	put(".aws/config", text, 0);
}

static void credential_process(void **state)
{
	(void)state;
	char cmd[700], body[2048];
	snprintf(cmd, sizeof cmd, "%s/proc.sh", home);

	/* Static: no Expiration. */
	process_script("echo '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS000001\", "
	    "\"SecretAccessKey\": \"s\"}'");
	set_process(cmd);
	expect_creds(NULL, "AKIDPROCESS000001", "process");

	/* With a token and an expiration; extra fields ignored. */
	snprintf(body, sizeof body,
	    "echo '{\"Version\":1,\"AccessKeyId\":\"ASIAPROCESS000002\",\"SecretAccessKey\":\"s2\","
	    "\"SessionToken\":\"tok2\",\"Expiration\":\"%s\",\"AccountId\":\"123\"}'", at(3600));
	process_script(body);
	struct cp_aws *a = new_aws(NULL);
	struct cp_aws_creds c;
	char err[CP_ERR_LEN] = "";
	if (cp_aws_creds_get(a, &c, err) < 0)
		fail_msg("%s", err);
	assert_string_equal(c.access_key_id, "ASIAPROCESS000002");
	assert_string_equal(c.session_token, "tok2");
	assert_true(c.expiration >= time(NULL) + 3590);
	cp_aws_free(a);

	/* The credentials file's static keys come before the process, the
	 * config file's after it. */
	put(".aws/credentials", CREDS_FILE, 0);
	expect_creds(NULL, "AKIDCREDSFILE0001", "credentials-file");
	put(".aws/credentials", "", 0);
	snprintf(body, sizeof body, "[default]\naws_access_key_id = AKIDCONFIGFILE001\n"
	    "aws_secret_access_key = s\ncredential_process = %s\n", cmd);
	put(".aws/config", body, 0);
	expect_creds(NULL, "ASIAPROCESS000002", "process");
	/* credential_process in the credentials file counts too. */
	put(".aws/config", "", 0);
	snprintf(body, sizeof body, "[default]\ncredential_process = %s\n", cmd);
	put(".aws/credentials", body, 0);
	expect_creds(NULL, "ASIAPROCESS000002", "process");
	put(".aws/credentials", "", 0);

	/* Failing: the status and the first line of stderr. */
	process_script("echo 'token expired, run aws sso login' >&2; echo second >&2; exit 3");
	set_process(cmd);
	expect_creds_error(NULL, "exited with status 3: token expired, run aws sso login");
	process_script("kill -9 $$");
	expect_creds_error(NULL, "killed by signal 9");
	/* Malformed output: never quoted back (it may hold a secret). */
	process_script("echo '{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"SECRET99\"'");
	expect_creds_error(NULL, "output is not a JSON object");
	process_script("echo '{\"Version\":2,\"AccessKeyId\":\"AKIDPROCESS000001\",\"SecretAccessKey\":\"s\"}'");
	expect_creds_error(NULL, "unsupported Version (must be 1)");
	process_script("echo '{\"Version\":\"1\",\"AccessKeyId\":\"AKIDPROCESS000001\",\"SecretAccessKey\":\"s\"}'");
	expect_creds_error(NULL, "unsupported Version");
	process_script("echo '{\"Version\":1,\"AccessKeyId\":\"AKIDPROCESS000001\"}'");
	expect_creds_error(NULL, "lacks AccessKeyId or SecretAccessKey");
	process_script("echo '{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\","
	    "\"Expiration\":\"soon\"}'");
	expect_creds_error(NULL, "bad Expiration");
	/* Expired. */
	process_script("echo '{\"Version\":1,\"AccessKeyId\":\"AKIDPROCESS000001\",\"SecretAccessKey\":\"s\","
	    "\"Expiration\":\"2020-01-01T00:00:00Z\"}'");
	expect_creds_error(NULL, "credentials from process expired at 2020-01-01T00:00:00Z");
	/* Not there. */
	set_process("/nonexistent/helper --flag");
	expect_creds_error(NULL, "cannot run /nonexistent/helper: No such file or directory");
	set_process("\"unterminated");
	expect_creds_error(NULL, "no closing quotation");
	/* Too slow. */
	process_script("sleep 5");
	set_process(cmd);
	struct cp_aws_opts o = { .process_timeout_ms = 300 };
	int64_t t0 = cp_time_mono_ms();
	expect_creds_error(&o, "timed out");
	assert_true(cp_time_mono_ms() - t0 < 3000);
}

static void process_command_line(void **state)
{
	(void)state;
	/* Split as shell words, run without a shell: quotes and backslashes
	 * work, $VAR and globs are not expanded; stdin is /dev/null. */
	char dir[400], script[500], cmd[1200];
	snprintf(dir, sizeof dir, "%s/dir with space", home);
	mkdir(dir, 0700);
	snprintf(script, sizeof script, "%s/helper.sh", dir);
	FILE *f = fopen(script, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\n"
	    "if read -r line; then in=got; else in=eof; fi\n"
	    "printf '%s|%s|%s|%s' \"$#\" \"$1\" \"$2\" \"$in\" >\"$HOME/args\"\n"
	    "echo '{\"Version\":1,\"AccessKeyId\":\"AKIDWORDS00000001\",\"SecretAccessKey\":\"s\"}'\n",
	    f);
	fclose(f);
	chmod(script, 0700);
	snprintf(cmd, sizeof cmd, "'%s/dir with space/helper.sh' \"A\\\"B\\\\\\x\" C\\ D$HOME", home);
	set_process(cmd);
	expect_creds(NULL, "AKIDWORDS00000001", "process");
	char path[500], buf[200] = "";
	snprintf(path, sizeof path, "%s/args", home);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof buf, f));
	fclose(f);
	assert_string_equal(buf, "2|A\"B\\\\x|C D$HOME|eof");
}

/* A process whose key id counts its runs (in HOME/count) and whose
 * credentials live `life` seconds; it fails on run number fail_at. */
static void counting_process(long life, int fail_at)
{
	char body[2048];
	snprintf(body, sizeof body,
	    "n=$(cat \"$HOME/count\" 2>/dev/null || echo 0); n=$((n + 1)); echo $n >\"$HOME/count\"\n"
	    "[ \"$n\" -eq %d ] && { echo 'refresh failed' >&2; exit 1; }\n"
	    "exp=$(date -u -d \"+%ld sec\" +%%Y-%%m-%%dT%%H:%%M:%%SZ)\n"
	    "printf '{\"Version\":1,\"AccessKeyId\":\"ASIACOUNT%%08d\",\"SecretAccessKey\":\"s%%d\","
	    "\"SessionToken\":\"t%%d\",\"Expiration\":\"%%s\"}' $n $n $n \"$exp\"",
	    fail_at, life);
	process_script(body);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "%s/proc.sh", home);
	set_process(cmd);
	put("count", "0\n", 0);
}

static void refresh(void **state)
{
	(void)state;
	struct cp_aws_creds c;
	char err[CP_ERR_LEN] = "";

	/* Long-lived: fetched once, then from the cache; invalidate forces a
	 * new fetch. */
	counting_process(3600, 0);
	struct cp_aws *a = new_aws(NULL);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(cp_aws_creds_get(a, &c, err), 0);
		assert_string_equal(c.access_key_id, "ASIACOUNT00000001");
	}
	cp_aws_creds_invalidate(a);
	assert_int_equal(cp_aws_creds_get(a, &c, err), 0);
	assert_string_equal(c.access_key_id, "ASIACOUNT00000002");
	assert_string_equal(c.session_token, "t2");
	cp_aws_free(a);

	/* Short-lived (4 s): fetched again at half their life, before they
	 * expire. */
	counting_process(4, 0);
	a = new_aws(NULL);
	assert_int_equal(cp_aws_creds_get(a, &c, err), 0);
	assert_string_equal(c.access_key_id, "ASIACOUNT00000001");
	int64_t first_exp = c.expiration;
	int64_t deadline = cp_time_mono_ms() + 6000;
	while (strcmp(c.access_key_id, "ASIACOUNT00000001") == 0 &&
	    cp_time_mono_ms() < deadline) {
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
		if (cp_aws_creds_get(a, &c, err) < 0)
			fail_msg("%s", err);
		assert_true(c.expiration * 1000 > cp_time_now().sec * 1000);
	}
	assert_string_equal(c.access_key_id, "ASIACOUNT00000002");
	/* Refreshed before the first ones expired. */
	assert_true(cp_time_now().sec < first_exp);
	cp_aws_free(a);

	/* A failed refresh keeps the current credentials while they are
	 * good; the next attempt succeeds. */
	counting_process(3600, 2);
	a = new_aws(NULL);
	assert_int_equal(cp_aws_creds_get(a, &c, err), 0);
	assert_string_equal(c.access_key_id, "ASIACOUNT00000001");
	cp_aws_creds_invalidate(a);
	assert_int_equal(cp_aws_creds_get(a, &c, err), 0);
	assert_string_equal(c.access_key_id, "ASIACOUNT00000001");
	cp_aws_creds_invalidate(a);
	assert_int_equal(cp_aws_creds_get(a, &c, err), 0);
	assert_string_equal(c.access_key_id, "ASIACOUNT00000003");
	cp_aws_free(a);

	/* Static credentials are never fetched again. */
	process_script("n=$(cat \"$HOME/count\"); echo $((n + 1)) >\"$HOME/count\"\n"
	    "echo '{\"Version\":1,\"AccessKeyId\":\"AKIDSTATICPROC001\",\"SecretAccessKey\":\"s\"}'");
	put("count", "0\n", 0);
	a = new_aws(NULL);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cp_aws_creds_get(a, &c, err), 0);
		cp_aws_creds_invalidate(a);
	}
	cp_aws_free(a);
	char path[400], buf[16] = "";
	snprintf(path, sizeof path, "%s/count", home);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof buf, f));
	fclose(f);
	assert_int_equal(atoi(buf), 1);
}

struct worker {
	struct cp_aws *a;
	int failures, gets;
	char last[CP_AWS_KEY_ID_MAX];
};

static void *worker(void *p)
{
	struct worker *w = p;
	int64_t end = cp_time_mono_ms() + 2500;
	while (cp_time_mono_ms() < end) {
		struct cp_aws_creds c;
		char err[CP_ERR_LEN];
		if (cp_aws_creds_get(w->a, &c, err) < 0 || !c.secret_access_key[0] ||
		    c.expiration <= cp_time_now().sec)
			w->failures++;
		else
			snprintf(w->last, sizeof w->last, "%s", c.access_key_id);
		w->gets++;
		if (w->gets % 50 == 0)
			cp_aws_creds_invalidate(w->a);
		cp_aws_creds_clear(&c);
	}
	return NULL;
}

static void threads(void **state)
{
	(void)state;
	counting_process(2, 0);
	struct cp_aws *a = new_aws(NULL);
	pthread_t t[8];
	struct worker w[8];
	for (int i = 0; i < 8; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].a = a;
		assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
	}
	int total = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
		total += w[i].gets;
	}
	assert_true(total > 8);
	cp_aws_free(a);
	/* Several refreshes happened, one process at a time. */
	char path[400], buf[16] = "";
	snprintf(path, sizeof path, "%s/count", home);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof buf, f));
	fclose(f);
	assert_true(atoi(buf) >= 2);
}

/* ---- region ---- */

static void expect_region(const struct cp_aws_opts *o, const char *queue_url,
    const char *want, const char *want_source)
{
	struct cp_aws *a = new_aws(o);
	char r[CP_AWS_REGION_LEN], err[CP_ERR_LEN] = "";
	const char *src = NULL;
	if (cp_aws_region(a, queue_url, r, &src, err) < 0)
		fail_msg("region: %s", err);
	if (strcmp(r, want) != 0 || strcmp(src, want_source) != 0)
		fail_msg("region %s from %s, want %s from %s", r, src, want, want_source);
	cp_aws_free(a);
}

static void expect_region_error(const struct cp_aws_opts *o, const char *needle)
{
	struct cp_aws *a = new_aws(o);
	char r[CP_AWS_REGION_LEN], err[CP_ERR_LEN] = "";
	if (cp_aws_region(a, NULL, r, NULL, err) == 0)
		fail_msg("region %s, want an error", r);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
	cp_aws_free(a);
}

static void region_rules(void **state)
{
	(void)state;
	const char *q = "https://sqs.ap-northeast-1.amazonaws.com/123456789012/q";
	expect_region_error(NULL, "no region: use --region, AWS_REGION or AWS_DEFAULT_REGION");
	expect_region(NULL, q, "ap-northeast-1", "queue URL");
	put(".aws/credentials", "[dev]\nregion = sa-east-1\n", 0);
	put(".aws/config", CONFIG_FILE, 0);
	expect_region(NULL, q, "eu-west-1", "profile");
	setenv("AWS_PROFILE", "dev", 1);
	/* The credentials file's settings win there too (botocore merges). */
	expect_region(NULL, q, "sa-east-1", "profile");
	setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
	expect_region(NULL, q, "us-west-1", "AWS_DEFAULT_REGION");
	setenv("AWS_REGION", "us-west-2", 1);
	expect_region(NULL, q, "us-west-2", "AWS_REGION");
	struct cp_aws_opts o = { .region = "eu-north-1" };
	expect_region(&o, q, "eu-north-1", "--region");
	o.region = "us east 1";
	expect_region_error(&o, "invalid region \"us east 1\" (from --region)");
	/* An empty variable is unset. */
	setenv("AWS_REGION", "", 1);
	expect_region(NULL, q, "us-west-1", "AWS_DEFAULT_REGION");
	/* IMDS is asked only when allowed, and not when disabled. */
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_PROFILE");
	put(".aws/config", "", 0);
	put(".aws/credentials", "", 0);
	o.region = NULL;
	o.imds_region = 1;
	expect_region_error(&o, "no region");
	unsetenv("AWS_EC2_METADATA_DISABLED");
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1", 1);
	expect_region_error(&o, "no region configured, and IMDS: PUT http://127.0.0.1:1/latest/api/token");
}

static void region_from_url(void **state)
{
	(void)state;
	static const char *const ok[][2] = {
		{ "https://sqs.us-east-1.amazonaws.com/123456789012/q", "us-east-1" },
		{ "https://sqs.eu-west-3.amazonaws.com/123/q.fifo", "eu-west-3" },
		{ "https://sqs.cn-north-1.amazonaws.com.cn/123/q", "cn-north-1" },
		{ "https://sqs-fips.us-gov-west-1.amazonaws.com/1/q", "us-gov-west-1" },
		{ "https://sqs.ap-southeast-2.api.aws/1/q", "ap-southeast-2" },
		{ "https://us-west-2.queue.amazonaws.com/1/q", "us-west-2" },
		{ "https://queue.amazonaws.com/1/q", "us-east-1" },
		{ "HTTPS://SQS.EU-CENTRAL-1.AMAZONAWS.COM:443/1/q", "eu-central-1" },
		{ "http://sqs.us-east-1.localhost:4566/000000000000/q", "us-east-1" },
		{ "https://user@sqs.il-central-1.amazonaws.com./1/q", "il-central-1" },
	};
	static const char *const bad[] = {
		"http://127.0.0.1:4566/000000000000/q",
		"http://localhost:9324/queue/q",
		"https://sqs.amazonaws.com/1/q",
		"https://sqs.localhost/1/q",
		"https://example.com/sqs.us-east-1.amazonaws.com",
		"file:/var/spool/q",
		"sqs.us-east-1.amazonaws.com",
		"https://us-west-2.queue.example.com/1/q",
		"",
	};
	char r[CP_AWS_REGION_LEN];
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		if (cp_aws_region_from_url(ok[i][0], r) < 0)
			fail_msg("%s: no region", ok[i][0]);
		if (strcmp(r, ok[i][1]) != 0)
			fail_msg("%s: %s, want %s", ok[i][0], r, ok[i][1]);
	}
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (cp_aws_region_from_url(bad[i], r) == 0)
			fail_msg("%s: region %s", bad[i], r);
	assert_int_equal(cp_aws_region_from_url(NULL, r), -1);

	char o[CP_AWS_URL_LEN];
	assert_int_equal(cp_aws_url_origin("HTTP://u:p@Host.Example:4566/0/q?x#y", o), 0);
	assert_string_equal(o, "http://Host.Example:4566");
	assert_int_equal(cp_aws_url_origin("https://sqs.us-east-1.amazonaws.com", o), 0);
	assert_string_equal(o, "https://sqs.us-east-1.amazonaws.com");
	assert_int_equal(cp_aws_url_origin("file:/x", o), -1);
	assert_int_equal(cp_aws_url_origin("ftp://h/x", o), -1);
}

/* ---- endpoints ---- */

static void expect_endpoint(const struct cp_aws_opts *o, const char *service,
    const char *region, const char *queue_url, const char *want,
    const char *want_source)
{
	struct cp_aws *a = new_aws(o);
	char e[CP_AWS_URL_LEN], err[CP_ERR_LEN] = "";
	const char *src = NULL;
	if (cp_aws_endpoint(a, service, region, queue_url, e, &src, err) < 0)
		fail_msg("endpoint: %s", err);
	if (strcmp(e, want) != 0 || strcmp(src, want_source) != 0)
		fail_msg("endpoint %s from %s, want %s from %s", e, src, want, want_source);
	cp_aws_free(a);
}

static void endpoint_rules(void **state)
{
	(void)state;
	const char *q = "http://sqs.us-east-1.localhost:4566/000000000000/q";
	expect_endpoint(NULL, "sqs", "eu-west-1", NULL,
	    "https://sqs.eu-west-1.amazonaws.com", "default");
	expect_endpoint(NULL, "sqs", "cn-north-1", NULL,
	    "https://sqs.cn-north-1.amazonaws.com.cn", "default");
	expect_endpoint(NULL, "bedrock-runtime", "us-east-1", NULL,
	    "https://bedrock-runtime.us-east-1.amazonaws.com", "default");
	expect_endpoint(NULL, "sqs", "eu-west-1", q, "http://sqs.us-east-1.localhost:4566",
	    "queue URL");
	put(".aws/config", "[default]\nendpoint_url = http://profile-global:1/\n"
	    "services = local\n"
	    "[services local]\n"
	    "sqs =\n  endpoint_url = http://profile-sqs:2\n"
	    "bedrock_runtime =\n  endpoint_url = http://profile-bedrock:3\n", 0);
	expect_endpoint(NULL, "sqs", "eu-west-1", q, "http://profile-sqs:2",
	    "profile services");
	expect_endpoint(NULL, "bedrock-runtime", "eu-west-1", NULL, "http://profile-bedrock:3",
	    "profile services");
	expect_endpoint(NULL, "bedrock-agent-runtime", "eu-west-1", q,
	    "http://profile-global:1", "profile endpoint_url");
	setenv("AWS_ENDPOINT_URL", "http://env-global:4//", 1);
	expect_endpoint(NULL, "sqs", "eu-west-1", q, "http://env-global:4", "AWS_ENDPOINT_URL");
	setenv("AWS_ENDPOINT_URL_SQS", "https://env-sqs:5/base", 1);
	expect_endpoint(NULL, "sqs", "eu-west-1", q, "https://env-sqs:5/base",
	    "AWS_ENDPOINT_URL_<SERVICE>");
	setenv("AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME", "http://env-agent:6", 1);
	expect_endpoint(NULL, "bedrock-agent-runtime", NULL, NULL, "http://env-agent:6",
	    "AWS_ENDPOINT_URL_<SERVICE>");
	struct cp_aws_opts o = { .endpoint_url = "http://flag:7/" };
	expect_endpoint(&o, "sqs", NULL, q, "http://flag:7", "--endpoint-url");
	/* Ignoring configured endpoints skips environment and files, not
	 * the flag. */
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	expect_endpoint(&o, "sqs", NULL, q, "http://flag:7", "--endpoint-url");
	expect_endpoint(NULL, "sqs", "eu-west-1", q, "http://sqs.us-east-1.localhost:4566",
	    "queue URL");
	expect_endpoint(NULL, "sqs", "eu-west-1", NULL, "https://sqs.eu-west-1.amazonaws.com",
	    "default");

	/* Errors. */
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	setenv("AWS_ENDPOINT_URL_SQS", "localhost:4566", 1);
	struct cp_aws *a = new_aws(NULL);
	char e[CP_AWS_URL_LEN], err[CP_ERR_LEN] = "";
	assert_int_equal(cp_aws_endpoint(a, "sqs", "us-east-1", NULL, e, NULL, err), -1);
	assert_non_null(strstr(err, "is not an http(s) URL"));
	assert_int_equal(cp_aws_endpoint(a, "", "us-east-1", NULL, e, NULL, err), -1);
	cp_aws_free(a);
	unsetenv("AWS_ENDPOINT_URL_SQS");
	unsetenv("AWS_ENDPOINT_URL");
	put(".aws/config", "", 0);
	a = new_aws(NULL);
	assert_int_equal(cp_aws_endpoint(a, "sqs", NULL, NULL, e, NULL, err), -1);
	assert_non_null(strstr(err, "without a valid region"));
	assert_int_equal(cp_aws_endpoint(a, "sqs", "r", "file:/x", e, NULL, err), -1);
	assert_non_null(strstr(err, "not an http(s) URL"));
	cp_aws_free(a);
}

static void ca_bundle_and_hints(void **state)
{
	(void)state;
	const char *src;
	struct cp_aws *a = new_aws(NULL);
	assert_null(cp_aws_ca_bundle(a, &src));
	assert_null(src);
	cp_aws_free(a);
	put(".aws/config", "[default]\nca_bundle = ~/ca.pem\n", 0);
	a = new_aws(NULL);
	char want[400];
	snprintf(want, sizeof want, "%s/ca.pem", home);
	assert_string_equal(cp_aws_ca_bundle(a, &src), want);
	assert_string_equal(src, "profile");
	cp_aws_free(a);
	setenv("AWS_CA_BUNDLE", "/etc/env.pem", 1);
	a = new_aws(NULL);
	assert_string_equal(cp_aws_ca_bundle(a, &src), "/etc/env.pem");
	assert_string_equal(src, "AWS_CA_BUNDLE");
	cp_aws_free(a);
	struct cp_aws_opts o = { .ca_bundle = "/etc/flag.pem" };
	a = new_aws(&o);
	assert_string_equal(cp_aws_ca_bundle(a, &src), "/etc/flag.pem");
	assert_string_equal(src, "--ca-bundle");
	cp_aws_free(a);

	char h[CP_AWS_HINT_LEN];
	cp_aws_key_hint("AKIAIOSFODNN7EXAMPLE", h);
	assert_string_equal(h, "AKIA\xe2\x80\xa6MPLE");
	cp_aws_key_hint("short", h);
	assert_string_equal(h, "***");
	cp_aws_key_hint(NULL, h);
	assert_string_equal(h, "***");
	cp_aws_free(NULL);
}

static void debug_log_redacts(void **state)
{
	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SECRETwJalrXUtnFEMI", 1);
	setenv("AWS_SESSION_TOKEN", "TOKENFwoGZXIvYXdz", 1);
	char path[] = "/tmp/chatpipe-awsconf-log.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	int saved = dup(2);
	dup2(fd, 2);
	int level = cp_diag_level();
	cp_diag_set_level(CP_LOG_TRACE);
	struct cp_aws *a = new_aws(NULL);
	struct cp_aws_creds c;
	char err[CP_ERR_LEN];
	int rc = cp_aws_creds_get(a, &c, err);
	cp_aws_free(a);
	cp_diag_set_level(level);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(rc, 0);
	char buf[8192];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	close(fd);
	assert_true(n > 0);
	buf[n] = 0;
	assert_non_null(strstr(buf, "credentials from env, key AKIA\xe2\x80\xa6MPLE with a session token"));
	assert_null(strstr(buf, "IOSFODNN7"));
	assert_null(strstr(buf, "SECRETwJalr"));
	assert_null(strstr(buf, "TOKENFwo"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(ini_parser, setup, teardown),
		cmocka_unit_test_setup_teardown(malformed_files, setup, teardown),
		cmocka_unit_test_setup_teardown(chain_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(files_from_env_vars, setup, teardown),
		cmocka_unit_test_setup_teardown(partial_and_unsupported, setup, teardown),
		cmocka_unit_test_setup_teardown(metadata_sources_offline, setup, teardown),
		cmocka_unit_test_setup_teardown(credential_process, setup, teardown),
		cmocka_unit_test_setup_teardown(process_command_line, setup, teardown),
		cmocka_unit_test_setup_teardown(refresh, setup, teardown),
		cmocka_unit_test_setup_teardown(threads, setup, teardown),
		cmocka_unit_test_setup_teardown(region_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(region_from_url, setup, teardown),
		cmocka_unit_test_setup_teardown(endpoint_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(ca_bundle_and_hints, setup, teardown),
		cmocka_unit_test_setup_teardown(debug_log_redacts, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
