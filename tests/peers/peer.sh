# tests/peers/peer.sh: helpers sourced by the peer scripts (mariadb, fauxqs)
# and by tests that start peers: is a pid still the process we started, stop
# it with bounded waits, fail with the tail of its log, quote a value for
# shell-sourceable output, find a free loopback port.  Linux only (/proc).
# Every wait here is counted in tenths of a second and always ends.

# peer_alive PID [MATCH]: PID is a live process (not a zombie) and, when
# MATCH is given, its command line contains MATCH (so a reused pid is never
# taken for ours).
peer_alive() {
	[ -n "$1" ] && [ -r "/proc/$1/status" ] || return 1
	case $({ sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status"; } 2>/dev/null) in
	Z | X | '') return 1 ;;
	esac
	[ $# -lt 2 ] && return 0
	{ tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -F -q -e "$2"
}

# peer_wait_gone PID MATCH TENTHS: waits until PID is gone; fails on timeout.
peer_wait_gone() {
	_pw_n=0
	while peer_alive "$1" "$2"; do
		[ "$_pw_n" -ge "$3" ] && return 1
		sleep 0.1
		_pw_n=$((_pw_n + 1))
	done
	return 0
}

# peer_stop PID MATCH [TENTHS]: TERM, then KILL if it outlives TENTHS (50),
# and waits until it is gone.  Only ever signals a pid whose command line
# contains MATCH.
peer_stop() {
	peer_alive "$1" "$2" || return 0
	kill -TERM "$1" 2>/dev/null || :
	peer_wait_gone "$1" "$2" "${3:-50}" && return 0
	echo "${0##*/}: pid $1 ignored TERM, killing it" >&2
	kill -KILL "$1" 2>/dev/null || :
	peer_wait_gone "$1" "$2" 50
}

# peer_die LOG MESSAGE: prints MESSAGE and the tail of LOG on stderr, exits 1.
peer_die() {
	echo "${0##*/}: $2" >&2
	if [ -s "$1" ]; then
		echo "${0##*/}: last lines of $1:" >&2
		tail -n 30 "$1" | sed 's/^/    /' >&2
	fi
	exit 1
}

# peer_q VALUE: VALUE single-quoted for sh.
peer_q() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# peer_absdir DIR: the absolute path of the existing directory DIR.
peer_absdir() {
	(cd "$1" && pwd)
}

# peer_free_port: prints a TCP port that was free on 127.0.0.1 a moment ago.
peer_free_port() {
	node -e 'const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}
