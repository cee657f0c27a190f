#!/bin/sh
# tests/integration/queue-fauxqs.t: sqs-send, sqs-poll, sqs-delete and
# sqs-queue against the fauxqs SQS emulator, a real server on loopback
# started here, with the official @aws-sdk/client-sqs as the oracle both
# ways (tests/peers/sqs-client.js): what sqs-send sends, the official
# client reads byte for byte (bodies, message attributes, FIFO group and
# deduplication ids), and sqs-poll reads what the official client sent.
#
# Covered: sqs-queue create/url/list/attributes/purge/delete and its JSON;
# standard and FIFO queues (--group-id/--dedup-id from jq expressions);
# batches with per-entry failures (fauxqs refuses emoji: only those lines
# are rejected, with the reason); characters SQS refuses and malformed
# lines, counted (lines in = lines out + rejects); a 1 MiB message and one
# byte more; nonexistent and empty queues (exit 78, nothing lost of what
# was read); visibility expiry and redelivery; long polling; --until-empty,
# --peek, --raw, --delete, --max, -w; the redrive pipeline keeping message
# attributes and group ids; exit codes everywhere.  Known bugs not yet
# fixed are TAP TODO tests.
# shellcheck disable=SC2016,SC2154 # jq programs in single quotes; qt_proxy sets NAME_url by eval
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=SCRIPTDIR/../peers/peer.sh
. "$PEERS/peer.sh"
# shellcheck source=SCRIPTDIR/../peers/queue-test.sh
. "$PEERS/queue-test.sh"

qt_fauxqs "$TMP/fauxqs"
export AWS_ENDPOINT_URL="$FAUXQS_ENDPOINT"
# A pass-through proxy, to count the requests the tools make.
qt_proxy pass --target "$FAUXQS_ENDPOINT"
diag "fauxqs at $FAUXQS_ENDPOINT, counting proxy at $pass_url"

mkq() { # mkq NAME [OPTIONS]: creates a queue, prints its URL
	timeout -k 5 60 sqs-queue create "$@" | jq -r .queue_url
}

# --- sqs-queue ------------------------------------------------------------

admin() {
	t_run 0 "sqs-queue create NAME: exit 0" sqs-queue create qt-std
	STD=$QP/qt-std
	is "$(cat "$TMP/out")" "{\"queue_url\":\"$STD\"}" "it prints {\"queue_url\": the URL fauxqs returned}"
	t_run 0 "sqs-queue create NAME.fifo --fifo" sqs-queue create qt.fifo --fifo
	FIFO=$(jq -r .queue_url "$TMP/out")
	is "$FIFO" "$QP/qt.fifo" "it prints the FIFO queue's URL"
	is "$(sqsc attributes "$FIFO" FifoQueue 2>&1)" '{"FifoQueue":"true"}' \
		"the official client sees a FIFO queue"
	t_run 0 "sqs-queue create with --visibility-timeout --retention --delay --receive-wait" \
		sqs-queue create qt-attrs --visibility-timeout 7 --retention 600 --delay 2 --receive-wait 1
	is "$(sqsc attributes "$QP/qt-attrs" 2>&1 | jq -c '[.VisibilityTimeout, .MessageRetentionPeriod,
		.DelaySeconds, .ReceiveMessageWaitTimeSeconds]')" '["7","600","2","1"]' \
		"the official client reads the attributes it set"
	t_run 0 "sqs-queue create of an existing queue, same attributes: exit 0" sqs-queue create qt-std
	timeout -k 5 60 sqs-queue create qt-attrs --visibility-timeout 9 >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ "$rc" -ne 0 ] && grep -q QueueNameExists "$TMP/err" && [ ! -s "$TMP/out" ]
	ok $? "sqs-queue create of an existing queue with other attributes fails, naming QueueNameExists (exit $rc)"

	t_run 0 "sqs-queue url NAME" sqs-queue url qt-std
	is "$(cat "$TMP/out")" "{\"queue_url\":\"$STD\"}" "it prints the queue's URL"
	t_run 78 "sqs-queue url of a missing queue: exit 78" sqs-queue url qt-missing
	grep -q "does not exist" "$TMP/err" && [ ! -s "$TMP/out" ]
	ok $? "it says the queue does not exist, and prints nothing on stdout"
	t_run 0 "sqs-queue --endpoint-url URL without AWS_ENDPOINT_URL" \
		env -u AWS_ENDPOINT_URL sqs-queue --endpoint-url "$FAUXQS_ENDPOINT" url qt-std
	is "$(jq -r .queue_url "$TMP/out")" "$STD" "it finds the queue too"

	t_run 0 "sqs-queue list PREFIX" sqs-queue list qt
	is "$(jq -c '.queue_urls | sort' "$TMP/out")" \
		"$(jq -nc --arg a "$STD" --arg b "$FIFO" --arg c "$QP/qt-attrs" '[$a, $b, $c] | sort')" \
		"it prints {\"queue_urls\": [the three queues]}"
	t_run 0 "sqs-queue list with no match" sqs-queue list zz-none
	is "$(cat "$TMP/out")" '{"queue_urls":[]}' "it prints an empty list"

	printf '{"a":1}\n{"a":2}\n{"a":3}\n' | timeout 30 sqs-send --queue-url "$STD" >/dev/null 2>&1
	t_run 0 "sqs-queue attributes URL" sqs-queue attributes "$STD"
	is "$(jq -c --arg u "$STD" '[.queue_url == $u, .visible, .in_flight, .delayed,
		(.attributes.QueueArn | endswith(":qt-std")), .attributes.ApproximateNumberOfMessages]' "$TMP/out")" \
		'[true,3,0,0,true,"3"]' "it prints the counts (visible 3) and SQS's attributes"
	t_run 0 "sqs-queue attributes NAME" sqs-queue attributes qt-std
	is "$(jq -r .queue_url "$TMP/out")" "$STD" "a NAME is resolved to the queue's URL"
	t_run 78 "sqs-queue purge of a missing NAME: exit 78" sqs-queue purge qt-missing
	t_run 0 "sqs-queue purge URL" sqs-queue purge "$STD"
	is "$(cat "$TMP/out")" "{\"queue_url\":\"$STD\",\"purged\":true}" "it prints {\"purged\": true}"
	is "$(qattr "$STD" '[.visible, .in_flight]')" '[0,0]' "the queue is empty"

	t_run 0 "sqs-queue create --dlq URL --max-receives 3" \
		sqs-queue create qt-red --dlq "$QP/qt-attrs" --max-receives 3
	is "$(sqsc attributes "$QP/qt-red" RedrivePolicy 2>&1 | jq -c '.RedrivePolicy | fromjson')" \
		'{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:qt-attrs","maxReceiveCount":3}' \
		"its RedrivePolicy names the dead-letter queue's ARN"
	t_run 0 "sqs-queue delete URL" sqs-queue delete "$QP/qt-red"
	is "$(cat "$TMP/out")" "{\"queue_url\":\"$QP/qt-red\",\"deleted\":true}" "it prints {\"deleted\": true}"
	is "$(sqsc list qt-red 2>&1)" "" "the official client no longer lists it"
	t_run 78 "sqs-queue attributes of a deleted queue: exit 78" sqs-queue attributes "$QP/qt-red"
	t_run 78 "sqs-queue delete of a missing queue: exit 78" sqs-queue delete "$QP/qt-red"
	t_run 78 "sqs-queue purge of a missing queue: exit 78" sqs-queue purge "$QP/qt-red"
	t_run 78 "sqs-queue create --dlq of a missing queue: exit 78" \
		sqs-queue create qt-red2 --dlq "$QP/qt-red" --max-receives 2
	t_run 64 "sqs-queue without a command: exit 64" sqs-queue
	t_run 64 "sqs-queue frob: exit 64" sqs-queue frob
	t_run 64 "sqs-queue create --dlq without --max-receives: exit 64" sqs-queue create x --dlq "$STD"
	t_run 0 "sqs-queue --help: exit 0" sqs-queue --help
	grep -q '^Usage: sqs-queue' "$TMP/out"
	ok $? "the help is on stdout"
}

# --- sqs-send on a standard queue -----------------------------------------

send_standard() {
	q=$(mkq qt-send)
	# Varied lines: whitespace, escapes, big numbers, two- and three-byte
	# UTF-8, bare values: each must arrive byte for byte.
	{
		echo '{"n":1,"q":"plain"}'
		printf '{"n":2,"u":"caf\303\251 \344\270\255\346\226\207 \316\251"}\n'
		echo '{ "n" : 3 , "spaced" : true }'
		echo '{"n":4,"big":12345678901234567890,"f":1.10,"e":1e2}'
		printf '%s\n' '{"n":5,"esc":"tab\tquote\"backslash\\ \u00e9 \u0001"}'
		echo '[6,"array"]'
		echo '"a JSON string, 7"'
		echo '8'
		echo '{"n":9,"nested":{"a":[1,2,{"b":null}]}}'
		echo '{"n":10,"sql":"x'"'"'; DROP TABLE messages; --"}'
	} >"$TMP/send.in"
	t_run 0 "sqs-send: 10 varied lines: exit 0" sqs-send --queue-url "$q" -v <"$TMP/send.in"
	cp "$TMP/err" "$TMP/send.err"
	same_lines "$TMP/out" "$TMP/send.in" "it writes each line back, unchanged"
	is "$(summary read "$TMP/send.err") $(summary written "$TMP/send.err") $(summary rejected "$TMP/send.err")" \
		"10 10 0" "its -v summary says read 10, written 10, rejected 0"
	sqsc receive "$q" --max 10 --all --delete >"$TMP/rcv" 2>"$TMP/rcv.err"
	jq -r .Body "$TMP/rcv" >"$TMP/bodies"
	same_lines "$TMP/bodies" "$TMP/send.in" \
		"the official client receives each line as a message body, byte for byte (its MD5 checked)"

	t_run 0 "sqs-send --queue NAME resolves the queue" sqs-send --queue qt-send <"$TMP/send.in"
	is "$(qattr "$q" .visible)" 10 "the 10 messages are in the queue"
	timeout 30 sqs-queue purge "$q" >/dev/null 2>&1
	t_run 78 "sqs-send --queue of a missing queue: exit 78, before reading" \
		sqs-send --queue qt-nothing-here <"$TMP/send.in"
	[ ! -s "$TMP/out" ] && grep -q "does not exist" "$TMP/err"
	ok $? "it says the queue does not exist"
	t_run 0 "sqs-send with CHATPIPE_QUEUE_URL" env CHATPIPE_QUEUE_URL="$q" sqs-send <"$TMP/send.in"
	is "$(lines "$TMP/out")" 10 "it sends the 10 lines there"
	timeout 30 sqs-queue purge "$q" >/dev/null 2>&1
	t_run 0 "sqs-send of no input: exit 0" sqs-send --queue-url "$q" </dev/null
	is "$(cat "$TMP/out")" "" "it writes nothing"
	t_run 64 "sqs-send --batch 11: exit 64" sqs-send --queue-url "$q" --batch 11 </dev/null
	t_run 64 "sqs-send without a queue: exit 64" sqs-send </dev/null
	t_run 64 "sqs-send with an argument: exit 64" sqs-send --queue-url "$q" file.jsonl </dev/null
	t_run 64 "sqs-send --group-id with a bad jq expression: exit 64" \
		sqs-send --queue-url "$q" --group-id '.[' </dev/null

	# Message attributes from jq expressions.
	q=$(mkq qt-attr)
	printf '{"n":1,"who":"alice"}\n{"n":2,"who":"bob","x":null}\n' >"$TMP/attr.in"
	t_run 0 "sqs-send -a NAME=EXPR (string, number, constant, null)" \
		sqs-send --queue-url "$q" -a who=.who -a n=.n -a const='"k"' -a skip=.x <"$TMP/attr.in"
	sqsc receive "$q" --max 10 --all --delete 2>/dev/null |
		jq -S -c '[(.Body | fromjson | .n), .MessageAttributes]' | sort >"$TMP/attr.got"
	is "$(cat "$TMP/attr.got")" "$(printf '%s\n%s' \
		'[1,{"const":{"DataType":"String","StringValue":"k"},"n":{"DataType":"Number","StringValue":"1"},"who":{"DataType":"String","StringValue":"alice"}}]' \
		'[2,{"const":{"DataType":"String","StringValue":"k"},"n":{"DataType":"Number","StringValue":"2"},"who":{"DataType":"String","StringValue":"bob"}}]')" \
		"the official client reads the attributes (a null value makes none)"
	printf '{"who":"carol"}\n{"who":["not","a","string"]}\n' >"$TMP/attr2.in"
	t_run 0 "sqs-send -a with an array value sends it as JSON text" \
		sqs-send --queue-url "$q" -a who=.who <"$TMP/attr2.in"
	is "$(sqsc receive "$q" --max 10 --all --delete 2>/dev/null | jq -c '.MessageAttributes.who.StringValue' | sort | tr '\n' ' ')" \
		'"[\"not\",\"a\",\"string\"]" "carol" ' "the official client reads both"
}

# --- conservation: malformed lines, refused characters, per-entry failures --

conservation() {
	q=$(mkq qt-bad)
	emoji=$(printf '\360\237\230\200')
	{
		echo '{"ok":1}'                                   # 1 sent
		echo 'not json'                                   # 2 not JSON
		echo ''                                           # 3 empty line
		echo '{"ok":2}'                                   # 4 sent
		printf '{"bad":"\377\376"}\n'                     # 5 invalid UTF-8
		echo "{\"emoji\":\"$emoji\"}"                     # 6 fauxqs refuses it
		printf '{"ffff":"\357\277\277"}\n'                # 7 U+FFFF: SQS refuses it
		printf '%s\n' '{"body":"x\u0001y","message_id":"m8"}' # 8 an envelope whose body has U+0001
		echo '{"ok":3}'                                   # 9 sent
		echo '{"truncated":'                              # 10 not JSON
		echo '{"ok":4}'                                   # 11 sent
		echo '""'                                         # 12 sent (a two-byte body)
		echo '{"body":"","message_id":"m13"}'             # 13 an empty body
		printf '{"nul":"a\000b"}\n'                       # 14 a NUL byte
		echo '{"body":{"ok":5},"receipt_handle":"r"}'     # 15 sent (an envelope's body)
		printf '%s\n' '{"body":"\ud800","message_id":"m16"}' # 16 a lone surrogate
	} >"$TMP/bad.in"
	t_run 65 "sqs-send of 16 lines, 10 of them bad: exit 65" \
		sqs-send --queue-url "$q" -v --rejects "$TMP/bad.rej" <"$TMP/bad.in"
	cp "$TMP/err" "$TMP/bad.err"
	is "$(lines "$TMP/out") $(lines "$TMP/bad.rej")" "6 10" "6 lines written, 10 rejected: 16 = 6 + 10"
	is "$(summary read "$TMP/bad.err") $(summary written "$TMP/bad.err") $(summary rejected "$TMP/bad.err")" \
		"16 6 10" "the -v summary counts the same"
	is "$(jq -r .line "$TMP/bad.rej" | sort -n | tr '\n' ' ')" "2 3 5 6 7 8 10 13 14 16 " \
		"the rejects name lines 2 3 5 6 7 8 10 13 14 16"
	is "$(jq -r 'select(.retryable != false or .tool != "sqs-send" or (.error | length) == 0) | .line' "$TMP/bad.rej")" "" \
		"each says sqs-send, a reason, and retryable false"
	is "$(jq -r 'select(.line == 6) | [.code, (.error | test("Invalid characters"))] | @tsv' "$TMP/bad.rej")" \
		"$(printf 'InvalidMessageContents\ttrue')" \
		"the emoji line is rejected with fauxqs's reason, InvalidMessageContents (a known fauxqs bug)"
	is "$(jq -r 'select(.line == 6) | .input' "$TMP/bad.rej")" "{\"emoji\":\"$emoji\"}" \
		"the reject carries the line verbatim"
	is "$(jq -r 'select(.line == 7 or .line == 8) | .error' "$TMP/bad.rej" | sort | tr '\n' '|')" \
		'SQS refuses the character U+0001 at offset 1|SQS refuses the character U+FFFF at offset 9|' \
		"characters SQS refuses are rejected before sending, naming them"
	grep -q 'invalid UTF-8' "$TMP/bad.rej" && grep -q 'empty line' "$TMP/bad.rej" &&
		grep -q 'NUL byte' "$TMP/bad.rej" && grep -q 'empty message body' "$TMP/bad.rej" &&
		grep -q 'not JSON' "$TMP/bad.rej"
	ok $? "invalid UTF-8, empty lines, NUL bytes, empty bodies and non-JSON are named"
	sqsc receive "$q" --max 10 --all --delete 2>/dev/null | jq -r .Body | sort >"$TMP/bad.got"
	is "$(tr '\n' ' ' <"$TMP/bad.got")" '"" {"ok":1} {"ok":2} {"ok":3} {"ok":4} {"ok":5} ' \
		"the queue holds exactly the 6 lines written"

	# One batch of 10 where 3 bodies are refused: only those are rejected.
	: >"$TMP/batch.in"
	for i in 1 2 3 4 5 6 7 8 9 10; do
		case $i in
		3 | 6 | 9) echo "{\"i\":$i,\"e\":\"$emoji\"}" ;;
		*) echo "{\"i\":$i}" ;;
		esac
	done >"$TMP/batch.in"
	pctl "$pass_url" reset >/dev/null
	t_run 65 "a batch of 10 with 3 refused bodies: exit 65" \
		sqs-send --queue-url "$q" --endpoint-url "$pass_url" --rejects "$TMP/batch.rej" <"$TMP/batch.in"
	is "$(pctl "$pass_url" stats .requests)" 1 "it went as one SendMessageBatch request"
	is "$(jq -r .i "$TMP/out" | sort -n | tr '\n' ' ')" "1 2 4 5 7 8 10 " "the 7 others are written"
	is "$(jq -r '[.line, .code, .retryable] | @tsv' "$TMP/batch.rej" | sort -n | tr '\n' ' ')" \
		"$(printf '3\tInvalidMessageContents\tfalse 6\tInvalidMessageContents\tfalse 9\tInvalidMessageContents\tfalse ')" \
		"the 3 are rejected with the per-entry failure's code, not retryable"
	is "$(qattr "$q" .visible)" 7 "the queue holds the 7"
	timeout 30 sqs-queue purge "$q" >/dev/null 2>&1
}

# --- the message size limit -----------------------------------------------

big() {
	q=$(mkq qt-big)
	q2=$(mkq qt-big2)
	# A line of exactly 1,048,576 bytes (a JSON object), then one byte more.
	{ printf '{"a":"'; head -c 1048568 /dev/zero | tr '\0' a; printf '"}\n'; } >"$TMP/1m"
	{ printf '{"a":"'; head -c 1048569 /dev/zero | tr '\0' a; printf '"}\n'; } >"$TMP/1m+1"
	is "$(($(wc -c <"$TMP/1m") - 1)) $(($(wc -c <"$TMP/1m+1") - 1))" "1048576 1048577" \
		"the lines are 1,048,576 and 1,048,577 bytes long"
	t_run 0 "sqs-send of a 1 MiB message: exit 0" sqs-send --queue-url "$q" <"$TMP/1m"
	cmp -s "$TMP/out" "$TMP/1m"
	ok $? "it writes the line back"
	t_run 0 "sqs-poll | sqs-send | sqs-delete moves the 1 MiB message (its envelope is longer than 1 MiB)" \
		sh -c 'sqs-poll --queue-url "$1" --until-empty --wait 1 | sqs-send --queue-url "$2" |
			sqs-delete >/dev/null' sh "$q" "$q2"
	is "$(qattr "$q" '[.visible, .in_flight]') $(qattr "$q2" .visible)" "[0,0] 1" "it is in the other queue"
	sqsc receive "$q2" --max 1 --wait 5 --delete 2>/dev/null | jq -j '.Body + "\n"' >"$TMP/1m.got"
	cmp -s "$TMP/1m.got" "$TMP/1m"
	ok $? "the official client receives it byte for byte"
	t_run 65 "sqs-send of one byte more: exit 65" sqs-send --queue-url "$q" --rejects "$TMP/big.rej" <"$TMP/1m+1"
	is "$(jq -r '[.line, .retryable, (.error | test("too (large|long)")), (.error | test("1048576"))] | @tsv' "$TMP/big.rej")" \
		"$(printf '1\tfalse\ttrue\ttrue')" "it is rejected as too large, naming the limit"
	diag "$(jq -r .error "$TMP/big.rej")"
	is "$(cat "$TMP/out")$(qattr "$q" .visible)" "0" "nothing is written or sent"
	t_run 65 "sqs-send of one byte more with --max-line 2000000: exit 65" \
		sqs-send --queue-url "$q" --max-line 2000000 --rejects "$TMP/big2.rej" <"$TMP/1m+1"
	is "$(jq -r .error "$TMP/big2.rej")" "message too large: 1048577 bytes with its attributes, the limit is 1048576" \
		"the message is too large"
	t_run 65 "sqs-send -a of a 1 MiB body (too large with its attribute): exit 65" \
		sqs-send --queue-url "$q" -a x='"y"' --rejects "$TMP/big3.rej" <"$TMP/1m"
	jq -r .error "$TMP/big3.rej" | grep -q 'message too large: 104[0-9]* bytes with its attributes'
	ok $? "the body and the attributes count together"
}

# --- nonexistent queues ---------------------------------------------------

missing() {
	nope=$QP/qt-nope
	seq 5000 | sed 's/.*/{"n":&}/' >"$TMP/miss.in"
	t_run 78 "sqs-send to a nonexistent queue: exit 78" \
		sqs-send --queue-url "$nope" -v --rejects "$TMP/miss.rej" <"$TMP/miss.in"
	cp "$TMP/err" "$TMP/miss.err"
	grep -q 'sqs-send: error: .*does not exist' "$TMP/miss.err"
	ok $? "it says the queue does not exist"
	read=$(summary read "$TMP/miss.err")
	diag "it read $read of 5000 lines before stopping"
	[ -n "$read" ] && [ "$read" -ge 1 ] && [ "$read" -lt 5000 ]
	ok $? "it stopped reading (read $read of 5000)"
	is "$(lines "$TMP/out") $(summary written "$TMP/miss.err") $(summary rejected "$TMP/miss.err")" \
		"0 0 $read" "nothing written, every line read rejected"
	is "$(lines "$TMP/miss.rej")" "$read" "the rejects file holds one reject per line read"
	is "$(jq -r .line "$TMP/miss.rej" | sort -n | uniq | awk 'NR != $1 { print "gap at " NR; exit } END { print NR }')" \
		"$read" "the rejects are lines 1 to $read, each once"
	is "$(jq -r 'select(.retryable != false or (.error | test("NonExistentQueue|does not exist") | not)) | .line' "$TMP/miss.rej")" \
		"" "each reject says the queue does not exist, not retryable"

	t_run 78 "sqs-poll on a nonexistent queue: exit 78" sqs-poll --queue-url "$nope" --wait 1
	grep -q "qt-nope.*does not exist" "$TMP/err" && [ ! -s "$TMP/out" ]
	ok $? "it names the queue and says it does not exist"
	printf '{"queue_url":"%s","receipt_handle":"r%s","body":1}\n' "$nope" 1 "$nope" 2 "$nope" 3 >"$TMP/miss.env"
	t_run 78 "sqs-delete of envelopes of a nonexistent queue: exit 78" \
		sqs-delete --rejects "$TMP/miss.drej" <"$TMP/miss.env"
	is "$(lines "$TMP/out") $(lines "$TMP/miss.drej")" "0 3" "the 3 lines are rejected"

	q=$(mkq qt-empty)
	t_run 0 "sqs-poll --until-empty on an empty queue: exit 0" sqs-poll --queue-url "$q" --until-empty --wait 1
	is "$(cat "$TMP/out")" "" "it writes nothing"
	[ "$t_ms" -lt 10000 ]
	ok $? "it ends after a few empty long polls ($t_ms ms)"
	t_run 0 "sqs-delete of no input: exit 0" sqs-delete </dev/null
}

# --- sqs-poll -------------------------------------------------------------

poll() {
	q=$(mkq qt-poll)
	seq 12 | sed 's/.*/{"n":&,"t":"x"}/' >"$TMP/poll.in"
	timeout 30 sqs-send --queue-url "$q" <"$TMP/poll.in" >/dev/null 2>&1
	t_run 0 "sqs-poll --max 5: exit 0" sqs-poll --queue-url "$q" --max 5
	cp "$TMP/out" "$TMP/poll.env"
	is "$(lines "$TMP/poll.env")" 5 "it writes exactly 5 envelopes"
	is "$(jq -c 'keys' "$TMP/poll.env" | sort -u)" \
		'["attributes","body","message_attributes","message_id","queue_url","receipt_handle","receive_count","sent_at"]' \
		"each envelope has queue_url, message_id, receipt_handle, receive_count, sent_at, attributes, message_attributes, body"
	is "$(jq -r --arg q "$q" 'select(.queue_url != $q or .receive_count != 1
		or (.sent_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[.][0-9]+Z$") | not)
		or .attributes.ApproximateReceiveCount != "1" or (.attributes.SentTimestamp | test("^[0-9]+$") | not)
		or (.body | type) != "object" or .body.t != "x") | .message_id' "$TMP/poll.env")" "" \
		"queue_url, receive_count 1, sent_at in RFC 3339, the system attributes, the body parsed"
	is "$(qattr "$q" '[.visible, .in_flight]')" '[7,5]' "the 5 are in flight, 7 visible"
	t_run 0 "sqs-poll --raw --delete --until-empty: exit 0" \
		sqs-poll --queue-url "$q" --raw --delete --until-empty --wait 1
	is "$(lines "$TMP/out")" 7 "it writes the 7 others"
	jq -c .body "$TMP/poll.env" | cat - "$TMP/out" >"$TMP/poll.all"
	same_lines "$TMP/poll.all" "$TMP/poll.in" "--raw writes the bodies alone: with the 5, the 12 sent, byte for byte"
	is "$(qattr "$q" '[.visible, .in_flight]')" '[0,5]' "--delete deleted the 7"

	# --peek: a pass sees each message once, and leaves them visible.
	q=$(mkq qt-peek)
	seq 15 | timeout 30 sqs-send --queue-url "$q" >/dev/null 2>&1
	t_run 0 "sqs-poll --peek --until-empty: exit 0" sqs-poll --queue-url "$q" --peek --until-empty --wait 1 -w 2
	is "$(lines "$TMP/out") $(jq -r .message_id "$TMP/out" | sort -u | wc -l | tr -d ' ')" "15 15" \
		"it shows the 15 messages, each once"
	is "$(qattr "$q" '[.visible, .in_flight]')" '[15,0]' "they are all visible again"
	t_run 0 "sqs-poll --peek --max 4: exit 0" sqs-poll --queue-url "$q" --peek --max 4
	is "$(lines "$TMP/out")" 4 "it shows 4"
	is "$(qattr "$q" '[.visible, .in_flight]')" '[15,0]' "all are visible again"
	grep -q 'failed' "$TMP/err"
	ok $((!$?)) "no warning about making them visible"

	# -w N receivers.
	q=$(mkq qt-w)
	seq 40 | sed 's/.*/{"w":&}/' | timeout 30 sqs-send --queue-url "$q" >/dev/null 2>&1
	t_run 0 "sqs-poll -w 4 --until-empty --delete: exit 0" \
		sqs-poll --queue-url "$q" -w 4 --until-empty --wait 1 --delete
	is "$(lines "$TMP/out") $(jq -r .body.w "$TMP/out" | sort -u | wc -l | tr -d ' ')" "40 40" \
		"it receives the 40, each once"

	# Visibility expiry and redelivery.
	q=$(mkq qt-vis)
	echo '{"v":1}' | timeout 30 sqs-send --queue-url "$q" >/dev/null 2>&1
	t_run 0 "sqs-poll --visibility-timeout 1 --max 1: exit 0" sqs-poll --queue-url "$q" --visibility-timeout 1 --max 1
	id1=$(jq -r .message_id "$TMP/out")
	is "$(jq -r .receive_count "$TMP/out")" 1 "it receives the message (receive_count 1) and does not delete it"
	is "$(qattr "$q" .in_flight)" 1 "the message is in flight"
	sleep 1.5
	t_run 0 "after 1.5 s, sqs-poll --max 1 again: exit 0" sqs-poll --queue-url "$q" --max 1 --wait 5 --delete
	is "$(jq -r '[.message_id == "'"$id1"'", .receive_count, .attributes.ApproximateReceiveCount] | @tsv' "$TMP/out")" \
		"$(printf 'true\t2\t2')" "the same message comes back, receive_count 2"

	# Long polling: a waiting receiver gets a message sent 2 s later.
	q=$(mkq qt-long)
	t0=$(now_ms)
	timeout -k 5 30 sqs-poll --queue-url "$q" --max 1 --wait 10 >"$TMP/long.out" 2>"$TMP/long.err" &
	lp=$!
	sleep 2
	echo '{"late":true}' | timeout 30 sqs-send --queue-url "$q" >/dev/null 2>&1
	wait $lp
	rc=$?
	ms=$(($(now_ms) - t0))
	is "$rc $(jq -c .body "$TMP/long.out")" '0 {"late":true}' "a long-polling sqs-poll receives a message sent 2 s later, exit 0"
	[ "$ms" -ge 2000 ] && [ "$ms" -lt 8000 ]
	ok $? "at once, in one long poll ($ms ms)"

	# --until-empty ends after the queue is drained, not on the first empty poll.
	q=$(mkq qt-ue)
	t0=$(now_ms)
	timeout -k 5 40 sqs-poll --queue-url "$q" --until-empty --wait 2 --delete >"$TMP/ue.out" 2>"$TMP/ue.err" &
	ue=$!
	sleep 3 # the first long poll came back empty at 2 s
	echo '{"after":"the first empty poll"}' | timeout 30 sqs-send --queue-url "$q" >/dev/null 2>&1
	wait $ue
	rc=$?
	ms=$(($(now_ms) - t0))
	is "$rc $(jq -c .body "$TMP/ue.out")" '0 {"after":"the first empty poll"}' \
		"--until-empty receives a message sent after its first empty poll, then ends: exit 0"
	diag "it ended after $ms ms"

	# SIGTERM while long-polling: stop, exit 0.
	q=$(mkq qt-term)
	# --foreground: else timeout signals its process group too, and a
	# second SIGTERM makes a program exit at once.
	timeout --foreground -k 5 30 sqs-poll --queue-url "$q" >"$TMP/term.out" 2>"$TMP/term.err" &
	tp=$!
	sleep 1
	t0=$(now_ms)
	kill -TERM $tp
	wait $tp
	rc=$?
	ms=$(($(now_ms) - t0))
	is "$rc" 0 "SIGTERM during a long poll: exit 0"
	[ "$ms" -lt 3000 ]
	ok $? "at once ($ms ms), not after the 20 s poll"

	t_run 0 "sqs-poll with CHATPIPE_QUEUE_URL" env CHATPIPE_QUEUE_URL="$q" sqs-poll --until-empty --wait 1
	t_run 64 "sqs-poll --peek --delete: exit 64" sqs-poll --queue-url "$q" --peek --delete
	t_run 64 "sqs-poll --wait 21: exit 64" sqs-poll --queue-url "$q" --wait 21
	t_run 64 "sqs-poll -w 0: exit 64" sqs-poll --queue-url "$q" -w 0
	t_run 64 "sqs-poll without a queue: exit 64" sqs-poll
}

# --- sqs-delete -----------------------------------------------------------

delete() {
	q=$(mkq qt-del)
	seq 20 | sed 's/.*/{"d":&}/' | timeout 30 sqs-send --queue-url "$q" >/dev/null 2>&1
	timeout 30 sqs-poll --queue-url "$q" --max 20 >"$TMP/del.env" 2>/dev/null
	t_run 0 "sqs-delete of 20 envelopes: exit 0" sqs-delete -v <"$TMP/del.env"
	same_lines "$TMP/out" "$TMP/del.env" "it writes each line back, unchanged"
	is "$(summary read "$TMP/err") $(summary written "$TMP/err")" "20 20" "its summary: read 20, written 20"
	is "$(qattr "$q" '[.visible, .in_flight]')" '[0,0]' "the queue is empty"

	seq 5 | sed 's/.*/{"d":&}/' | timeout 30 sqs-send --queue-url "$q" >/dev/null 2>&1
	timeout 30 sqs-poll --queue-url "$q" --max 5 >"$TMP/del5.env" 2>/dev/null
	{
		head -n 2 "$TMP/del5.env"
		echo 'not json'
		echo '{"no":"receipt handle"}'
		echo '[1,2]'
		echo '{"receipt_handle":"abc","body":1}'
		sed -n 3,5p "$TMP/del5.env"
	} >"$TMP/del.mix"
	t_run 65 "sqs-delete of 5 envelopes and 4 bad lines: exit 65" \
		sqs-delete --rejects "$TMP/del.rej" <"$TMP/del.mix"
	is "$(lines "$TMP/out") $(jq -r .line "$TMP/del.rej" | sort -n | tr '\n' ' ')" "5 3 4 5 6 " \
		"5 written, lines 3 to 6 rejected"
	grep -q 'no queue_url' "$TMP/del.rej" && grep -q 'no receipt_handle' "$TMP/del.rej"
	ok $? "the rejects say why"
	is "$(qattr "$q" '[.visible, .in_flight]')" '[0,0]' "the 5 are deleted"

	seq 3 | timeout 30 sqs-send --queue-url "$q" >/dev/null 2>&1
	timeout 30 sqs-poll --queue-url "$q" --max 3 2>/dev/null | jq -c 'del(.queue_url)' >"$TMP/del.noq"
	t_run 0 "sqs-delete --queue-url of envelopes without queue_url: exit 0" \
		sqs-delete --queue-url "$q" <"$TMP/del.noq"
	is "$(qattr "$q" '[.visible, .in_flight]')" '[0,0]' "they are deleted"
	t_run 0 "sqs-delete of already-deleted messages: exit 0 (SQS accepts stale receipt handles)" \
		sqs-delete <"$TMP/del.env"
	t_run 64 "sqs-delete with an argument: exit 64" sqs-delete file </dev/null
}

# --- FIFO -----------------------------------------------------------------

fifo() {
	q=$(mkq qt-f.fifo --fifo)
	for i in 1 2 3 4 5 6; do echo "{\"g\":\"g$((i % 2))\",\"id\":\"m$i\",\"n\":$i}"; done >"$TMP/fifo.in"
	t_run 0 "sqs-send --group-id .g --dedup-id .id to a FIFO queue: exit 0" \
		sqs-send --queue-url "$q" --group-id .g --dedup-id .id -a n=.n <"$TMP/fifo.in"
	same_lines "$TMP/out" "$TMP/fifo.in" "it writes the 6 lines"
	echo '{"g":"g1","id":"m1","n":99}' >"$TMP/fifo.dup"
	t_run 0 "a line with a deduplication id already sent: exit 0" \
		sqs-send --queue-url "$q" --group-id .g --dedup-id .id <"$TMP/fifo.dup"
	is "$(lines "$TMP/out") $(qattr "$q" .visible)" "1 6" "it is accepted (written), and the queue still holds 6"
	# fauxqs gives one message of a group per receive: --all loops.
	sqsc receive "$q" --max 10 --all --delete 2>/dev/null >"$TMP/fifo.rcv"
	is "$(jq -r '(.Body | fromjson) as $b | [.Attributes.MessageGroupId == $b.g,
		.Attributes.MessageDeduplicationId == $b.id, .MessageAttributes.n.StringValue == ($b.n | tostring)] | all' \
		"$TMP/fifo.rcv" | sort | uniq -c | tr -s ' ')" " 6 true" \
		"the official client reads the 6, each with its group id, deduplication id and attribute"
	is "$(jq -r '.Attributes.MessageGroupId + " " + (.Body | fromjson | .id)' "$TMP/fifo.rcv" | awk '
		{ seq[$1] = seq[$1] " " $2 } END { print seq["g0"] "," seq["g1"] }')" " m2 m4 m6, m1 m3 m5" \
		"in order within each group"

	t_run 0 "sqs-send again, then sqs-poll --until-empty --delete on the FIFO queue: exit 0" \
		sh -c 'sed "s/\"m/\"r/" "$1" | sqs-send --queue-url "$2" --group-id .g --dedup-id .id >/dev/null &&
			sqs-poll --queue-url "$2" --until-empty --wait 1 --delete' sh "$TMP/fifo.in" "$q"
	is "$(jq -r '.attributes.MessageGroupId + " " + .body.id' "$TMP/out" | awk '
		{ seq[$1] = seq[$1] " " $2 } END { print seq["g0"] "," seq["g1"] }')" " r2 r4 r6, r1 r3 r5" \
		"sqs-poll receives them all, in order within each group, with their group ids"
	is "$(jq -r 'select(.attributes.SequenceNumber == null or .attributes.MessageDeduplicationId == null) | .message_id' "$TMP/out")" "" \
		"with their sequence numbers and deduplication ids"

	t_run 65 "sqs-send to a FIFO queue without --group-id: exit 65" \
		sqs-send --queue-url "$q" --rejects "$TMP/fifo.rej" <"$TMP/fifo.in"
	is "$(jq -r .code "$TMP/fifo.rej" | sort -u) $(lines "$TMP/fifo.rej")" "MissingParameter 6" \
		"the 6 lines are rejected: MissingParameter"
	printf '{"g":"a","id":"x1"}\n{"id":"x2"}\n' >"$TMP/fifo.nog"
	t_run 65 "a --group-id expression that yields null rejects that line: exit 65" \
		sqs-send --queue-url "$q" --group-id .g --dedup-id .id --rejects "$TMP/fifo.rej2" <"$TMP/fifo.nog"
	is "$(lines "$TMP/out") $(jq -r '[.line, (.error | test("--group-id"))] | @tsv' "$TMP/fifo.rej2")" \
		"$(printf '1 2\ttrue')" "the other is sent; the reject names --group-id"
	timeout 30 sqs-queue purge "$q" >/dev/null 2>&1
}

# --- the official client writes, sqs-poll reads ---------------------------

oracle_to_poll() {
	q=$(mkq qt-orc)
	nl='
'
	sqsc send "$q" '{"x":"caf\u00e9 \u4e2d","n":1}' 'plain text' "$(printf 'tab\there')" \
		"two${nl}lines" "{${nl}  \"pretty\": true${nl}}" '{"id":12345678901234567890}' \
		--attr s=String:hello --attr n=Number:42.5 --attr b=Binary:SGVsbG8gYmluYXJ5IHdvcmxkIQ== \
		--attr c=String.custom:zz >"$TMP/orc.sent" 2>"$TMP/orc.err"
	is "$(lines "$TMP/orc.sent")" 6 "the official client sends 6 messages with 4 attributes"
	t_run 0 "sqs-poll --until-empty: exit 0" sqs-poll --queue-url "$q" --until-empty --wait 1 -v
	cp "$TMP/out" "$TMP/orc.env"
	grep -q '0 withheld' "$TMP/err"
	ok $? "every MD5 (body and attributes) checks"
	jq -r .MessageId "$TMP/orc.sent" >"$TMP/orc.ids"
	jq -r .message_id "$TMP/orc.env" >"$TMP/orc.ids2"
	same_lines "$TMP/orc.ids2" "$TMP/orc.ids" "sqs-poll receives the 6 message ids the client was given"
	# The body is the envelope's last member: its bytes as sqs-poll wrote them.
	sed 's/.*,"body"://; s/}$//' "$TMP/orc.env" >"$TMP/orc.bodies"
	printf '%s\n' '{"x":"caf\u00e9 \u4e2d","n":1}' '"plain text"' '"tab\there"' \
		'"two\nlines"' '{"pretty":true}' '{"id":12345678901234567890}' >"$TMP/orc.want"
	same_lines "$TMP/orc.bodies" "$TMP/orc.want" \
		"bodies: JSON as JSON (a one-line body verbatim, a multi-line one compacted), text as strings"
	is "$(jq -S -c .message_attributes "$TMP/orc.env" | sort -u)" \
		'{"b":{"BinaryValue":"SGVsbG8gYmluYXJ5IHdvcmxkIQ==","DataType":"Binary"},"c":{"DataType":"String.custom","StringValue":"zz"},"n":{"DataType":"Number","StringValue":"42.5"},"s":{"DataType":"String","StringValue":"hello"}}' \
		"message attributes: String, Number, Binary (base64), custom types, as sent"
}

# --- the redrive pipeline -------------------------------------------------

redrive() {
	dlq=$(mkq qt-dlq)
	main=$(mkq qt-main)
	sqsc send "$dlq" '{"from":"sdk","n":1}' 'sdk text' \
		--attr s=String:hello --attr b=Binary:AAEC/w== --attr n=Number:7 >/dev/null 2>&1
	seq 5 | sed 's/.*/{"from":"chatpipe","n":&}/' |
		timeout 30 sqs-send --queue-url "$dlq" -a k='"v"' -a n=.n >/dev/null 2>&1
	{
		jq -nc '["{\"from\":\"sdk\",\"n\":1}", "sdk text"][] | [., {s: {DataType: "String", StringValue: "hello"},
			b: {DataType: "Binary", BinaryValue: "AAEC/w=="}, n: {DataType: "Number", StringValue: "7"}}]'
		seq 5 | jq -c '["{\"from\":\"chatpipe\",\"n\":\(.)}", {k: {DataType: "String", StringValue: "v"},
			n: {DataType: "Number", StringValue: "\(.)"}}]'
	} | jq -S -c . | sort >"$TMP/rd.before"
	is "$(qattr "$dlq" .visible)" 7 "the dead-letter queue holds 7 messages"
	(timeout -k 5 60 sqs-poll --queue-url "$dlq" --until-empty --wait 1 -v 2>"$TMP/rd.poll.err"; echo $? >"$TMP/rd.rc1") |
		(timeout -k 5 60 sqs-send --queue-url "$main" -v 2>"$TMP/rd.send.err"; echo $? >"$TMP/rd.rc2") |
		(timeout -k 5 60 sqs-delete -v >"$TMP/rd.out" 2>"$TMP/rd.del.err"; echo $? >"$TMP/rd.rc3")
	is "$(cat "$TMP/rd.rc1") $(cat "$TMP/rd.rc2") $(cat "$TMP/rd.rc3")" "0 0 0" \
		"sqs-poll DLQ --until-empty | sqs-send --queue-url Q | sqs-delete: every stage exits 0"
	is "$(lines "$TMP/rd.out")" 7 "sqs-delete writes the 7 envelopes"
	is "$(qattr "$dlq" '[.visible, .in_flight]') $(qattr "$main" .visible)" "[0,0] 7" \
		"the dead-letter queue is empty, the queue holds the 7"
	sqsc receive "$main" --max 10 --all --delete 2>/dev/null | jq -S -c '[.Body, .MessageAttributes]' | sort -u >"$TMP/rd.after"
	same_lines "$TMP/rd.after" "$TMP/rd.before" \
		"the official client reads the same bodies and message attributes (Binary too) in the queue"

	# Bodies whose JSON is not in libjq's canonical form (a number beyond
	# 2^53, spacing, trailing zeros, escapes), one that is not JSON by the
	# RFC though libjq 1.6 reads it, and a JSON string.
	dlq2=$(mkq qt-dlq2)
	main2=$(mkq qt-main2)
	sqsc send "$dlq2" '{"id":12345678901234567890, "f":1.10, "e":"\u00e9\/"}' '[01, nan]' \
		'"a JSON string"' >/dev/null 2>&1
	timeout -k 5 60 sh -c 'sqs-poll --queue-url "$1" --until-empty --wait 1 | sqs-send --queue-url "$2" |
		sqs-delete >/dev/null' sh "$dlq2" "$main2" 2>/dev/null
	sqsc receive "$main2" --max 10 --all --delete 2>/dev/null | jq -r .Body | sort >"$TMP/rd2.got"
	printf '%s\n' '{"id":12345678901234567890, "f":1.10, "e":"\u00e9\/"}' '[01, nan]' | sort >"$TMP/rd2.want"
	grep -v 'JSON string' "$TMP/rd2.got" | cmp -s - "$TMP/rd2.want"
	ok $? "a redrive keeps bodies byte for byte (big numbers, spacing, escapes; not-quite-JSON as it was)"
	# The envelope cannot tell a JSON string body from a body that is not
	# JSON (both are strings, BRIEF §2): the redrive sends its contents.
	grep -qx 'a JSON string' "$TMP/rd2.got"
	ok $? "a JSON string body is sent back as its contents (documented in sqs-send(1))"
	diag "after the redrive: $(tr '\n' ' ' <"$TMP/rd2.got")"
	# libjq 1.6 reads nan and 01 as numbers; RFC 8259 does not: such a body
	# is a string in the envelope, and every line is JSON to a strict parser.
	lq=$(mkq qt-lenient)
	sqsc send "$lq" 'nan' '[01]' '{"a":+1}' '{"a":.5}' '[1.0e+2]' >/dev/null 2>&1
	timeout -k 5 60 sqs-poll --queue-url "$lq" --until-empty --wait 1 >"$TMP/len.out" 2>/dev/null
	node -e 'const ls = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
		console.log(ls.map(l => JSON.stringify(JSON.parse(l).body)).sort().join(" "))' "$TMP/len.out" \
		>"$TMP/len.got" 2>&1
	is "$(cat "$TMP/len.got")" '"[01]" "nan" "{\"a\":+1}" "{\"a\":.5}" [100]' \
		"sqs-poll: bodies libjq reads but RFC 8259 refuses are strings; JSON.parse reads every line"

	# FIFO: the redrive keeps group ids; deduplication ids become
	# "redrive-" and a digest of the dead-lettered message's id.
	fdlq=$(mkq qt-fdlq.fifo --fifo)
	fmain=$(mkq qt-fmain.fifo --fifo)
	printf '{"g":"a","id":"f1"}\n{"g":"b","id":"f2"}\n{"g":"a","id":"f3"}\n{"g":"b","id":"f4"}\n' |
		timeout 30 sqs-send --queue-url "$fdlq" --group-id .g --dedup-id .id >/dev/null 2>&1
	(timeout -k 5 60 sqs-poll --queue-url "$fdlq" --until-empty --wait 1; echo $? >"$TMP/frd.rc1") |
		(timeout -k 5 60 sqs-send --queue-url "$fmain"; echo $? >"$TMP/frd.rc2") |
		(timeout -k 5 60 sqs-delete >"$TMP/frd.out"; echo $? >"$TMP/frd.rc3")
	is "$(cat "$TMP/frd.rc1") $(cat "$TMP/frd.rc2") $(cat "$TMP/frd.rc3") $(lines "$TMP/frd.out")" "0 0 0 4" \
		"a FIFO redrive pipeline exits 0 0 0 and moves the 4 messages"
	is "$(qattr "$fdlq" '[.visible, .in_flight]')" '[0,0]' "the FIFO dead-letter queue is empty"
	sqsc receive "$fmain" --max 10 --all --delete 2>/dev/null |
		jq -r '[.Attributes.MessageGroupId, (.Attributes.MessageDeduplicationId | test("^redrive-[0-9a-f]{64}$") | tostring), (.Body | fromjson | .g + .id)] | join(" ")' |
		sort | tr '\n' ',' >"$TMP/frd.got"
	is "$(cat "$TMP/frd.got")" "a true af1,a true af3,b true bf2,b true bf4," \
		"the official client reads each with its group id and a redrive deduplication id"

	# A FIFO message dead-lettered and redriven within SQS's 5-minute
	# deduplication window: with its old deduplication id the queue would
	# drop it while sqs-delete deletes the dead-letter copy.
	fd3=$(mkq qt-fd3.fifo --fifo)
	fq3=$(mkq qt-fq3.fifo --fifo --dlq "$fd3" --max-receives 1)
	echo '{"g":"a","id":"dd1"}' | timeout 30 sqs-send --queue-url "$fq3" --group-id .g --dedup-id .id >/dev/null 2>&1
	timeout 30 sqs-poll --queue-url "$fq3" --visibility-timeout 1 --max 1 >/dev/null 2>&1
	sleep 1.5
	timeout 30 sqs-poll --queue-url "$fq3" --wait 1 --until-empty >/dev/null 2>&1 # moves it to the DLQ
	is "$(qattr "$fd3" .visible)" 1 "a FIFO message received max-receives times is dead-lettered"
	timeout -k 5 60 sh -c 'sqs-poll --queue-url "$1" --until-empty --wait 1 | sqs-send --queue-url "$2" |
		sqs-delete >/dev/null' sh "$fd3" "$fq3" 2>/dev/null
	is "$(qattr "$fq3" '.visible + .in_flight')" 1 \
		"a FIFO message redriven within 5 minutes is back in its queue"
	diag "queue $(qattr "$fq3" '[.visible, .in_flight]'), dead-letter queue $(qattr "$fd3" '[.visible, .in_flight]')"
}

# --- configuration errors --------------------------------------------------

config_errors() {
	q=$(mkq qt-conf)
	echo '{"c":1}' >"$TMP/conf.in"
	t_run 78 "sqs-send without credentials: exit 78" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY sqs-send --queue-url "$q" <"$TMP/conf.in"
	grep -q 'no credentials' "$TMP/err"
	ok $? "it says there are no credentials"
	t_run 78 "sqs-poll without credentials: exit 78" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY sqs-poll --queue-url "$q" --wait 1
	printf '{"queue_url":"%s","receipt_handle":"r","body":1}\n' "$q" >"$TMP/conf.env"
	t_run 78 "sqs-delete without credentials: exit 78" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY sqs-delete <"$TMP/conf.env"
	t_run 78 "sqs-queue without credentials: exit 78" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY sqs-queue attributes "$q"
	t_run 78 "sqs-queue list without a region: exit 78" env -u AWS_REGION sqs-queue list
	grep -q 'no region' "$TMP/err"
	ok $? "it says there is no region"
	# A queue URL whose host names no region, and none configured.
	noregion=http://127.0.0.1:$FAUXQS_PORT/000000000000/qt-conf
	for tool in sqs-send sqs-poll sqs-delete; do
		case $tool in
		sqs-send) timeout -k 5 30 env -u AWS_REGION sqs-send --queue-url "$noregion" <"$TMP/conf.in" ;;
		sqs-poll) timeout -k 5 30 env -u AWS_REGION sqs-poll --queue-url "$noregion" --wait 1 ;;
		sqs-delete) sed "s|$q|$noregion|" "$TMP/conf.env" | timeout -k 5 30 env -u AWS_REGION sqs-delete ;;
		esac >/dev/null 2>"$TMP/err"
		rc=$?
		is "$rc" 78 "$tool with no region: exit 78 (configuration error)"
	done
}

admin
config_errors
send_standard
conservation
big
missing
poll
delete
fifo
oracle_to_poll
redrive
qt_end
