/* sig: see sig.h. */
#include "sig.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"

static volatile sig_atomic_t stop_signal;
static atomic_int stopping;
static atomic_int signals; /* stop signals received so far */
static int pipefd[2] = { -1, -1 };

static void wake(void)
{
	if (pipefd[1] >= 0) {
		int saved = errno;
		ssize_t r = write(pipefd[1], "x", 1);
		(void)r;
		errno = saved;
	}
}

static void on_signal(int sig)
{
	if (atomic_fetch_add(&signals, 1) > 0) {
		/* The second signal: exit at once, as the signal would. */
		signal(sig, SIG_DFL);
		raise(sig);
		_exit(128 + sig);
	}
	stop_signal = sig;
	atomic_store(&stopping, 1);
	wake();
}

int cp_sig_install(char *err)
{
	if (pipefd[0] < 0) {
		if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
			return cp_err_set(err, "pipe: %s", strerror(errno));
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: blocking calls return EINTR */
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return cp_err_set(err, "sigaction: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int cp_sig_stopping(void) { return atomic_load(&stopping); }
int cp_sig_signal(void) { return stop_signal; }
int cp_sig_fd(void) { return pipefd[0]; }

void cp_sig_request(void)
{
	atomic_store(&stopping, 1);
	wake();
}

void cp_sig_block_in_thread(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}
