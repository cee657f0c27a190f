/* Unit tests: the SQS protocol helpers (error codes, MD5, body rules). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "spool.h"
#include "sqs.h"

static void test_code_is(void **state)
{
	(void)state;
	/* Both forms of one error (reference/sqs.md §1.5). */
	assert_true(cp_sqs_code_is("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"));
	assert_true(cp_sqs_code_is("AWS.SimpleQueueService.NonExistentQueue", "NonExistentQueue"));
	assert_true(cp_sqs_code_is("QueueDoesNotExist", "QueueDoesNotExist"));
	assert_true(cp_sqs_code_is("com.amazonaws.sqs#QueueDoesNotExist", "QueueDoesNotExist"));
	assert_true(cp_sqs_code_is("RequestThrottled", "RequestThrottled"));
	assert_true(cp_sqs_code_is("AWS.SimpleQueueService.MessageNotInflight;Sender", "MessageNotInflight"));
	assert_true(cp_sqs_code_is("Throttling", "ThrottlingException"));
	assert_false(cp_sqs_code_is("RequestThrottled", "Throttled"));
	assert_false(cp_sqs_code_is("", "QueueDoesNotExist"));
	assert_false(cp_sqs_code_is(NULL, "QueueDoesNotExist"));
	assert_false(cp_sqs_code_is("AWS.SimpleQueueService.QueueDeletedRecently", "QueueDoesNotExist"));
}

static void test_md5(void **state)
{
	(void)state;
	char hex[CP_SQS_MD5_LEN];
	cp_sqs_md5_hex("hello", 5, hex);
	assert_string_equal(hex, "5d41402abc4b2a76b9719d911017c592");
	cp_sqs_md5_hex("", 0, hex);
	assert_string_equal(hex, "d41d8cd98f00b204e9800998ecf8427e");
	/* MD5OfMessageAttributes, the vectors of reference/sqs.md §2.1. */
	char m[CP_SPOOL_MD5_LEN], err[CP_ERR_LEN];
	const char *one = "{\"attribName1\":{\"DataType\":\"String\",\"StringValue\":\"attribValue 1\"}}";
	assert_int_equal(cp_spool_attrs_md5(one, strlen(one), m, err), 0);
	assert_string_equal(m, "19e27d4e946b072f3f58da80d94fd778");
	const char *bin = "{\"binaryAttribute\":{\"DataType\":\"Binary\",\"BinaryValue\":\"SGVsbG8gYmluYXJ5IHdvcmxkIQ==\"}}";
	assert_int_equal(cp_spool_attrs_md5(bin, strlen(bin), m, err), 0);
	assert_string_equal(m, "31a92b15d92f8db860eda32aceb656c3");
}

static void test_body_check(void **state)
{
	(void)state;
	char err[CP_ERR_LEN];
	const char *ok = "tab\there\nnewline\r\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd";
	assert_int_equal(cp_sqs_body_check(ok, strlen(ok), err), 0);
	assert_int_equal(cp_sqs_body_check("a\x01z", 3, err), -1);
	assert_string_equal(err, "SQS refuses the character U+0001 at offset 1");
	assert_int_equal(cp_sqs_body_check("\x00", 1, err), -1);
	assert_int_equal(cp_sqs_body_check("x\xef\xbf\xbe", 4, err), -1); /* U+FFFE */
	assert_string_equal(err, "SQS refuses the character U+FFFE at offset 1");
	assert_int_equal(cp_sqs_body_check("\x7f", 1, err), 0); /* DEL is allowed */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_code_is),
		cmocka_unit_test(test_md5),
		cmocka_unit_test(test_body_check),
	};
	return cmocka_run_group_tests_name("sqs", tests, NULL, NULL);
}
