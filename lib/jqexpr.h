/* jqexpr: jq expressions given on the command line (e.g. sqs-send's
 * --group-id '.conversation_id|tostring').
 *
 * A program is compiled once per thread: a cp_jq and every jv it returns
 * belong to the thread that made them (libjq's jq_state and jv reference
 * counts are not thread safe).  Worker threads each call cp_jq_new() with
 * the same text.
 *
 * Errors: compile errors fill err at cp_jq_new(); a run-time error, or a
 * program that yields no value, fails cp_jq_eval() for that record only,
 * with a reason fit for a reject line.
 */
#ifndef CP_JQEXPR_H
#define CP_JQEXPR_H

#include <jv.h>

struct cp_jq;

struct cp_jq *cp_jq_new(const char *program, char *err);
void cp_jq_free(struct cp_jq *q);
const char *cp_jq_program(const struct cp_jq *q);
/* Runs the program on input (consumed) and sets *out to its first value.
 * 0, or -1 with err. */
int cp_jq_eval(struct cp_jq *q, jv input, jv *out, char *err);
/* The same, but *out is an array of every value the program yields. */
int cp_jq_eval_all(struct cp_jq *q, jv input, jv *out, char *err);
/* The first value as a string: strings as they are, numbers and booleans
 * printed as JSON; null, arrays and objects fail.  *out is owned by the
 * caller (a jv string). */
int cp_jq_eval_string(struct cp_jq *q, jv input, jv *out, char *err);

#endif
