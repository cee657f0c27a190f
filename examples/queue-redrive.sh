#!/bin/sh
# examples/queue-redrive.sh: send a dead-letter queue's messages back to
# their queue, losing nothing if any stage dies.
#
#   sqs-poll --queue-url "$DLQ" --until-empty | sqs-send --queue-url "$Q" | sqs-delete
#
# sqs-send writes a line only once its message is in $Q, and sqs-delete
# deletes from $DLQ only the lines that reach it, so a crash anywhere
# leaves a message in $DLQ (it comes back there after its visibility
# timeout), never nowhere.  The worst case is a message in both queues.
# Each message keeps its body and its message attributes.
#
# $Q and $DLQ are SQS queue URLs (credentials and region as the AWS CLI
# finds them, see chatpipe-config(5)) or file:DIR spools.  Without them
# the script makes a spool and its dead-letter queue in a temporary
# directory, lets a consumer that never acknowledges push three pairs into
# the dead-letter queue, and then redrives them, so it runs as is, with no
# cloud account.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
: "${BUILD:=build}"
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
PATH=$BUILD/bin:$PATH
tmp=$(mktemp -d "${TMPDIR:-/tmp}/queue-redrive.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
count() {
	for q in "$Q" "$DLQ"; do
		sqs-queue attributes "$q" |
			jq -r '"\(.queue_url): \(.visible) visible, \(.in_flight) in flight"'
	done
}

if [ -z "${Q:-}" ] || [ -z "${DLQ:-}" ]; then
	Q=file:$tmp/chat DLQ=file:$tmp/chat-dlq
	sqs-queue create "$DLQ" >/dev/null
	sqs-queue create "$Q" --dlq "$DLQ" --max-receives 2 --visibility-timeout 1 >/dev/null
	for i in 1 2 3; do
		printf '{"workspace_id":7,"conversation_id":%d,"store_id":3,"session_id":null,"user_message":{"role":"USER","content":"question %d","timestamp":"2026-11-28T12:0%d:00Z"},"assistant_message":{"role":"LLM","content":"answer %d","timestamp":"2026-11-28T12:0%d:01Z","citations":[]},"human_agent_message":null,"handoff_messages":false}\n' \
		    $((1230 + i)) "$i" "$i" "$i" "$i"
	done | sqs-send --queue-url "$Q" -a conversation=.conversation_id >/dev/null
	# A consumer that fails twice: each message is received twice and
	# never deleted, so it moves to the dead-letter queue.
	for _ in 1 2 3; do
		sqs-poll --queue-url "$Q" --until-empty >/dev/null
		sleep 2
	done
fi

echo before:
count
# The redrive.  sh has no pipefail: each stage notes its own failure.
{ sqs-poll --queue-url "$DLQ" --until-empty || echo "sqs-poll $?" >>"$tmp/failed"; } |
	{ sqs-send --queue-url "$Q" || echo "sqs-send $?" >>"$tmp/failed"; } |
	{ sqs-delete || echo "sqs-delete $?" >>"$tmp/failed"; } |
	jq -c '{message_id, receive_count, conversation: (.body.conversation_id? // null)}'
echo after:
count
if [ -s "$tmp/failed" ]; then
	echo "failed: $(cat "$tmp/failed"); what was not moved is still in $DLQ" >&2
	exit 1
fi
