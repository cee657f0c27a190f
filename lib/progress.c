/* progress: see progress.h. */
#include "progress.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "sig.h"

struct cp_counts cp_counts;

static pthread_t thread;
static int running, tty;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int quit;
static struct timespec started;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double since_start(void)
{
	if (started.tv_sec == 0 && started.tv_nsec == 0)
		clock_gettime(CLOCK_MONOTONIC, &started);
	return now_s() - ((double)started.tv_sec + started.tv_nsec / 1e9);
}

__attribute__((constructor)) static void mark_start(void)
{
	clock_gettime(CLOCK_MONOTONIC, &started);
}

static void *run(void *arg)
{
	(void)arg;
	cp_sig_block_in_thread();
	uint64_t last = 0;
	double last_t = since_start();
	const long period_ms = tty ? 250 : 10000;
	pthread_mutex_lock(&mu);
	while (!quit) {
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_nsec += (period_ms % 1000) * 1000000L;
		dl.tv_sec += period_ms / 1000 + dl.tv_nsec / 1000000000L;
		dl.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&cv, &mu, &dl);
		if (quit)
			break;
		uint64_t r = atomic_load(&cp_counts.read);
		uint64_t w = atomic_load(&cp_counts.written);
		uint64_t j = atomic_load(&cp_counts.rejected);
		double t = since_start();
		double rate = t > last_t ? (double)(r - last) / (t - last_t) : 0;
		last = r;
		last_t = t;
		if (tty) {
			char line[256];
			int n = snprintf(line, sizeof line,
			    "\r\033[K%s: read %ju, written %ju, rejected %ju, %.0f lines/s",
			    cp_diag_prog(), (uintmax_t)r, (uintmax_t)w, (uintmax_t)j, rate);
			ssize_t k = write(2, line, (size_t)n);
			(void)k;
		} else {
			cp_log_force(CP_LOG_INFO,
			    "progress: read %ju, written %ju, rejected %ju, %.0f lines/s",
			    (uintmax_t)r, (uintmax_t)w, (uintmax_t)j, rate);
		}
	}
	pthread_mutex_unlock(&mu);
	if (tty) {
		ssize_t k = write(2, "\r\033[K", 4);
		(void)k;
	}
	return NULL;
}

int cp_progress_start(char *err)
{
	tty = isatty(2);
	quit = 0;
	int e = pthread_create(&thread, NULL, run, NULL);
	if (e)
		return cp_err_set(err, "starting the progress thread: %s", strerror(e));
	running = 1;
	return 0;
}

void cp_progress_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&mu);
	quit = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(thread, NULL);
	running = 0;
}

void cp_progress_summary(char *buf, size_t len)
{
	uint64_t r = atomic_load(&cp_counts.read);
	double t = since_start();
	snprintf(buf, len, "read %ju, written %ju, rejected %ju in %.3f s (%.0f lines/s)",
	    (uintmax_t)r, (uintmax_t)atomic_load(&cp_counts.written),
	    (uintmax_t)atomic_load(&cp_counts.rejected), t, t > 0 ? (double)r / t : 0.0);
}

int cp_progress_exit_status(int status)
{
	if (status != 0)
		return status;
	return atomic_load(&cp_counts.rejected) ? CP_EX_DATAERR : 0;
}
