/* record: see record.h. */
#include "record.h"

jv cp_record_get(const jv *obj, const char *key)
{
	if (jv_get_kind(*obj) != JV_KIND_OBJECT)
		return jv_invalid();
	jv v = jv_object_get(jv_copy(*obj), jv_string(key));
	return v;
}

static int has(const jv *obj, const char *key)
{
	return jv_object_has(jv_copy(*obj), jv_string(key));
}

int cp_record_is_envelope(const jv *v)
{
	if (jv_get_kind(*v) != JV_KIND_OBJECT || !has(v, "body"))
		return 0;
	return has(v, "receipt_handle") || has(v, "message_id");
}

jv cp_record_body(const jv *line)
{
	if (cp_record_is_envelope(line))
		return jv_object_get(jv_copy(*line), jv_string("body"));
	return jv_copy(*line);
}
