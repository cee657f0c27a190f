#!/bin/sh
# The record loop every program shares (read, check, parse, write), against
# jq doing the same parse-and-print and cat doing no work, on the same
# 200,000 pair records (about 270 MB).  Prints lines/s, MB/s, CPU seconds
# and peak RSS, with the rate as a ratio of jq's.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
: "${BUILD:=build}"
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
tool="$BUILD/tests/jsonl-cat"
[ -x "$tool" ] || { echo "bench/jsonl.sh: build first (make build-tests)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=${N:-200000}
awk -v n="$n" 'BEGIN {
	pad = sprintf("%0500d", 0); gsub(/0/, "x", pad)
	for (i = 0; i < n; i++)
		printf "{\"workspace_id\":7,\"conversation_id\":%d,\"store_id\":3,\"session_id\":\"s-%d\",\"user_message\":{\"role\":\"USER\",\"content\":\"question %d %s\",\"timestamp\":\"2026-11-28T12:00:00.123Z\"},\"assistant_message\":{\"role\":\"LLM\",\"content\":\"answer \\u00e9 %s\",\"timestamp\":\"2026-11-28T12:00:01.5Z\",\"citations\":[]},\"human_agent_message\":null,\"handoff_messages\":false}\n", i % 5000, i, i, pad, pad
}' >"$tmp/in"
bytes=$(wc -c <"$tmp/in")
cat "$tmp/in" >/dev/null # warm the page cache

measure() { # name cmd...
	name=$1; shift
	/usr/bin/time -f '%e %U %S %M' -o "$tmp/t" "$@" <"$tmp/in" >"$tmp/out" 2>/dev/null || true
	read -r wall user sys rss <"$tmp/t"
	lines=$(wc -l <"$tmp/out")
	echo "$name $wall $user $sys $rss $lines" >>"$tmp/results"
}
measure "cat" cat
measure "jq+-c+." jq -c .
measure "jsonl-cat" "$tool"
measure "jsonl-cat+--jq+.conversation_id" "$tool" --jq .conversation_id

awk -v n="$n" -v bytes="$bytes" '
	{ name[NR] = $1; wall[NR] = $2; cpu[NR] = $3 + $4; rss[NR] = $5; out[NR] = $6
	  if ($1 == "jq+-c+.") jq = $2 }
	END {
		printf "%d lines, %.1f MB\n", n, bytes / 1e6
		printf "%-34s %12s %9s %8s %9s %10s\n", "contender", "lines/s", "MB/s", "CPU s", "RSS KiB", "vs jq"
		for (i = 1; i <= NR; i++) {
			nm = name[i]; gsub(/\+/, " ", nm)
			w = wall[i] > 0 ? wall[i] : 0.001
			printf "%-34s %12.0f %9.1f %8.2f %9d %9.2fx\n", nm, n / w, bytes / 1e6 / w, cpu[i], rss[i], jq / w
		}
	}' "$tmp/results"
