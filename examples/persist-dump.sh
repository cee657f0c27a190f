#!/bin/sh
# examples/persist-dump.sh [DUMP]: persist a dump of pair records into
# MySQL/MariaDB with chat-persist, then read one conversation back, in
# order, with the mysql client.
#
# DUMP is a file of JSON lines, e.g. what "sqs-poll --raw --until-empty"
# wrote (default: 2,000 generated pairs).  The database is $CHATPIPE_DB
# (mysql://USER@HOST:PORT/DB or mysql:///DB?socket=PATH, the password from
# CHATPIPE_DB_PASSWORD or ~/.my.cnf); without it a private MariaDB is
# started in a temporary directory and stopped at the end (needs
# mariadb-server).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
: "${BUILD:=build}"
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
PATH=$BUILD/bin:$PATH
tmp=$(mktemp -d "${TMPDIR:-/tmp}/persist-dump.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

dump=${1:-}
if [ -z "$dump" ]; then
	dump=$tmp/dump.jsonl
	sh "$top/bench/gen-pairs.sh" 2000 100 >"$dump"
fi

if [ -z "${CHATPIPE_DB:-}" ]; then
	eval "$("$top/tests/peers/mariadb" start "$tmp/mariadb")"
	trap '"$top/tests/peers/mariadb" stop "$tmp/mariadb"; rm -rf "$tmp"' EXIT
	CHATPIPE_DB="mysql://$MARIADB_USER@/$MARIADB_DATABASE?socket=$MARIADB_SOCKET"
	mysql() { command mariadb --no-defaults --socket="$MARIADB_SOCKET" \
		--user="$MARIADB_USER" "$MARIADB_DATABASE" "$@"; }
else
	# The client reads the same ~/.my.cnf; give it the URL's parts.
	mysql() {
		rest=${CHATPIPE_DB#mysql://}
		auth=${rest%%/*} db=${rest#*/} db=${db%%\?*}
		case $auth in *@*) user=${auth%%@*} hostport=${auth#*@} ;; *) user='' hostport=$auth ;; esac
		set -- "$@" ${user:+--user="$user"} ${CHATPIPE_DB_PASSWORD:+--password="$CHATPIPE_DB_PASSWORD"}
		case $hostport in ?*:*) set -- "$@" --host="${hostport%:*}" --port="${hostport##*:}" ;;
		?*) set -- "$@" --host="$hostport" ;; esac
		case $CHATPIPE_DB in *socket=*) sock=${CHATPIPE_DB#*socket=}; set -- "$@" --socket="${sock%%&*}" ;; esac
		command mariadb "$@" "$db"
	}
fi
export CHATPIPE_DB

# 1. The schema (harmless when it is there).
chat-persist --migrate

# 2. The dump: stored lines go to stdout (dropped here), rejects to a file.
status=0
chat-persist -w 4 --batch 500 --rejects "$tmp/rejects.jsonl" -v <"$dump" >/dev/null || status=$?
case $status in
0) ;;
65) echo "some lines were rejected:" >&2; head -5 "$tmp/rejects.jsonl" >&2 ;;
*) echo "chat-persist failed ($status)" >&2; exit "$status" ;;
esac

# 3. A conversation read back in order (the messages_conversation index).
conv=$(head -1 "$dump" | jq '.body // . | .conversation_id')
mysql --table -e "
	SELECT id, workspace_id, store_id, session_id, created_at, updated_at
	FROM conversations WHERE id = $conv;
	SELECT role, created_at, LEFT(content, 60) AS content
	FROM messages WHERE conversation_id = $conv ORDER BY created_at, id;
	SELECT COUNT(*) AS conversations, (SELECT COUNT(*) FROM messages) AS messages
	FROM conversations"
