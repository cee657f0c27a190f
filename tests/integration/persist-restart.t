#!/bin/sh
# chat-persist while its MariaDB dies: killed with SIGKILL and restarted in
# the middle of a 100,000-record run (20,000 under sanitizers), every record
# ends stored exactly once and every line comes out exactly once; killed for
# longer than --retry-for, input stops being read, the held records are
# rejected as retryable, the exit status is 75, and replaying what was not
# written completes the set.
# shellcheck disable=SC2016 # at_exit strings expand later, on purpose
. "$(dirname "$0")/../lib.sh"
. "$PEERS/peer.sh"

cp=chat-persist
gen=$CHATPIPE_TOP/bench/gen-pairs.sh
N=100000
case ${SANITIZE:-} in ?*) N=20000 ;; esac
tab=$(printf '\t')

at_exit '"$PEERS/mariadb" stop "$TMP/db"'
if ! out=$("$PEERS/mariadb" start "$TMP/db" 2>"$TMP/err"); then
	ok 1 "mariadb starts"
	diag "$(cat "$TMP/err")"
	done_testing
	exit 1
fi
eval "$out"
sql() {
	timeout 60 mariadb --no-defaults --socket="$MARIADB_SOCKET" --user=root \
		--batch --skip-column-names chatpipe_test "$@" 2>&1
}
DB="mysql://root@/chatpipe_test?socket=$MARIADB_SOCKET"
lines() { wc -l <"$1" | tr -d ' '; }
check "the schema" $cp --db "$DB" --migrate

# The server's own command line, to start it again on the same datadir.
tr '\0' '\n' <"/proc/$MARIADB_PID/cmdline" >"$TMP/mariadbd.cmd"
server_pid() { cat "$TMP/db/mariadbd.pid" 2>/dev/null; }
kill_server() {
	p=$(server_pid)
	peer_alive "$p" mariadbd && kill -KILL "$p"
	peer_wait_gone "$p" mariadbd 100
}
start_server() {
	(
		IFS='
'
		# shellcheck disable=SC2046 # one argument a line
		exec $(cat "$TMP/mariadbd.cmd") </dev/null >>"$TMP/db/mariadbd.log" 2>&1
	) &
	n=0
	until timeout 5 mariadb-admin --no-defaults --socket="$MARIADB_SOCKET" -uroot \
		--connect-timeout=1 ping >/dev/null 2>&1; do
		[ $n -ge 300 ] && return 1
		sleep 0.1; n=$((n + 1))
	done
}
wait_lines() { # wait_lines FILE N: until FILE has N lines (60 s at most)
	n=0
	while [ "$(lines "$1" 2>/dev/null || echo 0)" -lt "$2" ] && [ $n -lt 600 ]; do
		sleep 0.1; n=$((n + 1))
	done
}
# The records of input lines, each exactly once in stdout and the rejects?
exactly_once() { # exactly_once INPUT OUT REJECTS...
	_in=$1 _out=$2; shift 2
	{ cat "$_out"; for r in "$@"; do jq -r .input "$r"; done; } | sort >"$TMP/got"
	sort "$_in" >"$TMP/want"
	cmp -s "$TMP/got" "$TMP/want"
}

# --- a restart in the middle ----------------------------------------------

sh "$gen" "$N" $((N / 20)) 11 >"$TMP/in.jsonl"
: >"$TMP/out"
$cp --db "$DB" -w 4 --batch 200 --rejects "$TMP/rej" -v <"$TMP/in.jsonl" \
	>"$TMP/out" 2>"$TMP/log" &
pid=$!
at_exit "kill -9 $pid 2>/dev/null"
wait_lines "$TMP/out" $((N / 4))
kill_server
ok $? "the server is killed (SIGKILL) after $(lines "$TMP/out") records"
sleep 2
start_server
ok $? "and started again on the same datadir"
wait_lines "$TMP/out" $((N / 2))
kill_server && sleep 1 && start_server
ok $? "killed and started again after $(lines "$TMP/out") records"
wait $pid
rc=$?
is "$rc" 0 "chat-persist exits 0"
[ "$rc" -eq 0 ] || diag "$(tail -5 "$TMP/log")"
grep -q "retrying" "$TMP/log"
ok $? "it saw the server go and retried"
touch "$TMP/rej"
is "$(jq -c 'select(.retryable != true)' "$TMP/rej" | wc -l | tr -d ' ')" 0 \
	"rejects, if any ($(lines "$TMP/rej")), are all retryable"
if [ -s "$TMP/rej" ]; then
	jq -r .input "$TMP/rej" | $cp --db "$DB" >>"$TMP/out" 2>/dev/null
	: >"$TMP/rej"
fi
exactly_once "$TMP/in.jsonl" "$TMP/out" "$TMP/rej"
ok $? "every input line written exactly once"
is "$(sql -e 'SELECT COUNT(*), COUNT(DISTINCT message_id) FROM messages')" \
	"$((2 * N))${tab}$((2 * N))" "every record stored exactly once ($((2 * N)) messages)"
is "$(sql -e 'SELECT COUNT(*) FROM conversations')" \
	"$(jq -s 'map(.conversation_id) | unique | length' "$TMP/in.jsonl")" "and every conversation"

# --- away for longer than --retry-for ---------------------------------------

M=$((N / 5))
sh "$gen" "$M" $((M / 10)) 12 >"$TMP/in2.jsonl"
: >"$TMP/out2" # exists before the program opens it, for wait_lines
$cp --db "$DB" -w 4 --batch 100 --retry-for 3 --rejects "$TMP/rej2" -v \
	<"$TMP/in2.jsonl" >"$TMP/out2" 2>"$TMP/log2" &
pid=$!
at_exit "kill -9 $pid 2>/dev/null"
wait_lines "$TMP/out2" $((M / 10))
kill_server
ok $? "the server is killed for good after $(lines "$TMP/out2") records"
sleep 1
pos1=$(sed -n 's/^pos:[[:space:]]*//p' "/proc/$pid/fdinfo/0" 2>/dev/null)
sleep 1
pos2=$(sed -n 's/^pos:[[:space:]]*//p' "/proc/$pid/fdinfo/0" 2>/dev/null)
[ -n "$pos1" ] && [ "$pos1" = "$pos2" ] && [ "$pos1" -lt "$(wc -c <"$TMP/in2.jsonl")" ]
ok $? "input stops being read while the database is away (offset $pos1 of $(wc -c <"$TMP/in2.jsonl"))"
n=0; while peer_alive $pid && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
wait $pid
is "$?" 75 "after --retry-for: exit 75"
summary=$(sed -n 's/.*info: read \([0-9]*\), written \([0-9]*\), rejected \([0-9]*\) .*/\1 \2 \3/p' "$TMP/log2")
# shellcheck disable=SC2086 # three numbers, split on purpose
set -- $summary
[ $# -eq 3 ] && [ "$1" -eq $(($2 + $3)) ] && [ "$2" -eq "$(lines "$TMP/out2")" ] &&
	[ "$3" -eq "$(lines "$TMP/rej2")" ] && [ "$3" -gt 0 ]
ok $? "conservation: read $1 = written $2 + rejected $3"
is "$(jq -c 'select(.retryable != true)' "$TMP/rej2" | wc -l | tr -d ' ')" 0 \
	"the held records are rejected as retryable"
grep -q "database unavailable for" "$TMP/rej2"
ok $? "  saying the database was unavailable"
start_server
ok $? "the server is back"
# A queue would redeliver everything not acknowledged: the rejects and what
# was never read.
jq -r .input "$TMP/rej2" >"$TMP/replay"
sort "$TMP/out2" "$TMP/replay" >"$TMP/seen"
sort "$TMP/in2.jsonl" | comm -23 - "$TMP/seen" >>"$TMP/replay"
$cp --db "$DB" -w 4 <"$TMP/replay" >>"$TMP/out2" 2>/dev/null
is "$?" 0 "replaying them completes the set"
exactly_once "$TMP/in2.jsonl" "$TMP/out2"
ok $? "every input line written exactly once"
is "$(sql -e "SELECT COUNT(*), COUNT(DISTINCT message_id) FROM messages
	WHERE message_id LIKE '0190000c-%'")" "$((2 * M))${tab}$((2 * M))" \
	"every record stored exactly once ($((2 * M)) messages)"

done_testing
