#!/bin/sh
# tests/integration/queue-spool.t: sqs-send, sqs-poll, sqs-delete and
# sqs-queue over the local spool (--queue-url file:DIR), the embedded
# default queue: SQS semantics on a directory, several processes at once,
# crash-safe.
#
# Covered: sqs-queue create/url/attributes/purge/delete on a spool and its
# JSON; a send/poll/delete round trip byte for byte; emoji (which fauxqs
# refuses) and binary-ish bodies (NUL, control characters, U+FFFE); message
# attributes; visibility expiry and redelivery, --peek, --max, -w; the
# dead-letter queue after --max-receives (sqs-queue create --dlq) and the
# redrive back; missing spools and bad receipt handles; 4 sqs-send and 2
# sqs-poll | sqs-delete pipelines at once as separate processes, counted:
# nothing lost or duplicated; kill -9 of a sqs-send and of a pipeline in
# the middle of their work, then a final drain after the visibility
# timeout: every line sqs-send acknowledged is there, duplicates only
# through visibility redelivery.
# shellcheck disable=SC2016,SC2154 # jq programs in single quotes; pids set by eval
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=SCRIPTDIR/../peers/peer.sh
. "$PEERS/peer.sh"
# shellcheck source=SCRIPTDIR/../peers/queue-test.sh
. "$PEERS/queue-test.sh"

S=file:$TMP # spool URLs: $S/NAME

# bg_kill PID...: kills what a test left running (at exit, whatever happens).
bg_kill() { for _p in "$@"; do kill -KILL "$_p" 2>/dev/null; done; }

# complete_lines FILE: FILE without a last line cut short (no newline).
complete_lines() {
	if [ -n "$(tail -c 1 "$1")" ]; then sed '$d' "$1"; else cat "$1"; fi
}

# --- sqs-queue ------------------------------------------------------------

admin() {
	t_run 0 "sqs-queue create file:DIR: exit 0" sqs-queue create "$S/q1"
	is "$(cat "$TMP/out")" "{\"queue_url\":\"$S/q1\"}" "it prints {\"queue_url\": \"file:DIR\"}"
	[ -f "$TMP/q1/config" ]
	ok $? "the directory is a queue"
	t_run 0 "sqs-queue create of the same spool again: exit 0" sqs-queue create "$S/q1"
	t_run 0 "sqs-queue url file:DIR" sqs-queue url "$S/q1"
	is "$(cat "$TMP/out")" "{\"queue_url\":\"$S/q1\"}" "it prints the URL"
	t_run 0 "sqs-queue create --visibility-timeout 5 --retention 600" \
		sqs-queue create "$S/q2" --visibility-timeout 5 --retention 600
	t_run 0 "sqs-queue attributes file:DIR" sqs-queue attributes "$S/q2"
	is "$(jq -c '[.queue_url, .visible, .in_flight, .delayed, .attributes.VisibilityTimeout,
		.attributes.MessageRetentionPeriod, .attributes.MaximumMessageSize]' "$TMP/out")" \
		"[\"$S/q2\",0,0,0,\"5\",\"600\",\"1048576\"]" "it prints the counts and the attributes"
	printf '{"a":1}\n{"a":2}\n' | timeout 30 sqs-send --queue-url "$S/q2" >/dev/null 2>&1
	t_run 0 "sqs-queue purge file:DIR" sqs-queue purge "$S/q2"
	is "$(cat "$TMP/out") $(qattr "$S/q2" .visible)" "{\"queue_url\":\"$S/q2\",\"purged\":true} 0" \
		"it prints {\"purged\": true}; the queue is empty"
	t_run 0 "sqs-queue delete file:DIR" sqs-queue delete "$S/q2"
	is "$(cat "$TMP/out")" "{\"queue_url\":\"$S/q2\",\"deleted\":true}" "it prints {\"deleted\": true}"
	[ ! -e "$TMP/q2" ]
	ok $? "the directory is gone"
	t_run 78 "sqs-queue attributes of a missing spool: exit 78" sqs-queue attributes "$S/q2"
	t_run 78 "sqs-queue url of a missing spool: exit 78" sqs-queue url "$S/q2"
	t_run 78 "sqs-queue delete of a missing spool: exit 78" sqs-queue delete "$S/q2"
	timeout -k 5 30 sqs-queue create "$S/q1" --visibility-timeout 9 >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ "$rc" -ne 0 ] && grep -q 'other attributes' "$TMP/err"
	ok $? "sqs-queue create of a spool with other attributes fails, saying so (exit $rc)"
	timeout -k 5 30 sqs-queue create "$S/qf" --fifo >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ "$rc" -ne 0 ] && grep -q 'FIFO' "$TMP/err" && [ ! -e "$TMP/qf/config" ]
	ok $? "sqs-queue create --fifo of a spool fails: not supported (exit $rc)"
}

# --- round trip, bodies ---------------------------------------------------

round_trip() {
	q=$S/rt
	timeout 30 sqs-queue create "$q" >/dev/null 2>&1
	emoji=$(printf '\360\237\230\200')
	{
		seq 300 | sed 's/.*/{"n":&,"text":"line &"}/'
		echo "{\"emoji\":\"$emoji $emoji\",\"n\":301}"
		printf '%s\n' '{ "spaced" : 1.10 , "big" : 12345678901234567890 }' '"a JSON string"' '[1,"two"]'
		printf '{"u":"caf\303\251 \344\270\255 \360\220\200\200"}\n'
	} >"$TMP/rt.in"
	t_run 0 "sqs-send of 305 lines to a spool: exit 0" sqs-send --queue-url "$q" -v <"$TMP/rt.in"
	same_lines "$TMP/out" "$TMP/rt.in" "it writes each line back"
	is "$(summary read "$TMP/err") $(summary written "$TMP/err") $(summary rejected "$TMP/err")" "305 305 0" \
		"its summary: read 305, written 305, rejected 0"
	is "$(qattr "$q" '[.visible, .in_flight]')" '[305,0]' "the spool holds 305 messages"
	t_run 0 "sqs-poll --until-empty: exit 0" sqs-poll --queue-url "$q" --until-empty
	cp "$TMP/out" "$TMP/rt.env"
	is "$(lines "$TMP/rt.env") $(jq -r .message_id "$TMP/rt.env" | sort -u | wc -l | tr -d ' ')" "305 305" \
		"it writes 305 envelopes, each message once"
	is "$(jq -r --arg q "$q" 'select(.queue_url != $q or .receive_count != 1 or
		(.sent_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")) != true or .attributes.ApproximateReceiveCount != "1") | .message_id' "$TMP/rt.env")" "" \
		"each with the queue URL, receive_count 1, sent_at, the system attributes"
	sed 's/.*,"body"://; s/}$//' "$TMP/rt.env" >"$TMP/rt.bodies"
	same_lines "$TMP/rt.bodies" "$TMP/rt.in" "the bodies are the lines sent, byte for byte (emoji too)"
	is "$(qattr "$q" '[.visible, .in_flight]')" '[0,305]' "the 305 are in flight"
	t_run 0 "sqs-delete of the 305 envelopes: exit 0" sqs-delete -v <"$TMP/rt.env"
	same_lines "$TMP/out" "$TMP/rt.env" "it writes each envelope back"
	is "$(qattr "$q" '[.visible, .in_flight]')" '[0,0]' "the spool is empty"

	# Binary-ish bodies: envelope bodies (strings) with NUL, control
	# characters, U+FFFE, U+FFFF, emoji: the spool keeps any bytes.
	printf '%s\n' \
		'{"body":"nul\u0000inside","message_id":"b1"}' \
		'{"body":"\u0001\u0002\u001f\u007f","message_id":"b2"}' \
		'{"body":"\ufffe\uffff","message_id":"b3"}' \
		'{"body":"\ud83d\ude00 emoji","message_id":"b4"}' \
		'{"body":"tab\tnewline\ncr\r","message_id":"b5"}' >"$TMP/bin.in"
	t_run 0 "sqs-send of bodies with NUL, control characters, U+FFFE/U+FFFF and emoji: exit 0" \
		sqs-send --queue-url "$q" <"$TMP/bin.in"
	t_run 0 "sqs-poll --until-empty --delete: exit 0" sqs-poll --queue-url "$q" --until-empty --delete
	jq -c .body "$TMP/out" >"$TMP/bin.got"
	jq -c .body "$TMP/bin.in" >"$TMP/bin.want"
	same_lines "$TMP/bin.got" "$TMP/bin.want" "each body comes back as it was, byte for byte"

	# Message attributes.
	printf '{"who":"alice","n":1}\n{"who":"bob","n":2.5}\n' >"$TMP/at.in"
	t_run 0 "sqs-send -a to a spool: exit 0" sqs-send --queue-url "$q" -a who=.who -a n=.n <"$TMP/at.in"
	t_run 0 "sqs-poll --raw --delete of them" sqs-poll --queue-url "$q" --until-empty --delete
	is "$(jq -S -c '[.body.who, .message_attributes]' "$TMP/out" | sort | tr '\n' ' ')" \
		'["alice",{"n":{"DataType":"Number","StringValue":"1"},"who":{"DataType":"String","StringValue":"alice"}}] ["bob",{"n":{"DataType":"Number","StringValue":"2.5"},"who":{"DataType":"String","StringValue":"bob"}}] ' \
		"the envelopes carry the message attributes"

	# --raw, --max, -w, --peek.
	seq 30 | sed 's/.*/{"p":&}/' >"$TMP/p.in"
	timeout 30 sqs-send --queue-url "$q" <"$TMP/p.in" >/dev/null 2>&1
	t_run 0 "sqs-poll --peek --until-empty on a spool: exit 0" sqs-poll --queue-url "$q" --peek --until-empty --raw
	same_lines "$TMP/out" "$TMP/p.in" "it shows the 30 bodies, each once"
	is "$(qattr "$q" '[.visible, .in_flight]')" '[30,0]' "they are all visible again"
	t_run 0 "sqs-poll --max 7 --raw --delete: exit 0" sqs-poll --queue-url "$q" --max 7 --raw --delete
	is "$(lines "$TMP/out") $(qattr "$q" '[.visible, .in_flight]')" "7 [23,0]" "it takes exactly 7"
	t_run 0 "sqs-poll -w 3 --until-empty --raw --delete: exit 0" \
		sqs-poll --queue-url "$q" -w 3 --until-empty --raw --delete
	is "$(lines "$TMP/out") $(sort -u "$TMP/out" | wc -l | tr -d ' ')" "23 23" "it takes the 23 others, each once"
}

# --- visibility, dead-letter queue, redrive --------------------------------

visibility_dlq() {
	dlq=$S/dlq
	q=$S/red
	t_run 0 "sqs-queue create file:DLQ" sqs-queue create "$dlq"
	t_run 0 "sqs-queue create file:Q --visibility-timeout 1 --dlq file:DLQ --max-receives 2" \
		sqs-queue create "$q" --visibility-timeout 1 --dlq "$dlq" --max-receives 2
	is "$(qattr "$q" '.attributes.RedrivePolicy | fromjson | [.deadLetterTargetArn, .maxReceiveCount]')" \
		"[\"$dlq\",2]" "its RedrivePolicy names the dead-letter spool"
	seq 5 | sed 's/.*/{"r":&}/' >"$TMP/red.in"
	timeout 30 sqs-send --queue-url "$q" -a k='"kept"' <"$TMP/red.in" >/dev/null 2>&1
	t_run 0 "first receive, not deleted" sqs-poll --queue-url "$q" --max 5
	cp "$TMP/out" "$TMP/red.1"
	is "$(jq -r .receive_count "$TMP/red.1" | sort -u) $(lines "$TMP/red.1")" "1 5" "5 messages, receive_count 1"
	sleep 2.2 # the visibility timeout (1 s), and the sweep (at most 1 s later)
	t_run 0 "after the visibility timeout, received again" sqs-poll --queue-url "$q" --max 5
	cp "$TMP/out" "$TMP/red.2"
	is "$(jq -r .receive_count "$TMP/red.2" | sort -u) $(lines "$TMP/red.2")" "2 5" "the same 5, receive_count 2"
	is "$(jq -r .message_id "$TMP/red.1" | sort | tr '\n' ' ')" "$(jq -r .message_id "$TMP/red.2" | sort | tr '\n' ' ')" \
		"with the same message ids"
	sleep 2.2
	t_run 0 "after 2 receives (--max-receives 2), nothing more is delivered" sqs-poll --queue-url "$q" --until-empty
	is "$(cat "$TMP/out")" "" "the queue gives nothing"
	is "$(qattr "$q" '[.visible, .in_flight]') $(qattr "$dlq" '[.visible, .in_flight]')" "[0,0] [5,0]" \
		"the 5 are in the dead-letter spool"
	t_run 0 "sqs-poll --peek of the dead-letter spool" sqs-poll --queue-url "$dlq" --peek --until-empty
	is "$(jq -r '[.receive_count, .message_attributes.k.StringValue] | @tsv' "$TMP/out" | sort -u)" \
		"$(printf '3\tkept')" "they keep their receive count (2, and this receive) and message attributes"
	is "$(jq -r .message_id "$TMP/out" | sort | tr '\n' ' ')" "$(jq -r .message_id "$TMP/red.1" | sort | tr '\n' ' ')" \
		"and their message ids"

	(timeout -k 5 60 sqs-poll --queue-url "$dlq" --until-empty; echo $? >"$TMP/rd.rc1") |
		(timeout -k 5 60 sqs-send --queue-url "$q"; echo $? >"$TMP/rd.rc2") |
		(timeout -k 5 60 sqs-delete >"$TMP/rd.out"; echo $? >"$TMP/rd.rc3")
	is "$(cat "$TMP/rd.rc1") $(cat "$TMP/rd.rc2") $(cat "$TMP/rd.rc3") $(lines "$TMP/rd.out")" "0 0 0 5" \
		"sqs-poll file:DLQ --until-empty | sqs-send --queue-url file:Q | sqs-delete: exit 0 0 0, 5 moved"
	is "$(qattr "$dlq" '[.visible, .in_flight]') $(qattr "$q" .visible)" "[0,0] 5" \
		"the dead-letter spool is empty, the queue holds the 5"
	t_run 0 "the redriven messages" sqs-poll --queue-url "$q" --until-empty --delete
	is "$(jq -c .body "$TMP/out" | sort | tr '\n' ' ')" "$(sort "$TMP/red.in" | tr '\n' ' ')" "with their bodies"
	is "$(jq -r '[.receive_count, .message_attributes.k.StringValue] | @tsv' "$TMP/out" | sort -u)" \
		"$(printf '1\tkept')" "new messages (receive_count 1), their attributes kept"
}

# --- missing spools, bad receipt handles ----------------------------------

missing() {
	t_run 78 "sqs-poll of a missing spool: exit 78" sqs-poll --queue-url "$S/none"
	grep -q 'no such queue' "$TMP/err" && [ ! -s "$TMP/out" ]
	ok $? "it says there is no such queue"
	printf '{"queue_url":"%s","receipt_handle":"x.%s","body":1}\n' "$S/none" 1 "$S/none" 2 >"$TMP/none.env"
	t_run 78 "sqs-delete of envelopes of a missing spool: exit 78" \
		sqs-delete --rejects "$TMP/none.rej" <"$TMP/none.env"
	is "$(lines "$TMP/out") $(lines "$TMP/none.rej")" "0 2" "the 2 lines are rejected"
	t_run 0 "sqs-send to a missing spool creates it: exit 0" sqs-send --queue-url "$S/made" <"$TMP/none.env"
	is "$(qattr "$S/made" .visible)" 2 "it holds the 2 lines"

	timeout 30 sqs-poll --queue-url "$S/made" --max 1 --visibility-timeout 1 >"$TMP/made.env" 2>/dev/null
	sleep 2.2
	timeout 30 sqs-poll --queue-url "$S/made" --until-empty >/dev/null 2>&1 # receives it again
	{
		cat "$TMP/made.env"
		printf '{"queue_url":"%s","receipt_handle":"not-a-handle","body":1}\n' "$S/made"
	} >"$TMP/made.mix"
	t_run 65 "sqs-delete with a stale and an invalid receipt handle: exit 65" \
		sqs-delete -v --rejects "$TMP/made.rej" <"$TMP/made.mix"
	is "$(lines "$TMP/out") $(jq -r '[.line, .code, .retryable] | @tsv' "$TMP/made.rej")" \
		"$(printf '1 2\tReceiptHandleIsInvalid\tfalse')" \
		"the stale handle's line is written (nothing deleted, as SQS), the invalid one rejected"
	grep -q '1 receipt handles were stale' "$TMP/err"
	ok $? "the summary counts the stale handle"
	is "$(qattr "$S/made" '.visible + .in_flight')" 2 "both messages are still there"
}

# --- concurrent producers and consumers -----------------------------------

concurrency() {
	q=$S/conc
	timeout 30 sqs-queue create "$q" >/dev/null 2>&1
	: >"$TMP/conc.in"
	for p in 1 2 3 4; do
		seq 500 | sed "s/.*/{\"p\":$p,\"n\":&}/" >"$TMP/conc.$p.in"
		cat "$TMP/conc.$p.in" >>"$TMP/conc.in"
	done
	# 2 consumer pipelines, sqs-poll | sqs-delete through named pipes so
	# that each process can be signalled and its status read.
	for c in 1 2; do
		mkfifo "$TMP/conc.pipe.$c"
		# --foreground: timeout forwards a signal to its own process group
		# too, and a second SIGTERM makes a program exit at once.
		timeout --foreground -k 5 120 sqs-poll --queue-url "$q" --wait 1 -w 2 >"$TMP/conc.pipe.$c" 2>"$TMP/conc.poll.$c.err" &
		eval "poll_$c=$!"
		timeout -k 5 120 sqs-delete <"$TMP/conc.pipe.$c" >"$TMP/conc.out.$c" 2>"$TMP/conc.del.$c.err" &
		eval "del_$c=$!"
	done
	at_exit "bg_kill $poll_1 $poll_2 $del_1 $del_2"
	for p in 1 2 3 4; do
		timeout -k 5 120 sqs-send --queue-url "$q" <"$TMP/conc.$p.in" >"$TMP/conc.sent.$p" 2>"$TMP/conc.send.$p.err" &
		eval "send_$p=$!"
	done
	at_exit "bg_kill $send_1 $send_2 $send_3 $send_4"
	src=
	for p in 1 2 3 4; do
		eval "pid=\$send_$p"
		wait "$pid"
		src="$src$?"
	done
	is "$src" "0000" "4 sqs-send at once: each exits 0"
	n=0
	while [ "$(qattr "$q" '.visible + .in_flight')" != 0 ] && [ $n -lt 300 ]; do
		sleep 0.2
		n=$((n + 1))
	done
	is "$(qattr "$q" '[.visible, .in_flight]')" '[0,0]' "the 2 consumers drain the spool while they send"
	kill -TERM "$poll_1" "$poll_2"
	rcs=
	for pid in "$poll_1" "$del_1" "$poll_2" "$del_2"; do
		wait "$pid"
		rcs="$rcs$?"
	done
	is "$rcs" "0000" "SIGTERM ends each sqs-poll; every process exits 0"
	cat "$TMP/conc.sent".? >"$TMP/conc.sent"
	same_lines "$TMP/conc.sent" "$TMP/conc.in" "the producers wrote the 2,000 lines"
	cat "$TMP/conc.out".? >"$TMP/conc.out"
	diag "consumer 1 deleted $(lines "$TMP/conc.out.1"), consumer 2 $(lines "$TMP/conc.out.2")"
	is "$(lines "$TMP/conc.out") $(jq -r .message_id "$TMP/conc.out" | sort -u | wc -l | tr -d ' ')" "2000 2000" \
		"the consumers deleted 2,000 messages, each once"
	jq -c .body "$TMP/conc.out" >"$TMP/conc.bodies"
	same_lines "$TMP/conc.bodies" "$TMP/conc.in" "exactly the 2,000 lines: nothing lost, nothing duplicated"
	is "$(qattr "$q" '.attributes["chatpipe:Corrupt"] // "none"')" '"none"' "nothing set aside as corrupt"
}

# --- kill -9 --------------------------------------------------------------

kill9() {
	q=$S/crash
	timeout 30 sqs-queue create "$q" --visibility-timeout 2 >/dev/null 2>&1
	seq 20000 | sed 's/.*/{"k":&}/' >"$TMP/k.in"
	# 4 senders fill the queue, a fifth is killed in the middle.
	for p in 1 2 3 4; do
		sed -n "$((p * 1500 - 1499)),$((p * 1500))p" "$TMP/k.in" >"$TMP/k.$p.in"
		timeout -k 5 60 sqs-send --queue-url "$q" <"$TMP/k.$p.in" >"$TMP/k.sent.$p" 2>/dev/null &
		eval "ksend_$p=$!"
	done
	sed -n '6001,$p' "$TMP/k.in" >"$TMP/k.0.in"
	sqs-send --queue-url "$q" -j 4 <"$TMP/k.0.in" >"$TMP/k.sent.0" 2>/dev/null &
	sender=$!
	at_exit "bg_kill $sender"
	sleep 1.5
	kill -KILL $sender
	{ wait $sender; } 2>/dev/null
	is "$?" 137 "a sqs-send is killed with SIGKILL in the middle of its input"
	src=
	for p in 1 2 3 4; do
		eval "pid=\$ksend_$p"
		wait "$pid"
		src="$src$?"
	done
	is "$src" "0000" "4 other sqs-send, at the same time, exit 0"
	# What the senders acknowledged: the complete lines they wrote.
	{ for p in 0 1 2 3 4; do complete_lines "$TMP/k.sent.$p"; done; } >"$TMP/k.acked"
	acked=$(lines "$TMP/k.acked")
	a0=$(complete_lines "$TMP/k.sent.0" | wc -l | tr -d ' ')
	[ "$a0" -gt 0 ] && [ "$a0" -lt 14000 ]
	ok $? "the killed one had acknowledged $a0 of its 14000 lines"

	# kill -9 of the whole pipeline (tee keeps what sqs-poll handed on).
	mkfifo "$TMP/kb.pipe1" "$TMP/kb.pipe2"
	sqs-poll --queue-url "$q" -w 2 >"$TMP/kb.pipe1" 2>/dev/null &
	kpoll=$!
	timeout -k 5 60 tee "$TMP/kb.polled" <"$TMP/kb.pipe1" >"$TMP/kb.pipe2" &
	ktee=$!
	sqs-delete <"$TMP/kb.pipe2" >"$TMP/kb.del" 2>/dev/null &
	kdel=$!
	at_exit "bg_kill $kpoll $kdel $ktee"
	sleep 0.2
	kill -KILL $kpoll $kdel
	{ wait $kpoll; } 2>/dev/null
	r1=$?
	{ wait $kdel; } 2>/dev/null
	r2=$?
	wait $ktee
	is "$r1 $r2" "137 137" "kill -9 of both sqs-poll and sqs-delete in the middle"
	complete_lines "$TMP/kb.polled" >"$TMP/kb.pol"
	diag "sqs-poll had handed on $(lines "$TMP/kb.pol") envelopes"

	# kill -9 of sqs-poll alone: sqs-delete finishes what it got, exit 0.
	mkfifo "$TMP/ka.pipe"
	sqs-poll --queue-url "$q" -w 2 >"$TMP/ka.pipe" 2>/dev/null &
	kpoll=$!
	timeout -k 5 60 sqs-delete --rejects "$TMP/ka.rej" <"$TMP/ka.pipe" >"$TMP/ka.del" 2>"$TMP/ka.err" &
	kdel=$!
	at_exit "bg_kill $kpoll $kdel"
	sleep 0.2
	kill -KILL $kpoll
	{ wait $kpoll; } 2>/dev/null
	r1=$?
	wait $kdel
	r2=$?
	# sqs-poll may die in the middle of writing a line: sqs-delete then
	# rejects that last, partial line (exit 65); the message comes back.
	touch "$TMP/ka.rej"
	if [ "$r2" = 65 ] && [ "$(lines "$TMP/ka.rej")" = 1 ] &&
		[ "$(jq -r '.line == $n and (.error | startswith("not JSON"))' --argjson n "$(($(lines "$TMP/ka.del") + 1))" "$TMP/ka.rej")" = true ]; then
		diag "sqs-poll died in the middle of a line: sqs-delete rejected that partial last line"
		r2=0
	fi
	is "$r1 $r2" "137 0" "kill -9 of sqs-poll in sqs-poll | sqs-delete: sqs-delete ends at once, exit 0 (or 65 for a partial last line)"
	diag "it had deleted $(lines "$TMP/ka.del") messages"

	sleep 3.2 # the visibility timeout (2 s), and the sweep
	t_run 0 "the final drain, after the visibility timeout: exit 0" \
		sh -c 'sqs-poll --queue-url "$1" --until-empty -w 2 | sqs-delete' sh "$q"
	cp "$TMP/out" "$TMP/k.final"
	is "$(qattr "$q" '[.visible, .in_flight]')" '[0,0]' "the spool is empty after it"
	{ jq -c .body "$TMP/ka.del"; jq -c .body "$TMP/k.final"; } | sort -u >"$TMP/k.done"
	jq -c .body "$TMP/kb.pol" | sort -u >"$TMP/k.pol"
	sort -u "$TMP/k.acked" >"$TMP/k.sacked"
	is "$(comm -23 "$TMP/k.sacked" "$TMP/k.done" | comm -23 - "$TMP/k.pol" | wc -l | tr -d ' ')" 0 \
		"every line acknowledged by sqs-send was deleted, or handed to the killed sqs-delete: none lost"
	diag "$(comm -23 "$TMP/k.sacked" "$TMP/k.done" | wc -l | tr -d ' ') acknowledged lines were deleted by the killed sqs-delete, which wrote $(complete_lines "$TMP/kb.del" | wc -l | tr -d ' ') lines before it died"
	sort "$TMP/k.in" >"$TMP/k.sin"
	sort -u "$TMP/k.done" "$TMP/k.pol" | comm -23 - "$TMP/k.sin" >"$TMP/k.extra"
	is "$(lines "$TMP/k.extra")" 0 "nothing but lines sent"
	diag "$(($(sort -u "$TMP/k.done" "$TMP/k.pol" | wc -l) - acked)) lines were sent but not acknowledged when the sender died (allowed)"
	is "$(jq -r .message_id "$TMP/k.final" | sort | uniq -d)" "" "the final drain got each message once"
	{ jq -r .message_id "$TMP/ka.del"; jq -r .message_id "$TMP/kb.pol"; } | sort -u >"$TMP/k.seen"
	is "$(jq -r 'select(.receive_count < 2) | .message_id' "$TMP/k.final" | sort | comm -12 - "$TMP/k.seen")" "" \
		"a message delivered before the crash comes back only through visibility redelivery (receive_count >= 2)"
	diag "$(jq -r 'select(.receive_count >= 2) | .message_id' "$TMP/k.final" | wc -l | tr -d ' ') redelivered after the crash"
	diag "$(find "$TMP/crash/tmp" -type f 2>/dev/null | wc -l | tr -d ' ') temp files of the killed sender left (swept after 10 minutes)"
	is "$(qattr "$q" '.attributes["chatpipe:Corrupt"] // "none"')" '"none"' "nothing set aside as corrupt"
}

admin
round_trip
visibility_dlq
missing
concurrency
kill9
qt_end
