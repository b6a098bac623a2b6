# deltair - one non-recursive Makefile.
#   make              build/deltair (objects and libdeltair.a in build/rel)
#   make SAN=1        the same with ASan+UBSan in build/san (build/san/deltair)
#   make test         unit tests only
#   make check        unit + CLI + peer tests (tests/run); the README's test command
#   make check APPLIANCE=1  the same, and t7060 too: make deb, the appliance VM booted under
#                     QEMU (what .ci/run runs; the first run builds the VM's base root)
#   make bench        whole-process timings on the generated corpus (tests/bench/run)
#   make fuzz         libFuzzer targets into build/fuzz/
#   make install PREFIX=/usr/local DESTDIR=
#   make deb          build/deltair_VERSION_ARCH.deb: the appliance's package (image/mkdeb.sh),
#                     its binary built with PREFIX=/usr in build/deb
#   make appliance-test  the appliance as a local VM image (image/vm/mkimage.sh: a cached
#                     mmdebstrap'd Debian 12 base, provision.sh, the .deb) booted under QEMU:
#                     its worker serves a spool job from boot (tests/cli/t7060)
#   make format       clang-format every source file

PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0
PKGS    := tsk yara fuse3 jansson yaml-0.1 libcurl openssl zlib expat libarchive

CC      ?= cc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DDELTAIR_VERSION='"$(VERSION)"' \
	-DDELTAIR_DATADIR='"$(PREFIX)/share/deltair"' -Isrc $(WARN) $(CFLAGS) $(PKG_CFLAGS) -pthread -MMD -MP
LIBS    = $(PKG_LIBS) -lstdc++ -pthread -lm

ifeq ($(SAN),1)
OUT     := build/san
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
else
OUT     := build/rel
endif

LIB_SRC  := $(sort $(wildcard src/*.c src/*/*.c))
LIB_SRC  := $(filter-out src/cli/% $(LIB_EXCLUDE),$(LIB_SRC))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
UNIT_SRC := $(filter-out $(UNIT_EXCLUDE),$(sort $(wildcard tests/unit/*.c)))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(OUT)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(OUT)/%.o)
UNIT_OBJ := $(UNIT_SRC:%.c=$(OUT)/%.o)
LIBA     := $(OUT)/libdeltair.a
BIN      := $(OUT)/deltair
UNIT     := $(OUT)/unit-tests

.PHONY: all test check bench fuzz install format clean demo deb appliance-test
all: $(BIN) $(if $(filter 1,$(SAN)),,build/deltair)

build/deltair: $(BIN)
	@mkdir -p build
	cp $(BIN) $@

$(OUT)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIBA) $(LIBS)

$(UNIT): $(UNIT_OBJ) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $(UNIT_OBJ) $(LIBA) $(LIBS)

test: $(UNIT)
	tests/run --bin $(BIN) --unit $(UNIT) unit

DEB_FILE := build/deltair_$(VERSION)_$(shell dpkg --print-architecture 2>/dev/null).deb

check: $(BIN) $(UNIT) $(if $(filter 1,$(APPLIANCE)),deb)
	$(if $(filter 1,$(APPLIANCE)),DELTAIR_APPLIANCE_TEST=1 DELTAIR_DEB=$(CURDIR)/$(DEB_FILE)) \
	tests/run --bin $(BIN) --unit $(UNIT)

demo: build/deltair
	tests/demo.sh

bench: build/deltair
	tests/bench/run

# libFuzzer needs clang; each target links the library built with the fuzzer's flags.
FUZZ_CC     ?= clang
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DDELTAIR_VERSION='"$(VERSION)"' \
	-DDELTAIR_DATADIR='"$(PREFIX)/share/deltair"' -Isrc -g -O1 \
	-fsanitize=fuzzer,address,undefined -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION $(PKG_CFLAGS) -pthread
FUZZ_BINS   := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
fuzz: $(FUZZ_BINS)
	tests/fuzz/run $(FUZZ_BINS)

build/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(wildcard src/*.h src/*/*.h)
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRC) $(LIBS)

# The package's binary looks for its data in /usr/share/deltair: its own objects, in build/deb.
deb:
	$(MAKE) OUT=build/deb PREFIX=/usr SAN= build/deb/deltair
	image/mkdeb.sh build/deb/deltair $(VERSION) build

# The base root is cached in $(DELTAIR_BASE_CACHE) (default /var/cache/deltair-vm): a cold run
# mmdebstraps it, a warm one unpacks it. TCG boot: t7060 asks the runner for up to 25 minutes.
appliance-test: $(BIN) deb
	DELTAIR_APPLIANCE_TEST=1 DELTAIR_DEB=$(CURDIR)/$(DEB_FILE) \
	tests/run --bin $(BIN) t7060-appliance-boot

install: build/deltair
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/deltair/rules \
		$(DESTDIR)$(PREFIX)/share/deltair/artifacts $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 build/deltair $(DESTDIR)$(PREFIX)/bin/deltair
	cp -R rules/. $(DESTDIR)$(PREFIX)/share/deltair/rules/
	cp -R artifacts/. $(DESTDIR)$(PREFIX)/share/deltair/artifacts/

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(UNIT_SRC) $(FUZZ_SRC) $(wildcard src/*.h src/*/*.h tests/unit/*.h)

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(UNIT_OBJ:.o=.d)
