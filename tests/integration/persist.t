#!/bin/sh
# chat-persist against a real MariaDB started here, and against SQLite: the
# schema (--migrate, twice), hostile content stored byte for byte or
# rejected with a reason (persist-hostile.js), conservation and exit codes,
# replays and shuffles giving identical tables, a conversation that changes
# workspace, the password from the environment, a file or ~/.my.cnf, TLS,
# SIGTERM, and the same semantics on SQLite.
# shellcheck disable=SC2016 # at_exit strings expand later, on purpose
. "$(dirname "$0")/../lib.sh"
. "$PEERS/peer.sh"

cp=chat-persist
here=$CHATPIPE_TOP/tests/integration
gen=$CHATPIPE_TOP/bench/gen-pairs.sh
tab=$(printf '\t')

at_exit '"$PEERS/mariadb" stop "$TMP/db"'
if ! out=$("$PEERS/mariadb" start "$TMP/db" 2>"$TMP/err"); then
	ok 1 "mariadb starts"
	diag "$(cat "$TMP/err")"
	# --- the example -----------------------------------------------------------

if [ -z "${SANITIZE:-}" ]; then
	BUILD=$BUILD sh "$CHATPIPE_TOP/examples/persist-dump.sh" >"$TMP/ex.out" 2>"$TMP/ex.err"
	ok $? "examples/persist-dump.sh persists a dump and reads a conversation back"
	grep -q "| USER | 2026-11-18 11:06:40.000000 | Where is my" "$TMP/ex.out"
	ok $? "  in order, through the mysql client"
else
	skip "the example (not under sanitizers)"
fi

done_testing
	exit 1
fi
eval "$out"
sql() { # sql DB ARGS...: the mariadb client as root
	_d=$1; shift
	timeout 60 mariadb --no-defaults --socket="$MARIADB_SOCKET" --user=root \
		--default-character-set=utf8mb4 --batch --skip-column-names "$_d" "$@" 2>&1
}
url() { echo "mysql://root@/$1?socket=$MARIADB_SOCKET"; }
DB=$(url chatpipe_test)
lines() { wc -l <"$1" | tr -d ' '; }

# --- command line and configuration --------------------------------------

$cp --help >"$TMP/help" 2>&1
is "$?" 0 "--help exits 0"
for o in --db --db-password-file --workers --batch --linger --retry-for --insert --migrate; do
	grep -q -e "$o" "$TMP/help" || { ok 1 "--help lists $o"; continue; }
	ok 0 "--help lists $o"
done
$cp </dev/null 2>"$TMP/err"
is "$?" 78 "no --db and no CHATPIPE_DB: exit 78"
grep -q "no database: give --db URL or set CHATPIPE_DB" "$TMP/err"
ok $? "  with a clear message"
$cp --db "$DB" -w 0 </dev/null 2>/dev/null
is "$?" 64 "-w 0: exit 64"
$cp --db "$DB" --insert sideways </dev/null 2>/dev/null
is "$?" 64 "--insert sideways: exit 64"
$cp --db "postgres://x/y" </dev/null 2>/dev/null
is "$?" 78 "an unknown database kind: exit 78"
$cp --db "$DB" </dev/null >/dev/null 2>"$TMP/err"
is "$?" 78 "no schema yet: exit 78"
grep -q "run chat-persist --migrate" "$TMP/err"
ok $? "  saying to run chat-persist --migrate"
$cp --db "mysql://root@/nosuchdb?socket=$MARIADB_SOCKET" </dev/null 2>/dev/null
is "$?" 78 "an unknown database: exit 78"
$cp --db "mysql://root@/x?socket=$TMP/nosocket" --retry-for 1 </dev/null 2>"$TMP/err"
is "$?" 69 "no server behind the socket: exit 69 after --retry-for"

# --- the schema -----------------------------------------------------------

check "--migrate creates the schema" $cp --db "$DB" --migrate
check "--migrate again is harmless" $cp --db "$DB" --migrate
is "$(sql chatpipe_test -e 'SELECT version, name FROM chatpipe_schema_version')" \
	"1${tab}001-init" "the version table records migration 1, once"
is "$(sql chatpipe_test -e "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES
	WHERE TABLE_SCHEMA = 'chatpipe_test' AND TABLE_NAME IN ('conversations', 'messages')
	ORDER BY 1" | tr '\n' ' ')" \
	"conversations${tab}utf8mb4_bin messages${tab}utf8mb4_bin " "tables in utf8mb4"
is "$(sql chatpipe_test -e "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX)
	FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'chatpipe_test'
	AND TABLE_NAME = 'messages' AND INDEX_NAME = 'messages_conversation'")" \
	"conversation_id,created_at,id" "an index reads a conversation in order"
is "$(sql chatpipe_test -e "SELECT NON_UNIQUE FROM information_schema.STATISTICS
	WHERE TABLE_SCHEMA = 'chatpipe_test' AND INDEX_NAME = 'messages_persist_key'")" \
	0 "the persist key is unique"

# --- hostile content --------------------------------------------------------

(cd "$TMP" && node "$here/persist-hostile.js" make hostile)
rows_mysql() {
	sql "$1" -e "SELECT IFNULL(message_id, 'NULL'), role, HEX(content), created_at FROM messages"
}
$cp --db "$DB" -w 3 --batch 4 <"$TMP/hostile.jsonl" >"$TMP/h.out" 2>"$TMP/h.rej"
is "$?" 65 "hostile input: exit 65 (some lines rejected)"
rows_mysql chatpipe_test >"$TMP/h.rows"
node "$here/persist-hostile.js" check "$TMP/hostile" "$TMP/h.out" "$TMP/h.rej" "$TMP/h.rows" >"$TMP/h.check"
ok $? "stored byte for byte (quotes, backslashes, NUL, emoji, 1 MB, offsets, ns) or rejected with its reason"
[ -s "$TMP/h.check" ] && diag "$(head -20 "$TMP/h.check")"
is "$(($(lines "$TMP/h.out") + $(lines "$TMP/h.rej")))" "$(lines "$TMP/hostile.jsonl")" \
	"conservation: lines read = written + rejected"
is "$(sql chatpipe_test -e "SELECT COUNT(*) FROM messages WHERE content = '''); DROP TABLE messages; --'")" \
	1 "'); DROP TABLE is only text"
is "$(sql chatpipe_test -e "SELECT id, workspace_id, store_id, session_id, created_at, updated_at
	FROM conversations WHERE id = 20")" \
	"20${tab}7${tab}3${tab}s-20${tab}2026-03-01 00:00:00.987654${tab}2026-03-01 00:00:01.500000" \
	"a conversation's times are its pair's, in UTC"
is "$(sql chatpipe_test -e "SELECT citations FROM messages WHERE message_id = 'm-2'")" \
	"NULL" "no citations: NULL"

# The same file again: nothing new, the same lines out.
dump() { # dump DB: both tables, all but the row numbers of messages
	sql "$1" -e "SELECT * FROM conversations ORDER BY id;
		SELECT conversation_id, workspace_id, role, HEX(content), created_at, message_id,
		citations, HEX(persist_key) FROM messages ORDER BY persist_key"
}
dump chatpipe_test >"$TMP/dump1"
$cp --db "$DB" -w 2 <"$TMP/hostile.jsonl" >"$TMP/h2.out" 2>"$TMP/h2.rej"
is "$?" 65 "persisted twice: exit 65 again"
dump chatpipe_test >"$TMP/dump2"
cmp -s "$TMP/dump1" "$TMP/dump2"
ok $? "  identical tables, no duplicate row"
is "$(sort "$TMP/h2.out" | cksum)" "$(sort "$TMP/h.out" | cksum)" "  and the same lines written (a replay counts as done)"

# A conversation does not change workspace: the record is rejected, alone.
printf '%s\n' \
	'{"workspace_id":8,"conversation_id":1,"user_message":{"content":"q","timestamp":"2026-11-28T11:00:00Z"},"assistant_message":{"content":"a","timestamp":"2026-11-28T11:00:01Z"}}' \
	'{"workspace_id":7,"conversation_id":1,"user_message":{"content":"q2","timestamp":"2026-11-28T11:00:00Z"},"assistant_message":{"content":"a2","timestamp":"2026-11-28T11:00:01Z"}}' \
	>"$TMP/ws.jsonl"
$cp --db "$DB" --batch 10 <"$TMP/ws.jsonl" >"$TMP/ws.out" 2>"$TMP/ws.rej"
is "$?" 65 "another workspace for a stored conversation: exit 65"
is "$(jq -r '"\(.line) \(.retryable) \(.error)"' "$TMP/ws.rej")" \
	"1 false the conversation is stored with another workspace_id" \
	"  that record is rejected, with the reason"
is "$(jq -c .workspace_id "$TMP/ws.out")" 7 "  and its batch-mate is stored"
is "$(sql chatpipe_test -e "SELECT updated_at FROM conversations WHERE id = 1")" \
	"2026-11-28 11:00:01.000000" "  updated_at moved forward, by message time"

# --- replays and shuffles: identical tables -------------------------------

sh "$gen" 3000 300 7 noids >"$TMP/gen.jsonl"
# Some handoffs and a few exact duplicates, and a line that arrives again
# in the same batch.
jq -c 'select(.conversation_id % 7 == 0) | .handoff_messages = true
	| .human_agent_message = (.assistant_message | .role = "HUMAN-AGENT"
	| .content = "agent: " + .content)' "$TMP/gen.jsonl" >"$TMP/handoffs.jsonl"
{ cat "$TMP/gen.jsonl" "$TMP/handoffs.jsonl"; head -50 "$TMP/gen.jsonl"; } >"$TMP/all.jsonl"
sed -n '1p;1p;2p;2p' "$TMP/gen.jsonl" >>"$TMP/all.jsonl"
n=$(lines "$TMP/all.jsonl")
for d in ordered shuffled twice; do
	sql mysql -e "CREATE DATABASE $d CHARACTER SET utf8mb4" >/dev/null
	$cp --db "$(url $d)" --migrate 2>/dev/null
done
$cp --db "$(url ordered)" -w 4 --batch 100 <"$TMP/all.jsonl" >"$TMP/o.out" 2>"$TMP/o.err"
is "$?" 0 "$n generated lines persisted"
is "$(lines "$TMP/o.out")" "$n" "  every line written"
shuf --random-source="$TMP/all.jsonl" "$TMP/all.jsonl" >"$TMP/shuf.jsonl"
$cp --db "$(url shuffled)" -w 7 --batch 13 --insert rows <"$TMP/shuf.jsonl" >/dev/null 2>&1
is "$?" 0 "the same lines shuffled, other workers, batches and insert mode"
$cp --db "$(url twice)" -w 1 --batch 1000 --linger 0 <"$TMP/shuf.jsonl" >/dev/null 2>&1
$cp --db "$(url twice)" -w 16 --batch 1 <"$TMP/all.jsonl" >/dev/null 2>&1
is "$?" 0 "and persisted twice, once per transaction the second time"
dump ordered >"$TMP/d.ordered"
dump shuffled >"$TMP/d.shuffled"
dump twice >"$TMP/d.twice"
cmp -s "$TMP/d.ordered" "$TMP/d.shuffled"
ok $? "shuffled: identical tables"
cmp -s "$TMP/d.ordered" "$TMP/d.twice"
ok $? "twice: identical tables"
is "$(sql ordered -e 'SELECT COUNT(*), COUNT(DISTINCT persist_key) FROM messages')" \
	"$((3000 * 2 + $(lines "$TMP/handoffs.jsonl")))${tab}$((3000 * 2 + $(lines "$TMP/handoffs.jsonl")))" \
	"one row per message, no duplicate"
is "$(sql ordered -e 'SELECT COUNT(*) FROM conversations')" \
	"$(jq -s 'map(.conversation_id) | unique | length' "$TMP/gen.jsonl")" "one row per conversation"
is "$(sql ordered -e "SELECT COUNT(*) FROM conversations c WHERE updated_at <> (SELECT MAX(created_at)
	FROM messages m WHERE m.conversation_id = c.id AND m.role <> 'HUMAN-AGENT')
	OR created_at <> (SELECT MIN(created_at) FROM messages m WHERE m.conversation_id = c.id
	AND m.role <> 'HUMAN-AGENT')")" 0 "created_at and updated_at span each conversation's pairs"

# --- credentials ------------------------------------------------------------

sql mysql -e "CREATE USER app@localhost IDENTIFIED BY 'app-pw-1';
	GRANT SELECT, INSERT, UPDATE ON chatpipe_test.* TO app@localhost" >/dev/null
APP="mysql://app@/chatpipe_test?socket=$MARIADB_SOCKET"
one=$(head -1 "$TMP/gen.jsonl")
mkdir -p "$TMP/home"
echo "$one" | HOME=$TMP/home $cp --db "$APP" >/dev/null 2>"$TMP/err"
is "$?" 77 "no password: exit 77 (access denied)"
echo "$one" | HOME=$TMP/home CHATPIPE_DB_PASSWORD=app-pw-1 $cp --db "$APP" >/dev/null 2>&1
is "$?" 0 "the password from CHATPIPE_DB_PASSWORD"
printf 'app-pw-1\n' >"$TMP/pw"
echo "$one" | HOME=$TMP/home $cp --db "$APP" --db-password-file "$TMP/pw" >/dev/null 2>&1
is "$?" 0 "the password from --db-password-file"
printf '[client]\npassword=app-pw-1\n' >"$TMP/home/.my.cnf"
echo "$one" | HOME=$TMP/home $cp --db "$APP" >/dev/null 2>&1
is "$?" 0 "the password from ~/.my.cnf [client]"
echo "$one" | HOME=$TMP/home CHATPIPE_DB_PASSWORD=wrong $cp --db "$APP" -v >/dev/null 2>"$TMP/err"
is "$?" 77 "CHATPIPE_DB_PASSWORD wins over ~/.my.cnf (a wrong one: exit 77)"
grep -q -e wrong -e app-pw "$TMP/err"
ok $((!$?)) "  and no password appears in the diagnostics"
echo "$one" | $cp --db "mysql://app:secret@/chatpipe_test?socket=$MARIADB_SOCKET" >/dev/null 2>"$TMP/err"
grep -q "password in the URL is visible" "$TMP/err" && ! grep -q secret "$TMP/err"
ok $? "a password in the URL is warned about, never printed"

# --- SIGTERM: stop reading, commit what is held, exit 0 --------------------

mkfifo "$TMP/fifo"
$cp --db "$DB" --linger 60000 --batch 1000 <"$TMP/fifo" >"$TMP/t.out" 2>"$TMP/t.err" &
pid=$!
at_exit "kill -9 $pid 2>/dev/null"
exec 3>"$TMP/fifo"
sed -n '100,109p' "$TMP/gen.jsonl" >&3
sleep 1
is "$(lines "$TMP/t.out")" 0 "a lingering batch is not written before it is committed"
kill -TERM $pid
n=0; while peer_alive $pid && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
wait $pid
is "$?" 0 "SIGTERM with a batch lingering: exit 0"
exec 3>&-
is "$(lines "$TMP/t.out")" 10 "  the held batch was committed and written"

# --- TLS --------------------------------------------------------------------

tls() {
	command -v openssl >/dev/null || { skip "openssl is not installed"; return; }
	c=$TMP/tls
	mkdir -p "$c"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=chatpipe-test-ca \
		-keyout "$c/ca.key" -out "$c/ca.pem" >/dev/null 2>&1 &&
	openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
		-keyout "$c/server.key" -out "$c/server.csr" >/dev/null 2>&1 &&
	printf 'subjectAltName=IP:127.0.0.1\n' >"$c/ext" &&
	openssl x509 -req -in "$c/server.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" \
		-CAcreateserial -days 2 -extfile "$c/ext" -out "$c/server.pem" >/dev/null 2>&1 &&
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca \
		-keyout "$c/other.key" -out "$c/other.pem" >/dev/null 2>&1
	ok $? "certificates made"
	port=$(peer_free_port)
	at_exit '"$PEERS/mariadb" stop "$TMP/tlsdb"'
	if ! out=$(MARIADB_PORT=$port MARIADB_ARGS="--ssl-ca=$c/ca.pem --ssl-cert=$c/server.pem --ssl-key=$c/server.key" \
		"$PEERS/mariadb" start "$TMP/tlsdb" 2>"$TMP/err"); then
		ok 1 "a MariaDB with TLS starts"; diag "$(cat "$TMP/err")"; return
	fi
	sock=$(echo "$out" | sed -n "s/^MARIADB_SOCKET='\(.*\)'$/\1/p")
	timeout 20 mariadb --no-defaults --socket="$sock" -uroot -e "
		CREATE USER tls@'127.0.0.1' IDENTIFIED BY 'pw' REQUIRE SSL;
		GRANT ALL ON chatpipe_test.* TO tls@'127.0.0.1'"
	T="mysql://tls@127.0.0.1:$port/chatpipe_test"
	CHATPIPE_DB_PASSWORD=pw $cp --db "$T?ssl-ca=$c/ca.pem" --migrate >/dev/null 2>"$TMP/err"
	is "$?" 0 "TLS verified with ssl-ca (the user requires SSL)"
	echo "$one" | CHATPIPE_DB_PASSWORD=pw $cp --db "$T?ssl-ca=$c/ca.pem" -v 2>"$TMP/err" >/dev/null
	grep -q "TLS TLS_AES" "$TMP/err"
	ok $? "  and used: $(grep -o 'TLS [A-Z0-9_-]*' "$TMP/err" | head -1)"
	echo "$one" | CHATPIPE_DB_PASSWORD=pw $cp --db "$T?ssl-ca=$c/other.pem" --retry-for 1 >/dev/null 2>"$TMP/err"
	is "$?" 77 "a server certificate from another CA: refused, exit 77"
	echo "$one" | CHATPIPE_DB_PASSWORD=pw $cp --db "$T?ssl-mode=DISABLED" --retry-for 1 >/dev/null 2>"$TMP/err"
	is "$?" 77 "without TLS the server refuses the user: exit 77"
	echo "$one" | CHATPIPE_DB_PASSWORD=pw $cp --db "$T?ssl-mode=REQUIRED" >/dev/null 2>"$TMP/err"
	rc=$?
	is "$rc" 0 "ssl-mode=REQUIRED connects without verifying"
	grep -q "does NOT verify" "$TMP/err"
	ok $? "  and says so loudly"
	"$PEERS/mariadb" stop "$TMP/tlsdb"
}
tls

# --- SQLite: the same semantics --------------------------------------------

L=sqlite:$TMP/chat.db
echo "$one" | $cp --db "$L" >/dev/null 2>"$TMP/err"
is "$?" 78 "sqlite: no file yet: exit 78"
[ ! -e "$TMP/chat.db" ]
ok $? "  and no empty file left behind"
check "sqlite: --migrate creates it" $cp --db "$L" --migrate
check "sqlite: --migrate again is harmless" $cp --db "$L" --migrate
is "$(sqlite3 "$TMP/chat.db" 'PRAGMA journal_mode; SELECT version FROM chatpipe_schema_version')" \
	"wal
1" "sqlite: WAL, schema version 1"
$cp --db "$L" -w 3 --batch 4 <"$TMP/hostile.jsonl" >"$TMP/s.out" 2>"$TMP/s.rej"
is "$?" 65 "sqlite: hostile input, exit 65"
sqlite3 -separator "$tab" "$TMP/chat.db" \
	"SELECT IFNULL(message_id, 'NULL'), role, hex(content), created_at FROM messages" >"$TMP/s.rows"
node "$here/persist-hostile.js" check "$TMP/hostile" "$TMP/s.out" "$TMP/s.rej" "$TMP/s.rows" >"$TMP/s.check"
ok $? "sqlite: stored byte for byte or rejected with the same reasons"
[ -s "$TMP/s.check" ] && diag "$(head -20 "$TMP/s.check")"
lite_dump() {
	sqlite3 "$1" "SELECT * FROM conversations ORDER BY id;
		SELECT conversation_id, workspace_id, role, hex(content), created_at, message_id,
		citations, hex(persist_key) FROM messages ORDER BY persist_key"
}
for f in all shuf; do
	rm -f "$TMP/$f.db"
	$cp --db "sqlite:$TMP/$f.db" --migrate 2>/dev/null
	$cp --db "sqlite:$TMP/$f.db" -w 4 --batch 50 <"$TMP/$f.jsonl" >/dev/null 2>&1
done
$cp --db "sqlite:$TMP/shuf.db" -w 2 <"$TMP/all.jsonl" >/dev/null 2>&1
lite_dump "$TMP/all.db" >"$TMP/l.all"
lite_dump "$TMP/shuf.db" >"$TMP/l.shuf"
cmp -s "$TMP/l.all" "$TMP/l.shuf"
ok $? "sqlite: shuffled and persisted twice, identical tables"
is "$(sqlite3 "$TMP/all.db" 'SELECT COUNT(*) FROM messages')" \
	"$(sql ordered -e 'SELECT COUNT(*) FROM messages')" "sqlite: as many messages as MariaDB"
is "$(sqlite3 "$TMP/all.db" "SELECT hex(persist_key) FROM messages ORDER BY 1 LIMIT 3")" \
	"$(sql ordered -e 'SELECT HEX(persist_key) FROM messages ORDER BY 1 LIMIT 3')" \
	"sqlite: the same persist keys as MariaDB"
is "$(sqlite3 -separator "$tab" "$TMP/all.db" 'SELECT * FROM conversations ORDER BY id LIMIT 5')" \
	"$(sql ordered -e 'SELECT * FROM conversations ORDER BY id LIMIT 5')" \
	"sqlite: the same conversation rows as MariaDB"

# --- the example -----------------------------------------------------------

if [ -z "${SANITIZE:-}" ]; then
	BUILD=$BUILD sh "$CHATPIPE_TOP/examples/persist-dump.sh" >"$TMP/ex.out" 2>"$TMP/ex.err"
	ok $? "examples/persist-dump.sh persists a dump and reads a conversation back"
	grep -q "| USER | 2026-11-18 11:06:40.000000 | Where is my" "$TMP/ex.out"
	ok $? "  in order, through the mysql client"
else
	skip "the example (not under sanitizers)"
fi

done_testing
