#!/bin/sh
# examples/queue-inspect.sh: look into a queue without consuming it.
#
#   sqs-queue attributes          how many messages wait, in flight, delayed
#   sqs-poll --peek | jq          up to $N of them: when sent, how often
#                                 received, what they hold
#
# The queue is $Q: an SQS queue URL (credentials and region as the AWS CLI
# finds them, see chatpipe-config(5)) or file:DIR.  Without $Q a spool is
# made in a temporary directory and filled with a few pairs, so this runs
# as is, with no cloud account.
#
# A peek holds the messages it shows, invisible, until it ends, then makes
# them all visible again; so other consumers wait for it, and a message
# that outlasts its visibility timeout (--visibility-timeout 60 here) comes
# back and could show twice: the output is made unique by message id.  A
# peek is a receive: each message's receive count grows, and so does its
# way to the dead-letter queue's maxReceiveCount.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
: "${BUILD:=build}"
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
PATH=$BUILD/bin:$PATH
N=${N:-10}

if [ -z "${Q:-}" ]; then
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/queue-inspect.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	Q=file:$tmp/chat
	sqs-queue create "$Q" >/dev/null
	for i in 1 2 3 4 5; do
		printf '{"workspace_id":7,"conversation_id":%d,"store_id":3,"session_id":null,"user_message":{"role":"USER","content":"question %d","timestamp":"2026-11-28T12:0%d:00Z"},"assistant_message":{"role":"LLM","content":"answer %d","timestamp":"2026-11-28T12:0%d:01Z","citations":[]},"human_agent_message":null,"handoff_messages":false}\n' \
		    $((1230 + i % 2)) "$i" "$i" "$i" "$i"
	done | sqs-send --queue-url "$Q" -a conversation=.conversation_id >/dev/null
fi

# 1. The counts.
sqs-queue attributes "$Q" |
	jq -r '"\(.queue_url): \(.visible) visible, \(.in_flight) in flight, \(.delayed) delayed"'

# 2. The messages: no more than are visible, so that on SQS the peek ends
# as soon as it has them (-e alone waits for two empty 20 s long polls).
n=$(sqs-queue attributes "$Q" | jq --argjson n "$N" '[.visible, $n] | min')
[ "$n" -gt 0 ] || exit 0
sqs-poll --queue-url "$Q" --peek -n "$n" -e --visibility-timeout 60 |
	jq -n -c '[inputs] | unique_by(.message_id) | sort_by(.sent_at)[] |
	    {sent_at, receive_count, attributes: .message_attributes,
	     body: (.body | if type == "object" and has("user_message") then
	         {conversation_id, question: (.user_message.content? // null)}
	         else . end)}'
