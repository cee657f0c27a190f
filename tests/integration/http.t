#!/bin/sh
# tests/integration/http.t: lib/http (through the http-get driver) against
# a real HTTP server on loopback (tests/peers/httpd.js), directly and
# through the fault-injecting proxy (tests/peers/faultproxy.js): requests
# really run -j N at once, connections are reused, retryable failures
# (5xx, 429, timeouts, dropped, reset and cut connections, throttling
# bodies) are retried until they succeed or the attempts or the time budget
# run out, 4xx are not retried, the prepare hook re-signs every attempt,
# TLS peers are verified unless told otherwise, -vv traces redact secrets,
# and every request gets exactly one completion.
# shellcheck disable=SC2016,SC2154 # at_exit strings expand later; start() sets NAME_port and NAME_pid by eval
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=SCRIPTDIR/../peers/peer.sh
. "$PEERS/peer.sh"

# Loopback only: no proxy from the environment in the way.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy no_proxy NO_PROXY

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# start NAME SCRIPT ARGS...: starts a node peer, waits for its port, sets
# NAME_pid and NAME_port.
start() {
	_name=$1 _script=$2
	shift 2
	rm -f "$TMP/$_name.port"
	node "$PEERS/$_script" --port-file "$TMP/$_name.port" "$@" \
		>"$TMP/$_name.out" 2>"$TMP/$_name.log" &
	eval "${_name}_pid=$!"
	at_exit "peer_stop $! $_script"
	_n=0
	while [ ! -s "$TMP/$_name.port" ]; do
		if [ $_n -ge 100 ]; then
			peer_die "$TMP/$_name.log" "$_script did not start"
		fi
		sleep 0.1
		_n=$((_n + 1))
	done
	eval "${_name}_port=$(cat "$TMP/$_name.port")"
}

# get ARGS...: runs http-get, its JSON lines in $TMP/out, its stderr in
# $TMP/err; fails the test when it does not exit 0.
get() {
	if ! http-get "$@" >"$TMP/out" 2>"$TMP/err"; then
		ok 1 "http-get $*"
		diag "$(tail -n 20 "$TMP/err")"
		return 1
	fi
}
field() { jq -r "$1" "$TMP/out"; } # field JQ: evaluated on the output lines
sstat() { curl -s "http://127.0.0.1:$httpd_port/stats" | jq -r "$1"; }
sreset() { curl -s "http://127.0.0.1:$httpd_port/reset" >/dev/null; }
pstat() { curl -s "http://127.0.0.1:$proxy_port/__faultproxy/$1" | jq -r "$2"; }

start httpd httpd.js
S="http://127.0.0.1:$httpd_port"
start proxy faultproxy.js --target "$S" --seed 7 --stats "$TMP/proxy.stats"
P="http://127.0.0.1:$proxy_port"
diag "httpd on $httpd_port, faultproxy on $proxy_port"

# --- requests and answers --------------------------------------------------

get --body "$S/echo?x=1"
is "$(field '[.status, .attempts, .retryable, .code] | @tsv')" "$(printf '200\t1\tfalse\t0')" \
	"GET: 200 at the first attempt"
is "$(field '.body | fromjson | [.method, .path, .headers["user-agent"]] | @tsv')" \
	"$(printf 'GET\t/echo\tchatpipe/0.1.0')" "the server saw GET /echo from chatpipe/VERSION"

get --body -X POST -H 'Content-Type: application/x-amz-json-1.0' -H 'X-Amz-Target: AmazonSQS.SendMessage' \
	-d '{"QueueUrl":"q","MessageBody":"hi there"}' "$S/post"
is "$(field '.body | fromjson | [.method, .body, .headers["content-type"], .headers["x-amz-target"], (.headers.expect // "none")] | @tsv')" \
	"$(printf 'POST\t{"QueueUrl":"q","MessageBody":"hi there"}\tapplication/x-amz-json-1.0\tAmazonSQS.SendMessage\tnone')" \
	"POST: body and headers arrive exactly, no Expect: 100-continue"
get --body -X DELETE "$S/thing"
is "$(field '.body | fromjson | [.method, .body_len, (.headers["content-type"] // "none")] | @tsv')" \
	"$(printf 'DELETE\t0\tnone')" "DELETE without a body"

get --body --show-header X-Request-N "$S/h"
is "$(field '(.header | tonumber) == (.body | fromjson | .n)')" true \
	"response headers can be looked up by name"

get --max-body 100 "$S/big?size=1000"
is "$(field '[.code, .attempts, .retryable] | @tsv')" "$(printf '23\t1\tfalse')" \
	"a body over --max-body fails the request (not retried)"
is "$(field '.error')" "response body larger than 100 bytes" "and says why"

printf '%s\n' "$S/in?n=1" "" "$S/in?n=2" "$S/in?n=3" | http-get -j 2 --body >"$TMP/out" 2>"$TMP/err"
is "$(field '.body | fromjson | .query.n' | sort | tr '\n' ' ')" "1 2 3 " \
	"URLs from stdin lines (blank lines skipped): one completion each"

# --- concurrency and connection reuse --------------------------------------

sreset
t0=$(now_ms)
get -j 20 --repeat 20 "$S/slow?delay=1000"
took=$(($(now_ms) - t0))
is "$(field 'select(.status == 200) | .i' | sort -n | uniq | wc -l | tr -d ' ')" 20 \
	"-j 20: twenty 1-second requests all answer"
[ "$took" -lt 2500 ]
ok $? "...in about one second, not twenty (${took} ms): they ran at once"
is "$(sstat .max_in_flight)" 20 "the server saw 20 requests at once"

sreset
t0=$(now_ms)
get -j 4 --repeat 12 "$S/slow?delay=200"
took=$(($(now_ms) - t0))
is "$(sstat .max_in_flight)" 4 "-j 4: never more than 4 at once"
[ "$took" -ge 600 ]
ok $? "twelve 200 ms requests, 4 at a time, take at least 600 ms (${took} ms)"

sreset
get -j 4 --repeat 200 "$S/echo"
is "$(field 'select(.status == 200)' | jq -s length)" 200 "200 requests, -j 4: all answered"
is "$(sstat .requests)" 200 "the server saw 200 requests"
conns=$(sstat .connections)
[ "$conns" -le 4 ]
ok $? "...on $conns connections: connections are reused"

# --- retries ---------------------------------------------------------------

retry_case() { # retry_case NAME QUERY WANT_ATTEMPTS [ARGS...]
	_what=$1 _q=$2 _want=$3
	shift 3
	get --body --sign --base-ms 5 --cap-ms 50 "$@" "$S/r?$_q" || return
	is "$(field '[.status, .attempts, .retryable] | @tsv')" "$(printf '200\t%s\tfalse' "$_want")" \
		"$_what: retried, succeeds at attempt $_want"
}
retry_case "503 x3" "key=a&mode=503&fail=3" 4
is "$(field '.body | fromjson | [.headers["x-attempt"], .headers["x-signature"], .key_count] | @tsv')" \
	"$(printf '4\tsig-4\t4')" "the prepare hook re-signed each attempt (headers replaced, not added)"
retry_case "500 x2" "key=b&mode=500&fail=2" 3
retry_case "502, 504" "key=b2&mode=502&fail=1" 2
retry_case "408" "key=b3&mode=408&fail=1" 2
retry_case "dropped connection x2" "key=c&mode=drop&fail=2" 3
retry_case "reset connection" "key=d&mode=reset&fail=1" 2
retry_case "response cut in the body" "key=e&mode=partial&fail=1" 2
retry_case "timeout" "key=f&mode=hang&fail=1" 2 --timeout-ms 300

t0=$(now_ms)
retry_case "429 with Retry-After: 1" "key=g&mode=429&fail=1&retry_after=1" 2 --cap-ms 5000
took=$(($(now_ms) - t0))
[ "$took" -ge 1000 ]
ok $? "...after waiting the Retry-After second (${took} ms)"

for code in 400 401 403 404 409 501; do
	get "$S/n?key=n$code&status=$code"
	is "$(field '[.status, .attempts, .retryable] | @tsv')" "$(printf '%s\t1\tfalse' $code)" \
		"$code is final: one attempt, not retryable"
done
is "$(sstat '.keys.n404')" 1 "the server saw the 404 request once"

get --attempts 4 --base-ms 5 --cap-ms 20 "$S/n?key=always&mode=503"
is "$(field '[.status, .attempts, .retryable, .error] | @tsv')" "$(printf '503\t4\ttrue\tHTTP 503')" \
	"always 503: gives up after --attempts 4 with retryable=true and the last status"
is "$(sstat '.keys.always')" 4 "the server saw exactly 4 attempts"

t0=$(now_ms)
get --attempts 1000 --base-ms 50 --cap-ms 200 --budget-ms 1500 "$S/n?key=budget&mode=503"
took=$(($(now_ms) - t0))
is "$(field '[.status, .retryable] | @tsv')" "$(printf '503\ttrue')" \
	"always 503 with a 1.5 s budget: gives up, retryable"
[ "$(field .attempts)" -gt 3 ] && [ "$(field .attempts)" -lt 1000 ] && [ "$(field .ms)" -le 1600 ]
ok $? "...after $(field .attempts) attempts in $(field .ms) ms: the budget, not the attempts, ended it"
[ "$took" -lt 2500 ]
ok $? "http-get returned within the budget (${took} ms)"

t0=$(now_ms)
get --timeout-ms 5000 --budget-ms 1000 "$S/n?key=hang&mode=hang"
took=$(($(now_ms) - t0))
is "$(field '[.code, .retryable] | @tsv')" "$(printf '28\ttrue')" \
	"a server that never answers: timeout, retryable"
[ "$took" -lt 2000 ]
ok $? "...and the budget (1 s) bounds even a 5 s attempt timeout (${took} ms)"

port=$(peer_free_port)
get --attempts 3 --base-ms 5 "http://127.0.0.1:$port/"
is "$(field '[.status, .code, .attempts, .retryable] | @tsv')" "$(printf '0\t7\t3\ttrue')" \
	"connection refused: retried, then retryable with no status"

# --- tracing ---------------------------------------------------------------

get -vvv --repeat 2 -H 'Authorization: Bearer SEKRIT-1' -H 'X-Amz-Security-Token: SEKRIT-2' \
	-H 'Cookie: s=SEKRIT-3' "http://user:SEKRIT-4@127.0.0.1:$httpd_port/t?X-Amz-Signature=SEKRIT-5&auth_signature=SEKRIT-6&a=1"
! grep -q SEKRIT "$TMP/err"
ok $? "-vvv: no secret in the trace"
grep -q '> Authorization: \*\*\*' "$TMP/err" && grep -q 'X-Amz-Security-Token: \*\*\*' "$TMP/err" &&
	grep -q 'Cookie: \*\*\*' "$TMP/err" && grep -q 'http://\*\*\*@127.0.0.1' "$TMP/err" &&
	grep -q 'X-Amz-Signature=\*\*\*&auth_signature=\*\*\*&a=1' "$TMP/err"
ok $? "...they are shown as ***"
grep -q 'debug: http: #2 < 200 GET' "$TMP/err" && grep -q 'Re-using existing connection' "$TMP/err"
ok $? "...one debug line per response, and libcurl's notes (connection reused)"

# --- TLS -------------------------------------------------------------------

if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 >"$TMP/openssl.log" 2>&1; then
	start tls httpd.js --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
	T="https://127.0.0.1:$tls_port"
	get --attempts 3 "$T/x"
	is "$(field '[.code, .attempts, .retryable] | @tsv')" "$(printf '60\t1\tfalse')" \
		"TLS: an unknown certificate is refused by default, not retried"
	get -j 2 --repeat 20 --cacert "$TMP/cert.pem" "$T/x"
	is "$(field 'select(.status == 200)' | jq -s length)" 20 "...and accepted with --cacert (a CA bundle)"
	conns=$(curl -s --cacert "$TMP/cert.pem" "$T/stats" | jq .connections)
	[ "$conns" -le 2 ]
	ok $? "...reusing TLS connections ($conns for 20 requests, -j 2)"
	get -k "$T/x"
	is "$(field .status)" 200 "-k (insecure) skips verification"
else
	skip "openssl cannot make a test certificate: $(tail -n 1 "$TMP/openssl.log")"
fi

# --- through the fault proxy -----------------------------------------------

get --body "$P/echo?via=proxy"
is "$(field '[.status, (.body | fromjson | .query.via)] | @tsv')" "$(printf '200\tproxy')" \
	"the proxy forwards requests and answers"

curl -s "$P/__faultproxy/config?schedule=throttle,throttle&throttle=sqs" >/dev/null
get "$P/sqs"
is "$(field '[.status, .attempts, .retryable] | @tsv')" "$(printf '400\t1\tfalse')" \
	"an SQS throttling error (400) is final for the plain HTTP classifier..."
get --aws --throttle-base-ms 5 "$P/sqs"
is "$(field '[.status, .attempts] | @tsv')" "$(printf '200\t2')" \
	"...and retried with a classify hook that reads AWS error codes"
curl -s "$P/__faultproxy/config?schedule=throttle,throttle&throttle=sqs-403" >/dev/null
get --aws --throttle-base-ms 5 "$P/sqs"
is "$(field '[.status, .attempts] | @tsv')" "$(printf '200\t3')" "...RequestThrottled (403) too"

sreset
curl -s "$P/__faultproxy/config?schedule=lose&throttle=http" >/dev/null
get --base-ms 5 "$P/lose?key=lost"
is "$(field '[.status, .attempts] | @tsv')" "$(printf '200\t2')" \
	"an answer lost after the server acted: retried"
is "$(sstat .keys.lost)" 2 "...so the server saw it twice (at-least-once)"

curl -s "$P/__faultproxy/config?delay-ms=100" >/dev/null
t0=$(now_ms)
get -j 1 --repeat 5 "$P/echo"
took=$(($(now_ms) - t0))
[ "$took" -ge 500 ]
ok $? "--delay-ms 100: five sequential requests take at least 500 ms (${took} ms)"
curl -s "$P/__faultproxy/config?delay-ms=0" >/dev/null

# Many requests, many faults: nothing lost, nothing doubled.
sreset
curl -s "$P/__faultproxy/reset" >/dev/null
curl -s "$P/__faultproxy/config?p-503=0.15&p-500=0.05&p-throttle=0.05&p-drop=0.05&p-reset=0.03&p-timeout=0.02&p-lose=0.02" >/dev/null
n=300
t0=$(now_ms)
get -j 16 --repeat $n --attempts 12 --base-ms 5 --throttle-base-ms 5 --cap-ms 50 --timeout-ms 1000 "$P/echo"
took=$(($(now_ms) - t0))
curl -s "$P/__faultproxy/config?p-503=0&p-500=0&p-throttle=0&p-drop=0&p-reset=0&p-timeout=0&p-lose=0" >/dev/null
is "$(wc -l <"$TMP/out" | tr -d ' ')" $n "$n requests through random faults: $n completions"
is "$(field .i | sort -n | uniq | wc -l | tr -d ' ')" $n "...one per request"
is "$(field 'select(.status == 200) | .i' | wc -l | tr -d ' ')" $n "...all succeeded in the end (${took} ms)"
attempts=$(field .attempts | awk '{ s += $1 } END { print s }')
injected=$(pstat stats '[.injected[]] | add')
proxied=$(pstat stats .requests)
diag "attempts $attempts, proxy requests $proxied, faults injected $injected"
[ "$injected" -gt 20 ] && [ $((attempts - n)) -le "$injected" ] && [ "$attempts" -le "$proxied" ]
ok $? "every failed attempt was an injected fault; the proxy saw every attempt"
is "$(pstat stats .forwarded)" "$(sstat .requests)" "the server saw exactly what the proxy forwarded"

pstat stats '.injected' >"$TMP/injected.live"
peer_stop "$proxy_pid" faultproxy.js
jq '.injected' "$TMP/proxy.stats" >"$TMP/injected.exit" 2>/dev/null
[ -s "$TMP/injected.exit" ] && cmp -s "$TMP/injected.live" "$TMP/injected.exit"
ok $? "the proxy writes its counts to --stats at exit"

done_testing
