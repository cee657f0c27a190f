# Sourced by every integration test (tests/integration/*.t): TAP helpers,
# a private temp directory removed at exit, and PATH with the built programs
# first.  A test that starts a peer registers its stop command with
# at_exit, so peers never outlive the test, whatever happens.
set -u
: "${BUILD:=build}"
CHATPIPE_TOP=${CHATPIPE_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
case "$BUILD" in /*) ;; *) BUILD="$CHATPIPE_TOP/$BUILD" ;; esac
PATH="$BUILD/bin:$BUILD/tests:$PATH"
export BUILD CHATPIPE_TOP PATH
PEERS="$CHATPIPE_TOP/tests/peers"
export NODE_PATH="$CHATPIPE_TOP/tests/node_modules"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/chatpipe-test.XXXXXX")
_t_n=0
_t_fail=0
_t_exit_cmds=

at_exit() { _t_exit_cmds="$1
$_t_exit_cmds"; }
_t_cleanup() {
	eval "$_t_exit_cmds"
	rm -rf "$TMP"
}
trap '_t_cleanup' EXIT
trap 'exit 130' INT TERM

plan() { echo "1..$1"; }
diag() { printf '# %s\n' "$*" | sed '2,$s/^/# /'; }
ok() { # ok COND-STATUS NAME
	_t_n=$((_t_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_t_n - $2"
	else
		echo "not ok $_t_n - $2"
		_t_fail=$((_t_fail + 1))
	fi
}
check() { # check NAME CMD...: passes when CMD exits 0
	_n=$1; shift
	if "$@" >"$TMP/.out" 2>&1; then ok 0 "$_n"; else
		ok 1 "$_n"; diag "command: $*"; diag "$(tail -n 20 "$TMP/.out")"; fi
}
is() { # is GOT EXPECTED NAME
	if [ "$1" = "$2" ]; then ok 0 "$3"; else
		ok 1 "$3"; diag "got:      $1"; diag "expected: $2"; fi
}
skip() { _t_n=$((_t_n + 1)); echo "ok $_t_n # skip $1"; }
done_testing() { echo "1..$_t_n"; [ "$_t_fail" -eq 0 ]; }
