#!/bin/sh
# The queue programs against what the issue compares them with, on
# loopback peers this script starts and stops itself (tests/peers/fauxqs
# with its request log off, tests/peers/faultproxy.js for added round trip):
#
#  1. sqs-send into fauxqs against the official AWS SDK for JavaScript v3
#     (bench/sdk-send.js) sending the same lines the same way (batches of
#     10, -j N batches in flight): msgs/s, and CPU per message of the
#     sending process alone (user+sys, /usr/bin/time), with and without its
#     start-up (an empty-input run).  Rounds interleaved, medians.
#  2. "sqs-poll | sqs-delete" draining a queue against the origin article's
#     consumer (bench/origin-consumer.js: one message per ReceiveMessage,
#     one DeleteMessage per message, two workers) and against a ceiling,
#     what the emulator gives out to the fastest client found making the
#     same requests as sqs-poll (bench/sqs-drain.js --attrs: batches of 10,
#     many loops; raw HTTP and SDK), at 0 ms and 10 ms of added round trip;
#     -w/-j tuned by a short sweep.
#  3. Peak RSS of sqs-send, sqs-poll and sqs-delete over RSS_N lines
#     through fauxqs, sampled over time (10%, 50%, 100% of the run).
#  4. The spool (file:DIR) through the programs: send, and receive+delete
#     with "sqs-poll --until-empty | sqs-delete", 1 and 4 processes.
#
# Then a summary of the goals, met or not.  Sizes (environment):
#   SEND_N=50000 SEND_J=8 ROUNDS=5        item 1
#   DRAIN_N=20000 ORIGIN_N=3000 ORIGIN_RTT_N=1000 CEIL_SDK_N=5000
#   SWEEP_N=10000 SWEEP_ROUNDS=3 RTT_MS=10 DRAIN_ROUNDS=5 RTT_ROUNDS=3  item 2
#   RSS_N=200000                          item 3 (1000000 takes ~15 min: fauxqs slows down on a 1M queue)
#   SPOOL_N=8000 SPOOL_ROUNDS=3           item 4
#   ITEMS="1 2 3 4"                       which items to run
# Benchmarks report numbers; the tests assert behaviour.  The machine is
# shared and noisy: compare the ratios, and rerun before believing a
# surprise.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
: "${BUILD:=build}"
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
bin=$BUILD/bin
for p in sqs-send sqs-poll sqs-delete sqs-queue; do
	[ -x "$bin/$p" ] || { echo "bench/queue.sh: $bin/$p is missing: build first (make)" >&2; exit 1; }
done
[ -d "$top/tests/node_modules/@aws-sdk/client-sqs" ] && [ -d "$top/tests/node_modules/fauxqs" ] ||
	{ echo "bench/queue.sh: run 'npm ci' in tests/ first (fauxqs, @aws-sdk/client-sqs)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench/queue.sh: needs /usr/bin/time (Debian package time)" >&2; exit 1; }

: "${SEND_N:=50000}" "${SEND_J:=8}" "${ROUNDS:=5}"
: "${DRAIN_N:=20000}" "${ORIGIN_N:=3000}" "${ORIGIN_RTT_N:=1000}" "${CEIL_SDK_N:=5000}"
: "${SWEEP_N:=10000}" "${SWEEP_ROUNDS:=3}" "${RTT_MS:=10}" "${DRAIN_ROUNDS:=5}" "${RTT_ROUNDS:=3}"
: "${RSS_N:=200000}" "${SPOOL_N:=8000}" "${SPOOL_ROUNDS:=3}" "${ITEMS:=1 2 3 4}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chatpipe-bench-queue.XXXXXX")
proxy_pid=
cleanup() {
	if [ -n "$proxy_pid" ]; then
		kill "$proxy_pid" 2>/dev/null || :
		wait "$proxy_pid" 2>/dev/null || :
	fi
	sh "$top/tests/peers/fauxqs" stop "$tmp/fauxqs" >/dev/null 2>&1 || :
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Test credentials only, and no profile or config file of the user's.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_CONFIG_FILE="$tmp/none" AWS_SHARED_CREDENTIALS_FILE="$tmp/none"
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_SQS CHATPIPE_QUEUE_URL 2>/dev/null || :
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

# fauxqs: a big heap for item 3's queue, no request log.
FAUXQS_LOGGER=false NODE_OPTIONS="${NODE_OPTIONS:-} --max-old-space-size=8192" \
	sh "$top/tests/peers/fauxqs" start "$tmp/fauxqs" >"$tmp/fauxqs.env"
. "$tmp/fauxqs.env"
ep=$FAUXQS_ENDPOINT
log=$tmp/log

now() { date +%s.%N; }
# CPU seconds fauxqs has used so far.
fq_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$FAUXQS_PID/stat"; }
fail() {
	echo "bench/queue.sh: $*" >&2
	[ -s "$log" ] && tail -n 20 "$log" >&2
	exit 1
}
# A fresh queue; prints its URL (as fauxqs spells it).
# (The count lives in a file: callers run in subshells.)
echo 0 >"$tmp/qn"
new_queue() {
	qn=$(($(cat "$tmp/qn") + 1))
	echo "$qn" >"$tmp/qn"
	"$bin/sqs-queue" --endpoint-url "$ep" create "bench-$qn" 2>>"$log" |
		sed -n 's/.*"queue_url":"\([^"]*\)".*/\1/p'
}
# Queues are deleted after use: what fauxqs holds costs it time (its heap).
drop_queue() { "$bin/sqs-queue" --endpoint-url "$ep" delete "$1" >/dev/null 2>>"$log" || :; }
# fill URL N: the first N lines of $tmp/in into the queue.
fill() {
	head -n "$2" "$tmp/in" | "$bin/sqs-send" --endpoint-url "$ep" --queue-url "$1" -j 8 \
		>/dev/null 2>>"$log" || fail "filling $1 failed"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Pair records of about 300 bytes, as chat-ask writes them (no ids).
gen() {
	awk -v n="$1" 'BEGIN {
		for (i = 0; i < n; i++)
			printf "{\"workspace_id\":%d,\"conversation_id\":%d,\"store_id\":3,\"session_id\":\"s-%d\",\"user_message\":{\"role\":\"USER\",\"content\":\"Where is order %d?\",\"timestamp\":\"2026-11-28T12:00:00.123Z\"},\"assistant_message\":{\"role\":\"LLM\",\"content\":\"It ships today.\",\"timestamp\":\"2026-11-28T12:00:01.5Z\",\"citations\":[]},\"human_agent_message\":null,\"handoff_messages\":false}\n", 1 + i % 50, 1000 + i % 5000, 1000 + i % 5000, i
	}'
}
max_n=$SEND_N
for v in $DRAIN_N $RSS_N $SPOOL_N; do [ "$v" -gt "$max_n" ] && max_n=$v; done
gen "$max_n" >"$tmp/in"
avg_len=$(head -n 1000 "$tmp/in" | awk '{ n += length($0) } END { printf "%.0f", n / NR }')
ncpu=$(nproc)
echo "fauxqs 1.9.2 at $ep (pid $FAUXQS_PID, request log off); $ncpu CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "records: pair records of $avg_len bytes on average; BUILD=$BUILD"
echo

summary=$tmp/summary
: >"$summary"
goal() { # text met(1/0) detail
	if [ "$2" = 1 ]; then r="met    "; else r="NOT MET"; fi
	printf '  %s  %-58s %s\n' "$r" "$1" "$3" >>"$summary"
}
want() { case " $ITEMS " in *" $1 "*) return 0 ;; esac; return 1; }

# ---------------------------------------------------------------- item 1
if want 1; then
	head -n "$SEND_N" "$tmp/in" >"$tmp/send.in"
	res=$tmp/send.res
	: >"$res"
	# name cmd...: one run; appends "name wall cpu rss lines fauxqs_cpu".
	send_run() {
		name=$1
		shift
		q=$(new_queue)
		c0=$(fq_cpu)
		t0=$(now)
		/usr/bin/time -f '%e %U %S %M' -o "$tmp/t" "$@" --queue-url "$q" <"$tmp/send.in" \
			>"$tmp/send.out" 2>>"$log" || fail "$name failed"
		t1=$(now)
		c1=$(fq_cpu)
		drop_queue "$q"
		read -r _ u s rss <"$tmp/t"
		echo "$name $(echo "$t0 $t1" | awk '{ print $2 - $1 }') $(echo "$u $s" | awk '{ print $1 + $2 }') $rss $(wc -l <"$tmp/send.out") $(echo "$c0 $c1" | awk '{ print $2 - $1 }')" >>"$res"
	}
	# Start-up cost alone: empty input.
	startup() {
		q=$(new_queue)
		/usr/bin/time -f '%U %S' -o "$tmp/t" "$@" --queue-url "$q" </dev/null >/dev/null 2>>"$log" || :
		drop_queue "$q"
		awk '{ print $1 + $2 }' "$tmp/t"
	}
	su_c=$( (for i in 1 2 3; do startup "$bin/sqs-send" --endpoint-url "$ep" -j "$SEND_J"; done) | median)
	su_n=$( (for i in 1 2 3; do startup node "$top/bench/sdk-send.js" --endpoint "$ep" -j "$SEND_J"; done) | median)
	r=1
	while [ "$r" -le "$ROUNDS" ]; do
		if [ $((r % 2)) = 1 ]; then
			send_run sqs-send "$bin/sqs-send" --endpoint-url "$ep" -j "$SEND_J"
			send_run sdk node "$top/bench/sdk-send.js" --endpoint "$ep" -j "$SEND_J"
		else
			send_run sdk node "$top/bench/sdk-send.js" --endpoint "$ep" -j "$SEND_J"
			send_run sqs-send "$bin/sqs-send" --endpoint-url "$ep" -j "$SEND_J"
		fi
		r=$((r + 1))
	done
	awk -v n="$SEND_N" '$5 != n { printf "bench/queue.sh: %s wrote %d lines of %d\n", $1, $5, n > "/dev/stderr" }' "$res"
	med() { awk -v name="$1" -v col="$2" '$1 == name { print $col }' "$res" | median; }
	cw=$(med sqs-send 2); cc=$(med sqs-send 3); cr=$(med sqs-send 4); cf=$(med sqs-send 6)
	nw=$(med sdk 2); nc=$(med sdk 3); nr=$(med sdk 4); nf=$(med sdk 6)
	echo "### 1. sqs-send vs the AWS SDK for JavaScript v3: $SEND_N lines into fauxqs, SendMessageBatch of 10, -j $SEND_J batches in flight"
	echo "(medians of $ROUNDS interleaved rounds; CPU = user+sys of the sending process only; net = minus its start-up, measured on empty input)"
	awk -v n="$SEND_N" -v j="$SEND_J" -v cw="$cw" -v cc="$cc" -v cr="$cr" -v cf="$cf" -v sc="$su_c" \
	    -v nw="$nw" -v nc="$nc" -v nr="$nr" -v nf="$nf" -v sn="$su_n" 'BEGIN {
		printf "%-30s %9s %10s %8s %12s %12s %10s %9s %12s\n", "contender", "wall s", "msgs/s", "CPU s", "us CPU/msg", "net us/msg", "start-up s", "RSS MiB", "fauxqs CPU%"
		printf "%-30s %9.2f %10.0f %8.2f %12.1f %12.1f %10.2f %9.1f %11.0f%%\n", "sqs-send", cw, n / cw, cc, cc / n * 1e6, (cc - sc) / n * 1e6, sc, cr / 1024, cf / cw * 100
		printf "%-30s %9.2f %10.0f %8.2f %12.1f %12.1f %10.2f %9.1f %11.0f%%\n", "@aws-sdk/client-sqs (node)", nw, n / nw, nc, nc / n * 1e6, (nc - sn) / n * 1e6, sn, nr / 1024, nf / nw * 100
		printf "ratios: throughput sqs-send/SDK %.2fx;  CPU per message SDK/sqs-send %.1fx (net of start-up %.1fx)\n", nw / cw, nc / cc, (nc - sn) / (cc - sc)
	}'
	echo "rounds (name wall_s cpu_s rss_kib lines fauxqs_cpu_s):"
	sed 's/^/  /' "$res"
	echo
	tr=$(echo "$nw $cw" | awk '{ printf "%.2f", $1 / $2 }')
	cr_net=$(echo "$nc $su_n $cc $su_c" | awk '{ printf "%.1f", ($1 - $2) / ($3 - $4) }')
	cr_gross=$(echo "$nc $cc" | awk '{ printf "%.1f", $1 / $2 }')
	goal "1. sqs-send throughput >= SDK's" "$(echo "$tr" | awk '{ print ($1 >= 1) }')" "${tr}x"
	goal "1. sqs-send CPU/msg <= 1/5 of SDK's (net of start-up)" "$(echo "$cr_net" | awk '{ print ($1 >= 5) }')" "SDK uses ${cr_net}x (gross ${cr_gross}x)"
fi

# ---------------------------------------------------------------- item 2
start_proxy() { # delay_ms: sets proxy_ep
	rm -f "$tmp/proxy.port"
	node "$top/tests/peers/faultproxy.js" --target "$ep" --delay-ms "$1" \
		--port-file "$tmp/proxy.port" --stats "$tmp/proxy.stats" >/dev/null 2>>"$log" &
	proxy_pid=$!
	i=0
	until [ -s "$tmp/proxy.port" ]; do
		i=$((i + 1))
		[ "$i" -lt 100 ] || fail "faultproxy.js did not start"
		sleep 0.1
	done
	proxy_ep=http://127.0.0.1:$(cat "$tmp/proxy.port")
}
stop_proxy() {
	kill "$proxy_pid" 2>/dev/null || :
	wait "$proxy_pid" 2>/dev/null || :
	proxy_pid=
}

# drain_ours ENDPOINT N W J: fills a fresh queue with N lines, then times
# "sqs-poll --max N -w W | sqs-delete -j J"; prints "wall cpu fauxqs_cpu deleted".
drain_ours() {
	q=$(new_queue)
	fill "$q" "$2"
	pj=$(($3 > 8 ? $3 : 8))
	c0=$(fq_cpu)
	t0=$(now)
	/usr/bin/time -f '%U %S' -o "$tmp/t.poll" "$bin/sqs-poll" --endpoint-url "$1" --queue-url "$q" \
		-w "$3" -j "$pj" --max "$2" 2>>"$log" |
		/usr/bin/time -f '%U %S' -o "$tmp/t.del" "$bin/sqs-delete" --endpoint-url "$1" -j "$4" \
			>"$tmp/drained" 2>>"$log" || fail "sqs-poll | sqs-delete failed"
	t1=$(now)
	c1=$(fq_cpu)
	drop_queue "$q"
	echo "$t0 $t1 $(cat "$tmp/t.poll" "$tmp/t.del" | awk '{ c += $1 + $2 } END { print c }') $c0 $c1 $(wc -l <"$tmp/drained")" |
		awk '{ printf "%.3f %.2f %.2f %d\n", $2 - $1, $3, $5 - $4, $6 }'
}
# drain_node ENDPOINT N SCRIPT ARGS...: the same for a Node contender,
# timed by itself (first receive to last delete, without Node's start-up).
drain_node() {
	dep=$1
	n=$2
	script=$3
	shift 3
	q=$(new_queue)
	fill "$q" "$n"
	c0=$(fq_cpu)
	/usr/bin/time -f '%U %S' -o "$tmp/t.node" node "$top/bench/$script" --endpoint "$dep" --queue-url "$q" \
		--max "$n" "$@" 2>"$tmp/node.err" || { cat "$tmp/node.err" >>"$log"; fail "$script failed"; }
	c1=$(fq_cpu)
	drop_queue "$q"
	tail -n 1 "$tmp/node.err" | sed -n 's/.*"deleted":\([0-9]*\).*"elapsed_s":\([0-9.e-]*\).*/\2 \1/p' >"$tmp/node.res"
	read -r el del <"$tmp/node.res"
	echo "$el $(awk '{ print $1 + $2 }' "$tmp/t.node") $c0 $c1 $del" | awk '{ printf "%.3f %.2f %.2f %d\n", $1, $2, $4 - $3, $5 }'
}
row2() { # label flags n "wall cpu fq deleted" ref_rate ceil_rate
	echo "$4" | awk -v l="$1" -v f="$2" -v n="$3" -v ref="$5" -v ceil="$6" '{
		rate = $4 / $1
		printf "%-44s %-14s %7d %8.2f %9.0f %11.0f %9.0f%% %8.0f %9s %9s\n", l, f, $4, $1, rate, $2 / $4 * 1e6, $3 / $1 * 100, $3 / $4 * 1e6,
		    (ref > 0 ? sprintf("%.1fx", rate / ref) : "-"), (ceil > 0 ? sprintf("%.2f", rate / ceil) : "-")
	}'
}
hdr2() { printf "%-44s %-14s %7s %8s %9s %11s %10s %8s %9s %9s\n" "contender" "flags" "msgs" "wall s" "msgs/s" "us CPU/msg" "fauxqs CPU" "fq us/msg" "vs origin" "vs ceil"; }
rate_of() { echo "$1" | awk '{ printf "%.1f", $4 / $1 }'; }

if want 2; then
	# The tuning sweeps: short runs, SWEEP_ROUNDS of each setting, the
	# best median kept.
	sweep() { # endpoint pairs...
		sep=$1
		shift
		best=0
		for pair in "$@"; do
			w=${pair%,*}
			j=${pair#*,}
			rs=
			k=0
			while [ "$k" -lt "$SWEEP_ROUNDS" ]; do
				rs="$rs $(rate_of "$(drain_ours "$sep" "$SWEEP_N" "$w" "$j")")"
				k=$((k + 1))
			done
			rt=$(echo $rs | tr ' ' '\n' | median)
			echo "  -w $w -j $j: median $rt msgs/s (runs:$rs)" >>"$tmp/sweep"
			if [ "$(echo "$rt $best" | awk '{ print ($1 > $2) }')" = 1 ]; then
				best=$rt
				bw=$w
				bj=$j
			fi
		done
	}
	runs_ours() { # endpoint n w j rounds: median-rate run
		: >"$tmp/runs"
		k=0
		while [ "$k" -lt "$5" ]; do
			drain_ours "$1" "$2" "$3" "$4" >>"$tmp/runs"
			k=$((k + 1))
		done
		awk '{ print $4 / $1, $0 }' "$tmp/runs" | sort -g | awk '{ v[NR] = $0 } END { print v[int((NR + 1) / 2)] }' | cut -d' ' -f2-
	}

	# -- 0 ms: straight to fauxqs.
	: >"$tmp/sweep"
	sweep "$ep" 4,4 8,8 16,16 32,16
	w0=$bw
	j0=$bj
	sweep0=$(cat "$tmp/sweep")
	# The ceiling's concurrency: the best of raw clients with 8, 16 and
	# 32 loops, on the same short runs.
	best=0
	: >"$tmp/sweep.ceil"
	for c in 8 16 32; do
		rs=
		k=0
		while [ "$k" -lt "$SWEEP_ROUNDS" ]; do
			rs="$rs $(rate_of "$(drain_node "$ep" "$SWEEP_N" sqs-drain.js --client raw --attrs -c "$c")")"
			k=$((k + 1))
		done
		rt=$(echo $rs | tr ' ' '\n' | median)
		echo "  raw HTTP --attrs, $c loops: median $rt msgs/s (runs:$rs)" >>"$tmp/sweep.ceil"
		if [ "$(echo "$rt $best" | awk '{ print ($1 > $2) }')" = 1 ]; then
			best=$rt
			cloops=$c
		fi
	done
	# Then both, interleaved, DRAIN_ROUNDS times: the medians compare.
	: >"$tmp/runs.ceil"
	: >"$tmp/runs.ours"
	k=1
	while [ "$k" -le "$DRAIN_ROUNDS" ]; do
		if [ $((k % 2)) = 1 ]; then
			drain_node "$ep" "$DRAIN_N" sqs-drain.js --client raw --attrs -c "$cloops" >>"$tmp/runs.ceil"
			drain_ours "$ep" "$DRAIN_N" "$w0" "$j0" >>"$tmp/runs.ours"
		else
			drain_ours "$ep" "$DRAIN_N" "$w0" "$j0" >>"$tmp/runs.ours"
			drain_node "$ep" "$DRAIN_N" sqs-drain.js --client raw --attrs -c "$cloops" >>"$tmp/runs.ceil"
		fi
		k=$((k + 1))
	done
	median_run() { awk '{ print $4 / $1, $0 }' "$1" | sort -g | awk '{ v[NR] = $0 } END { print v[int((NR + 1) / 2)] }' | cut -d' ' -f2-; }
	rates() { awk '{ printf "%s%.0f", (NR > 1 ? " " : ""), $4 / $1 }' "$1"; }
	ceil_raw=$(median_run "$tmp/runs.ceil")
	ours0=$(median_run "$tmp/runs.ours")
	ceil_sdk=$(drain_node "$ep" "$CEIL_SDK_N" sqs-drain.js --client sdk --attrs -c 16)
	bare=$(drain_node "$ep" "$DRAIN_N" sqs-drain.js --client raw -c "$cloops")
	origin0=$(drain_node "$ep" "$ORIGIN_N" origin-consumer.js)
	o0=$(rate_of "$origin0")
	c_raw=$(rate_of "$ceil_raw")
	c_sdk=$(rate_of "$ceil_sdk")
	ceil=$(echo "$c_raw $c_sdk" | awk '{ print ($1 > $2 ? $1 : $2) }')
	echo "### 2a. Draining a queue at 0 ms added round trip (straight to fauxqs)"
	echo "(the ceiling is the best rate a client got out of fauxqs doing sqs-poll's work: ReceiveMessage of 10 asking for every"
	echo " attribute, as sqs-poll does, + DeleteMessageBatch, in parallel loops; fauxqs us/msg = its CPU per message drained;"
	echo " Node contenders are timed from their first receive, without start-up; CPU = user+sys of the client processes)"
	hdr2
	row2 "origin consumer (SDK, 1 msg/receive, 2 workers)" "" "$ORIGIN_N" "$origin0" "$o0" "$ceil"
	row2 "ceiling: raw HTTP, batch 10, $cloops loops" "" "$DRAIN_N" "$ceil_raw" "$o0" "$ceil"
	row2 "ceiling: SDK, batch 10, 16 loops" "" "$CEIL_SDK_N" "$ceil_sdk" "$o0" "$ceil"
	row2 "raw HTTP, no attributes asked (reference)" "$cloops loops" "$DRAIN_N" "$bare" "$o0" "$ceil"
	row2 "sqs-poll | sqs-delete" "-w $w0 -j $j0" "$DRAIN_N" "$ours0" "$o0" "$ceil"
	echo "tuning sweeps ($SWEEP_N msgs a run; sqs-poll also gets -j max(W,8) so that W long polls fit):"
	echo "$sweep0"
	cat "$tmp/sweep.ceil"
	echo "raw ceiling and sqs-poll | sqs-delete: medians of $DRAIN_ROUNDS interleaved runs (msgs/s: ceiling $(rates "$tmp/runs.ceil");"
	echo "  ours $(rates "$tmp/runs.ours")); the others single runs.  fauxqs is one Node thread: it alone"
	echo "could give out $(echo "$ours0" | awk '{ printf "%.0f", ($3 > 0 ? $4 / $3 : 0) }') msgs/s at the CPU per message it spent serving sqs-poll | sqs-delete (a bound no client reaches"
	echo "here, since clients share the $ncpu CPUs with it)"
	echo
	r0=$(rate_of "$ours0")
	f0=$(echo "$r0 $ceil" | awk '{ printf "%.2f", $1 / $2 }')
	goal "2. drain at 0 ms >= 0.8 of the emulator's ceiling" "$(echo "$f0" | awk '{ print ($1 >= 0.8) }')" "${f0} of $(printf %.0f "$ceil") msgs/s (-w $w0 -j $j0)"

	# -- RTT_MS through faultproxy.js, both contenders.
	start_proxy "$RTT_MS"
	: >"$tmp/sweep"
	sweep "$proxy_ep" 8,8 16,16 32,32 64,32
	w1=$bw
	j1=$bj
	sweep1=$(cat "$tmp/sweep")
	ours1=$(runs_ours "$proxy_ep" "$DRAIN_N" "$w1" "$j1" "$RTT_ROUNDS")
	origin1=$(drain_node "$proxy_ep" "$ORIGIN_RTT_N" origin-consumer.js)
	ceil1=$(drain_node "$proxy_ep" "$DRAIN_N" sqs-drain.js --client raw --attrs -c 64)
	stop_proxy
	o1=$(rate_of "$origin1")
	cr1=$(rate_of "$ceil1")
	echo "### 2b. Draining a queue at $RTT_MS ms added round trip (faultproxy.js --delay-ms $RTT_MS in front of fauxqs, for every contender)"
	hdr2
	row2 "origin consumer (SDK, 1 msg/receive, 2 workers)" "" "$ORIGIN_RTT_N" "$origin1" "$o1" "$cr1"
	row2 "raw HTTP, batch 10, 64 loops (reference)" "--attrs" "$DRAIN_N" "$ceil1" "$o1" "$cr1"
	row2 "sqs-poll | sqs-delete" "-w $w1 -j $j1" "$DRAIN_N" "$ours1" "$o1" "$cr1"
	echo "tuning sweep ($SWEEP_N msgs a run):"
	echo "$sweep1"
	echo
	r1=$(rate_of "$ours1")
	x1=$(echo "$r1 $o1" | awk '{ printf "%.1f", $1 / $2 }')
	goal "2. drain at $RTT_MS ms >= 20x the origin consumer" "$(echo "$x1" | awk '{ print ($1 >= 20) }')" "${x1}x (-w $w1 -j $j1)"
	x0=$(echo "$r0 $o0" | awk '{ printf "%.1f", $1 / $2 }')
	echo "  (info)   drain at 0 ms vs the origin consumer: ${x0}x" >>"$summary"
fi

# ---------------------------------------------------------------- item 3
# rss_run NAME OUT TOTAL_BYTES|0 CMD...: runs CMD (stdin/stdout as given by
# the caller through $rss_in and OUT), sampling its RSS every 0.5 s against
# how much of OUT is written; appends "fraction rss_kib" lines to
# $tmp/rss.NAME and the peak to $tmp/rss.NAME.peak.
sampler() { # pidfile out samples
	i=0
	until [ -s "$1" ]; do
		i=$((i + 1))
		[ "$i" -lt 200 ] || return 0
		sleep 0.05
	done
	pid=$(cat "$1")
	while :; do
		rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status" 2>/dev/null || :)
		[ -n "$rss" ] || break
		echo "$(stat -c %s "$2" 2>/dev/null || echo 0) $rss" >>"$3"
		sleep 0.5
	done
}
if want 3; then
	q=$(new_queue)
	head -n "$RSS_N" "$tmp/in" >"$tmp/rss.in"
	inbytes=$(wc -c <"$tmp/rss.in")
	: >"$tmp/rss.send"
	rm -f "$tmp/pid.send" "$tmp/pid.poll" "$tmp/pid.del"
	sampler "$tmp/pid.send" "$tmp/rss.send.out" "$tmp/rss.send" &
	sp=$!
	t0=$(now)
	/usr/bin/time -f '%M %U %S' -o "$tmp/t.send" sh -c 'echo $$ >"$0"; exec "$@"' "$tmp/pid.send" \
		"$bin/sqs-send" --endpoint-url "$ep" --queue-url "$q" -j 8 <"$tmp/rss.in" >"$tmp/rss.send.out" 2>>"$log" ||
		fail "sqs-send (RSS run) failed"
	t1=$(now)
	wait "$sp" || :
	sent=$(wc -l <"$tmp/rss.send.out")
	rm -f "$tmp/rss.send.out"
	: >"$tmp/rss.poll"
	: >"$tmp/rss.del"
	sampler "$tmp/pid.poll" "$tmp/rss.drained" "$tmp/rss.poll" &
	sp1=$!
	sampler "$tmp/pid.del" "$tmp/rss.drained" "$tmp/rss.del" &
	sp2=$!
	t2=$(now)
	/usr/bin/time -f '%M %U %S' -o "$tmp/t.poll" sh -c 'echo $$ >"$0"; exec "$@"' "$tmp/pid.poll" \
		"$bin/sqs-poll" --endpoint-url "$ep" --queue-url "$q" -w 8 --max "$RSS_N" 2>>"$log" |
		/usr/bin/time -f '%M %U %S' -o "$tmp/t.del" sh -c 'echo $$ >"$0"; exec "$@"' "$tmp/pid.del" \
			"$bin/sqs-delete" --endpoint-url "$ep" -j 8 >"$tmp/rss.drained" 2>>"$log" ||
		fail "sqs-poll | sqs-delete (RSS run) failed"
	t3=$(now)
	wait "$sp1" "$sp2" || :
	drop_queue "$q"
	drained=$(wc -l <"$tmp/rss.drained")
	outbytes=$(wc -c <"$tmp/rss.drained")
	rm -f "$tmp/rss.drained"
	# RSS at the first sample past 10% and 50% of the output, and the last.
	at() { # samples total
		awk -v tot="$2" '
			{ f = tot > 0 ? $1 / tot : 0; last = $2
			  if (!a && f >= 0.10) a = $2
			  if (!b && f >= 0.50) b = $2
			  if ($2 > mx) mx = $2 }
			END { printf "%.1f %.1f %.1f %.1f %d\n", a / 1024, b / 1024, last / 1024, mx / 1024, NR }' "$1"
	}
	echo "### 3. Peak RSS over $RSS_N lines through fauxqs (sampled every 0.5 s; % = share of the output written)"
	printf "%-44s %8s %9s %9s %9s %11s %9s %8s %s\n" "program" "lines" "RSS@10%" "RSS@50%" "RSS@end" "peak (MiB)" "growth" "samples" "rate"
	rssrow() { # label lines samples total timefile t0 t1
		set -- "$1" "$2" "$(at "$3" "$4")" "$5" "$6" "$7"
		echo "$3" | awk -v l="$1" -v n="$2" -v pk="$(cut -d' ' -f1 "$4")" -v t0="$5" -v t1="$6" '{
			printf "%-44s %8d %9.1f %9.1f %9.1f %11.1f %8.1f%% %8d %.0f msgs/s\n", l, n, $1, $2, $3, pk / 1024, ($1 > 0 ? ($3 - $1) / $1 * 100 : 0), $5, n / (t1 - t0) }'
	}
	rssrow "sqs-send (file -> fauxqs)" "$sent" "$tmp/rss.send" "$inbytes" "$tmp/t.send" "$t0" "$t1"
	rssrow "sqs-poll -w 8 (fauxqs -> pipe)" "$drained" "$tmp/rss.poll" "$outbytes" "$tmp/t.poll" "$t2" "$t3"
	rssrow "sqs-delete -j 8 (pipe -> fauxqs, file)" "$drained" "$tmp/rss.del" "$outbytes" "$tmp/t.del" "$t2" "$t3"
	echo "(peak = the kernel's maximum RSS of the process, from /usr/bin/time; growth = from the 10% sample to the last)"
	echo
	for p in send poll; do
		pk=$(cut -d' ' -f1 "$tmp/t.$p")
		if [ "$p" = send ]; then tot=$inbytes; else tot=$outbytes; fi
		set -- $(at "$tmp/rss.$p" "$tot")
		flat=$(echo "$pk $1 $3" | awk '{ print ($1 < 32 * 1024 && ($3 - $2) <= 1 + 0.1 * $2) }')
		goal "3. sqs-$p peak RSS < 32 MiB and flat over $RSS_N lines" "$flat" "$(echo "$pk" | awk '{ printf "%.1f MiB", $1 / 1024 }')"
	done
fi

# ---------------------------------------------------------------- item 4
if want 4; then
	head -n "$SPOOL_N" "$tmp/in" >"$tmp/spool.in"
	sdir=$tmp/spool-bench
	res=$tmp/spool.res
	: >"$res"
	# spool_res op procs t0 t1 timefiles...: appends "op procs wall cpu_s peak_kib".
	spool_res() {
		op=$1
		p=$2
		a=$3
		b=$4
		shift 4
		cat "$@" | awk -v op="$op" -v p="$p" -v a="$a" -v b="$b" '
			{ c += $2 + $3; if ($1 > mx) mx = $1 }
			END { printf "%s %d %.3f %.2f %d\n", op, p, b - a, c, mx }' >>"$res"
	}
	r=1
	while [ "$r" -le "$SPOOL_ROUNDS" ]; do
		for procs in 1 4; do
			rm -rf "$sdir"
			"$bin/sqs-queue" create "file:$sdir" >/dev/null 2>>"$log"
			split -n "l/$procs" -d "$tmp/spool.in" "$tmp/spool.part."
			t0=$(now)
			k=0
			for f in "$tmp"/spool.part.*; do
				/usr/bin/time -f '%M %U %S' -o "$tmp/sp.s$k" "$bin/sqs-send" --queue-url "file:$sdir" <"$f" \
					>/dev/null 2>>"$log" &
				k=$((k + 1))
			done
			wait
			t1=$(now)
			spool_res send "$procs" "$t0" "$t1" "$tmp"/sp.s*
			t0=$(now)
			k=0
			while [ "$k" -lt "$procs" ]; do
				(/usr/bin/time -f '%M %U %S' -o "$tmp/sp.p$k" "$bin/sqs-poll" --queue-url "file:$sdir" --until-empty 2>>"$log" |
					/usr/bin/time -f '%M %U %S' -o "$tmp/sp.d$k" "$bin/sqs-delete" >"$tmp/spool.out.$k" 2>>"$log") &
				k=$((k + 1))
			done
			wait
			t1=$(now)
			# The drain ends with the last line written (sqs-delete
			# flushes before it waits); the empty poll --until-empty
			# needs after it (1 s on a spool) is shown apart.
			t2=$(for f in "$tmp"/spool.out.*; do date -r "$f" +%s.%N; done | sort -g | tail -n 1)
			got=$(cat "$tmp"/spool.out.* | wc -l)
			[ "$got" = "$SPOOL_N" ] || echo "bench/queue.sh: the spool drains gave $got messages of $SPOOL_N" >&2
			spool_res recv "$procs" "$t0" "$t2" "$tmp"/sp.p* "$tmp"/sp.d*
			echo "$t2 $t1" | awk '{ printf "%.2f\n", $2 - $1 }' >>"$tmp/spool.tail"
			rm -f "$tmp"/sp.* "$tmp"/spool.part.* "$tmp"/spool.out.*
		done
		r=$((r + 1))
	done
	echo "### 4. The spool (file:DIR on $(df -P "$tmp" | awk 'NR == 2 { print $1 }')) through the programs: $SPOOL_N messages, medians of $SPOOL_ROUNDS rounds"
	printf "%-44s %5s %7s %8s %9s %11s %9s %s\n" "operation" "procs" "msgs" "wall s" "msgs/s" "us CPU/msg" "peak MiB" "runs (msgs/s)"
	for op in send recv; do
		for procs in 1 4; do
			w=$(awk -v op="$op" -v p="$procs" '$1 == op && $2 == p { print $3 }' "$res" | median)
			c=$(awk -v op="$op" -v p="$procs" '$1 == op && $2 == p { print $4 }' "$res" | median)
			m=$(awk -v op="$op" -v p="$procs" '$1 == op && $2 == p && $5 > m { m = $5 } END { print m }' "$res")
			runs=$(awk -v op="$op" -v p="$procs" -v n="$SPOOL_N" '$1 == op && $2 == p { printf "%s%.0f", (k++ ? " " : ""), n / $3 }' "$res")
			if [ "$op" = send ]; then l="sqs-send -> file:DIR"; else l="sqs-poll --until-empty | sqs-delete"; fi
			echo "$w $c $m" | awk -v l="$l" -v p="$procs" -v n="$SPOOL_N" -v runs="$runs" \
				'{ printf "%-44s %5d %7d %8.2f %9.0f %11.0f %9.1f %s\n", l, p, n, $1, n / $1, $2 / n * 1e6, $3 / 1024, runs }'
			echo "$op $procs $(echo "$w" | awk -v n="$SPOOL_N" '{ printf "%.0f", n / $1 }')" >>"$tmp/spool.rates"
		done
	done
	awk '{ r[$1 $2] = $3 } END { printf "4 processes vs 1: send %.2fx, receive+delete %.2fx\n", r["send4"] / r["send1"], r["recv4"] / r["recv1"] }' "$tmp/spool.rates"
	echo "(CPU = user+sys of every process of the row, both programs for receive+delete; receive+delete is timed to its last"
	echo " line out; the empty poll --until-empty then needs took $(median <"$tmp/spool.tail") s more (median).  A send is acknowledged"
	echo " once durable: fdatasync per message, one directory fsync per batch; its rate follows the disk, shared here)"
	echo
	awk '{ printf "  (info)   spool, %s, %d process%s: %d msgs/s\n", ($1 == "send" ? "send" : "receive+delete"), $2, ($2 > 1 ? "es" : ""), $3 }' "$tmp/spool.rates" >>"$summary"
fi

echo "### Summary"
cat "$summary"
