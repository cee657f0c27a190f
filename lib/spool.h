/* spool: a local directory queue with Amazon SQS semantics.
 *
 * The embedded default queue of chatpipe: `--queue-url file:DIR` makes
 * sqs-send, sqs-poll, sqs-delete and sqs-queue use a directory on a local
 * filesystem instead of SQS.  Several senders and receivers in separate
 * processes may use one queue at once; there is no daemon and no lock
 * file: every state change of a message is one rename(2), unlink(2) or a
 * change of its mtime made under flock(2).  The functions mirror the SQS
 * operations (SendMessage[Batch], ReceiveMessage, DeleteMessage,
 * ChangeMessageVisibility, PurgeQueue, GetQueueAttributes, CreateQueue,
 * DeleteQueue) so a program drives either through one thin interface.
 *
 * On-disk layout
 *
 *   DIR/config           the queue's attributes, "Name=value" lines (SQS
 *                        attribute names); its presence is what makes DIR
 *                        a queue.  Replaced atomically (a temp file in
 *                        tmp/, fsync, rename, fsync DIR).
 *   DIR/scan             an empty file whose mtime is when the last sweep
 *                        of inflight/ began (a rate limit shared by every
 *                        process, see "Visibility expiry").
 *   DIR/tmp/ID           a message being written by a sender.  Never read
 *                        by a receiver.
 *   DIR/ready/T/NAME     a message waiting, in the bucket of the second T
 *                        (Unix seconds, decimal) at which it becomes
 *                        visible: floor(now) when sent without delay,
 *                        ceil(now + delay) when delayed.  Buckets with
 *                        T <= now are visible, later ones are delayed.
 *   DIR/inflight/NAME.DUE.K  a received message.  K is the receipt
 *                        token, 16 random hex digits drawn at each
 *                        receive; DUE is the deadline that receive set
 *                        (Unix ms).  The file's mtime is the visibility
 *                        deadline: DUE, or later after a change of
 *                        visibility, or earlier only with a marker:
 *   DIR/soon/NAME.DUE.K  an empty marker, made before a change of
 *                        visibility moves a deadline before DUE.
 *   DIR/corrupt/...      messages that failed their checksum on receive,
 *                        set aside (never deleted, never delivered).
 *
 * NAME is ID.SENT.COUNT.FIRST: the message id (a UUIDv7), SentTimestamp
 * and ApproximateFirstReceiveTimestamp in Unix milliseconds (FIRST is 0
 * until the first receive) and ApproximateReceiveCount.  So the mutable
 * state of a message (where it is, its receive count, its receipt token,
 * its deadline) lives in its name and mtime, and the file's contents never
 * change after the send.  A message file is one JSON line (the header:
 * id, SentTimestamp, MD5OfMessageBody, the body's length, the message
 * attributes and their MD5, SenderId = the sender's uid, group and
 * deduplication ids) followed by the body's bytes, verbatim (bodies are
 * binary-safe).  A message has exactly one name at any moment: nothing
 * ever hard-links or copies it within a queue.
 *
 * State machine (every arrow is one atomic system call)
 *
 *   send:      tmp/ID --rename--> ready/T/NAME          (after fsync)
 *   receive:   mtime = DUE = now + visibility timeout, then
 *              ready/T/NAME --rename--> inflight/NAME'.DUE.K (COUNT+1 in
 *              NAME'), then, under flock: check the name still exists,
 *              set the mtime again, read the file.
 *   delete:    inflight/NAME.DUE.K --unlink-->           (no lock needed)
 *   change visibility (under flock): mtime = now + s (after making the
 *              soon/ marker when that is before DUE); for s = 0 the
 *              message is renamed back to ready/floor(now)/NAME at once.
 *   expiry (under flock, mtime <= now): inflight/NAME.DUE.K --rename-->
 *              ready/floor(now)/NAME, or to the dead-letter queue when
 *              COUNT >= maxReceiveCount, or unlinked when older than the
 *              retention period.
 *
 * The receipt handle is the in-flight name NAME.DUE.K.  A rename only
 * succeeds while its source name exists, so it is a compare-and-swap on the
 * whole name: of two receivers renaming the same ready/T/NAME, exactly one wins
 * (the other gets ENOENT and moves on); each receive draws a new K, so a
 * handle stops naming the message as soon as anyone else receives it.
 *
 * Why the flock: the deadline is in the mtime, so deciding "expired" and
 * acting on it are two steps.  Every step that reads or writes a deadline
 * and then renames (a receiver fixing its deadline, change visibility,
 * expiry) holds an exclusive flock on the message's file and re-checks,
 * after taking it, that its name still links to the locked inode; so
 * expiry can never overtake a deadline set or extended by a holder.  A
 * receiver writes its deadline on the ready file before renaming it (so a
 * sweep never finds a fresh claim expired), then again under the lock (a
 * rival that lost the rename may have written its own meanwhile); should a
 * sweep still requeue the message in between (possible only with a rival
 * visibility timeout of 0), the receiver finds its name gone and skips it:
 * a message is never delivered twice at once.  Delete needs no lock:
 * unlink and rename of one name are atomic against each other, so
 * whichever comes first wins.
 * flock locks die with their process, so a crash never leaves one behind.
 *
 * Crash safety (kill -9 between any two system calls; the message is never
 * lost and is delivered again only through visibility expiry):
 *   - sender, before the rename: only a temp file exists; receivers never
 *     look in tmp/, and sweeps remove temp files older than 10 minutes (a
 *     sender stopped that long then fails its rename and reports an error,
 *     it never reports success for a lost message).  The send reports
 *     success only after fsync of the file, the rename and fsync of the
 *     bucket directory (and of ready/ the first time a handle uses a new
 *     bucket), so an acknowledged message survives a power loss too.
 *   - sender, between mkdir of a bucket and the rename: an empty bucket,
 *     removed by receivers.
 *   - receiver, anywhere in its receive: the message is in flight (or
 *     still ready) with the deadline written before the rename, so it
 *     reappears when that passes, as in SQS; its receive count may have
 *     been counted without a delivery ("approximate").
 *   - sweep or change visibility, holding the lock: each decision ends in a
 *     single rename or unlink, and the lock goes with the process.  A
 *     marker made before a crash only costs the sweeps a stat.
 *   - dead-letter move: one rename into the other queue's ready/ when both
 *     are on one filesystem; otherwise (EXDEV) a durable copy into the
 *     dead-letter queue, then an unlink here: a crash in between leaves the
 *     message in both (delivered at least once, never lost).
 * Receives, deletes, visibility changes and sweeps do not fsync: after a
 * power loss one of them may be undone, which can only redeliver a message.
 * Deadlines are wall-clock times (file mtimes, nanoseconds on ext4, XFS,
 * btrfs, tmpfs); a clock stepped forward expires in-flight messages early.
 * Setting a file's mtime needs its owner, so every process using a queue
 * runs as the same user (or as root); DIR must be on a local filesystem.
 *
 * Visibility expiry.  Expired in-flight messages are found by a sweep of
 * inflight/ that some receiver runs at most once per second across all
 * processes (the scan file's mtime is the shared clock), so a message
 * becomes visible again within about a second after its deadline.  The
 * sweep reads the names and stats only the messages whose DUE has passed
 * or that have a soon/ marker, so its cost is one readdir of inflight/
 * (90000 in flight: about 40 ms).  The sweep also applies the redrive
 * policy and the retention period, and removes stale temp files and
 * markers.
 *
 * Receive path.  A handle keeps the sorted list of buckets and an open
 * readdir cursor in the oldest visible bucket; it reads names 64 at a time
 * and tries them from a random rotation, so several receivers in one bucket
 * rarely collide.  A receive costs a few system calls per message and does
 * not depend on the number of messages waiting; ready/ is read again only
 * when the handle's list is used up.  Empty past buckets are removed (a
 * sender racing the removal sees ENOENT and creates the bucket again).
 * Order is approximately by visibility time (per second), as SQS standard
 * queues: not guaranteed.  Long polling waits on inotify (ready/ and the
 * visible buckets) and wakes early when a message arrives, with a timed
 * re-check at least every second (and a plain 50 ms poll when inotify is
 * unavailable).
 *
 * SQS semantics kept, and where the spool differs:
 *   - A delete with a stale receipt handle (the message was received again
 *     by someone else, or already deleted) deletes nothing and reports
 *     CP_SPOOL_STALE, which SQS answers as success ("the request succeeds
 *     but the message might not be deleted").  Once the deadline has passed
 *     and a sweep has made the message visible again, the old handle is
 *     stale even before anyone receives it (SQS may still accept it then).
 *   - ChangeMessageVisibility with a stale handle is an error in SQS
 *     (MessageNotInflight): the spool reports CP_SPOOL_STALE and changes
 *     nothing.  A change made after the deadline but before the sweep still
 *     applies.  The 12-hour cap from the first receive is not enforced.
 *   - Retention applies when a receiver or a sweep meets the message (a
 *     message past its retention period is removed instead of delivered);
 *     the counts include such messages until then.
 *   - Redrive: a message received maxReceiveCount times moves to the
 *     dead-letter queue when its visibility expires (or, failing that, when
 *     a receiver meets it again), so it is never delivered more than
 *     maxReceiveCount times.  It keeps its id, attributes, SentTimestamp and
 *     receive count (as SQS does); retention in the DLQ counts from the
 *     original SentTimestamp.
 *   - Bodies may hold any bytes (SQS allows only XML characters); the body
 *     is at most 1 MiB and the attributes' JSON at most 64 KiB, counted
 *     separately.  ApproximateNumberOf* are exact at the moment of the
 *     count.  PurgeQueue acts at once (no 60 s window, no PurgeQueueIn
 *     Progress).
 *   - FIFO queues are not supported: cp_spool_create refuses FifoQueue,
 *     and group and deduplication ids are stored and returned but do not
 *     order or deduplicate anything.
 *
 * Queue creation: cp_spool_create() (sqs-queue create).  cp_spool_open()
 * with CP_SPOOL_CREATE creates a missing queue with the default attributes
 * (what the programs do on a first send to a fresh file:DIR); an existing
 * configuration is never overwritten by that.
 *
 * Errors: functions that can fail return -1, fill err (CP_ERR_LEN bytes,
 * may be NULL) and leave errno set: ENOENT when the queue does not exist,
 * EINVAL for an invalid argument or a malformed receipt handle, EEXIST
 * when creating a queue that exists with other attributes, anything else
 * from the failing system call.  A receive never fails because of one bad
 * message: a message it cannot use is set aside or skipped, and the last
 * such event is kept for cp_spool_warning().
 *
 * Ownership: a handle owns its descriptors and memory until
 * cp_spool_close().  A received message owns its body and attributes until
 * cp_spool_msg_free().  Arguments are borrowed; no jv crosses the API.
 *
 * Thread safety: a handle must be used by one thread at a time; separate
 * handles (in threads or processes) may use one queue freely.  A handle
 * must not be used on both sides of a fork().  There is no global state
 * besides the UUIDv7 generator (lib/timeutil, thread-safe).
 */
#ifndef CP_SPOOL_H
#define CP_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "timeutil.h"

#define CP_SPOOL_MAX_BODY (1024 * 1024)  /* bytes of a message body */
#define CP_SPOOL_MAX_ATTRS (64 * 1024)   /* bytes of the attributes' JSON */
#define CP_SPOOL_RECV_MAX 10             /* messages per receive */
#define CP_SPOOL_RECEIPT_LEN 128         /* a receipt handle and its NUL */
#define CP_SPOOL_MD5_LEN 33              /* 32 hex digits and the NUL */
#define CP_SPOOL_PATH_LEN 4096
#define CP_SPOOL_ID_LEN 129              /* group / dedup id: 128 and NUL */

/* Limits as in SQS. */
#define CP_SPOOL_MAX_VISIBILITY 43200
#define CP_SPOOL_MAX_DELAY 900
#define CP_SPOOL_MAX_WAIT 20
#define CP_SPOOL_MIN_RETENTION 60
#define CP_SPOOL_MAX_RETENTION 1209600
#define CP_SPOOL_MAX_RECEIVE_COUNT 1000

/* What delete and change visibility return for a stale receipt handle. */
#define CP_SPOOL_STALE 1

/* cp_spool_open() flags. */
#define CP_SPOOL_CREATE 1  /* create the queue with defaults when missing */

/* The queue's attributes (DIR/config). */
struct cp_spool_config {
	int visibility_timeout;   /* VisibilityTimeout, s: 0..43200 (30) */
	int delay_seconds;        /* DelaySeconds: 0..900 (0) */
	int retention_period;     /* MessageRetentionPeriod, s: 60..1209600
	                           * (345600) */
	int receive_wait;         /* ReceiveMessageWaitTimeSeconds: 0..20 (0) */
	int max_receive_count;    /* RedrivePolicy maxReceiveCount: 1..1000,
	                           * 0 when there is no dead-letter queue */
	char dead_letter_queue[CP_SPOOL_PATH_LEN]; /* the DLQ's directory,
	                           * absolute; "" for none */
	int fifo;                 /* FifoQueue (must be 0, see above) */
	int64_t created;          /* CreatedTimestamp (Unix seconds), set by
	                           * create */
};

/* Fills c with the defaults above. */
void cp_spool_config_default(struct cp_spool_config *c);

/* "file:DIR" or "file:///abs/dir" (host empty or localhost) → DIR in path
 * (size bytes).  Returns 0, or -1 with err when url is not a spool URL. */
int cp_spool_url_path(const char *url, char *path, size_t size, char *err);
/* Is url a spool URL ("file:" prefix)? */
int cp_spool_is_url(const char *url);

/* CreateQueue: creates DIR (its parent must exist) and its layout, and
 * writes c (NULL: defaults); created is set here.  A dead-letter queue
 * must already exist (it is stored as an absolute path).  Creating a queue
 * that exists with the same attributes succeeds; with other attributes it
 * fails with EEXIST (SQS: QueueAlreadyExists). */
int cp_spool_create(const char *dir, const struct cp_spool_config *c,
    char *err);
/* SetQueueAttributes: replaces the configuration of an existing queue
 * (created is kept).  Open handles see it within a second. */
int cp_spool_set_config(const char *dir, const struct cp_spool_config *c,
    char *err);
/* DeleteQueue: removes DIR and every message in it.  DIR must be a queue
 * (have a config file), so a mistyped path cannot remove a stranger's
 * directory.  The directory is first renamed aside, so the queue vanishes
 * at once for new opens. */
int cp_spool_remove(const char *dir, char *err);

struct cp_spool;

/* Opens the queue in dir.  flags: 0 or CP_SPOOL_CREATE.  NULL with err
 * (errno ENOENT when there is no queue). */
struct cp_spool *cp_spool_open(const char *dir, int flags, char *err);
void cp_spool_close(struct cp_spool *q);
/* The configuration the handle works with (re-read within a second when
 * the file changes). */
const struct cp_spool_config *cp_spool_get_config(struct cp_spool *q);
/* The directory, as given to cp_spool_open(). */
const char *cp_spool_dir(const struct cp_spool *q);
/* The last non-fatal problem met by a receive or sweep (a corrupt message
 * set aside, a dead-letter queue that cannot be opened, ...), or NULL;
 * reading it clears it. */
const char *cp_spool_warning(struct cp_spool *q);

/* One message to send.  body may hold any bytes. */
struct cp_spool_entry {
	const void *body;
	size_t body_len;          /* 0..CP_SPOOL_MAX_BODY */
	const char *attrs;        /* MessageAttributes as JSON text in the SQS
	                           * shape {"name":{"DataType":"String",
	                           * "StringValue":"…"}, …} (BinaryValue in
	                           * base64), or NULL */
	size_t attrs_len;
	int delay_seconds;        /* 0..900, or -1 for the queue's default */
	const char *group_id;     /* MessageGroupId or NULL (stored only) */
	const char *dedup_id;     /* MessageDeduplicationId or NULL (stored) */
};

struct cp_spool_result {
	int status;               /* 0 sent, -1 failed (err says why) */
	char id[CP_UUID_LEN];     /* MessageId */
	char md5_body[CP_SPOOL_MD5_LEN];  /* MD5OfMessageBody */
	char md5_attrs[CP_SPOOL_MD5_LEN]; /* MD5OfMessageAttributes, "" if none */
	char err[CP_ERR_LEN];
};

/* SendMessage: returns 0 when the message is durably queued (r filled),
 * or -1 with err (r->err too). */
int cp_spool_send(struct cp_spool *q, const struct cp_spool_entry *e,
    struct cp_spool_result *r, char *err);
/* SendMessageBatch: sends n entries (1..10) with one directory fsync.
 * Returns the number sent; an entry that is invalid fails alone
 * (r[i].status -1 and r[i].err, like SQS's Failed[]).  An I/O error fails
 * every entry not yet known to be durable and returns -1 with err. */
int cp_spool_send_batch(struct cp_spool *q, const struct cp_spool_entry *e,
    size_t n, struct cp_spool_result *r, char *err);

struct cp_spool_recv {
	int max;                  /* MaxNumberOfMessages: 1..10 */
	int visibility_timeout;   /* 0..43200, or -1 for the queue's */
	int wait_seconds;         /* WaitTimeSeconds: 0..20, or -1 for the
	                           * queue's ReceiveMessageWaitTimeSeconds */
	int stop_fd;              /* -1, or a descriptor (cp_sig_fd()) whose
	                           * readability ends a long poll early */
};

/* Fills o with max 10, the queue's visibility and wait, no stop_fd. */
void cp_spool_recv_default(struct cp_spool_recv *o);

struct cp_spool_msg {
	char id[CP_UUID_LEN];               /* MessageId */
	char receipt[CP_SPOOL_RECEIPT_LEN]; /* ReceiptHandle */
	char md5_body[CP_SPOOL_MD5_LEN];    /* MD5OfBody (verified) */
	char md5_attrs[CP_SPOOL_MD5_LEN];   /* MD5OfMessageAttributes or "" */
	const char *body;         /* body_len bytes, then a NUL (not counted) */
	size_t body_len;
	const char *attrs;        /* MessageAttributes JSON text, or NULL */
	size_t attrs_len;
	int receive_count;        /* ApproximateReceiveCount (>= 1) */
	int64_t sent_ms;          /* SentTimestamp */
	int64_t first_receive_ms; /* ApproximateFirstReceiveTimestamp */
	char sender_id[24];       /* SenderId: the sender's uid */
	char group_id[CP_SPOOL_ID_LEN];     /* MessageGroupId or "" */
	char dedup_id[CP_SPOOL_ID_LEN];     /* MessageDeduplicationId or "" */
	void *mem_;               /* owns body and attrs */
};

/* ReceiveMessage: fills out[0..n) and returns n (0 when nothing arrived
 * within the wait), or -1 with err.  Each message is invisible to other
 * receivers until its visibility timeout passes or it is deleted. */
int cp_spool_receive(struct cp_spool *q, const struct cp_spool_recv *o,
    struct cp_spool_msg *out, char *err);
/* Frees what a received message owns (the struct itself is the caller's);
 * m may be freed twice. */
void cp_spool_msg_free(struct cp_spool_msg *m);

/* DeleteMessage: 0 deleted, CP_SPOOL_STALE (the handle is not the
 * message's current one: nothing deleted; SQS reports success), or -1
 * (EINVAL: malformed handle; other errno: I/O). */
int cp_spool_delete(struct cp_spool *q, const char *receipt, char *err);
/* ChangeMessageVisibility: the message becomes visible seconds from now
 * (0..43200; 0: visible at once, e.g. to put back a peeked message).
 * 0, CP_SPOOL_STALE (SQS: MessageNotInflight) or -1. */
int cp_spool_change_visibility(struct cp_spool *q, const char *receipt,
    int seconds, char *err);
/* PurgeQueue: deletes every message, waiting or in flight. */
int cp_spool_purge(struct cp_spool *q, char *err);

struct cp_spool_stats {
	long visible;             /* ApproximateNumberOfMessages */
	long not_visible;         /* ApproximateNumberOfMessagesNotVisible */
	long delayed;             /* ApproximateNumberOfMessagesDelayed */
	long corrupt;             /* set aside in corrupt/ */
	long tmp;                 /* temp files (sends in progress or dead) */
};

/* GetQueueAttributes' counts: one pass over the directories, O(messages).
 * An in-flight message whose deadline passed counts as visible. */
int cp_spool_stats(struct cp_spool *q, struct cp_spool_stats *s, char *err);

/* Runs a sweep now (expiry, redrive, retention) and removes temp files
 * older than tmp_max_age seconds (-1: the default, 600).  Receives run
 * sweeps on their own; this is for tools and tests. */
int cp_spool_sweep(struct cp_spool *q, int tmp_max_age, char *err);
/* The minimum time between two sweeps, in ms (default 1000; tests use
 * less). */
void cp_spool_set_sweep_interval(struct cp_spool *q, int ms);

/* MD5OfMessageAttributes of a MessageAttributes JSON object, as SQS
 * computes it (names sorted; length-prefixed name, DataType, transport
 * byte 1 string / 2 binary / 3 string list / 4 binary list, values;
 * binary values base64-decoded).  Also checks the attributes as SQS does:
 * at most 10, names of [A-Za-z0-9_.-] up to 256 bytes, not "AWS."/
 * "Amazon." prefixed, a DataType of String, Number or Binary (with an
 * optional ".label"), a value of the matching kind.  0 and out filled, or
 * -1 with err. */
int cp_spool_attrs_md5(const char *json, size_t len,
    char out[CP_SPOOL_MD5_LEN], char *err);

#endif
