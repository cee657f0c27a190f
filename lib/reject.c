/* reject: see reject.h. */
#include "reject.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "diag.h"
#include "jsonl.h"

struct cp_rejects {
	int fd, owned, error;
	const char *tool;
	atomic_uint_fast64_t count;
	pthread_mutex_t mu;
};

struct cp_rejects *cp_rejects_open(const char *path, const char *tool, char *err)
{
	struct cp_rejects *rj = calloc(1, sizeof *rj);
	if (!rj) {
		cp_err_set(err, "out of memory");
		return NULL;
	}
	rj->fd = 2;
	rj->tool = tool;
	if (path && strcmp(path, "-") != 0) {
		rj->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
		if (rj->fd < 0) {
			cp_err_set(err, "cannot open rejects file %s: %s", path, strerror(errno));
			free(rj);
			return NULL;
		}
		rj->owned = 1;
	}
	pthread_mutex_init(&rj->mu, NULL);
	return rj;
}

static jv base64(const char *s, size_t len)
{
	size_t cap = 4 * ((len + 2) / 3) + 1;
	unsigned char *out = malloc(cap);
	if (!out)
		return jv_null();
	int n = EVP_EncodeBlock(out, (const unsigned char *)s, (int)len);
	jv r = jv_string_sized((const char *)out, n);
	free(out);
	return r;
}

int cp_reject_jv(struct cp_rejects *rj, uint64_t lineno, const char *error,
    int retryable, const char *input, size_t len, size_t full_len, jv extra)
{
	jv o = JV_OBJECT(jv_string("line"), jv_number((double)lineno),
	    jv_string("tool"), jv_string(rj->tool),
	    jv_string("error"), jv_string(error),
	    jv_string("retryable"), jv_bool(retryable));
	/* jv_string_sized replaces invalid UTF-8 with U+FFFD and keeps NULs. */
	o = jv_object_set(o, jv_string("input"), jv_string_sized(input, (int)len));
	if (memchr(input, 0, len) || !cp_utf8_valid(input, len, NULL))
		o = jv_object_set(o, jv_string("input_base64"), base64(input, len));
	if (full_len > len) {
		o = jv_object_set(o, jv_string("input_truncated"), jv_true());
		o = jv_object_set(o, jv_string("input_bytes"), jv_number((double)full_len));
	}
	if (jv_get_kind(extra) == JV_KIND_OBJECT)
		o = jv_object_merge(o, extra);
	else
		jv_free(extra);
	jv s = jv_dump_string(o, 0);
	size_t n = (size_t)jv_string_length_bytes(jv_copy(s));
	char *line = malloc(n + 1);
	int r = -1;
	if (line) {
		memcpy(line, jv_string_value(s), n);
		line[n] = '\n';
		pthread_mutex_lock(&rj->mu);
		r = 0;
		for (size_t off = 0; off < n + 1;) {
			ssize_t w = write(rj->fd, line + off, n + 1 - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				if (!rj->error)
					rj->error = errno;
				r = -1;
				break;
			}
			off += (size_t)w;
		}
		pthread_mutex_unlock(&rj->mu);
		free(line);
	}
	jv_free(s);
	atomic_fetch_add(&rj->count, 1);
	return r;
}

int cp_reject(struct cp_rejects *rj, uint64_t lineno, const char *error,
    int retryable, const char *input, size_t len, size_t full_len)
{
	return cp_reject_jv(rj, lineno, error, retryable, input, len, full_len, jv_null());
}

uint64_t cp_rejects_count(const struct cp_rejects *rj)
{
	return atomic_load(&((struct cp_rejects *)rj)->count);
}

int cp_rejects_close(struct cp_rejects *rj, char *err)
{
	int r = 0;
	if (rj->owned && close(rj->fd) < 0 && !rj->error)
		rj->error = errno;
	if (rj->error) {
		cp_err_set(err, "writing rejects: %s", strerror(rj->error));
		r = -1;
	}
	pthread_mutex_destroy(&rj->mu);
	free(rj);
	return r;
}

int cp_rejects_finish(struct cp_writer *out, struct cp_rejects *rj, int ex)
{
	char err[CP_ERR_LEN];
	if (cp_writer_close(out, 0, err) < 0) {
		cp_error("%s", err);
		ex = CP_EX_IOERR;
	}
	if (cp_rejects_close(rj, err) < 0 && !ex) {
		cp_error("%s", err);
		ex = CP_EX_IOERR;
	}
	return ex;
}
