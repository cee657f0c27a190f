#!/bin/sh
# tests/integration/queue-heartbeat.t: sqs-poll --heartbeat MAX, the
# visibility heartbeat that keeps the messages sqs-poll wrote invisible
# while the stages downstream work on them, against fauxqs (a real SQS
# emulator on loopback) and against the local spool (file:DIR).
#
# Covered, on both, with a short visibility timeout T (2 s): messages
# written and not deleted stay in flight well past T; deleted downstream
# (sqs-delete of their envelopes), they leave the heartbeat, and once all
# have left, a sqs-poll that stopped receiving (--max) ends, exit 0, its -v
# summary counting them; after MAX they come back (visible again), and
# sqs-poll (--until-empty) ends about then; SIGTERM ends it at once, exit
# 0, and what it held comes back within T; a pipeline whose middle stage
# takes longer than 2 T gets each message once (no redelivery) and ends on
# its own; without --heartbeat, nothing changes (the messages come back
# after T).  Also: the usage errors (exit 64); and on fauxqs, through a
# fault proxy that refuses every change for good (403 AccessDenied), one
# warning, the messages let go, and sqs-poll ends.
#
# The scenarios of one queue type run at the same time, each on its own
# queue, so the whole test takes about half a minute; every wait is a
# bounded poll, except the two that let time pass on purpose.
# shellcheck disable=SC2016,SC2154 # jq programs in single quotes; qt_proxy sets NAME_url by eval
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=SCRIPTDIR/../peers/peer.sh
. "$PEERS/peer.sh"
# shellcheck source=SCRIPTDIR/../peers/queue-test.sh
. "$PEERS/queue-test.sh"

T=2 # the visibility timeout of every sqs-poll here

# waitfor SECONDS CMD...: polls CMD every 0.1 s until it succeeds (status
# 0), or SECONDS have passed (status 1).
waitfor() {
	_end=$(($(now_ms) + $1 * 1000))
	shift
	until "$@"; do
		[ "$(now_ms)" -lt "$_end" ] || return 1
		sleep 0.1
	done
}

# has_lines FILE N: FILE has at least N lines.
has_lines() { [ -f "$1" ] && [ "$(lines "$1")" -ge "$2" ]; }

# bg NAME CMD...: runs CMD in the background (at most 60 s) with stdout in
# $D/NAME.out and stderr in $D/NAME.err; $D/NAME.pid names it (timeout,
# which passes signals on), $D/NAME.rc gets its exit status when it ends,
# $D/NAME.t0 and $D/NAME.t1 when it started and ended (ms).
bg() {
	_b=$1
	shift
	rm -f "$D/$_b.rc" "$D/$_b.pid"
	now_ms >"$D/$_b.t0"
	(
		sh -c 'echo $$ >"$0.pid"; exec timeout --foreground -k 5 60 "$@"' "$D/$_b" "$@" \
			>"$D/$_b.out" 2>"$D/$_b.err"
		_rc=$?
		now_ms >"$D/$_b.t1"
		echo $_rc >"$D/$_b.rc"
	) &
	waitfor 10 test -s "$D/$_b.pid" || echo "Bail out! $_b does not start"
	at_exit "kill -KILL $(cat "$D/$_b.pid") 2>/dev/null"
}

# ended NAME: the background command NAME has ended.
ended() { [ -s "$D/$1.rc" ]; }

# ran NAME: how long NAME ran, in ms, once it has ended.
ran() { echo $(($(cat "$D/$1.t1") - $(cat "$D/$1.t0"))); }

# visible URL: how many messages the queue shows now, without consuming
# them (a peek of short polls); after it, sqs-queue attributes counts them
# right on fauxqs too, which moves expired messages back only on a receive.
visible() {
	timeout -k 5 60 sqs-poll --queue-url "$1" --peek --until-empty --wait 0 --raw 2>"$TMP/visible.err" |
		wc -l | tr -d ' '
}

# counts URL: [visible, in flight].
counts() {
	visible "$1" >/dev/null
	qattr "$1" '[.visible, .in_flight]'
}

# visible_is URL N: the queue shows N messages.
visible_is() { [ "$(visible "$1")" = "$2" ]; }

# slow: copies its input a line at a time, 0.7 s a line: a stage that
# takes longer than T over a few lines.
slow() {
	while IFS= read -r _l; do
		sleep 0.7
		printf '%s\n' "$_l"
	done
}

# hb_summary FILE: the counts of sqs-poll's -v heartbeat summary, as
# "EXTENDED DELETED AT_MAX FAILED LEFT".
hb_summary() {
	sed -n 's/.*heartbeat: extended \([0-9]*\) times; released \([0-9]*\) deleted downstream, \([0-9]*\) at --heartbeat [0-9]* s, \([0-9]*\) failed, \([0-9]*\) left held.*/\1 \2 \3 \4 \5/p' "$1" |
		tail -n 1
}

# suite KIND MKQ: the scenarios on one kind of queue; MKQ NAME creates a
# queue and prints its URL.
suite() {
	kind=$1 mk=$2
	D=$TMP/$kind
	mkdir -p "$D"
	qh=$($mk held) qm=$($mk max) qt=$($mk term) qn=$($mk plain) qp=$($mk pipe)
	seq 9 | sed 's/.*/{"h":&}/' | timeout 30 sqs-send --queue-url "$qh" >/dev/null 2>&1
	for q in "$qm" "$qn"; do
		seq 3 | sed 's/.*/{"m":&}/' | timeout 30 sqs-send --queue-url "$q" >/dev/null 2>&1
	done
	seq 12 | sed 's/.*/{"t":&}/' | timeout 30 sqs-send --queue-url "$qt" >/dev/null 2>&1
	seq 6 | sed 's/.*/{"p":&}/' | timeout 30 sqs-send --queue-url "$qp" >/dev/null 2>&1
	is "$(qattr "$qh" .visible) $(qattr "$qm" .visible) $(qattr "$qt" .visible) $(qattr "$qp" .visible)" "9 3 12 6" \
		"$kind: the queues hold their messages"

	t0=$(now_ms)
	bg held sqs-poll --queue-url "$qh" --visibility-timeout $T --heartbeat 30 --max 6 -v
	bg max sqs-poll --queue-url "$qm" --visibility-timeout $T --heartbeat 8 --until-empty --wait 1 -v
	bg term sqs-poll --queue-url "$qt" --visibility-timeout $T --heartbeat 60 -v
	(
		{
			timeout -k 5 60 sqs-poll --queue-url "$qp" --visibility-timeout $T --heartbeat 30 \
				--until-empty --wait 1 -v 2>"$D/pipe.err"
			echo $? >"$D/pipe.prc"
		} | slow | timeout -k 5 60 sqs-delete >"$D/pipe.out" 2>"$D/pipe.derr"
		echo $? >"$D/pipe.rc"
	) &
	t_run 0 "$kind: without --heartbeat, sqs-poll --visibility-timeout $T --max 3: exit 0" \
		sqs-poll --queue-url "$qn" --visibility-timeout $T --max 3 -v
	[ "$(lines "$TMP/out")" = 3 ] && [ "$t_ms" -lt 5000 ] && ! grep -q heartbeat "$TMP/err"
	ok $? "$kind: it writes the 3 and ends at once ($t_ms ms), no heartbeat"

	waitfor 20 has_lines "$D/held.out" 6
	ok $? "$kind: sqs-poll --heartbeat 30 --max 6 writes 6 envelopes"
	waitfor 20 has_lines "$D/max.out" 3
	ok $? "$kind: sqs-poll --heartbeat 8 --until-empty writes the 3"
	waitfor 20 has_lines "$D/term.out" 12
	ok $? "$kind: sqs-poll --heartbeat 60 writes the 12"

	# Well past T: 2.5 T after the receive.
	_s=$((t0 + 5 * T * 1000 / 2 - $(now_ms)))
	[ "$_s" -le 0 ] || sleep "$(echo "$_s" | awk '{ printf "%.3f", $1 / 1000 }')"
	diag "$kind: $(($(now_ms) - t0)) ms after the start"
	is "$(counts "$qh")" '[3,6]' "$kind: 2.5 T later, the 6 written are still in flight, 3 visible"
	is "$(counts "$qm")" '[0,3]' "$kind: and the 3 of --heartbeat 8"
	is "$(counts "$qt")" '[0,12]' "$kind: and the 12 of --heartbeat 60 (2 batches of changes)"
	is "$(counts "$qn")" '[3,0]' "$kind: without --heartbeat, the 3 came back after T"
	is "$(lines "$D/held.out") $(lines "$D/max.out") $(lines "$D/term.out")" "6 3 12" \
		"$kind: none of them came back to sqs-poll (no redelivery)"
	! ended held && ! ended term
	ok $? "$kind: sqs-poll --max 6 and the one without limit still run, holding them"

	# Deleted downstream: the heartbeat notices, and ends with the last.
	head -n 3 "$D/held.out" | timeout -k 5 30 sqs-delete >/dev/null 2>&1
	sleep 1.5 # > T/2: each of the 3 had its turn since
	! ended held
	ok $? "$kind: after sqs-delete of 3 of the 6, sqs-poll still runs"
	is "$(counts "$qh")" '[3,3]' "$kind: the 3 others are still in flight"
	t1=$(now_ms)
	tail -n 3 "$D/held.out" | timeout -k 5 30 sqs-delete >/dev/null 2>&1
	waitfor 10 ended held
	ok $? "$kind: after sqs-delete of the last 3, sqs-poll ends ($(($(now_ms) - t1)) ms later)"
	is "$(cat "$D/held.rc" 2>/dev/null)" 0 "$kind: exit 0"
	is "$(hb_summary "$D/held.err" | cut -d' ' -f2-)" "6 0 0 0" \
		"$kind: its -v summary: released 6 deleted downstream, none at MAX, none failed, none left"
	[ "$(hb_summary "$D/held.err" | cut -d' ' -f1)" -ge 12 ]
	ok $? "$kind: and it extended them at least twice each ($(hb_summary "$D/held.err" | cut -d' ' -f1) times)"
	grep -q 'stopped receiving: keeping 6 messages invisible' "$D/held.err"
	ok $? "$kind: it said it kept 6 messages invisible after it stopped receiving"
	is "$(counts "$qh")" '[3,0]' "$kind: the 6 are gone, the 3 never received are there"

	# SIGTERM: at once, exit 0; what it held comes back within T.
	t1=$(now_ms)
	kill -TERM "$(cat "$D/term.pid")"
	waitfor 10 ended term
	ms=$(($(now_ms) - t1))
	is "$(cat "$D/term.rc" 2>/dev/null)" 0 "$kind: SIGTERM: exit 0"
	[ "$ms" -lt 3000 ]
	ok $? "$kind: at once ($ms ms)"
	waitfor 10 visible_is "$qt" 12
	ok $? "$kind: the 12 it held come back ($(($(now_ms) - t1)) ms after SIGTERM)"

	# MAX: --heartbeat 8 ends when the last change is made, and the
	# messages come back 8 s after their receive at the latest.
	waitfor 15 ended max
	ok $? "$kind: sqs-poll --heartbeat 8 --until-empty ends"
	is "$(cat "$D/max.rc" 2>/dev/null)" 0 "$kind: exit 0"
	ms=$(ran max 2>/dev/null || echo 0)
	[ "$ms" -ge 5000 ] && [ "$ms" -lt 12000 ]
	ok $? "$kind: after MAX - T at the earliest ($ms ms)"
	is "$(hb_summary "$D/max.err" | cut -d' ' -f2-)" "0 3 0 0" "$kind: its -v summary: 3 at --heartbeat 8 s"
	waitfor 10 visible_is "$qm" 3
	ok $? "$kind: the 3 come back after MAX (checked $(($(now_ms) - t0)) ms after the start)"

	# A slow stage in the middle: each message once, no redelivery.
	waitfor 30 test -s "$D/pipe.rc"
	ok $? "$kind: sqs-poll --heartbeat | a stage of 4 s | sqs-delete ends"
	is "$(cat "$D/pipe.prc" 2>/dev/null) $(cat "$D/pipe.rc" 2>/dev/null)" "0 0" "$kind: sqs-poll and sqs-delete exit 0"
	is "$(lines "$D/pipe.out") $(jq -r .message_id "$D/pipe.out" | sort -u | wc -l | tr -d ' ') $(jq -r .receive_count "$D/pipe.out" | sort -u | tr '\n' ' ')" \
		"6 6 1 " "$kind: the 6 messages went through once each (receive_count 1: no redelivery)"
	is "$(hb_summary "$D/pipe.err" | cut -d' ' -f2-)" "6 0 0 0" "$kind: released 6 deleted downstream"
	is "$(counts "$qp")" '[0,0]' "$kind: the queue is empty"
}

mkdir "$TMP/spool"
spool_q() { # spool_q NAME: a new spool under $TMP/spool
	timeout -k 5 30 sqs-queue create "file:$TMP/spool/$1" | jq -r .queue_url
}
fauxqs_q() { # fauxqs_q NAME: a new fauxqs queue
	timeout -k 5 60 sqs-queue create "hb-$1" | jq -r .queue_url
}

# --- usage ----------------------------------------------------------------

usage() {
	q=$(spool_q usage)
	sqs-poll --help >"$TMP/help" 2>&1
	grep -q -- '--heartbeat=MAX' "$TMP/help"
	ok $? "sqs-poll --help lists --heartbeat=MAX"
	t_run 64 "--heartbeat with --peek: exit 64" sqs-poll --queue-url "$q" --heartbeat 60 --peek
	grep -q 'contradict' "$TMP/err"
	ok $? "it says they contradict each other"
	t_run 64 "--heartbeat with --delete: exit 64" sqs-poll --queue-url "$q" --heartbeat 60 --delete
	t_run 64 "--heartbeat 0: exit 64" sqs-poll --queue-url "$q" --heartbeat 0
	t_run 64 "--heartbeat 43201: exit 64" sqs-poll --queue-url "$q" --heartbeat 43201 --visibility-timeout 60
	t_run 64 "--heartbeat 1m: exit 64" sqs-poll --queue-url "$q" --heartbeat 1m
	t_run 64 "--heartbeat with --visibility-timeout 0: exit 64" \
		sqs-poll --queue-url "$q" --heartbeat 60 --visibility-timeout 0
	t_run 64 "--heartbeat 30 with the default visibility timeout (30 s): exit 64" \
		sqs-poll --queue-url "$q" --heartbeat 30
	t_run 64 "--heartbeat 5 --visibility-timeout 5: exit 64" \
		sqs-poll --queue-url "$q" --heartbeat 5 --visibility-timeout 5
	grep -q 'not longer than the visibility timeout' "$TMP/err"
	ok $? "it says MAX must be longer than the visibility timeout"
	is "$(qattr "$q" '[.visible, .in_flight]')" '[0,0]' "none of them touched the queue"
}

usage
suite spool spool_q

qt_fauxqs "$TMP/fauxqs"
export AWS_ENDPOINT_URL="$FAUXQS_ENDPOINT"
diag "fauxqs at $FAUXQS_ENDPOINT"
suite fauxqs fauxqs_q

# --- changes refused for good ---------------------------------------------

# A proxy refuses every ChangeMessageVisibilityBatch (403 AccessDenied):
# the heartbeat warns once, lets the messages go, and sqs-poll ends.
refused() {
	qt_proxy deny --target "$FAUXQS_ENDPOINT" --match ChangeMessageVisibilityBatch --p-throttle 1 \
		--throttle-status 403 --throttle-body '{"__type":"com.amazonaws.sqs#AccessDenied","message":"injected"}'
	q=$(fauxqs_q denied)
	seq 3 | sed 's/.*/{"d":&}/' | timeout 30 sqs-send --queue-url "$q" >/dev/null 2>&1
	t_run 0 "changes refused (403 AccessDenied): sqs-poll --heartbeat 30 --max 3 ends, exit 0" \
		sqs-poll --queue-url "$q" --endpoint-url "$deny_url" --visibility-timeout $T --heartbeat 30 --max 3 -v
	t1=$(now_ms)
	is "$(lines "$TMP/out") $(grep -c 'keeping a message invisible failed: AccessDenied' "$TMP/err")" "3 1" \
		"it writes the 3 and warns once, naming the error"
	grep -q '3 messages could not be kept invisible' "$TMP/err"
	ok $? "it says at the end how many it could not keep"
	is "$(hb_summary "$TMP/err")" "0 0 0 3 0" "its -v summary: 3 failed"
	[ "$t_ms" -lt $((T * 1000 + 3000)) ]
	ok $? "it ends at the first change ($t_ms ms)"
	waitfor 10 visible_is "$q" 3
	ok $? "the 3 come back ($(($(now_ms) - t1)) ms later)"
}
refused

qt_end
