# chatpipe: small composable programs over one internal library.
#
#   make                    build every program in cmd/ into $(BUILD)/bin
#   make check              build and run the whole test suite (unit + peers)
#   make check SANITIZE=address,undefined   the same suite under ASan+UBSan
#   make check SANITIZE=thread              the same suite under TSan
#   make deps               install what is missing (Debian packages, npm peers)
#   make demo [DEMO_DIR=…]  the main job on embedded defaults (./demo-work)
#   make install [DESTDIR=… PREFIX=… BINDIR=… MANDIR=…] / make uninstall
#   make bench              the benchmark tables (bench/)

.SUFFIXES:
.DELETE_ON_ERROR:

VERSION    = 0.1.0
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
DATADIR   ?= $(PREFIX)/share
MANDIR    ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR  ?= $(DATADIR)/zsh/vendor-completions
INSTALL   ?= install

CC        ?= cc
PKG_CONFIG ?= pkg-config
SANITIZE  ?=
comma := ,
# Each sanitizer variant builds into its own tree, so objects never mix.
BUILD     ?= build$(if $(SANITIZE),-$(subst $(comma),-,$(SANITIZE)))

PKGS = libcurl openssl popt libmariadb sqlite3
TEST_PKGS = cmocka

# One clear line naming the package when a dependency is missing.
pkg_debian_libcurl    = libcurl4-openssl-dev
pkg_debian_openssl    = libssl-dev
pkg_debian_popt       = libpopt-dev
pkg_debian_libmariadb = libmariadb-dev
pkg_debian_sqlite3    = libsqlite3-dev
pkg_debian_cmocka     = libcmocka-dev
ifeq ($(filter deps clean uninstall,$(MAKECMDGOALS)),)
$(foreach p,$(PKGS),$(if $(shell $(PKG_CONFIG) --exists $(p) && echo ok),,\
  $(error $(p) is missing: install the Debian package $(pkg_debian_$(p)) (or run 'make deps'))))
ifeq ($(shell printf '\043include <jq.h>\n' | $(CC) -E - >/dev/null 2>&1 && echo ok),)
  $(error libjq is missing: install the Debian packages libjq-dev libonig-dev (or run 'make deps'))
endif
endif

SAN_FLAGS = $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -g -O1 \
	$(if $(findstring undefined,$(SANITIZE)),-fno-sanitize-recover=undefined))
CFLAGS   ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread \
	-DCP_VERSION='"$(VERSION)"' -Ilib $(SAN_FLAGS) \
	$(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
override LDFLAGS += -pthread $(SAN_FLAGS)
LIBS      = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -ljq -lonig -lm

LIB_SRC  = $(wildcard lib/*.c)
LIB_OBJ  = $(LIB_SRC:lib/%.c=$(BUILD)/lib/%.o)
LIB_HDR  = $(wildcard lib/*.h)
LIBA     = $(BUILD)/libchatpipe.a
CMD_SRC  = $(wildcard cmd/*.c)
PROGS    = $(CMD_SRC:cmd/%.c=%)
BINS     = $(PROGS:%=$(BUILD)/bin/%)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNITS    = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# Helper programs the tests drive (never installed).
TOOL_SRC = $(wildcard tests/tools/*.c)
TOOLS    = $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/%)
MANS     = $(wildcard man/*.[1-8])

all: $(BINS)

$(BUILD)/lib/%.o: lib/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $(LIB_OBJ)

$(BUILD)/bin/%: cmd/%.c $(LIBA) $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIBA) $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka)

$(BUILD)/tests/%: tests/tools/%.c $(LIBA) $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LIBS)

build-tests: $(BINS) $(UNITS) $(TOOLS)

deps:
	sh tools/deps

check: deps build-tests
	BUILD=$(BUILD) SANITIZE=$(SANITIZE) sh tests/run

demo: deps all
	BUILD=$(BUILD) sh examples/demo.sh $(DEMO_DIR)

bench: deps all $(TOOLS)
	BUILD=$(BUILD) sh bench/run

install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	for p in $(PROGS); do $(INSTALL) -m 0755 $(BUILD)/bin/$$p $(DESTDIR)$(BINDIR)/$$p; done
	for m in $(MANS); do s=$${m##*.}; $(INSTALL) -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	$(INSTALL) -m 0644 completions/chatpipe.bash $(DESTDIR)$(BASHCOMPDIR)/chatpipe
	for p in $(PROGS); do ln -sf chatpipe $(DESTDIR)$(BASHCOMPDIR)/$$p; done
	$(INSTALL) -m 0644 completions/_chatpipe $(DESTDIR)$(ZSHCOMPDIR)/_chatpipe

uninstall:
	for p in $(PROGS); do rm -f $(DESTDIR)$(BINDIR)/$$p $(DESTDIR)$(BASHCOMPDIR)/$$p; done
	for m in $(MANS); do s=$${m##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$${m##*/}; done
	rm -f $(DESTDIR)$(BASHCOMPDIR)/chatpipe $(DESTDIR)$(ZSHCOMPDIR)/_chatpipe

clean:
	rm -rf build build-*

.PHONY: all build-tests deps check demo bench install uninstall clean
