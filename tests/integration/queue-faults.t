#!/bin/sh
# tests/integration/queue-faults.t: sqs-send, sqs-poll and sqs-delete
# through tests/peers/faultproxy.js in front of the fauxqs SQS emulator
# (--endpoint-url points at the proxy): throttling in SQS's own shapes
# (400 ThrottlingException, 403 RequestThrottled), 5xx, timeouts, dropped
# and reset connections, answers lost after the server acted, latency.
#
#   - 2,000 lines through sqs-send under mixed faults lose nothing: every
#     line is written or rejected as retryable, the queue holds at least
#     the written ones (duplicates from lost answers are allowed, counted);
#   - a proxy that always fails: each program ends within the retry budget,
#     after at most its attempts, rejecting as retryable (exit 75); a 4xx
#     is not retried;
#   - sqs-poll | sqs-delete drains a queue through faults: every message is
#     received and deleted, none lost;
#   - timeouts are retried; -w and -j really keep requests in flight;
#     SIGTERM finishes what is in flight.
# The two timeout cases (30 s and 16 s attempts) run in the background
# while the rest goes on.
# shellcheck disable=SC2016,SC2154 # jq programs in single quotes; qt_proxy sets NAME_url by eval
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=SCRIPTDIR/../peers/peer.sh
. "$PEERS/peer.sh"
# shellcheck source=SCRIPTDIR/../peers/queue-test.sh
. "$PEERS/queue-test.sh"

QT_TIMEOUT=120
qt_fauxqs "$TMP/fauxqs"
# Set-up and checks talk to fauxqs directly; the programs under test get
# --endpoint-url of a proxy.
export AWS_ENDPOINT_URL="$FAUXQS_ENDPOINT"
diag "fauxqs at $FAUXQS_ENDPOINT"

mkq() { timeout -k 5 60 sqs-queue create "$@" | jq -r .queue_url; }

# drain URL FILE: receives (and deletes) every message of a queue directly,
# bodies to FILE.
drain() {
	timeout -k 5 60 sqs-poll --queue-url "$1" --until-empty --wait 1 -w 4 --raw --delete >"$2" 2>/dev/null
}

# --- timeouts, in the background ------------------------------------------

timeouts_start() {
	qt_proxy tmo --target "$FAUXQS_ENDPOINT" --match SendMessageBatch --schedule timeout
	qt_proxy rtmo --target "$FAUXQS_ENDPOINT" --match ReceiveMessage --schedule timeout
	tq=$(mkq qt-timeout)
	rq=$(mkq qt-rtimeout)
	seq 3 | sed 's/.*/{"r":&}/' | timeout 30 sqs-send --queue-url "$rq" >/dev/null 2>&1
	seq 10 | sed 's/.*/{"t":&}/' >"$TMP/tmo.in"
	tmo_t0=$(now_ms)
	(timeout -k 5 90 sqs-send --queue-url "$tq" --endpoint-url "$tmo_url" -v <"$TMP/tmo.in" \
		>"$TMP/tmo.out" 2>"$TMP/tmo.err"; echo "$? $(($(now_ms) - tmo_t0))" >"$TMP/tmo.rc") &
	tmo_job=$!
	(timeout -k 5 90 sqs-poll --queue-url "$rq" --endpoint-url "$rtmo_url" --wait 1 --max 3 \
		>"$TMP/rtmo.out" 2>"$TMP/rtmo.err"; echo "$? $(($(now_ms) - tmo_t0))" >"$TMP/rtmo.rc") &
	rtmo_job=$!
}

timeouts_check() {
	wait "$tmo_job" "$rtmo_job"
	read -r rc ms <"$TMP/tmo.rc"
	set -- "$rc" "$ms"
	is "$1" 0 "sqs-send whose first SendMessageBatch gets no answer: exit 0"
	[ "$2" -ge 29000 ] && [ "$2" -lt 60000 ]
	ok $? "it gave up on the attempt after its 30 s timeout, and retried ($2 ms)"
	same_lines "$TMP/tmo.out" "$TMP/tmo.in" "it writes the 10 lines"
	is "$(pctl "$tmo_url" stats '[.injected.timeout, .requests]')" '[1,2]' \
		"the proxy saw the timed-out request and one retry"
	drain "$tq" "$TMP/tmo.q"
	same_lines "$TMP/tmo.q" "$TMP/tmo.in" "the queue holds the 10, once each"

	read -r rc ms <"$TMP/rtmo.rc"
	set -- "$rc" "$ms"
	is "$1 $(lines "$TMP/rtmo.out")" "0 3" \
		"sqs-poll whose first ReceiveMessage gets no answer: exit 0, with the 3 messages"
	[ "$2" -ge 15000 ] && [ "$2" -lt 45000 ]
	ok $? "it retried after the long poll's timeout (wait + 15 s) ($2 ms)"
}

# --- 2,000 lines under mixed faults ---------------------------------------

send_mixed() {
	q=$(mkq qt-mixed)
	qt_proxy mix --target "$FAUXQS_ENDPOINT" --seed 11 --throttle sqs \
		--p-503 0.05 --p-500 0.03 --p-throttle 0.05 --p-drop 0.02 --p-reset 0.02 --p-lose 0.04
	seq 2000 | sed 's/.*/{"n":&,"pad":"mixed faults"}/' >"$TMP/mix.in"
	t_run 0 "sqs-send of 2,000 lines through 503s, 500s, throttling, drops, resets, lost answers" \
		sqs-send --queue-url "$q" --endpoint-url "$mix_url" -v --rejects "$TMP/mix.rej" <"$TMP/mix.in"
	if [ "$t_rc" -eq 75 ]; then diag "(exit 75 is right too when some lines ran out of retries)"; fi
	cp "$TMP/out" "$TMP/mix.out"
	cp "$TMP/err" "$TMP/mix.err"
	touch "$TMP/mix.rej"
	diag "it took $t_ms ms; proxy: $(pctl "$mix_url" stats '{requests, forwarded, injected}')"
	is "$(($(lines "$TMP/mix.out") + $(lines "$TMP/mix.rej")))" 2000 \
		"written + rejected = 2000 ($(lines "$TMP/mix.out") + $(lines "$TMP/mix.rej"))"
	is "$(summary read "$TMP/mix.err") $(summary written "$TMP/mix.err") $(summary rejected "$TMP/mix.err")" \
		"2000 $(lines "$TMP/mix.out") $(lines "$TMP/mix.rej")" "the -v summary counts the same"
	is "$(jq -r 'select(.retryable != true) | .line' "$TMP/mix.rej")" "" "every reject (if any) is retryable"
	is "$(pctl "$mix_url" stats '[.injected["503"], .injected["500"], .injected.throttle, .injected.drop,
		.injected.reset, .injected.lose] | map(select(. == 0)) | length')" 0 \
		"each kind of fault was injected at least once"
	drain "$q" "$TMP/mix.q"
	sort -u "$TMP/mix.q" >"$TMP/mix.uq"
	dups=$(($(lines "$TMP/mix.q") - $(lines "$TMP/mix.uq")))
	diag "the queue held $(lines "$TMP/mix.q") messages: $dups duplicates (answers lost after fauxqs acted)"
	is "$(sort "$TMP/mix.out" | comm -23 - "$TMP/mix.uq" | wc -l | tr -d ' ')" 0 \
		"every line written is in the queue: none lost"
	sort "$TMP/mix.in" >"$TMP/mix.sin"
	is "$(comm -23 "$TMP/mix.uq" "$TMP/mix.sin" | wc -l | tr -d ' ')" 0 \
		"the queue holds nothing but lines sent"
	is "$(pctl "$mix_url" stats '.injected.lose > 0')" true "answers were lost after fauxqs acted"
}

# --- a peer that always fails: the retry budget ---------------------------

budget() {
	q=$(mkq qt-budget)
	qt_proxy bad --target "$FAUXQS_ENDPOINT" --p-503 1
	seq 30 | sed 's/.*/{"b":&}/' >"$TMP/bad.in"
	t_run 75 "sqs-send when every answer is 503: exit 75" \
		sqs-send --queue-url "$q" --endpoint-url "$bad_url" -v --rejects "$TMP/bad.rej" <"$TMP/bad.in"
	[ "$t_ms" -lt 65000 ]
	ok $? "it ends within the 60 s retry budget ($t_ms ms)"
	is "$(lines "$TMP/out") $(lines "$TMP/bad.rej")" "0 30" "nothing written, the 30 lines rejected"
	is "$(jq -r '[.retryable, (.error | test("ServiceUnavailable"))] | @tsv' "$TMP/bad.rej" | sort -u)" \
		"$(printf 'true\ttrue')" "each as retryable, with the reason (ServiceUnavailable)"
	is "$(pctl "$bad_url" stats .requests)" 24 "3 batches, 8 attempts each: 24 requests, no more"
	is "$(qattr "$q" .visible)" 0 "the queue got nothing"

	pctl "$bad_url" reset >/dev/null
	t_run 75 "sqs-poll when every answer is 503: exit 75" \
		sqs-poll --queue-url "$q" --endpoint-url "$bad_url" --wait 1
	[ "$t_ms" -lt 65000 ] && grep -q 'ServiceUnavailable' "$TMP/err"
	ok $? "within the budget ($t_ms ms), saying why"
	is "$(pctl "$bad_url" stats .requests)" 8 "after 8 attempts"

	seq 4 | sed 's/.*/{"d":&}/' | timeout 30 sqs-send --queue-url "$q" >/dev/null 2>&1
	timeout 30 sqs-poll --queue-url "$q" --max 4 >"$TMP/bad.env" 2>/dev/null
	t_run 75 "sqs-delete when every answer is 503: exit 75" \
		sqs-delete --endpoint-url "$bad_url" --rejects "$TMP/bad.drej" <"$TMP/bad.env"
	is "$(lines "$TMP/out") $(jq -r .retryable "$TMP/bad.drej" | sort | uniq -c | tr -s ' ')" "0  4 true" \
		"the 4 lines are rejected as retryable"
	is "$(qattr "$q" '[.visible, .in_flight]')" '[0,4]' "the messages are not deleted (in flight)"
	t_run 75 "sqs-queue attributes when every answer is 503: exit 75" \
		sqs-queue attributes "$q" --endpoint-url "$bad_url"

	# A 4xx other than throttling is final at once.
	pctl "$bad_url" 'config?p-503=0&p-throttle=1&throttle-status=400&throttle-body=%7B%22__type%22%3A%22com.amazon.coral.service%23InvalidParameterValueException%22%2C%22message%22%3A%22injected%22%7D' >/dev/null
	pctl "$bad_url" reset >/dev/null
	t_run 65 "sqs-send when the answer is 400 InvalidParameterValue: exit 65" \
		sqs-send --queue-url "$q" --endpoint-url "$bad_url" --rejects "$TMP/bad4.rej" <"$TMP/bad.in"
	is "$(jq -r .retryable "$TMP/bad4.rej" | sort | uniq -c | tr -s ' ')" " 30 false" \
		"the 30 lines are rejected, not retryable"
	is "$(pctl "$bad_url" stats .requests)" 3 "one request per batch: no retry"
}

# --- throttling in SQS's shapes, then success ------------------------------

throttling() {
	q=$(mkq qt-throttle)
	qt_proxy thr --target "$FAUXQS_ENDPOINT" --throttle sqs --schedule throttle,throttle,throttle
	seq 5 | sed 's/.*/{"t":&}/' >"$TMP/thr.in"
	t_run 0 "sqs-send through three 400 ThrottlingException answers: exit 0" \
		sqs-send --queue-url "$q" --endpoint-url "$thr_url" <"$TMP/thr.in"
	same_lines "$TMP/out" "$TMP/thr.in" "it writes the 5 lines"
	is "$(pctl "$thr_url" stats '[.injected.throttle, .requests]')" '[3,4]' "after 3 throttled attempts"
	pctl "$thr_url" 'config?throttle=sqs-403&schedule=throttle,throttle' >/dev/null
	pctl "$thr_url" reset >/dev/null
	t_run 0 "sqs-send through two 403 RequestThrottled answers: exit 0" \
		sqs-send --queue-url "$q" --endpoint-url "$thr_url" <"$TMP/thr.in"
	is "$(pctl "$thr_url" stats '[.injected.throttle, .requests]')" '[2,3]' "after 2 throttled attempts"
	drain "$q" "$TMP/thr.q"
	is "$(sort -u "$TMP/thr.q" | wc -l | tr -d ' ') $(lines "$TMP/thr.q")" "5 10" \
		"the queue holds the 5 lines twice (two runs), no more: throttled requests did nothing"

	pctl "$thr_url" 'config?throttle=sqs&schedule=throttle,throttle' >/dev/null
	seq 3 | timeout 30 sqs-send --queue-url "$q" >/dev/null 2>&1
	t_run 0 "sqs-poll through throttling: exit 0" sqs-poll --queue-url "$q" --endpoint-url "$thr_url" --max 3
	cp "$TMP/out" "$TMP/thr.env"
	is "$(lines "$TMP/thr.env")" 3 "it receives the 3"
	pctl "$thr_url" 'config?throttle=sqs-403&schedule=throttle' >/dev/null
	t_run 0 "sqs-delete through throttling: exit 0" sqs-delete --endpoint-url "$thr_url" <"$TMP/thr.env"
	is "$(qattr "$q" '[.visible, .in_flight]')" '[0,0]' "they are deleted"
}

# --- draining through faults ----------------------------------------------

drain_faults() {
	q=$(mkq qt-drain)
	seq 1000 | sed 's/.*/{"m":&}/' >"$TMP/dr.in"
	timeout 60 sqs-send --queue-url "$q" <"$TMP/dr.in" >/dev/null 2>&1
	qt_proxy drn --target "$FAUXQS_ENDPOINT" --seed 5 --throttle sqs-403 \
		--p-503 0.05 --p-500 0.03 --p-throttle 0.05 --p-drop 0.03 --p-reset 0.03 --p-lose 0.05
	: >"$TMP/dr.out"
	round=0 bad=''
	t0=$(now_ms)
	# Rounds until the queue is empty.  fauxqs counts an expired message as
	# in flight until a receive looks at the queue: a round does.  Messages
	# whose receive answer was lost come back after 3 s.
	while [ "$round" -lt 15 ] && [ $(($(now_ms) - t0)) -lt 60000 ]; do
		round=$((round + 1))
		before=$(lines "$TMP/dr.out")
		(timeout -k 5 60 sqs-poll --queue-url "$q" --endpoint-url "$drn_url" --until-empty --wait 1 -w 4 \
			--visibility-timeout 3 2>>"$TMP/dr.perr"; echo $? >"$TMP/dr.rc1") |
			(timeout -k 5 60 sqs-delete --endpoint-url "$drn_url" >>"$TMP/dr.out" 2>>"$TMP/dr.derr"; echo $? >"$TMP/dr.rc2")
		rcs="$(cat "$TMP/dr.rc1") $(cat "$TMP/dr.rc2")"
		[ "$rcs" = "0 0" ] || bad="$bad round $round: $rcs;"
		[ "$(qattr "$q" '.visible + .in_flight')" = 0 ] && break
		[ "$(lines "$TMP/dr.out")" -eq "$before" ] && sleep 1
	done
	diag "$round drain rounds in $(($(now_ms) - t0)) ms; proxy: $(pctl "$drn_url" stats '{requests, injected}')"
	is "$bad" "" "every sqs-poll --until-empty | sqs-delete round exits 0 0"
	is "$(qattr "$q" '[.visible, .in_flight]')" '[0,0]' "the queue is empty at the end"
	jq -c .body "$TMP/dr.out" | sort -u >"$TMP/dr.got"
	sort "$TMP/dr.in" >"$TMP/dr.sin"
	is "$(comm -3 "$TMP/dr.got" "$TMP/dr.sin" | wc -l | tr -d ' ')" 0 \
		"every message sent was received and deleted: none lost, none made up"
	diag "$(($(lines "$TMP/dr.out") - $(lines "$TMP/dr.got"))) received more than once (lost answers, redelivery)"
	is "$(pctl "$drn_url" stats '.injected.lose > 0 and .injected.drop > 0 and .injected.throttle > 0')" true \
		"answers were lost, connections dropped, requests throttled"
}

# --- latency: requests really in flight at once; SIGTERM ------------------

latency() {
	q=$(mkq qt-lat)
	qt_proxy slow --target "$FAUXQS_ENDPOINT" --delay-ms 400
	seq 80 | sed 's/.*/{"l":&}/' >"$TMP/lat.in"
	t_run 0 "sqs-send -j 1 of 8 batches through 400 ms of latency" \
		sqs-send --queue-url "$q" --endpoint-url "$slow_url" -j 1 <"$TMP/lat.in"
	j1=$t_ms
	t_run 0 "sqs-send -j 8 of the same" sqs-send --queue-url "$q" --endpoint-url "$slow_url" -j 8 <"$TMP/lat.in"
	j8=$t_ms
	[ "$j1" -ge 3200 ] && [ "$j8" -lt 2400 ]
	ok $? "-j 8 keeps the batches in flight at once ($j8 ms; one at a time: $j1 ms)"
	t_run 0 "sqs-poll -w 1 --batch 1 --max 8 through 400 ms of latency" \
		sqs-poll --queue-url "$q" --endpoint-url "$slow_url" -w 1 --batch 1 --max 8 --delete
	w1=$t_ms
	t_run 0 "sqs-poll -w 4 --batch 1 --max 8" \
		sqs-poll --queue-url "$q" --endpoint-url "$slow_url" -w 4 --batch 1 --max 8 --delete
	w4=$t_ms
	is "$(lines "$TMP/out")" 8 "it writes 8"
	[ "$w1" -ge 3200 ] && [ "$w4" -lt 2400 ]
	ok $? "-w 4 keeps 4 receives in flight ($w4 ms; one at a time: $w1 ms)"
	timeout 30 sqs-queue purge "$q" >/dev/null 2>&1

	# SIGTERM: stop reading, finish the batches in flight, exit 0.
	q=$(mkq qt-term)
	seq 5000 | sed 's/.*/{"s":&}/' >"$TMP/term.in"
	mkfifo "$TMP/term.fifo"
	(cat "$TMP/term.in" && exec sleep 60) >"$TMP/term.fifo" &
	feeder=$!
	at_exit "kill $feeder 2>/dev/null"
	# --foreground: else timeout signals its process group too (a second
	# SIGTERM makes a program exit at once).
	timeout --foreground -k 5 60 sqs-send --queue-url "$q" --endpoint-url "$slow_url" -v -j 2 \
		<"$TMP/term.fifo" >"$TMP/term.out" 2>"$TMP/term.err" &
	sender=$!
	sleep 1.5
	kill -TERM $sender
	wait $sender
	rc=$?
	kill $feeder 2>/dev/null
	wait $feeder 2>/dev/null
	is "$rc" 0 "SIGTERM to sqs-send in the middle of its input: exit 0"
	r=$(summary read "$TMP/term.err") w=$(summary written "$TMP/term.err") j=$(summary rejected "$TMP/term.err")
	diag "it read $r lines, wrote $w, rejected $j"
	[ -n "$r" ] && [ "$r" -lt 5000 ] && [ "$r" -eq $((w + j)) ] && [ "$w" -eq "$(lines "$TMP/term.out")" ]
	ok $? "it stopped reading; every line read was written or rejected"
	drain "$q" "$TMP/term.q"
	same_lines "$TMP/term.q" "$TMP/term.out" "the queue holds exactly the lines written"
}

timeouts_start
send_mixed
budget
throttling
drain_faults
latency
timeouts_check
qt_end
