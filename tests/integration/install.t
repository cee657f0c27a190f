#!/bin/sh
# make install and uninstall into a staging folder, as a distribution
# package would: programs in BINDIR, pages in MANDIR/manN, completions
# where bash-completion and zsh look for them; uninstall removes them all.
. "$(dirname "$0")/../lib.sh"

stage="$TMP/stage"
make -s -C "$CHATPIPE_TOP" install DESTDIR="$stage" PREFIX=/usr BUILD="$BUILD" >"$TMP/log" 2>&1
ok $? "make install DESTDIR=… PREFIX=/usr" || diag "$(tail -n 20 "$TMP/log")"

for src in "$CHATPIPE_TOP"/cmd/*.c; do
	p=$(basename "$src" .c)
	test -x "$stage/usr/bin/$p"; ok $? "program $p in /usr/bin"
	test -f "$stage/usr/share/man/man1/$p.1" || test -f "$stage/usr/share/man/man8/$p.8"
	ok $? "page of $p in /usr/share/man"
	test -L "$stage/usr/share/bash-completion/completions/$p"
	ok $? "bash completion for $p"
done
test -f "$stage/usr/share/man/man7/chatpipe.7"; ok $? "chatpipe(7) in man7"
test -f "$stage/usr/share/bash-completion/completions/chatpipe"; ok $? "bash completion file"
test -f "$stage/usr/share/zsh/vendor-completions/_chatpipe"; ok $? "zsh completion file"
"$stage/usr/bin/$(basename "$(ls "$CHATPIPE_TOP"/cmd/*.c | head -n 1)" .c)" --version >/dev/null
ok $? "an installed program runs"
# A custom layout.
make -s -C "$CHATPIPE_TOP" install PREFIX=/opt/cp BINDIR=/opt/cp/sbin \
	MANDIR=/opt/cp/man BUILD="$BUILD" DESTDIR="$TMP/stage2" >"$TMP/log" 2>&1
test -f "$TMP/stage2/opt/cp/man/man7/chatpipe.7" && ls "$TMP/stage2/opt/cp/sbin" | grep -q .
ok $? "BINDIR and MANDIR are honoured"

make -s -C "$CHATPIPE_TOP" uninstall DESTDIR="$stage" PREFIX=/usr BUILD="$BUILD" >"$TMP/log" 2>&1
ok $? "make uninstall"
left=$(find "$stage" -type f -o -type l | wc -l)
is "$left" 0 "uninstall leaves no file behind"
done_testing
