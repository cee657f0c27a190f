/* pair: a record to store, validated and turned into rows (BRIEF §2).
 *
 * cp_pair_new() checks a pair or handoff record (a jv, borrowed) and makes
 * one plain C value, a struct cp_pair, that holds everything a database
 * writer needs and nothing of libjq: the line verbatim (to be written on
 * once stored), the conversation's fields and one or two messages, each
 * with its time in UTC and its persist key.  The struct and all the bytes
 * it points to are one allocation, freed with free(): the reader's thread
 * makes it and hands it over whole to a worker thread (jv values are never
 * shared between threads; a cp_pair has none).
 *
 * A pair (handoff_messages false, null or absent) stores user_message and
 * assistant_message and upserts its conversation.  A handoff record
 * (handoff_messages true) stores one message: human_agent_message when it is
 * an object, else user_message; the conversation row is not touched (as in
 * the origin design).
 *
 * Fields (anything else in the record is ignored):
 *   conversation_id, workspace_id  integers, 0 ..= 2^53 - 1 (required)
 *   store_id                       integer (|x| < 2^53), null or absent
 *   session_id                     string of at most 255 characters, null or absent
 *   handoff_messages               boolean, null or absent (false)
 *   *_message                      object (or null/absent when not needed):
 *     content    string (required; may be empty; any Unicode, NUL included)
 *     timestamp  RFC 3339 date-time with an offset (required); stored in
 *                UTC with microseconds; years 1000..9999 after conversion
 *     role       optional; when present it must be the slot's role:
 *                USER, LLM, HUMAN-AGENT
 *     id         string of 1 to 255 characters, null or absent
 *     citations  any JSON value other than null (stored as compact JSON)
 *
 * The persist key (the messages' unique idempotency key) is SHA-256 over a
 * length-prefixed encoding of a version tag, the conversation id and either
 * the message's id, or, without one, its role, its UTC instant (to the
 * nanosecond) and its content.  So a record delivered or replayed again maps
 * to the same keys; the same id in two conversations stays two messages; a
 * time written with another offset is the same instant.
 *
 * Errors: NULL and err filled with a reason fit for a reject line, naming the
 * field ("user_message.timestamp: invalid month 13").
 */
#ifndef CP_PAIR_H
#define CP_PAIR_H

#include <stddef.h>
#include <stdint.h>

#include <jv.h>

#include "timeutil.h"

enum cp_role { CP_ROLE_USER, CP_ROLE_LLM, CP_ROLE_HUMAN_AGENT };

#define CP_KEY_LEN 32        /* SHA-256 */
#define CP_SQLTIME_LEN 27    /* "YYYY-MM-DD HH:MM:SS.ffffff" and the NUL */
#define CP_PAIR_MAX_ID 255   /* characters in session_id and a message id */

struct cp_msg {
	enum cp_role role;
	const char *content;
	size_t content_len;
	const char *id;           /* NULL when absent */
	size_t id_len;
	const char *citations;    /* compact JSON, NULL when absent */
	size_t citations_len;
	struct cp_time at;        /* UTC */
	char at_sql[CP_SQLTIME_LEN]; /* at as "YYYY-MM-DD HH:MM:SS.ffffff" */
	unsigned char key[CP_KEY_LEN];
};

struct cp_pair {
	struct cp_pair *next;     /* free for the owner's queues */
	uint64_t lineno;
	const char *line;         /* the input line verbatim */
	size_t line_len;
	int64_t conversation_id, workspace_id;
	int has_store;
	int64_t store_id;
	const char *session_id;   /* NULL when null or absent */
	size_t session_len;
	int handoff;
	int nmsg;                 /* 2 for a pair, 1 for a handoff */
	struct cp_msg msg[2];
	const char *first_at, *last_at; /* the earliest and latest at_sql */
	size_t size;              /* bytes of the whole allocation */
	int64_t enqueued_ms;      /* free for the owner (queue linger) */
};

/* Validates record (borrowed) and makes a pair holding a copy of
 * line[0..len).  NULL with err on invalid records or out of memory. */
struct cp_pair *cp_pair_new(const jv *record, const char *line, size_t len,
    uint64_t lineno, char *err);

/* "USER", "LLM", "HUMAN-AGENT". */
const char *cp_role_name(enum cp_role role);

/* Lowercase hex of a key into out (65 bytes). */
void cp_key_hex(const unsigned char key[CP_KEY_LEN], char out[2 * CP_KEY_LEN + 1]);

#endif
