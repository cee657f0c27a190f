#!/bin/sh
# bench/persist.sh: chat-persist's numbers, in one run, against a private
# MariaDB it starts (tests/peers/mariadb) with a production-like InnoDB
# (1 GiB buffer pool, 512 MiB redo log, flush at every commit):
#
#   1. 200,000 pairs (400,000 messages) from a file: chat-persist's rows per
#      second against LOAD DATA LOCAL INFILE of the same rows (dumped from
#      the tables chat-persist filled) into the same schema, same server
#   2. against the origin design's shape run by chat-persist itself
#      (-w 2 --batch 1: one transaction per pair), on loopback and through
#      a proxy adding the round trip of a database in the same region
#      (0.5 ms) and in another zone (1 ms)
#   3. the rate for -w 1 2 4 8 16 by --batch 1 10 100 1000
#   4. peak RSS over 1,000,000 lines with 16 workers, sampled as it runs
#
# Usage: BUILD=build sh bench/persist.sh   (from the top of the tree)
# Knobs: PAIRS (200000), ORIGIN_PAIRS (20000), MATRIX_PAIRS (40000),
# RSS_LINES (1000000), KEEP=1 keeps the temp dir.  Prints the tables on
# stdout, progress on stderr.
# shellcheck disable=SC2154 # run sets its first argument's variable
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
: "${BUILD:=build}"
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
cp=$BUILD/bin/chat-persist
delay=$BUILD/tests/tcp-delay
gen=$top/bench/gen-pairs.sh
PAIRS=${PAIRS:-200000}
ORIGIN_PAIRS=${ORIGIN_PAIRS:-20000}
MATRIX_PAIRS=${MATRIX_PAIRS:-40000}
RSS_LINES=${RSS_LINES:-1000000}
for f in "$cp" "$delay"; do
	[ -x "$f" ] || { echo "bench/persist.sh: $f missing: make BUILD=... all build-tests" >&2; exit 1; }
done
. "$top/tests/peers/peer.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-persist.XXXXXX")
proxy=
cleanup() {
	[ -n "$proxy" ] && kill "$proxy" 2>/dev/null
	"$top/tests/peers/mariadb" stop "$tmp/db" >/dev/null 2>&1 || :
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "bench/persist.sh: $*" >&2; }

port=$(peer_free_port)
eval "$(MARIADB_PORT=$port MARIADB_ARGS="--innodb-buffer-pool-size=1G \
	--innodb-log-file-size=512M --max-connections=200" \
	"$top/tests/peers/mariadb" start "$tmp/db")"
sql() {
	mariadb --no-defaults --socket="$MARIADB_SOCKET" --user=root --local-infile=1 \
		--batch --skip-column-names chatpipe_test "$@"
}
DB="mysql://root@/chatpipe_test?socket=$MARIADB_SOCKET"
"$cp" --db "$DB" --migrate 2>/dev/null
empty() { sql -e 'TRUNCATE messages; TRUNCATE conversations'; }
rows() { sql -e 'SELECT (SELECT COUNT(*) FROM messages) + (SELECT COUNT(*) FROM conversations)'; }
now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# run SECONDS-VAR FILE ARGS...: chat-persist on FILE into an empty database
run() {
	_v=$1 _f=$2; shift 2
	empty
	_t0=$(now)
	"$cp" "$@" <"$_f" >/dev/null 2>"$tmp/run.err" || { say "chat-persist $*: exit $?"; cat "$tmp/run.err" >&2; exit 1; }
	_t1=$(now)
	eval "$_v=\$(secs $_t0 $_t1)"
}

say "server: $(sql -e 'SELECT VERSION()'), 1 GiB buffer pool, innodb_flush_log_at_trx_commit=$(sql -e 'SELECT @@innodb_flush_log_at_trx_commit')"
say "generating $PAIRS pairs"
sh "$gen" "$PAIRS" $((PAIRS / 10)) 1 >"$tmp/pairs.jsonl"

echo "== chat-persist bench: $(nproc) CPUs, $(sql -e 'SELECT VERSION()'), $("$cp" --version | head -1)"
echo

# --- 1. against LOAD DATA ---------------------------------------------------

say "1. $PAIRS pairs: chat-persist, then LOAD DATA of the same rows"
best_cp=
for i in 1 2; do
	run t "$tmp/pairs.jsonl" --db "$DB" -w 4 --batch 1000
	[ -z "$best_cp" ] || awk -v a="$t" -v b="$best_cp" 'BEGIN { exit !(a < b) }' && best_cp=$t
done
n_rows=$(rows)
n_msgs=$(sql -e 'SELECT COUNT(*) FROM messages')
rm -f "$tmp/db/messages.tsv" "$tmp/db/conversations.tsv"
sql -e "SELECT conversation_id, workspace_id, role, content, created_at, message_id,
		citations, persist_key FROM messages INTO OUTFILE '$tmp/db/messages.tsv';
	SELECT * FROM conversations INTO OUTFILE '$tmp/db/conversations.tsv'"
best_ld=
for i in 1 2; do
	empty
	t0=$(now)
	sql -e "LOAD DATA LOCAL INFILE '$tmp/db/conversations.tsv' INTO TABLE conversations;
		LOAD DATA LOCAL INFILE '$tmp/db/messages.tsv' INTO TABLE messages
		(conversation_id, workspace_id, role, content, created_at, message_id, citations, persist_key)"
	t=$(secs "$t0" "$(now)")
	[ -z "$best_ld" ] || awk -v a="$t" -v b="$best_ld" 'BEGIN { exit !(a < b) }' && best_ld=$t
done
[ "$(rows)" = "$n_rows" ] || { say "LOAD DATA loaded $(rows) rows, not $n_rows"; exit 1; }
r_cp=$(rate "$n_rows" "$best_cp")
r_ld=$(rate "$n_rows" "$best_ld")
echo "1. $PAIRS pairs from a file: $n_msgs messages + $((n_rows - n_msgs)) conversations = $n_rows rows (best of 2)"
printf '   %-44s %8s s %9s rows/s\n' "chat-persist -w 4 --batch 1000" "$best_cp" "$r_cp"
printf '   %-44s %8s s %9s rows/s\n' "LOAD DATA LOCAL INFILE (same rows)" "$best_ld" "$r_ld"
echo "   chat-persist / LOAD DATA = $(awk -v a="$r_cp" -v b="$r_ld" 'BEGIN { printf "%.2f", a / b }') (goal: >= 0.50)"
echo

# --- 2. against the origin's shape -------------------------------------------

say "2. origin shape (-w 2 --batch 1) against batched, $ORIGIN_PAIRS pairs"
head -n "$ORIGIN_PAIRS" "$tmp/pairs.jsonl" >"$tmp/origin.jsonl"
echo "2. the origin's shape (-w 2 --batch 1, one transaction per pair) against batching, $ORIGIN_PAIRS pairs"
printf '   %-34s %14s %14s %10s\n' "round trip (SELECT 1, measured)" "origin pairs/s" "-w 8 -b 1000" "speed-up"
seq 500 | sed "s/.*/SELECT 1;/" >"$tmp/ping.sql"
# rtt ARGS...: the mean round trip of the mariadb client, in microseconds
rtt() {
	_t0=$(now)
	mariadb --no-defaults --user=root "$@" <"$tmp/ping.sql" >/dev/null
	awk -v a="$_t0" -v b="$(now)" 'BEGIN { printf "%.0f", (b - a) * 1e6 / 500 }'
}
for d in 0 250 500; do
	if [ "$d" = 0 ]; then
		url=$DB
		label="loopback, unix socket: $(rtt --socket="$MARIADB_SOCKET") us"
	else
		[ -n "$proxy" ] && kill "$proxy" 2>/dev/null && wait "$proxy" 2>/dev/null || :
		rm -f "$tmp/proxy.port"
		"$delay" "$tmp/proxy.port" "$port" "$d" &
		proxy=$!
		while [ ! -s "$tmp/proxy.port" ]; do sleep 0.05; done
		url="mysql://root@127.0.0.1:$(cat "$tmp/proxy.port")/chatpipe_test"
		label="tcp-delay $((2 * d)) us: $(rtt --host=127.0.0.1 --port="$(cat "$tmp/proxy.port")") us"
	fi
	# shellcheck disable=SC2154 # run sets to and tb
	run to "$tmp/origin.jsonl" --db "$url" -w 2 --batch 1
	run tb "$tmp/origin.jsonl" --db "$url" -w 8 --batch 1000
	ro=$(rate "$ORIGIN_PAIRS" "$to")
	rb=$(rate "$ORIGIN_PAIRS" "$tb")
	printf '   %-34s %14s %14s %9sx\n' "$label" "$ro" "$rb" "$(awk -v a="$rb" -v b="$ro" 'BEGIN { printf "%.1f", a / b }')"
done
echo "   (batched, $PAIRS pairs, loopback: $(rate "$PAIRS" "$best_cp") pairs/s; against the origin on loopback: see the first row)"
echo

# --- 3. workers by batch ---------------------------------------------------------

say "3. -w by --batch, $MATRIX_PAIRS pairs each"
head -n "$MATRIX_PAIRS" "$tmp/pairs.jsonl" >"$tmp/matrix.jsonl"
echo "3. messages per second, $MATRIX_PAIRS pairs ($((2 * MATRIX_PAIRS)) messages), loopback"
printf '   %-10s' "-w \\ -b"
for b in 1 10 100 1000; do printf '%10s' "$b"; done
echo
for w in 1 2 4 8 16; do
	printf '   %-10s' "$w"
	for b in 1 10 100 1000; do
		run t "$tmp/matrix.jsonl" --db "$DB" -w "$w" --batch "$b"
		printf '%10s' "$(rate $((2 * MATRIX_PAIRS)) "$t")"
	done
	echo
done
echo

# --- 4. memory ------------------------------------------------------------------

say "4. peak RSS over $RSS_LINES lines, -w 16"
sh "$gen" "$RSS_LINES" $((RSS_LINES / 10)) 2 >"$tmp/rss.jsonl"
empty
/usr/bin/time -f '%M' -o "$tmp/rss.peak" "$cp" --db "$DB" -w 16 \
	<"$tmp/rss.jsonl" >/dev/null 2>"$tmp/rss.err" &
tpid=$!
: >"$tmp/rss.samples"
sleep 0.5
cpid=$(pgrep -P "$tpid" chat-persist || :)
while [ -n "$cpid" ] && [ -r "/proc/$cpid/status" ]; do
	sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$cpid/status" >>"$tmp/rss.samples" 2>/dev/null || :
	sleep 1
done
wait "$tpid"
n=$(wc -l <"$tmp/rss.samples" | tr -d ' ')
pick() { sed -n "$(( ($1 * n + 99) / 100 > 0 ? ($1 * n + 99) / 100 : 1 ))p" "$tmp/rss.samples"; }
echo "4. $RSS_LINES lines ($(($(wc -c <"$tmp/rss.jsonl") / 1048576)) MiB), -w 16 --batch 500: $(sql -e 'SELECT COUNT(*) FROM messages') messages stored"
echo "   RSS at 10% / 50% / 90% of the run: $(($(pick 10) / 1024)) / $(($(pick 50) / 1024)) / $(($(pick 90) / 1024)) MiB ($n samples)"
echo "   peak RSS: $(($(cat "$tmp/rss.peak") / 1024)) MiB (goal: flat, under 64 MiB)"
