# Signet — build, run, test, bench.
#
# Every ca/*.c except the programs' main files goes into build/libsignet.a;
# every tests/unit/test_*.c becomes a cmocka binary; every policy/*.c a
# shared object. Adding a file needs no change here.

CC	?= cc
PKGS	:= gnutls libtasn1 libpq libsodium inih ldap lber
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN	:= -Wall -Wextra -Werror -Wno-unused-parameter -Wno-format-truncation
CFLAGS_BASE := -std=gnu11 -D_GNU_SOURCE= -g $(WARN) -fPIC -Ica -Ibuild/gen $(PKG_CFLAGS)
CFLAGS_REL  := $(CFLAGS_BASE) -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong
CFLAGS_SAN  := $(CFLAGS_BASE) -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
LDLIBS	:= $(PKG_LIBS) -ldl -lpthread

MAINS	:= ca/main.c $(wildcard ca/cmd_*.c)
MAIN_OBJ := $(patsubst %.c,build/rel/%.o,$(MAINS))
MAIN_SAN := $(patsubst %.c,build/san/%.o,$(MAINS))
LIB_SRC	:= $(filter-out $(MAINS),$(wildcard ca/*.c))
ASN_SRC	:= $(wildcard ca/*.asn)
ASN_GEN	:= $(patsubst ca/%.asn,build/gen/%_asn1_tab.c,$(ASN_SRC)) build/gen/migrations.c
SQL_SRC	:= $(sort $(wildcard sql/*.sql))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
POLICY_SRC := $(wildcard policy/*.c)
TESTMOD_SRC := $(wildcard tests/policy/*.c)

OBJ	 := $(patsubst %.c,build/rel/%.o,$(LIB_SRC) $(ASN_GEN))
SAN_OBJ	 := $(patsubst %.c,build/san/%.o,$(LIB_SRC) $(ASN_GEN))
UNIT_BIN := $(patsubst tests/unit/%.c,build/rel/unit/%,$(UNIT_SRC))
UNIT_SAN := $(patsubst tests/unit/%.c,build/san/unit/%,$(UNIT_SRC))
POLICY_SO := $(patsubst policy/%.c,bin/policy/%.so,$(POLICY_SRC))
TESTMOD_SO := $(patsubst tests/policy/%.c,build/rel/testmod/%.so,$(TESTMOD_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BIN := $(patsubst tests/bench/%.c,build/rel/bench/%,$(BENCH_SRC))

.PHONY: all deps test unit unit-san fuzz bench run stop clean web web-san
.SECONDARY:

all: bin/signet $(POLICY_SO) $(TESTMOD_SO) $(UNIT_BIN) $(BENCH_BIN) web

build/gen/%_asn1_tab.c: ca/%.asn
	@mkdir -p $(@D)
	asn1Parser -o $@ -n $*_asn1_tab $<

build/gen/migrations.c: $(SQL_SRC) scripts/embed-sql.sh
	@mkdir -p $(@D)
	sh scripts/embed-sql.sh $@ $(SQL_SRC)

build/rel/%.o: %.c $(ASN_GEN) $(wildcard ca/*.h policy/*.h)
	@mkdir -p $(@D)
	@echo "  CC    $@"
	@$(CC) $(CFLAGS_REL) -c -o $@ $<

build/san/%.o: %.c $(ASN_GEN) $(wildcard ca/*.h policy/*.h)
	@mkdir -p $(@D)
	@echo "  CC    $@"
	@$(CC) $(CFLAGS_SAN) -c -o $@ $<

build/rel/libsignet.a: $(OBJ)
	@echo "  AR    $@"
	@ar rcs $@ $^

build/san/libsignet.a: $(SAN_OBJ)
	@echo "  AR    $@"
	@ar rcs $@ $^

bin/signet: $(MAIN_OBJ) build/rel/libsignet.a
	@mkdir -p $(@D)
	@echo "  CC    $@"
	@$(CC) -rdynamic -o $@ $^ $(LDLIBS)

bin/signet-san: $(MAIN_SAN) build/san/libsignet.a
	@mkdir -p $(@D)
	@echo "  CC    $@"
	@$(CC) -fsanitize=address,undefined -rdynamic -o $@ $^ $(LDLIBS)

bin/policy/%.so: policy/%.c policy/policy.h
	@mkdir -p $(@D)
	@echo "  CC    $@"
	@$(CC) $(CFLAGS_REL) -shared -o $@ $<

build/rel/testmod/%.so: tests/policy/%.c policy/policy.h
	@mkdir -p $(@D)
	@echo "  CC    $@"
	@$(CC) $(CFLAGS_REL) -Ipolicy -shared -o $@ $<

build/rel/unit/%: tests/unit/%.c build/rel/libsignet.a
	@mkdir -p $(@D)
	@echo "  CC    $@"
	@$(CC) $(CFLAGS_REL) -Itests/unit -o $@ $< build/rel/libsignet.a $(LDLIBS) -lcmocka

build/san/unit/%: tests/unit/%.c build/san/libsignet.a
	@mkdir -p $(@D)
	@echo "  CC    $@"
	@$(CC) $(CFLAGS_SAN) -Itests/unit -o $@ $< build/san/libsignet.a $(LDLIBS) -lcmocka

build/rel/bench/%: tests/bench/%.c build/rel/libsignet.a
	@mkdir -p $(@D)
	@echo "  CC    $@"
	@$(CC) $(CFLAGS_REL) -o $@ $< build/rel/libsignet.a $(LDLIBS)

# ThreadSanitizer builds of the threaded parts -- ca-serve's lanes and
# revocation thread, the RA's group commit -- for tests/integration/tsan.bats
TSAN_BIN := build/tsan/signet build/tsan/bench_serve
build/tsan/signet: $(MAINS) $(LIB_SRC) $(ASN_GEN) $(wildcard ca/*.h policy/*.h)
	@mkdir -p $(@D)
	@echo "  TSAN  $@"
	@clang $(filter-out -Werror,$(CFLAGS_BASE)) -O1 -fsanitize=thread \
		-o $@ $(MAINS) $(LIB_SRC) $(ASN_GEN) $(LDLIBS)

build/tsan/bench_serve: tests/bench/bench_serve.c $(LIB_SRC) $(ASN_GEN) $(wildcard ca/*.h)
	@mkdir -p $(@D)
	@echo "  TSAN  $@"
	@clang $(filter-out -Werror,$(CFLAGS_BASE)) -O1 -fsanitize=thread \
		-o $@ $< $(LIB_SRC) $(ASN_GEN) $(LDLIBS)

build/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(ASN_GEN)
	@mkdir -p $(@D)
	@echo "  FUZZ  $@"
	@clang $(filter-out -Werror,$(CFLAGS_BASE)) -O1 -fsanitize=fuzzer,address,undefined \
		-o $@ $< $(LIB_SRC) $(ASN_GEN) $(LDLIBS)

web: build/rel/libsignet.a
	$(MAKE) -C web

web-san: build/san/libsignet.a
	$(MAKE) -C web san

deps:
	bash scripts/install-deps.sh

unit: $(UNIT_BIN)
unit-san: $(UNIT_SAN) bin/signet-san

# make test: install what is needed, build release, ASan/UBSan (the CA
# core's unit tests and the web module) and TSan binaries, run every unit,
# integration and interop test and the web suites again on the sanitizer
# module, end with "N passed, N failed".
test: deps
	$(MAKE) all
	$(MAKE) unit-san web-san $(FUZZ_BIN) $(TSAN_BIN)
	bash tests/run.sh

fuzz: $(FUZZ_BIN)
	bash tests/fuzz/run.sh $${FUZZ_SECONDS:-300}

bench: deps
	$(MAKE) all
	bash tests/bench/run.sh

run: deps
	$(MAKE) all
	bash scripts/run.sh

stop:
	bin/signet --home var stop

clean:
	rm -rf build bin
