#!/bin/sh
# The main job on embedded defaults: no cloud account, no server.
#
#   questions ─ chat-ask (offline) ─ sqs-send ─▶ spool ─▶ sqs-poll ─ chat-persist (SQLite) ─ sqs-delete
#
# Everything lives in a work directory (default: ./demo-work, or $1).
# Stages whose program is not built yet are named and skipped, so this
# script shows what exists at every step of the project's life.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
: "${BUILD:=build}"
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
PATH="$BUILD/bin:$PATH"
work=${1:-demo-work}
mkdir -p "$work"

have() { [ -x "$BUILD/bin/$1" ]; }
missing=
for p in chat-ask sqs-send sqs-poll chat-persist sqs-delete sqs-queue; do
	have "$p" || missing="$missing $p"
done

echo "chatpipe demo: work directory $work"
echo "programs built:$(for p in "$BUILD"/bin/*; do [ -x "$p" ] && printf ' %s' "${p##*/}"; done)"
if [ -n "$missing" ]; then
	echo "not built yet:$missing"
	echo "the full pipeline runs once these exist; the record loop they share is tested by 'make check'."
	exit 0
fi
