#!/bin/sh
# The record loop every program shares (lib/jsonl, reject, opts, sig,
# progress), driven through tests/tools/jsonl-cat: conservation on hostile
# input, rejects, exit codes, help, flushing before a wait, signals, a
# closed stdout, and flat memory over a 100 MB stream.
. "$(dirname "$0")/../lib.sh"

cat=jsonl-cat

# --help on stdout with exit 0; usage errors exit 64 on stderr.
out=$($cat --help 2>/dev/null); rc=$?
is "$rc" 0 "--help exits 0"
case "$out" in *"Usage: jsonl-cat [OPTION]..."*"--rejects=FILE"*) ok 0 "--help prints usage and the common options on stdout" ;; *) ok 1 "--help output" ;; esac
$cat --version | grep -q '^jsonl-cat (chatpipe) '; ok $? "--version"
$cat --no-such-option </dev/null >"$TMP/o" 2>"$TMP/e"; rc=$?
is "$rc" 64 "unknown option exits 64"
grep -q "^jsonl-cat: fatal: --no-such-option: unknown option (try 'jsonl-cat --help')$" "$TMP/e"; ok $? "usage error is one line on stderr"
$cat --log-format yaml </dev/null 2>/dev/null; is "$?" 64 "bad --log-format exits 64"

# Hostile input: conservation, with rejects in a file.
printf '{"a":1}\n\n{"body":{"x":"\303\251"},"message_id":"m","receipt_handle":"r"}\nnot json\n{"a":"\377"}\r\n{"n":"a\0b"}\n[1,2]\r\n   \n{"a":"\360\237\230\200"}\n"last"' >"$TMP/in"
$cat --rejects "$TMP/rej" <"$TMP/in" >"$TMP/out" 2>"$TMP/err"; rc=$?
is "$rc" 65 "rejects make exit 65"
is "$(wc -l <"$TMP/out" | tr -d ' ')" 5 "5 records written"
is "$(wc -l <"$TMP/rej" | tr -d ' ')" 5 "5 rejects written"
is "$(jq -c .line "$TMP/rej" | tr '\n' ' ')" "2 4 5 6 8 " "rejects carry their line numbers"
is "$(sed -n 2p "$TMP/out")" '{"x":"é"}' "an envelope's body is its record"
is "$(sed -n 5p "$TMP/out")" '"last"' "a last line without newline is read"
is "$(jq -r 'select(.line==5).input_base64' "$TMP/rej" | base64 -d | od -An -tx1 | tr -d ' \n')" "7b2261223a22ff227d" "invalid UTF-8 kept byte for byte"
test ! -s "$TMP/err"; ok $? "nothing else on stderr"

# -v: the conservation summary at exit.
$cat -v <"$TMP/in" >/dev/null 2>"$TMP/err"
grep -q '^jsonl-cat: info: read 10, written 5, rejected 5 in ' "$TMP/err"; ok $? "-v prints read = written + rejected"
$cat -v --log-format json <"$TMP/in" >/dev/null 2>"$TMP/err"
jq -e 'select(.level=="info") | .msg | startswith("read 10, written 5, rejected 5")' "$TMP/err" >/dev/null; ok $? "--log-format json: diagnostics are JSON lines"
is "$(jq -c 'select(.line) | .line' "$TMP/err" | wc -l | tr -d ' ')" 5 "rejects on stderr by default"

# jq expressions: a per-line error is a reject, the rest goes on.
printf '{"c":1}\n[]\n{"c":"x"}\n' | $cat --jq '.c' >"$TMP/out" 2>"$TMP/rej"; rc=$?
is "$(tr '\n' ' ' <"$TMP/out")" '1 "x" ' "--jq evaluates per record"
is "$rc" 65 "--jq run-time error is a reject"
$cat --jq '.c |' </dev/null 2>"$TMP/err"; is "$?" 64 "--jq compile error exits 64"

# Output is flushed whenever the program would wait for input.
(printf '{"first":1}\n'; sleep 5) | $cat >"$TMP/idle.out" 2>"$TMP/idle.err" &
pid=$!
at_exit "kill -9 $pid 2>/dev/null"
n=0; while [ ! -s "$TMP/idle.out" ] && [ $n -lt 40 ]; do sleep 0.1; n=$((n + 1)); done
is "$(cat "$TMP/idle.out")" '{"first":1}' "a record is flushed while the program waits for more"
# SIGTERM: stop taking input, flush, exit 0.
kill -TERM $pid
n=0; while kill -0 $pid 2>/dev/null && [ $n -lt 30 ]; do sleep 0.1; n=$((n + 1)); done
kill -0 $pid 2>/dev/null; ok $((!$?)) "SIGTERM while waiting for input: exits at once"
wait $pid; rc=$?
is "$rc" 0 "SIGTERM: exit 0"

# A second signal exits at once (the stage is busy for 30 s per line).
printf '{"a":1}\n{"b":2}\n' >"$TMP/two"
$cat --delay-ms 30000 <"$TMP/two" >"$TMP/out" 2>/dev/null &
pid=$!
at_exit "kill -9 $pid 2>/dev/null"
sleep 0.3
kill -TERM $pid; sleep 0.2
kill -0 $pid 2>/dev/null; ok $? "the first SIGTERM lets the line in flight finish"
kill -TERM $pid
n=0; while kill -0 $pid 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
wait $pid; rc=$?
is "$rc" 143 "the second SIGTERM exits at once (killed by SIGTERM)"

# A closed stdout is an I/O error (74), not a silent success.
seq 1 200000 | sed 's/.*/{"n":&}/' >"$TMP/many"
( $cat <"$TMP/many" 2>"$TMP/err"; echo $? >"$TMP/rc" ) | head -n 1 >/dev/null
is "$(cat "$TMP/rc")" 74 "EPIPE on stdout exits 74"
grep -q 'writing output: Broken pipe' "$TMP/err"; ok $? "and says so"

# 100 MB through the loop: counted exactly, memory flat.
awk 'BEGIN { pad = sprintf("%0900d", 0); for (i = 0; i < 100000; i++) printf "{\"i\":%d,\"pad\":\"%s\"}\n", i, pad }' >"$TMP/100mb"
size=$(wc -c <"$TMP/100mb")
test "$size" -ge 90000000; ok $? "the stream is about 100 MB ($size bytes)"
/usr/bin/time -f '%M' -o "$TMP/rss" $cat <"$TMP/100mb" 2>/dev/null | wc -l >"$TMP/count"
is "$(tr -d ' ' <"$TMP/count")" 100000 "every line of the 100 MB stream written"
rss=$(tail -n 1 "$TMP/rss")
diag "peak RSS over 100 MB: $rss KiB"
case "${SANITIZE:-}" in
"") test "$rss" -lt 32768; ok $? "peak RSS under 32 MiB ($rss KiB)" ;;
*) skip "peak RSS is not meaningful under sanitizers" ;;
esac

done_testing
