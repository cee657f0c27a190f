#!/bin/sh
# bench/gen-pairs.sh N [CONVERSATIONS] [SEED] [ids|noids]: writes N pair
# records (BRIEF section 2) on stdout, as chat-ask would: N/10 conversations
# by default, a user question of ~80 bytes and an answer of ~400 with
# citations, message ids (UUID-shaped, unique; "noids" leaves them out, so
# chat-persist derives the keys), timestamps one second apart per pair.
# The same arguments always give the same bytes.  Used by the tests too.
set -eu
n=${1:?usage: gen-pairs.sh N [CONVERSATIONS] [SEED]}
convs=${2:-$(( n / 10 > 0 ? n / 10 : 1 ))}
seed=${3:-42}
ids=${4:-ids}
exec awk -v n="$n" -v convs="$convs" -v seed="$seed" -v ids="$ids" 'BEGIN {
	srand(seed)
	words = "order delivery refund invoice parcel address tracking account " \
	    "password payment card store return exchange warranty size colour " \
	    "shipping express standard week day hour customer support agent"
	nw = split(words, w, " ")
	base = 1795000000 # 2026-11-18
	for (i = 0; i < n; i++) {
		conv = 1000 + int(rand() * convs)
		ws = 1 + conv % 50
		t = base + i
		q = "Where is my " w[1 + int(rand() * nw)] "? I asked about the " \
		    w[1 + int(rand() * nw)] " yesterday, ticket " i "."
		a = "Your " w[1 + int(rand() * nw)] " is on its way."
		for (k = 0; k < 7; k++)
			a = a " The " w[1 + int(rand() * nw)] " " w[1 + int(rand() * nw)] \
			    " takes about " int(rand() * 10) " " w[1 + int(rand() * nw)] "s."
		ts1 = strftime("%Y-%m-%dT%H:%M:%S", t, 1) sprintf(".%03dZ", i % 1000)
		ts2 = strftime("%Y-%m-%dT%H:%M:%S", t + 1, 1) sprintf(".%03dZ", i % 1000)
		id1 = sprintf("0190%04x-%04x-7%03x-8%03x-%012x", seed % 65536, int(i / 65536), i % 4096, 1, i)
		id2 = sprintf("0190%04x-%04x-7%03x-8%03x-%012x", seed % 65536, int(i / 65536), i % 4096, 2, i)
		printf "{\"workspace_id\":%d,\"conversation_id\":%d,\"store_id\":%d,\"session_id\":\"s-%d\",", ws, conv, ws % 5, conv
		if (ids == "noids") {
			id1 = ""
			id2 = ""
		} else {
			id1 = "\"id\":\"" id1 "\","
			id2 = "\"id\":\"" id2 "\","
		}
		printf "\"user_message\":{%s\"role\":\"USER\",\"content\":\"%s\",\"timestamp\":\"%s\"},", id1, q, ts1
		printf "\"assistant_message\":{%s\"role\":\"LLM\",\"content\":\"%s\",\"timestamp\":\"%s\",", id2, a, ts2
		printf "\"citations\":[{\"uri\":\"s3://kb/doc-%d.md\",\"score\":0.%d}]},", i % 97, 50 + i % 50
		printf "\"human_agent_message\":null,\"handoff_messages\":false}\n"
	}
}'
