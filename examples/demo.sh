#!/bin/sh
# The main job on embedded defaults: no cloud account, no server.
#
#   pairs ─ sqs-send ─▶ spool (file:DIR) ─▶ sqs-poll ─ chat-persist (SQLite) ─ sqs-delete
#
# The pairs come from examples/pairs.jsonl until chat-ask exists; then
# chat-ask answers examples/questions.jsonl offline and its pairs go in.
# Everything lives in a work directory (./demo-work, or $1), so the demo
# can run again: the second run stores nothing twice.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
: "${BUILD:=build}"
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
PATH="$BUILD/bin:$PATH"
work=${1:-demo-work}
mkdir -p "$work"
work=$(cd "$work" && pwd)
queue="file:$work/queue"
dlq="file:$work/queue-dead"
db="sqlite:$work/chat.db"

step() { printf '\n== %s\n' "$*"; }

step "the queue: a spool directory with SQS semantics, and its dead-letter queue"
[ -d "$work/queue-dead" ] || sqs-queue create "$dlq" >/dev/null
[ -d "$work/queue" ] || sqs-queue create "$queue" --visibility-timeout 30 --dlq "$dlq" --max-receives 5
echo "$queue (dead letters after 5 receives: $dlq)"

step "the store: SQLite, schema by chat-persist --migrate"
chat-persist --db "$db" --migrate

step "producing: pairs into the queue"
if command -v chat-ask >/dev/null 2>&1 && [ -x "$BUILD/bin/chat-ask" ]; then
	chat-ask --offline <"$top/examples/questions.jsonl" | sqs-send --queue-url "$queue" -v >/dev/null
else
	sqs-send --queue-url "$queue" -v <"$top/examples/pairs.jsonl" >/dev/null
fi
sqs-queue attributes "$queue" | jq -c '{queue_url, visible, in_flight}'

step "consuming: sqs-poll | chat-persist | sqs-delete, until the queue is empty"
sqs-poll --queue-url "$queue" --until-empty -v |
	chat-persist --db "$db" -w 2 -v |
	sqs-delete -v >"$work/done.jsonl"
echo "$(wc -l <"$work/done.jsonl") messages stored and acknowledged"
sqs-queue attributes "$queue" | jq -c '{queue_url, visible, in_flight}'

step "what is stored: one conversation read back in order"
sqlite3 -header -column "$work/chat.db" \
	"SELECT created_at, role, substr(content, 1, 60) AS content
	   FROM messages WHERE conversation_id = 1234 ORDER BY created_at;"
sqlite3 "$work/chat.db" \
	"SELECT count(*) || ' conversations, ' || (SELECT count(*) FROM messages) || ' messages' FROM conversations;"
