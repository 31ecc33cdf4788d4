# Tina -- one quiet, strict Makefile.
#
#   make                 libraries, examples, benchmarks, tests
#   make test            install what is missing, build, run every test
#   make run             build and run the flagship demo (examples/dispatcher)
#   make bench           build and run the benchmarks (name: value unit)
#   make install PREFIX=/usr/local
#   make lint            checks the compiler cannot make
#
# Variables: CC (gcc or clang), OPT (default -O2), BUILD (output folder,
# default build), SANITIZE (address,undefined or thread), V=1 (verbose).

CC       ?= cc
OPT      ?= -O2 -g
BUILD    ?= build
PREFIX   ?= /usr/local
SANITIZE ?=

comma := ,
ifneq ($(SANITIZE),)
  ifeq ($(origin BUILD),file)
    BUILD := build/sanitize-$(subst $(comma),-,$(SANITIZE))
  endif
  SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -DTINA_SANITIZE
  # gcc warns that TSan does not model standalone fences; our fences guard
  # atomics only (seqlock, doorbell), which TSan checks on their own.
  ifneq ($(filter thread,$(SANITIZE)),)
    SANFLAGS += $(shell $(CC) -Werror -Wno-tsan -E -x c /dev/null >/dev/null 2>&1 && echo -Wno-tsan)
  endif
endif

ifeq ($(V),1)
  Q :=
  say = @true
else
  Q := @
  say = @printf '  %-7s %s\n' $(1) $(2)
endif

CPPFLAGS := -Iinclude -Itina -Isim -D_GNU_SOURCE
CFLAGS   := -std=c11 $(OPT) -Wall -Wextra -Werror -fPIC -MMD -MP $(SANFLAGS)
LDFLAGS  := $(SANFLAGS)
LIBS     := -luring -lhwloc -lpthread

LIB_SRCS := tina/error.c tina/spec.c tina/topology.c tina/shard.c tina/timer.c tina/trap.c tina/monitor.c tina/watchdog.c \
            tina/log.c tina/supervise.c tina/platform_thread.c tina/runtime.c \
            tina/io.c tina/io_uring.c tina/io_epoll.c sim/io_sim.c \
            sim/platform_sim.c sim/sim.c sim/checkers.c
EXAMPLES := pingpong loadshed dispatcher bank echo http
BENCHES  := $(basename $(notdir $(wildcard bench/*.c)))
TESTS    := $(basename $(notdir $(wildcard tests/test_*.c tests/sim_*.c)))
# Plain programs (no Criterion, whose sandbox does not start under
# ThreadSanitizer); they print a Criterion-style synthesis line.
STRESS   := $(basename $(notdir $(wildcard tests/stress_*.c)))
# What SANITIZE=thread runs: the cross-thread channel and doorbell paths.
TSAN_TESTS := $(STRESS)
# The swarm's runner (`make swarm`); tests/sim_swarm.c is its CI slice.
SEEDS ?= 1000
FROM  ?= 1
JOBS  ?= 2

LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
STATIC   := $(BUILD)/libtina.a
SHARED   := $(BUILD)/libtina.so
STAMP    := $(BUILD)/flags.stamp

.PHONY: all lib examples benches tests test run bench install lint clean deps digest-check swarm
all: lib examples benches tests

# Rebuild everything when the compiler or flags change.
FLAGS_NOW := $(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS)
$(shell mkdir -p $(BUILD) && (test -f $(STAMP) && test "`cat $(STAMP)`" = "$(FLAGS_NOW)" || echo "$(FLAGS_NOW)" > $(STAMP)))

# ---- dependencies: install what is missing (Debian) ----------------------
DEPS_STAMP := $(BUILD)/deps.ok
DEB_PKGS := liburing-dev libhwloc-dev libcriterion-dev pkg-config
deps: $(DEPS_STAMP)
$(DEPS_STAMP):
	@missing=""; \
	test -f /usr/include/liburing.h || missing="$$missing liburing-dev"; \
	test -f /usr/include/hwloc.h || missing="$$missing libhwloc-dev"; \
	test -f /usr/include/criterion/criterion.h || missing="$$missing libcriterion-dev"; \
	command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "  APT     installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null || \
	      { echo "tina: apt-get install$$missing failed"; exit 1; }; \
	  else \
	    echo "tina: missing packages:$$missing -- run: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi; \
	mkdir -p $(BUILD) && touch $@

# ---- library --------------------------------------------------------------
lib: $(STATIC) $(SHARED)

$(BUILD)/obj/%.o: %.c $(STAMP) | $(DEPS_STAMP)
	$(call say,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(STATIC): $(LIB_OBJS)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(SHARED): $(LIB_OBJS)
	$(call say,LD,$@)
	$(Q)$(CC) -shared $(LDFLAGS) -o $@ $^ $(LIBS)

# ---- programs ---------------------------------------------------------------
examples: $(EXAMPLES:%=$(BUILD)/examples/%)
benches: $(BENCHES:%=$(BUILD)/bench/%)
tests: $(TESTS:%=$(BUILD)/tests/%) $(STRESS:%=$(BUILD)/tests/%) $(BUILD)/tests/swarm

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(STATIC)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(STATIC)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS)

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/test_%.o $(STATIC)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(STATIC) -lcriterion $(LIBS)

$(BUILD)/tests/sim_%: $(BUILD)/obj/tests/sim_%.o $(STATIC)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(STATIC) -lcriterion $(LIBS)

$(BUILD)/tests/swarm: $(BUILD)/obj/tests/swarm.o $(STATIC)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS)

$(BUILD)/tests/stress_%: $(BUILD)/obj/tests/stress_%.o $(STATIC)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS)

# ---- running ----------------------------------------------------------------
RUN_TESTS := $(if $(filter thread,$(SANITIZE)),$(TSAN_TESTS),$(TESTS) $(STRESS))

test: $(RUN_TESTS:%=$(BUILD)/tests/%)
	@pass=0; fail=0; bad=""; \
	for t in $(RUN_TESTS); do \
	  echo "== $$t"; \
	  case $$t in test_*|sim_*) args=--jobs=1;; *) args=;; esac; \
	  out=$$($(BUILD)/tests/$$t $$args 2>&1); rc=$$?; \
	  echo "$$out" | grep -v '^\[----\]' | tail -n 25; \
	  syn=$$(echo "$$out" | grep 'Synthesis:' | tail -n 1 | sed 's/\x1b\[[0-9;]*m//g'); \
	  p=$$(echo "$$syn" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p'); \
	  f=$$(echo "$$syn" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p'); \
	  c=$$(echo "$$syn" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p'); \
	  pass=$$((pass + $${p:-0})); fail=$$((fail + $${f:-0} + $${c:-0})); \
	  if [ $$rc -ne 0 ] || [ -z "$$syn" ]; then bad="$$bad $$t"; [ -z "$$syn" ] && fail=$$((fail + 1)); fi; \
	done; \
	echo; echo "tests: $$pass passed, $$fail failed"; \
	if [ -n "$$bad" ]; then echo "failing suites:$$bad"; exit 1; fi

# The swarm over SEEDS seeds from FROM, JOBS at a time: failing seeds with
# their replay command, seeds per minute, what the seeds exercised.
swarm: $(BUILD)/tests/swarm
	$(BUILD)/tests/swarm --seeds=$(SEEDS) --from=$(FROM) --jobs=$(JOBS)

run: $(BUILD)/examples/dispatcher
	$(BUILD)/examples/dispatcher

bench: benches
	@for b in $(BENCHES); do $(BUILD)/bench/$$b || exit 1; done

# ---- one seed, one digest, whatever the compiler ---------------------------
# The same simulated run built by gcc -O2 and by clang -O0 must print the
# same report line (seed, digest, rounds, reason).
digest-check:
	@$(MAKE) --no-print-directory CC=gcc OPT="-O2 -g" BUILD=build/digest-gcc-O2 examples >/dev/null
	@$(MAKE) --no-print-directory CC=clang OPT=-O0 BUILD=build/digest-clang-O0 examples >/dev/null
	@fail=0; for args in "--sim --seed=42" "--sim --seed=42 --faults=all"; do \
	  a=$$(build/digest-gcc-O2/examples/dispatcher $$args 2>/dev/null | grep '^seed='); \
	  b=$$(build/digest-clang-O0/examples/dispatcher $$args 2>/dev/null | grep '^seed='); \
	  echo "dispatcher $$args"; echo "  gcc -O2:   $$a"; echo "  clang -O0: $$b"; \
	  if [ -z "$$a" ] || [ "$$a" != "$$b" ]; then fail=$$((fail + 1)); fi; \
	done; \
	echo "digest-check: $$((2 - fail)) passed, $$fail failed"; test $$fail = 0

# ---- install ----------------------------------------------------------------
install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/tina.h $(DESTDIR)$(PREFIX)/include/tina.h
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/libtina.a
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/libtina.so
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	  'Name: tina' 'Description: thread-per-core shared-nothing actor framework' 'Version: 0.1.0' \
	  'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -ltina' 'Libs.private: -luring -lhwloc -lpthread' \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/tina.pc

# ---- lint: what the compiler cannot check -----------------------------------
lint:
	@status=0; \
	if grep -nE '\b(malloc|calloc|realloc|free)\s*\(' tina/shard.c tina/timer.c tina/log.c tina/supervise.c tina/platform_thread.c tina/ring.h; then \
	  echo "lint: allocator call on a post-boot path"; status=1; fi; \
	if grep -nE 'liburing|#\s*if' tina/shard.c; then echo "lint: shard.c must not include liburing or use #if"; status=1; fi; \
	if grep -nE '(^|[^A-Za-z0-9_])gt\(' tests/*.c; then \
	  echo "lint: Criterion 2.4.1's gt() passes on equal values: write ge(T, a, b + 1)"; status=1; fi; \
	awk 'FNR==1{fn=FILENAME} /^[a-z].*\) \{$$/{start=FNR; name=$$0} /^\}/{ if (start && FNR-start > 80) { printf "lint: %s:%d: function over 80 lines: %s\n", fn, start, name; bad=1 } start=0 } END{exit bad}' tina/*.c || status=1; \
	exit $$status

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
.SECONDARY:
