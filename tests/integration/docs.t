#!/bin/sh
# Each program's --help, man page, completions and README agree: every
# program has a page that mandoc finds clean, every long option its --help
# lists is documented in its page, and it is named in the completions and
# the README.
. "$(dirname "$0")/../lib.sh"

for m in "$CHATPIPE_TOP"/man/*.[1-8]; do
	out=$(mandoc -Tlint -Wwarning "$m" 2>&1)
	is "$out" "" "mandoc -Tlint: $(basename "$m") is clean"
done
for src in "$CHATPIPE_TOP"/cmd/*.c; do
	p=$(basename "$src" .c)
	page=$(ls "$CHATPIPE_TOP"/man/"$p".[1-8] 2>/dev/null | head -n 1)
	test -n "$page"; ok $? "$p has a man page"
	[ -n "$page" ] || continue
	"$p" --help >"$TMP/help" 2>&1; ok $? "$p --help exits 0"
	missing=
	for o in $(grep -o -- '--[a-z][a-z0-9-]*' "$TMP/help" | sort -u); do
		# mdoc writes --foo as "Fl -foo".
		grep -q -- "Fl -${o#--}\\b" "$page" || missing="$missing $o"
	done
	is "${missing:-none}" none "every option of $p --help is in its page"
	grep -q -- "$p" "$CHATPIPE_TOP/completions/chatpipe.bash" && grep -q -- "$p" "$CHATPIPE_TOP/completions/_chatpipe"
	ok $? "$p is in the bash and zsh completions"
	grep -q -- "$p" "$CHATPIPE_TOP/README.md"; ok $? "$p is in the README"
	grep -q -- "Xr $p" "$CHATPIPE_TOP/man/chatpipe.7"; ok $? "$p is in chatpipe(7)"
done
done_testing
