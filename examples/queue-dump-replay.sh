#!/bin/sh
# examples/queue-dump-replay.sh: move a queue's messages to a file, and
# send them back later, from cron.
#
#   queue-dump-replay.sh dump FILE     drain $Q into FILE (envelopes)
#   queue-dump-replay.sh replay FILE   send FILE's records to $Q
#   queue-dump-replay.sh               both, on a spool of its own
#
# dump:   sqs-poll --until-empty >>FILE, sync, then sqs-delete what was
#         dumped: a message leaves the queue only once it is on disk.  The
#         messages stay invisible for $HIDE seconds (600) meanwhile, and
#         come back if the dump fails.  Envelopes, not --raw bodies, so the
#         replay sends every body byte for byte, with its attributes.
# replay: sqs-send <FILE.  What was sent is done; what was rejected as
#         retryable (throttling, the queue away) is put back into FILE for
#         the next run, the other rejects are kept in FILE.failed.  Run it
#         from cron until FILE is empty; it then does nothing:
#
#   # m h dom mon dow  command
#   */10 * * * *  Q=https://sqs.eu-west-1.amazonaws.com/123456789012/chat /usr/local/share/chatpipe/examples/queue-dump-replay.sh replay /var/lib/chatpipe/chat.dump
#
# cron mails what the script prints: nothing when there is nothing to do.
# A replay that stops half-way (credentials refused, say) keeps FILE whole,
# so the next run sends some messages twice: chat-persist stores a pair
# once however often it comes.
#
# $Q is an SQS queue URL (credentials and region as the AWS CLI finds
# them, see chatpipe-config(5)) or file:DIR.  Without arguments the script
# makes a spool in a temporary directory, fills it, dumps it, shows the
# file and replays it, so it runs as is, with no cloud account.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
: "${BUILD:=build}"
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
PATH=$BUILD/bin:$PATH
HIDE=${HIDE:-600}

dump() {
	file=$1
	sqs-poll --queue-url "$Q" --until-empty --visibility-timeout "$HIDE" >"$file.part"
	cat "$file.part" >>"$file"
	sync "$file" 2>/dev/null || sync
	status=0
	sqs-delete <"$file.part" >/dev/null || status=$?
	echo "dumped $(wc -l <"$file.part") messages from $Q into $file"
	rm -f "$file.part"
	# Messages not deleted come back, and the next dump takes them again.
	return "$status"
}

replay() {
	file=$1
	[ -s "$file" ] || return 0
	status=0
	sqs-send --queue-url "$Q" --rejects "$file.rejects" <"$file" >"$file.sent" ||
		status=$?
	case $status in
	0 | 65 | 75) ;;
	*) echo "sqs-send failed ($status): $file kept for the next run" >&2
	   rm -f "$file.sent" "$file.rejects"
	   return "$status" ;;
	esac
	jq -r 'select(.retryable | not) | .input' "$file.rejects" >>"$file.failed"
	jq -r 'select(.retryable) | .input' "$file.rejects" >"$file.next"
	echo "replayed $(wc -l <"$file.sent") messages to $Q;" \
	    "$(wc -l <"$file.next") to retry, $(wc -l <"$file.failed") failed"
	mv "$file.next" "$file"
	rm -f "$file.sent" "$file.rejects"
	[ -s "$file.failed" ] || rm -f "$file.failed"
	return "$status"
}

case ${1:-} in
dump) : "${Q:?set Q to the queue to dump}"; dump "$2"; exit ;;
replay) : "${Q:?set Q to the queue to replay into}"; replay "$2"; exit ;;
'') ;;
*) echo "usage: $0 [dump FILE | replay FILE]" >&2; exit 64 ;;
esac

# The whole story on a spool of its own.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/queue-dump-replay.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
Q=file:$tmp/chat
sqs-queue create "$Q" >/dev/null
for i in 1 2 3 4 5; do
	printf '{"workspace_id":7,"conversation_id":%d,"store_id":3,"session_id":null,"user_message":{"role":"USER","content":"question %d","timestamp":"2026-11-28T12:0%d:00Z"},"assistant_message":{"role":"LLM","content":"answer %d","timestamp":"2026-11-28T12:0%d:01Z","citations":[]},"human_agent_message":null,"handoff_messages":false}\n' \
	    $((1230 + i % 2)) "$i" "$i" "$i" "$i"
done | sqs-send --queue-url "$Q" -a conversation=.conversation_id >/dev/null
count() { sqs-queue attributes "$Q" | jq -r '"\(.queue_url): \(.visible) visible, \(.in_flight) in flight"'; }

count
dump "$tmp/chat.dump"
count
jq -c '{message_id, receive_count, attributes: .message_attributes,
    question: .body.user_message.content}' "$tmp/chat.dump"
replay "$tmp/chat.dump"
count
replay "$tmp/chat.dump"   # the next cron run: nothing left to do
