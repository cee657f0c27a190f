#!/bin/sh
# lib/spool across processes, driven by tests/tools/spool-tool: the basics
# from the shell (stale handles, peeking, a consumer that dies holding a
# message, temp files of a dead sender), long polling woken by another
# process, dead-lettering, 4 senders and 4 receivers at once (every message
# received and deleted exactly once), and kill -9 of senders and receivers
# at random moments (no acknowledged message lost, no message deleted
# twice, redelivered only when its receiver died holding it).
. "$(dirname "$0")/../lib.sh"

st=spool-tool
rand() { od -An -N2 -tu2 /dev/urandom | tr -d ' '; }
stats() { $st stats "$1"; }

# ---- basics ----
Q=$TMP/q
$st create "$Q" -v 30; ok $? "create a queue"
$st create "$Q" -v 30; ok $? "creating it again with the same attributes is fine"
$st create "$Q" -v 31 2>"$TMP/err"; is "$?" 2 "creating it with other attributes fails"
grep -q "already exists" "$TMP/err"; ok $? "... saying so"
$st send "$Q" 3 -s 100 -p b >"$TMP/sent"; ok $? "send 3 messages"
is "$(stats "$Q")" "visible=3 not_visible=0 delayed=0 corrupt=0 tmp=0" "3 visible"

# A receiver that exits without deleting: the message comes back.
$st recv "$Q" -v 1 >"$TMP/held"; set -- $(cat "$TMP/held")
held_id=$1 held_rh=$2
is "$3" 1 "first receive count is 1"
is "$(stats "$Q")" "visible=2 not_visible=1 delayed=0 corrupt=0 tmp=0" "one in flight"
sleep 1.2
$st recv "$Q" -v 30 -n 10 -S 0 >"$TMP/again"
is "$(wc -l <"$TMP/again" | tr -d ' ')" 3 "after the visibility timeout all 3 are received"
is "$(awk -v id="$held_id" '$1 == id { print $3 }' "$TMP/again")" 2 "the held one with receive count 2"
is "$($st delete "$Q" "$held_rh")" stale "the first receipt handle is stale: nothing deleted"
is "$(stats "$Q")" "visible=0 not_visible=3 delayed=0 corrupt=0 tmp=0" "all 3 still in flight"
rh=$(awk -v id="$held_id" '$1 == id { print $2 }' "$TMP/again")
is "$($st cv "$Q" "$rh" 0)" ok "change visibility 0 (peek)"
is "$($st delete "$Q" "$rh")" stale "after which its handle is stale"
is "$(stats "$Q")" "visible=1 not_visible=2 delayed=0 corrupt=0 tmp=0" "and it is visible at once"
for r in $(awk '{ print $2 }' "$TMP/again"); do $st delete "$Q" "$r"; done >"$TMP/del"
is "$(sort "$TMP/del" | uniq -c | awk '{ printf "%s %s;", $1, $2 }')" "2 deleted;1 stale;" "delete with the current handles"
$st drain "$Q" >"$TMP/d1"
is "$(awk '$1 == "recv" { print $2, $4 }' "$TMP/d1")" "b-$(awk -v id="$held_id" '$3 == id { split($2, a, "-"); print a[2] }' "$TMP/sent") 3" "the peeked one is received a third time"
is "$(stats "$Q")" "visible=0 not_visible=0 delayed=0 corrupt=0 tmp=0" "empty"
$st delete "$Q" "../config" 2>/dev/null; is "$?" 2 "a malformed receipt handle is an error"
test -f "$Q/config"; ok $? "... that touches nothing"

# A dead sender's temp file (even a complete message) is never delivered,
# and a sweep removes it once old enough.
$st send "$Q" 1 -p t >/dev/null
f=$(find "$Q/ready" -type f | head -1)
cp "$f" "$Q/tmp/$(basename "$f" | cut -c1-36)"
$st drain "$Q" >"$TMP/d2"
is "$(grep -c '^recv' "$TMP/d2")" 1 "a copy in tmp/ is not delivered"
is "$(stats "$Q")" "visible=0 not_visible=0 delayed=0 corrupt=0 tmp=1" "it stays while young"
$st sweep "$Q" 0
is "$(stats "$Q")" "visible=0 not_visible=0 delayed=0 corrupt=0 tmp=0" "a sweep removes it"

# Long polling: a send from another process ends the wait early.
t0=$(date +%s%N)
$st recv "$Q" -w 10 >"$TMP/lp" &
lp=$!
at_exit "kill $lp 2>/dev/null"
sleep 0.5
$st send "$Q" 1 -p lp >/dev/null
wait $lp
dt=$(( ($(date +%s%N) - t0) / 1000000 ))
is "$(awk '{ print $4 }' "$TMP/lp")" lp-0 "a long poll receives a message sent meanwhile"
test "$dt" -lt 2000; ok $? "... at once (${dt} ms, not 10 s)"
$st drain "$Q" >/dev/null

# Dead-lettering after 2 receives.
D=$TMP/dlq Q2=$TMP/q2
$st create "$D" && $st create "$Q2" -m 2 -D "file:$D"; ok $? "create a queue with a dead-letter queue"
grep -q "^DeadLetterQueue=/" "$Q2/config"; ok $? "the DLQ is stored as an absolute path"
$st send "$Q2" 1 -p poison >/dev/null
c1=$($st recv "$Q2" -v 0 -S 0 | awk '{ print $3 }')
c2=$($st recv "$Q2" -v 0 -S 0 | awk '{ print $3 }')
c3=$($st recv "$Q2" -v 0 -S 0 | awk '{ print $3 }')
is "$c1 $c2 [$c3]" "1 2 []" "delivered twice, then not again"
is "$($st recv "$D" | awk '{ print $3, $4 }')" "3 poison-0" "it is in the dead-letter queue"
$st remove "$Q2"; ok $? "remove a queue"
test ! -e "$Q2"; ok $? "... its directory is gone"
$st remove "$TMP" 2>/dev/null; is "$?" 2 "a directory that is no queue is not removed"

# ---- 4 senders and 4 receivers at once: exactly once ----
C=$TMP/conc
mkdir "$C"
$st create "$C/q" -v 60
t0=$(date +%s%N)
pids=
for k in 0 1 2 3; do
	$st send "$C/q" 2500 -s 200 -b 10 -p "s$k" >"$C/sent.$k" 2>"$C/err.s$k" &
	pids="$pids $!"
done
rpids=
for k in 0 1 2 3; do
	$st drain "$C/q" -v 60 -w 1 -u "$C/stop" >"$C/recv.$k" 2>"$C/err.r$k" &
	rpids="$rpids $!"
done
at_exit "kill $pids $rpids 2>/dev/null"
rc=0
for p in $pids; do wait "$p" || rc=1; done
touch "$C/stop"
for p in $rpids; do wait "$p" || rc=1; done
dt=$(( ($(date +%s%N) - t0) / 1000000 ))
is "$rc" 0 "4 senders and 4 receivers exit 0"
diag "10000 messages through 4+4 processes in ${dt} ms"
cat "$C"/recv.* >"$C/all"
awk '$1 == "sent" { print $2 }' "$C"/sent.* | sort >"$C/sent.tags"
awk '$1 == "recv" { print $2 }' "$C/all" | sort >"$C/recv.tags"
is "$(wc -l <"$C/sent.tags" | tr -d ' ')" 10000 "10000 sends acknowledged"
is "$(wc -l <"$C/recv.tags" | tr -d ' ')" 10000 "10000 deliveries"
cmp -s "$C/sent.tags" "$C/recv.tags"; ok $? "each message sent was received exactly once"
is "$(awk '$1 == "recv" && $4 != 1' "$C/all" | wc -l | tr -d ' ')" 0 "every receive count is 1"
is "$(grep -c '^del ' "$C/all")" 10000 "10000 deletes, none stale"
is "$(cat "$C"/err.* | wc -c | tr -d ' ')" 0 "no errors or damaged bodies"
is "$(stats "$C/q")" "visible=0 not_visible=0 delayed=0 corrupt=0 tmp=0" "the queue is empty"
is "$(find "$C/q/ready" "$C/q/inflight" "$C/q/tmp" -type f | wc -l | tr -d ' ')" 0 "no files left behind"

# ---- kill -9 at random moments ----
K=$TMP/chaos
mkdir "$K"
$st create "$K/q" -v 5
: >"$K/killed"
start_sender() { # k run
	$st send "$K/q" 1000 -s 300 -p "p$1r$2" >"$K/sent.p$1r$2" 2>/dev/null &
	eval "spid$1=$! srun$1=$2"
}
start_receiver() { # k run
	$st drain "$K/q" -v 5 -w 1 -H 30 -u "$K/stop" >"$K/recv.c$1r$2" 2>"$K/err.c$1r$2" &
	eval "rpid$1=$! rrun$1=$2"
}
for k in 0 1 2 3; do start_sender $k 0; start_receiver $k 0; done
at_exit "kill -9 \$spid0 \$spid1 \$spid2 \$spid3 \$rpid0 \$rpid1 \$rpid2 \$rpid3 2>/dev/null"
kills_s=0 kills_r=0 i=0
while [ $i -lt 30 ]; do
	i=$((i + 1))
	sleep "0.$(( $(rand) % 3 + 1 ))"
	k=$(( $(rand) % 8 ))
	if [ $k -lt 4 ]; then
		eval "pid=\$spid$k run=\$srun$k"
		kill -9 "$pid" 2>/dev/null && kills_s=$((kills_s + 1))
		wait "$pid" 2>/dev/null
		start_sender $k $((run + 1))
	else
		k=$((k - 4))
		eval "pid=\$rpid$k run=\$rrun$k"
		if kill -9 "$pid" 2>/dev/null; then
			kills_r=$((kills_r + 1))
			echo "$K/recv.c${k}r$run" >>"$K/killed"
		fi
		wait "$pid" 2>/dev/null
		start_receiver $k $((run + 1))
	fi
done
rc=0
for k in 0 1 2 3; do eval "wait \$spid$k" || rc=1; done
touch "$K/stop"
for k in 0 1 2 3; do eval "wait \$rpid$k" || rc=1; done
is "$rc" 0 "the last senders and receivers exit 0"
diag "killed $kills_s senders and $kills_r receivers"
tmp_left=$(stats "$K/q" | sed 's/.*tmp=//')
# Messages held by killed receivers come back after the visibility timeout.
sleep 6
$st drain "$K/q" -v 30 -w 2 -S 100 >"$K/recv.final" 2>"$K/err.final"
ok $? "a final drain after the visibility timeout"
for f in "$K"/sent.* "$K"/recv.*; do sed "s|^|$f |" "$f"; done >"$K/all"
awk '
	FNR == NR { killed[$1] = 1; next }
	$2 == "sent" { sent[$3] = 1 }
	$2 == "recv" {
		n[$3]++; cnt[$3, n[$3]] = $5; file[$3, n[$3]] = $1
		if ($3 !~ /^p[0-3]r[0-9]+-[0-9]+$/) { print "garbage delivered: " $3; bad++ }
	}
	$2 == "del" { del[$3]++; delin[$3, $1] = 1 }
	END {
		for (t in sent) if (!(t in n)) { print "lost: " t; bad++ }
		for (t in del) if (del[t] > 1) { print "deleted twice: " t; bad++ }
		for (t in n) {
			if (n[t] < 2) continue
			redelivered++
			max = 0
			for (i = 1; i <= n[t]; i++) if (cnt[t, i] + 0 > max) { max = cnt[t, i] + 0; mi = i }
			for (i = 1; i <= n[t]; i++) {
				for (j = i + 1; j <= n[t]; j++)
					if (cnt[t, i] == cnt[t, j]) { print "same receive count twice: " t; bad++ }
				if (i == mi) continue
				f = file[t, i]
				if (!(f in killed)) { print "redelivered while its receiver lived: " t " " f; bad++ }
				if ((t, f) in delin) { print "redelivered after its delete: " t; bad++ }
			}
		}
		nsent = 0; for (t in sent) nsent++
		ndel = 0; for (t in del) ndel++
		printf "sent %d, deleted %d, redelivered %d, bad %d\n", nsent, ndel, redelivered, bad + 0
	}' "$K/killed" "$K/all" >"$K/report"
diag "$(tail -1 "$K/report")"
is "$(tail -1 "$K/report" | sed 's/.*bad //')" 0 "every acknowledged message delivered, none deleted twice, redelivered only after its receiver died"
if [ "$(tail -1 "$K/report" | sed 's/.*bad //')" != 0 ]; then diag "$(head -20 "$K/report")"; fi
is "$(cat "$K"/err.* | grep -v '^spool-tool: warning' | wc -c | tr -d ' ')" 0 "no errors or damaged bodies"
is "$(stats "$K/q" | sed 's/ tmp=.*//')" "visible=0 not_visible=0 delayed=0 corrupt=0" "the queue is empty"
diag "temp files left by killed senders: $tmp_left"
$st sweep "$K/q" 0
is "$(stats "$K/q")" "visible=0 not_visible=0 delayed=0 corrupt=0 tmp=0" "a sweep removes the dead senders' temp files"

done_testing
