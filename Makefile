# Tina -- one quiet, strict Makefile.
#
#   make                 libraries, examples, benchmarks, tests
#   make test            install what is missing, build, run every test
#   make run             build every example, run the flagship demo (examples/dispatcher)
#   make bench           build and run the benchmarks (name: value unit), and
#                        Savina on Tina against CAF (make bench-peers builds CAF's side)
#   make install PREFIX=/usr/local   (make uninstall PREFIX=...; DESTDIR=... stages)
#   make lint            checks the compiler cannot make
#
# Variables: CC (gcc or clang), OPT (default -O2), BUILD (output folder,
# default build), SANITIZE (address,undefined or thread), V=1 (verbose),
# PREFIX and DESTDIR (install, uninstall).

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

# The core (tina/), the production platform (tina/os/), the simulated one (sim/).
CORE_SRCS := $(sort $(wildcard tina/*.c tina/shard/*.c))
OS_SRCS   := $(sort $(wildcard tina/os/*.c))
SIM_SRCS  := $(sort $(wildcard sim/*.c))
LIB_SRCS  := $(CORE_SRCS) $(OS_SRCS) $(SIM_SRCS)
EXAMPLES := pingpong loadshed dispatcher bank echo http kv
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
# The library the tests and the simulator's runs link: the same sources
# with TINA_ASSERT_DEBUG compiled in (-DTINA_DEBUG_CHECKS).
CHECKED_OBJS := $(LIB_SRCS:%.c=$(BUILD)/objc/%.o)
CHECKED  := $(BUILD)/libtina-checked.a
STAMP    := $(BUILD)/flags.stamp

# The shared library is the file libtina.so.VERSION, named inside by its
# SONAME (what a program linked to it asks the runtime linker for), with
# two links: the SONAME's, and libtina.so for the linker's -ltina.  A new
# major version is a new SONAME; the one to link and install is SHARED.
VERSION  := 0.1.0
SONAME   := libtina.so.$(firstword $(subst ., ,$(VERSION)))
SHARED_FILE := $(BUILD)/libtina.so.$(VERSION)
SHARED   := $(BUILD)/libtina.so
LIBDIR    = $(PREFIX)/lib

# The C++ check of include/tina.h: tests/test_cxx.cc built by each of these
# that is installed; one that is not is reported and skipped by `make test`.
CXX_COMPILERS := g++ clang++
CXX_TESTS := $(CXX_COMPILERS:%=cxx_%)
CXXFLAGS := -std=c++11 $(OPT) -Wall -Wextra -Werror -pedantic $(SANFLAGS)
# Shell scripts tests/check_*.sh run by `make test` as programs are (the
# README example built against an installed copy; the examples' flags):
# they print the same synthesis line.
SCRIPTS  := $(basename $(notdir $(wildcard tests/check_*.sh)))
# Under a sanitizer the C++ and install checks are left out: they would link
# the instrumented library with uninstrumented programs.
CHECKS   := $(if $(SANITIZE),$(filter-out check_install,$(SCRIPTS)),$(CXX_TESTS) $(SCRIPTS))

.PHONY: all lib examples benches bench-peers bench-dpdk tests test run bench install uninstall lint clean deps digest-check swarm
all: lib examples benches tests

# Rebuild everything when the compiler or flags change.
FLAGS_NOW := $(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS)
$(shell mkdir -p $(BUILD) && (test -f $(STAMP) && test "`cat $(STAMP)`" = "$(FLAGS_NOW)" || echo "$(FLAGS_NOW)" > $(STAMP)))

# ---- dependencies: install what is missing (Debian) ----------------------
DEPS_STAMP := $(BUILD)/deps.ok
DEB_PKGS := liburing-dev libhwloc-dev libcriterion-dev pkg-config
# For the C++ check of the header only: installed if possible, never required.
DEB_PKGS_OPTIONAL := g++ clang
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
	optional=""; \
	command -v g++ >/dev/null || optional="$$optional g++"; \
	command -v clang++ >/dev/null || optional="$$optional clang"; \
	if [ -n "$$optional" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "  APT     installing:$$optional"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$optional) >/dev/null || \
	      echo "tina: apt-get install$$optional failed: the C++ check skips what is missing"; \
	  else \
	    echo "tina: not installed:$$optional -- the C++ check skips it (sudo apt-get install$$optional)"; \
	  fi; \
	fi; \
	mkdir -p $(BUILD) && touch $@

# ---- library --------------------------------------------------------------
lib: $(STATIC) $(SHARED_FILE) $(BUILD)/$(SONAME) $(SHARED)

$(BUILD)/obj/%.o: %.c $(STAMP) | $(DEPS_STAMP)
	$(call say,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(STATIC): $(LIB_OBJS)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/objc/%.o: %.c $(STAMP) | $(DEPS_STAMP)
	$(call say,CC+,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) -DTINA_DEBUG_CHECKS $(CFLAGS) -c $< -o $@

$(CHECKED): $(CHECKED_OBJS)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(SHARED_FILE): $(LIB_OBJS)
	$(call say,LD,$@)
	$(Q)$(CC) -shared -Wl,-soname,$(SONAME) $(LDFLAGS) -o $@ $^ $(LIBS)

# The links point at names in the same folder; make sees through them, so
# they are as new as the library they end at.
$(BUILD)/$(SONAME): $(SHARED_FILE)
	$(Q)ln -sf $(notdir $<) $@

$(SHARED): $(BUILD)/$(SONAME)
	$(Q)ln -sf $(notdir $<) $@

# ---- programs ---------------------------------------------------------------
examples: $(EXAMPLES:%=$(BUILD)/examples/%)
benches: $(BENCHES:%=$(BUILD)/bench/%)
tests: $(TESTS:%=$(BUILD)/tests/%) $(STRESS:%=$(BUILD)/tests/%) $(BUILD)/tests/swarm \
       $(CHECKS:%=$(BUILD)/tests/%)

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(STATIC)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(STATIC)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS)

# Savina's fork-join throughput computes sin() per message.
$(BUILD)/bench/savina: LIBS += -lm

$(BUILD)/tests/test_%: $(BUILD)/objc/tests/test_%.o $(CHECKED)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(CHECKED) -lcriterion $(LIBS)

$(BUILD)/tests/sim_%: $(BUILD)/objc/tests/sim_%.o $(CHECKED)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(CHECKED) -lcriterion $(LIBS)

$(BUILD)/tests/swarm: $(BUILD)/objc/tests/swarm.o $(CHECKED)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(CHECKED) $(LIBS)

$(BUILD)/tests/stress_%: $(BUILD)/objc/tests/stress_%.o $(CHECKED)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(CHECKED) $(LIBS)

# include/tina.h as C++: built by g++ or clang++ ($*) if it is installed;
# if not, no program, and the test loop says it skipped it.
$(BUILD)/tests/cxx_%: tests/test_cxx.cc include/tina.h $(STATIC) $(STAMP) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(Q)if command -v $* >/dev/null 2>&1; then \
	  $(if $(Q),printf '  %-7s %s\n' $* $@;) \
	  $* -Iinclude $(CXXFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS); \
	else \
	  echo "  SKIP    $@: $* is not installed"; rm -f $@; \
	fi

# A script test's program: runs the script from this folder with this
# build's settings (check_install runs `make install`, which must find the
# library up to date).
$(BUILD)/tests/check_install: $(STATIC) $(SHARED)
$(BUILD)/tests/check_flags: $(EXAMPLES:%=$(BUILD)/examples/%)
$(BUILD)/tests/check_%: tests/check_%.sh $(STAMP)
	$(call say,GEN,$@)
	@mkdir -p $(dir $@)
	$(Q){ echo '#!/bin/sh'; \
	  echo "cd '$(CURDIR)' && exec env BUILD='$(BUILD)' CC='$(CC)' OPT='$(OPT)' SANITIZE='$(SANITIZE)' sh $< \"\$$@\""; \
	} > $@ && chmod +x $@

# ---- running ----------------------------------------------------------------
RUN_TESTS := $(if $(filter thread,$(SANITIZE)),$(TSAN_TESTS),$(TESTS) $(STRESS) $(CHECKS))

test: $(RUN_TESTS:%=$(BUILD)/tests/%) examples
	@pass=0; fail=0; bad=""; skipped=""; \
	for t in $(RUN_TESTS); do \
	  echo "== $$t"; \
	  if [ ! -x $(BUILD)/tests/$$t ]; then \
	    echo "skipped: not built (cxx_*: that compiler is not installed)"; skipped="$$skipped $$t"; continue; \
	  fi; \
	  case $$t in test_*|sim_*) args=--jobs=1;; *) args=;; esac; \
	  out=$$($(BUILD)/tests/$$t $$args 2>&1); rc=$$?; \
	  if [ $$rc -eq 0 ]; then echo "$$out" | grep -v '^\[----\]' | tail -n 25; \
	  else echo "$$out" | grep -E '^\[(----|FAIL)\]|ERROR: |SUMMARY: |^ +#[0-9]+ ' | head -n 80; fi; \
	  syn=$$(echo "$$out" | grep 'Synthesis:' | tail -n 1 | sed 's/\x1b\[[0-9;]*m//g'); \
	  p=$$(echo "$$syn" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p'); \
	  f=$$(echo "$$syn" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p'); \
	  c=$$(echo "$$syn" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p'); \
	  pass=$$((pass + $${p:-0})); fail=$$((fail + $${f:-0} + $${c:-0})); \
	  if [ $$rc -ne 0 ] || [ -z "$$syn" ]; then bad="$$bad $$t"; [ -z "$$syn" ] && fail=$$((fail + 1)); fi; \
	done; \
	echo; echo "tests: $$pass passed, $$fail failed"; \
	if [ -n "$$skipped" ]; then echo "skipped:$$skipped"; fi; \
	if [ -n "$$bad" ]; then echo "failing suites:$$bad"; exit 1; fi

# The swarm over SEEDS seeds from FROM, JOBS at a time: failing seeds with
# their replay command, seeds per minute, what the seeds exercised.
swarm: $(BUILD)/tests/swarm
	$(BUILD)/tests/swarm --seeds=$(SEEDS) --from=$(FROM) --jobs=$(JOBS)

run: examples
	$(BUILD)/examples/dispatcher

# After the C benches: Savina against CAF, Tina's cross-shard stream against
# DPDK's bare rte_ring, and examples/http against nginx under wrk (each
# installs what it needs when it can, and says why it skips when it cannot).
bench: benches bench-peers examples
	@for b in $(BENCHES); do $(BUILD)/bench/$$b || exit 1; done
	@sh bench/savina_vs_caf.sh $(BUILD)
	@sh bench/peers/stream_vs_ring.sh $(BUILD)
	@BUILD=$(BUILD) bench/http_nginx.sh

# ---- peer benchmarks: Savina on CAF 0.17 (bench/peers/savina_caf.cpp) -------
# Installs libcaf-dev if it is missing (as root, with apt-get); if that or
# the build fails, says why (also in CAF_WHY, which bench/savina_vs_caf.sh
# prints) and skips, without failing `make bench`.  Never part of `make test`.
CAF_BENCH := $(BUILD)/bench/peers/savina_caf
CAF_WHY   := $(BUILD)/bench/peers/caf-unavailable
CAF_FLAGS := -O2 -march=native -std=c++17 -Wall -Wextra -Werror -pthread

bench-peers:
	@mkdir -p $(dir $(CAF_BENCH)); rm -f $(CAF_WHY); \
	if ! command -v g++ >/dev/null; then \
	  echo "g++ is not installed" > $(CAF_WHY); \
	elif [ ! -f /usr/include/caf/all.hpp ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "  APT     installing: libcaf-dev"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcaf-dev) >/dev/null 2>&1 || \
	      echo "apt-get install libcaf-dev failed" > $(CAF_WHY); \
	  else \
	    echo "libcaf-dev is not installed (sudo apt-get install libcaf-dev)" > $(CAF_WHY); \
	  fi; \
	fi; \
	if [ ! -f $(CAF_WHY) ]; then \
	  $(MAKE) --no-print-directory $(CAF_BENCH) || \
	    echo "g++ failed to build bench/peers/savina_caf.cpp" > $(CAF_WHY); \
	fi; \
	if [ -f $(CAF_WHY) ]; then \
	  rm -f $(CAF_BENCH); echo "savina: CAF could not be installed or built: $$(cat $(CAF_WHY)); skipped"; \
	fi

# DPDK's bare rte_ring, the floor under the cross-shard stream
# (bench/peers/stream_vs_ring.sh); libdpdk-dev installed the same way.
RTE_BENCH := $(BUILD)/bench/peers/rte_ring_stream
bench-peers: bench-dpdk
bench-dpdk:
	@mkdir -p $(dir $(RTE_BENCH)); \
	if ! pkg-config --exists libdpdk 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "  APT     installing: libdpdk-dev"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libdpdk-dev) >/dev/null 2>&1 || true; \
	  fi; \
	fi; \
	if pkg-config --exists libdpdk 2>/dev/null; then \
	  $(MAKE) --no-print-directory $(RTE_BENCH) || echo "stream_vs_ring: the DPDK program did not build; skipped"; \
	else echo "stream_vs_ring: libdpdk-dev could not be installed; skipped"; fi

$(RTE_BENCH): bench/peers/rte_ring_stream.c
	$(call say,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)gcc $$(pkg-config --cflags libdpdk) -O2 -march=native -std=gnu11 -Wall -Wextra -Werror -o $@ $< -lrte_ring -lrte_eal -pthread

$(CAF_BENCH): bench/peers/savina_caf.cpp
	$(call say,CXX,$@)
	@mkdir -p $(dir $@)
	$(Q)g++ $(CAF_FLAGS) -o $@ $< -lcaf_core

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
# DESTDIR stages the files (for a package); PREFIX is where they will live.
install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 include/tina.h $(DESTDIR)$(PREFIX)/include/tina.h
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/libtina.a
	install -m 755 $(SHARED_FILE) $(DESTDIR)$(LIBDIR)/libtina.so.$(VERSION)
	ln -sf libtina.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libtina.so
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$${prefix}/include' '' \
	  'Name: tina' 'Description: thread-per-core shared-nothing actor framework' 'Version: $(VERSION)' \
	  'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -ltina' 'Libs.private: -luring -lhwloc -lpthread' \
	  > $(DESTDIR)$(LIBDIR)/pkgconfig/tina.pc
	@$(call ldconfig_refresh,install)

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/tina.h $(DESTDIR)$(LIBDIR)/libtina.a \
	  $(DESTDIR)$(LIBDIR)/libtina.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	  $(DESTDIR)$(LIBDIR)/libtina.so $(DESTDIR)$(LIBDIR)/pkgconfig/tina.pc
	@$(call ldconfig_refresh,uninstall)

# Programs find libtina.so.0 through the runtime linker's cache: refresh it
# when LIBDIR is one of the folders it searches (on Debian /usr/local/lib
# is one), as root, and not for a staged install (DESTDIR: the package's
# own scripts do it).  The install never fails for it; a LIBDIR outside
# those folders gets a hint instead.  $(1): install or uninstall.
define ldconfig_refresh
ldconfig=$$(command -v ldconfig || command -v /sbin/ldconfig); \
if [ -z "$(DESTDIR)" ] && [ -n "$$ldconfig" ]; then \
  libdir=$$(readlink -f $(LIBDIR)); \
  if $$ldconfig -v -N -X 2>/dev/null | sed -n 's|^\(/[^:]*\):.*|\1|p' | \
       while read -r dir; do readlink -f "$$dir"; done | grep -qxF "$$libdir"; then \
    if [ "$$(id -u)" = 0 ]; then \
      echo "$$ldconfig"; "$$ldconfig" || echo "tina: ldconfig failed: run it by hand"; \
    else \
      echo "tina: run ldconfig as root so that programs find $(SONAME)"; \
    fi; \
  elif [ "$(1)" = install ]; then \
    echo "tina: $(LIBDIR) is not searched by the runtime linker: add it to" \
         "/etc/ld.so.conf.d/ and run ldconfig, or set LD_LIBRARY_PATH"; \
  fi; \
fi
endef

# ---- lint: what the compiler cannot check -----------------------------------
# tools/lint.sh: function and file lengths, the include and link graphs
# (tools/graph.sh prints them), the layering, no allocation after boot,
# tina.h as C++, tests' gt().  The link graph reads the library's objects,
# built first; a tree that does not build is still linted (from the objects
# there are), and fails.
lint:
	@built=0; $(MAKE) --no-print-directory -s -k $(LIB_OBJS) || built=1; \
	tools/lint.sh $(BUILD); status=$$?; \
	if [ $$built != 0 ]; then echo "lint: the library does not build: the link graph is from the objects there are"; exit 1; fi; \
	exit $$status

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/objc -name '*.d' 2>/dev/null)
.SECONDARY:
