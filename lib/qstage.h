/* qstage: what sqs-send and sqs-delete share on top of lib/stage: the
 * items of a submitted batch kept until the queue answers, an item ended
 * with its entry's status, and the stage's network driven by the queue
 * (the stage's user pointer, from cp_stage_main()).
 *
 * Thread safety: the stage's thread.
 */
#ifndef CP_QSTAGE_H
#define CP_QSTAGE_H

#include "queue.h"
#include "stage.h"

struct cp_qstage_batch {
	struct cp_stage *s;
	struct cp_stage_item **items;
	size_t n;
};

/* A batch of items[0..n) of s.  NULL with err when out of memory. */
struct cp_qstage_batch *cp_qstage_batch_new(struct cp_stage *s,
    struct cp_stage_item *const *items, size_t n, char *err);
/* Frees b without ending its items (its submission failed). */
void cp_qstage_batch_free(struct cp_qstage_batch *b);
/* Ends item i of b as its entry's status says: done, or a reject whose
 * reason is "CODE: message" and which carries "code", retryable as st
 * says, ending the run when credentials were refused or the queue is
 * missing (cp_qopts_exit_code()). */
void cp_qstage_item_done(struct cp_qstage_batch *b, size_t i, const struct cp_queue_status *st);
/* After the items of b are ended: tells the stage, frees b. */
void cp_qstage_batch_end(struct cp_qstage_batch *b);

/* cp_stage_ops.run for a stage whose user pointer is a struct cp_queue. */
int cp_qstage_run(struct cp_stage *s, struct pollfd *fds, unsigned nfds,
    int timeout_ms, char *err);

#endif
