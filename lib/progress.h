/* progress: the conservation counts, the live rate and the exit summary.
 *
 * Every program counts the lines it read, wrote and rejected (BRIEF §3:
 * read = written + rejected once the input is finished).  The counters are
 * atomic: worker threads may bump them.
 *
 * With --progress a thread prints the counts and the rate to stderr: on a
 * terminal one line refreshed in place about four times a second, else one
 * ordinary diagnostic line every ten seconds.  cp_progress_summary() is
 * the line -v prints at exit.
 */
#ifndef CP_PROGRESS_H
#define CP_PROGRESS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct cp_counts {
	atomic_uint_fast64_t read, written, rejected;
};

extern struct cp_counts cp_counts;

static inline void cp_count_read(void) { atomic_fetch_add(&cp_counts.read, 1); }
static inline void cp_count_written(void) { atomic_fetch_add(&cp_counts.written, 1); }
static inline void cp_count_rejected(void) { atomic_fetch_add(&cp_counts.rejected, 1); }

/* Starts the progress thread; 0, or -1 with err. */
int cp_progress_start(char *err);
/* Stops it and clears its line. */
void cp_progress_stop(void);
/* "read N, written N, rejected N in S s (R lines/s)" into buf. */
void cp_progress_summary(char *buf, size_t len);
/* The exit status a record tool ends with: status when it is not 0, else
 * CP_EX_DATAERR when some lines were rejected, else 0. */
int cp_progress_exit_status(int status);

#endif
