#!/bin/sh
# bench/spool.sh: throughput of the spool queue (lib/spool, file:DIR) on
# this machine's disk, with fsync on every send, driven by
# tests/tools/spool-tool.  Prints one table:
#   - the disk's own pace (write + fdatasync + rename + fsync of the
#     directory per file: the least one durable send costs), for scale;
#   - send rate, one message per call and batches of 10, 1 and 4 processes;
#   - receive+delete rate (10 per receive), 1 and 4 processes;
#   - with BIG (100000) messages waiting: a count, receive+delete of 10000
#     (the receive path must not slow down with the backlog), and a sweep
#     with the rest (90000) in flight.
#
#   make build-tests && BUILD=build sh bench/spool.sh
# Knobs: N (20000 messages), SIZE (1024 bytes), BIG (100000; 0 skips),
# BENCH_DIR (where the queues go: TMPDIR or /tmp; use the disk you mean).
set -u
: "${BUILD:=build}" "${N:=20000}" "${SIZE:=1024}" "${BIG:=100000}"
top=$(cd "$(dirname "$0")/.." && pwd)
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
tool=$BUILD/tests/spool-tool
[ -x "$tool" ] || { echo "bench/spool.sh: $tool is missing (make build-tests)" >&2; exit 1; }
dir=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/spool-bench.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
trap 'exit 130' INT TERM

now() { date +%s%N; }
row() { # label procs messages t0 t1
	awk -v l="$1" -v p="$2" -v n="$3" -v t0="$4" -v t1="$5" 'BEGIN {
		s = (t1 - t0) / 1e9
		printf "%-44s %5d %9d %8.2f %9.0f\n", l, p, n, s, (s > 0 ? n / s : 0) }'
}
die() { echo "bench/spool.sh: $*" >&2; exit 1; }

# send Q PROCS TOTAL BATCH: TOTAL messages split over PROCS senders.
send() {
	pids= k=0
	while [ $k -lt "$2" ]; do
		"$tool" send "$1" $(($3 / $2)) -s "$SIZE" -b "$4" -q -p "s$k" 2>/dev/null &
		pids="$pids $!"
		k=$((k + 1))
	done
	for p in $pids; do wait "$p" || die "a sender failed"; done
}
# drain Q PROCS [ARGS]: receive (+delete) until empty; prints the count.
drain() {
	q=$1 np=$2
	shift 2
	pids= k=0
	while [ $k -lt "$np" ]; do
		"$tool" drain "$q" -w 0 -q "$@" 2>"$dir/drain.$k" &
		pids="$pids $!"
		k=$((k + 1))
	done
	for p in $pids; do wait "$p" || die "a receiver failed"; done
	cat "$dir"/drain.* | awk '{ n += $2 } END { print n + 0 }'
	rm -f "$dir"/drain.*
}

fs=$(df -T "$dir" 2>/dev/null | awk 'NR == 2 { print $2 }')
echo "spool benchmark: $N messages of $SIZE bytes in $dir ($fs), $(nproc) CPUs"
printf "%-44s %5s %9s %8s %9s\n" operation procs messages seconds msg/s
printf "%-44s %5s %9s %8s %9s\n" -------------------------------------------- ----- --------- -------- ---------

probe=$(( N / 10 ))
t0=$(now); "$tool" probe "$dir/probe" $probe -s "$SIZE" 2>/dev/null || die probe; t1=$(now)
rmdir "$dir/probe"
row "disk: write+fdatasync+rename+fsync (ref.)" 1 $probe "$t0" "$t1"

for spec in "1 1" "4 1" "1 10" "4 10"; do
	set -- $spec
	q=$dir/q.$1.$2
	"$tool" create "$q" || die create
	t0=$(now); send "$q" "$1" "$N" "$2"; t1=$(now)
	if [ "$2" = 1 ]; then what="send, 1 message per call"; else what="send, batches of $2"; fi
	row "$what" "$1" "$N" "$t0" "$t1"
done
t0=$(now); n=$(drain "$dir/q.1.1" 1); t1=$(now)
row "receive+delete, 10 per call" 1 "$n" "$t0" "$t1"
t0=$(now); n=$(drain "$dir/q.4.1" 4); t1=$(now)
row "receive+delete, 10 per call" 4 "$n" "$t0" "$t1"
for q in "$dir"/q.*; do "$tool" remove "$q" || die remove; done

if [ "$BIG" -gt 0 ]; then
	q=$dir/big
	"$tool" create "$q" -v 600 || die create
	t0=$(now); send "$q" 4 "$BIG" 10; t1=$(now)
	row "send, batches of 10 (fill $BIG)" 4 "$BIG" "$t0" "$t1"
	t0=$(now); c=$("$tool" stats "$q"); t1=$(now)
	case "$c" in "visible=$BIG "*) ;; *) die "stats: $c" ;; esac
	row "count (stats) of $BIG waiting" 1 "$BIG" "$t0" "$t1"
	t0=$(now); n=$(drain "$q" 1 -n 10000); t1=$(now)
	row "receive+delete 10000 of $BIG waiting" 1 "$n" "$t0" "$t1"
	t0=$(now); n=$(drain "$q" 4 -K); t1=$(now)
	row "receive, kept in flight" 4 "$n" "$t0" "$t1"
	t0=$(now); "$tool" sweep "$q" || die sweep; t1=$(now)
	row "sweep with $n in flight (none expired)" 1 "$n" "$t0" "$t1"
	"$tool" send "$q" 10000 -s "$SIZE" -b 10 -q 2>/dev/null || die send
	t0=$(now); n=$(drain "$q" 1 -S 1000); t1=$(now)
	row "receive+delete with $(( BIG - 10000 )) in flight" 1 "$n" "$t0" "$t1"
	"$tool" remove "$q" || die remove
fi
