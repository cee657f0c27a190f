/* record: bare records and envelopes (BRIEF §2).
 *
 * A line holds either a bare record or an envelope, the object sqs-poll
 * writes around a message: it has a "body" and a "receipt_handle" or
 * "message_id".  Tools act on the record: the body of an envelope, else the
 * line itself.
 *
 * Ownership as in libjq: arguments are consumed, except where a function
 * takes a const pointer.
 */
#ifndef CP_RECORD_H
#define CP_RECORD_H

#include <stddef.h>

#include <jv.h>

/* Does the value look like an envelope?  Borrows v. */
int cp_record_is_envelope(const jv *v);
/* The record of a line: a copy of the envelope's body, else a copy of the
 * line.  Borrows line. */
jv cp_record_body(const jv *line);
/* Could the JSON text s (of len bytes) be an envelope?  0 only when it
 * cannot: it is no object, or names neither "body" with "receipt_handle"
 * or "message_id" (a key spelt with \u escapes counts as possible).  A
 * way to skip parsing lines that are bare records. */
int cp_record_maybe_envelope(const char *s, size_t len);
/* An envelope as sqs-poll writes it ends with its "body" member,
 * written ,"body":TEXT}.  Finds that member, so that the rest can be
 * parsed without the body (parsing it is most of the cost) and the body
 * kept as the bytes it was sent as (libjq 1.6 would re-print numbers
 * beyond 2^53 rounded, and change spacing and escapes).
 * s[0..len) must be one JSON value already (lib/json).  Returns 1 with
 * *head, the envelope without its body member (an object, to free), and
 * the body's text at s + *body_off, *body_len bytes, whitespace around it
 * trimmed; 0 when s has no such last member (then parse it whole).
 * Why it is exact: in a JSON text, the bytes ,"body": outside a string
 * can only start a member of some object (a '"' after ',' opens a
 * string), and only a member of the outermost one leaves the text before
 * it plus "}" an object, and only the last member leaves the text after
 * it one value; both are checked. */
int cp_record_split(const char *s, size_t len, jv *head, size_t *body_off, size_t *body_len);
/* The members of an object text before its top-level member key, parsed
 * without the rest (sqs-delete needs queue_url and receipt_handle, which
 * sqs-poll writes first, not the body).  Returns 1 with *head (an object,
 * to free) when s[0..len) is one JSON value (RFC 8259: checked here,
 * without parsing the rest with libjq) and has, after at least one other
 * member, the member key written ,"key": ; else 0 (then parse it whole).
 * Why it is exact: the text before ,"key": plus "}" and "{" plus the text
 * from "key" on are both checked to be JSON objects, and their members
 * together are the whole text's. */
int cp_record_head(const char *s, size_t len, const char *key, jv *head);
/* Fields of an object in one pass: out[i] gets the value named names[i]
 * (a copy, to free), or jv_invalid() when obj has no such field or is no
 * object.  Cheaper than n jv_object_get() calls, each of which makes a
 * key string (libjq 1.6 validates and allocates it).  Borrows obj. */
void cp_record_members(const jv *obj, const char *const *names, size_t n, jv *out);
/* A field of an object, or jv_invalid() when line is no object or has no
 * such field.  Borrows obj. */
jv cp_record_get(const jv *obj, const char *key);

#endif
