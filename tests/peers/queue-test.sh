# tests/peers/queue-test.sh: helpers shared by the queue tools' integration
# tests (tests/integration/queue-*.t), sourced after tests/lib.sh and
# tests/peers/peer.sh: run a program with a bounded time and check its exit
# status; start fauxqs and the fault proxy for one test (stopped at exit);
# the official SQS client; TODO tests for known bugs; leftover processes.
# Every wait here is bounded.
# shellcheck disable=SC2016,SC2034 # at_exit strings expand later; QP is for the tests

# Loopback only, no AWS configuration of the user's in the way.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy no_proxy NO_PROXY
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_REGION AWS_ENDPOINT_URL \
	AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_WEB_IDENTITY_TOKEN_FILE \
	AWS_ENDPOINT_URL_SQS AWS_CA_BUNDLE CHATPIPE_QUEUE_URL
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_CONFIG_FILE="$TMP/aws-config" AWS_SHARED_CREDENTIALS_FILE="$TMP/aws-credentials"
export AWS_EC2_METADATA_DISABLED=true
export LC_ALL=C
# Under ASan (make SANITIZE=address,...) a leak or an error must fail the
# program, not pass unnoticed (tests/run sets the same).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

QT_TIMEOUT=${QT_TIMEOUT:-90} # seconds any one program may run
qt_started=                  # pids of the servers this test started

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# t_run RC NAME CMD...: runs CMD (stdin as given) with stdout in $TMP/out
# and stderr in $TMP/err, at most QT_TIMEOUT seconds; passes when it
# exits RC.  Sets t_rc and t_ms (how long it ran).
t_run() {
	_want=$1 _name=$2
	shift 2
	_t0=$(now_ms)
	timeout -k 5 "$QT_TIMEOUT" "$@" >"$TMP/out" 2>"$TMP/err"
	t_rc=$?
	t_ms=$(($(now_ms) - _t0))
	if [ "$t_rc" -eq "$_want" ]; then
		ok 0 "$_name"
	else
		ok 1 "$_name"
		diag "command: $*"
		diag "exit status $t_rc, expected $_want (after $t_ms ms)"
		diag "$(tail -n 15 "$TMP/err" | cut -c1-300)"
	fi
}

# lines FILE: its number of lines.
lines() { wc -l <"$1" | tr -d ' '; }

# sorted FILE: its lines sorted bytewise.
sorted() { sort "$1"; }

# same_lines A B NAME: A and B hold the same lines, in any order.
same_lines() {
	sort "$1" >"$TMP/.a"
	sort "$2" >"$TMP/.b"
	if cmp -s "$TMP/.a" "$TMP/.b"; then ok 0 "$3"; else
		ok 1 "$3"
		diag "$(diff "$TMP/.a" "$TMP/.b" | head -n 10 | cut -c1-200)"
	fi
}

# summary FIELD FILE: the count "read N" / "written N" / "rejected N" of a
# tool's -v summary line in FILE.
summary() { sed -n "s/.*[^a-z]$1 \\([0-9][0-9]*\\).*/\\1/p" "$2" | tail -n 1; }

# todo COND-STATUS NAME WHY: a TAP TODO test, for a known bug not yet
# fixed: reported, never failing the run.
todo() {
	_t_n=$((_t_n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $_t_n - $2 # TODO $3"; else
		echo "not ok $_t_n - $2 # TODO $3"; fi
}

# qt_fauxqs DIR: starts fauxqs for this test; sets FAUXQS_ENDPOINT,
# FAUXQS_PORT, FAUXQS_PID and QP, the queue URL prefix.  Bails out when it
# cannot start.
qt_fauxqs() {
	QT_FAUXQS_DIR=$1
	at_exit "\"\$PEERS/fauxqs\" stop \"$1\""
	if ! _out=$(FAUXQS_LOGGER=false "$PEERS/fauxqs" start "$1" 2>"$TMP/fauxqs.err"); then
		echo "Bail out! fauxqs does not start: $(tail -n 5 "$TMP/fauxqs.err")"
		exit 1
	fi
	eval "$_out"
	qt_started="$qt_started $FAUXQS_PID"
	QP="http://sqs.us-east-1.localhost:$FAUXQS_PORT/000000000000"
}

# qt_proxy NAME ARGS...: starts tests/peers/faultproxy.js (ARGS: its
# options); sets NAME_port, NAME_pid and NAME_url.
qt_proxy() {
	_name=$1
	shift
	rm -f "$TMP/$_name.port"
	node "$PEERS/faultproxy.js" --port-file "$TMP/$_name.port" --stats "$TMP/$_name.stats" "$@" \
		>"$TMP/$_name.out" 2>"$TMP/$_name.log" &
	_pid=$!
	at_exit "peer_stop $_pid faultproxy.js"
	qt_started="$qt_started $_pid"
	_n=0
	while [ ! -s "$TMP/$_name.port" ]; do
		if [ $_n -ge 100 ] || ! peer_alive "$_pid"; then
			echo "Bail out! faultproxy.js does not start: $(tail -n 5 "$TMP/$_name.log")"
			exit 1
		fi
		sleep 0.1
		_n=$((_n + 1))
	done
	_port=$(cat "$TMP/$_name.port")
	eval "${_name}_pid=$_pid ${_name}_port=$_port ${_name}_url=http://127.0.0.1:$_port"
}

# pctl URL PATH [JQ]: a fault proxy's control request (stats, reset,
# config?...), its answer filtered by JQ.
pctl() { curl -s --max-time 10 "$1/__faultproxy/$2" | jq -c "${3:-.}"; }

# sqsc ARGS...: the official client (@aws-sdk/client-sqs) on fauxqs.
sqsc() {
	timeout -k 5 60 node "$PEERS/sqs-client.js" --endpoint "$FAUXQS_ENDPOINT" "$@"
}

# qattr URL JQ: a queue's sqs-queue attributes, filtered by JQ.
qattr() {
	timeout -k 5 60 sqs-queue attributes "$1" 2>/dev/null | jq -c "$2"
}

# leftovers: processes whose command line names this test's $TMP.
leftovers() {
	for _f in /proc/[0-9]*/cmdline; do
		_c=$({ tr '\0' ' ' <"$_f"; } 2>/dev/null) || continue
		case $_c in *"$TMP"*) echo "${_f%/cmdline}: $_c" ;; esac
	done
}

# qt_end: checks that no server started here and no process of this test
# is left, then ends the plan.
qt_end() {
	for _p in $qt_started; do
		case $_p in "$FAUXQS_PID") continue ;; esac
		peer_stop "$_p" faultproxy.js 50 || :
	done
	if [ -n "${FAUXQS_PID:-}" ]; then
		"$PEERS/fauxqs" stop "$QT_FAUXQS_DIR" >/dev/null 2>&1 || :
	fi
	_alive=
	for _p in $qt_started; do
		! peer_alive "$_p" || _alive="$_alive $_p"
	done
	is "$_alive" "" "none of the servers started here is left"
	is "$(leftovers)" "" "no process runs from this test's temp directory"
	done_testing
}
