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

#include <jv.h>

/* Does the value look like an envelope?  Borrows v. */
int cp_record_is_envelope(const jv *v);
/* The record of a line: a copy of the envelope's body, else a copy of the
 * line.  Borrows line. */
jv cp_record_body(const jv *line);
/* A field of an object, or jv_invalid() when line is no object or has no
 * such field.  Borrows obj. */
jv cp_record_get(const jv *obj, const char *key);

#endif
