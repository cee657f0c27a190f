/* sig: the stop protocol every program keeps (BRIEF §3).
 *
 * cp_sig_install() makes SIGTERM and SIGINT request a stop: a flag that the
 * record loops read (cp_sig_stopping) and a self-pipe that becomes readable
 * (cp_sig_fd), so a loop blocked in poll() wakes up.  A program then stops
 * taking new work, finishes and flushes what is in flight, and exits 0.
 * A second signal exits at once, by the default action of that signal.
 * SIGPIPE is ignored: a closed stdout shows up as a write error (EPIPE).
 *
 * Thread safety: the queries may be called from any thread.  Install once,
 * before threads start.  Threads other than the main one should block
 * SIGTERM/SIGINT (cp_sig_block_in_thread) so the handler runs on main.
 */
#ifndef CP_SIG_H
#define CP_SIG_H

/* 0, or -1 with err. */
int cp_sig_install(char *err);
/* Non-zero once a stop was requested (by a signal or cp_sig_request). */
int cp_sig_stopping(void);
/* The signal number that requested the stop, or 0. */
int cp_sig_signal(void);
/* The self-pipe's read end: readable once a stop is requested; -1 before
 * cp_sig_install(). */
int cp_sig_fd(void);
/* Requests a stop from the program itself (e.g. --max reached). */
void cp_sig_request(void);
/* Blocks SIGTERM, SIGINT and SIGHUP in the calling thread. */
void cp_sig_block_in_thread(void);

#endif
