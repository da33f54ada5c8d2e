# IDunno top-level Makefile.
#
#   make                 build every program into bin/
#   make SANITIZE=address,undefined
#                        the same, with sanitizers, into build/san/ (never mixed)
#   make test [TESTS=pattern]   build, then run the tests through tests/run
#   make bench           run the benchmarks and print their tables
#   make demo            the main job (see README.md)
#   make experiments     the IDunno reports' four measurements (docs/experiments.md)
#   make deps            install every Debian package the project needs, and
#                        ONNX Runtime for Node under build/ort (make ort-deps)
#   make fuzz            build the libFuzzer targets and run each (tests/fuzz/fuzz.mk)
#   make install [PREFIX=/usr/local] [DESTDIR=]   programs, man pages, systemd
#                        units, example configuration (dist/install.mk); make uninstall
#   make V=1             show the commands

.DELETE_ON_ERROR:
# Keep objects made by pattern-rule chains (tests, benches) between runs.
.SECONDARY:
.SUFFIXES:
.DEFAULT_GOAL := all

CC       ?= cc
PKG      ?= pkg-config
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter
OPT      ?= -O2 -g
STD      := -std=c11 -D_GNU_SOURCE
INCLUDES := -I. -Icommon -Ikernels -Imodels -Iengine -Iagent

ifeq ($(CC),cc)
  CC := gcc
endif

ifdef SANITIZE
  OUT      := build/san
  BINDIR   := build/san/bin
  SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
  OUT      := build/release
  BINDIR   := bin
  SANFLAGS :=
endif

# Libraries.  oneDNN and OpenBLAS ship no .pc file on Debian 12; the
# fallbacks are their Debian link names.
DNNL_LIBS   := $(shell $(PKG) --libs dnnl 2>/dev/null || echo -ldnnl)
BLAS_CFLAGS := $(shell $(PKG) --cflags openblas 2>/dev/null || echo -I/usr/include/x86_64-linux-gnu/openblas-pthread)
BLAS_LIBS   := $(shell $(PKG) --libs openblas 2>/dev/null || echo -lopenblas)
# The engine's fast JPEG path uses libjpeg's own interface (engine/image.c).
JPEG_LIBS   := $(shell $(PKG) --libs libturbojpeg libjpeg 2>/dev/null || echo -lturbojpeg -ljpeg)

CFLAGS   := $(STD) $(OPT) $(WARN) $(INCLUDES) -Ibpf -I$(OUT)/bpf -I$(OUT)/gen $(BLAS_CFLAGS) $(SANFLAGS) -MMD -MP $(EXTRA_CFLAGS)
LDFLAGS  := $(SANFLAGS) $(EXTRA_LDFLAGS)
LDLIBS   := -lm -lpthread

ifeq ($(V),1)
  Q :=
  say :=
else
  Q := @
  say = @printf '  %-7s %s\n' $(1) $(2);
endif

# --- sources --------------------------------------------------------------
COMMON_SRC  := $(wildcard common/*.c)
KERNELS_SRC := $(wildcard kernels/*.c)
MODELS_SRC  := $(wildcard models/*.c)
ENGINE_LIB_SRC := $(filter-out engine/main.c,$(wildcard engine/*.c))
# The agent, one folder per layer (docs/agent.md draws who includes whom).
AGENT_LAYERS   := wire membership core ctl sdfs tasks cli
AGENT_LIB_SRC  := $(filter-out agent/cli/main.c,$(foreach l,$(AGENT_LAYERS),$(wildcard agent/$(l)/*.c)))

COMMON_OBJ  := $(COMMON_SRC:%.c=$(OUT)/%.o)
KERNELS_OBJ := $(KERNELS_SRC:%.c=$(OUT)/%.o)
MODELS_OBJ  := $(MODELS_SRC:%.c=$(OUT)/%.o) $(OUT)/models/imagenet_classes.o
ENGINE_LIB_OBJ := $(ENGINE_LIB_SRC:%.c=$(OUT)/%.o)
AGENT_LIB_OBJ  := $(AGENT_LIB_SRC:%.c=$(OUT)/%.o)
layer_obj       = $(patsubst %.c,$(OUT)/%.o,$(wildcard agent/$(1)/*.c))
WIRE_OBJ       := $(call layer_obj,wire)
MEMBERSHIP_OBJ := $(call layer_obj,membership)
AGENT_LIBS     := $(shell $(PKG) --libs liburing libsodium 2>/dev/null || echo -luring -lsodium)

# Everything that runs a network links this set.
NET_OBJ  := $(ENGINE_LIB_OBJ) $(MODELS_OBJ) $(KERNELS_OBJ) $(COMMON_OBJ)
NET_LIBS := $(DNNL_LIBS) -lgomp $(BLAS_LIBS) $(JPEG_LIBS) $(LDLIBS)

# BPF (CO-RE): vmlinux.h from the running kernel's BTF, the program built
# with clang -target bpf, its skeleton with bpftool.  Without BTF or the
# tools the exporter is not built (its tests then skip and say why).
BPFTOOL  ?= $(shell command -v bpftool 2>/dev/null || ls /usr/sbin/bpftool 2>/dev/null)
BPF_CLANG ?= clang
BTF      := /sys/kernel/btf/vmlinux
BPF_OK   := $(and $(wildcard $(BTF)),$(BPFTOOL),$(shell command -v $(BPF_CLANG) 2>/dev/null))
BPF_LIBS := $(shell $(PKG) --libs libbpf 2>/dev/null || echo -lbpf -lelf -lz)
BPF_ARCH := $(shell uname -m | sed 's/x86_64/x86/; s/aarch64/arm64/')

# One program per main: engine/main.c -> engine, bench/X.c -> X; except
# bench/qgen*.c, which make one program, qgen (its own rule below).
QGEN_SRC    := $(wildcard bench/qgen*.c)
BENCH_PROGS := $(patsubst bench/%.c,$(BINDIR)/%,$(filter-out $(QGEN_SRC),$(wildcard bench/*.c)))
PROGRAMS := $(if $(wildcard engine/main.c),$(BINDIR)/engine) $(BENCH_PROGS) \
            $(if $(QGEN_SRC),$(BINDIR)/qgen) \
            $(if $(wildcard agent/cli/main.c),$(BINDIR)/agent) \
            $(if $(BPF_OK),$(BINDIR)/exporter)

TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BINS := $(TEST_SRC:tests/%.c=$(BINDIR)/tests/%)
# Programs that script tests drive (not tests themselves: the runner runs test_* only).
TEST_BINS += $(patsubst tests/%.c,$(BINDIR)/tests/%,$(wildcard tests/probe_*.c))
# Libraries tests preload (the slow-disk shim), likewise not tests.
TEST_LIBS := $(BINDIR)/tests/libslowio.so
ifeq ($(BPF_OK),)
  TEST_BINS := $(filter-out %/test_latency_bpf,$(TEST_BINS))
endif

all: $(PROGRAMS) $(TEST_BINS) $(TEST_LIBS)

# --- rules ----------------------------------------------------------------
$(OUT)/%.o: %.c
	$(call say,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# The commit built, for idunno_build_info (common/version.h): rewritten
# only when it changes, so only its includers are rebuilt.
$(OUT)/gen/idunno_commit.h: FORCE
	@mkdir -p $(dir $@)
	@c=$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown); \
	 l="#define IDUNNO_COMMIT \"$$c\""; \
	 [ "$$(cat $@ 2>/dev/null)" = "$$l" ] || echo "$$l" > $@
$(OUT)/agent/core/metrics.o $(OUT)/bpf/lat_export.o: $(OUT)/gen/idunno_commit.h
.PHONY: FORCE
FORCE:

# The 1000 ImageNet class names, compiled in from models/imagenet_classes.txt.
$(OUT)/models/imagenet_classes.c: models/imagenet_classes.txt models/gen_classes.sh
	$(call say,GEN,$@)
	@mkdir -p $(dir $@)
	$(Q)sh models/gen_classes.sh $< > $@

$(OUT)/models/imagenet_classes.o: $(OUT)/models/imagenet_classes.c
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BINDIR)/engine: $(OUT)/engine/main.o $(NET_OBJ)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(NET_LIBS)

# With BPF, the worker reads the probes' pinned histograms (tasks/lat_src.c).
AGENT_BPF_OBJ  := $(if $(BPF_OK),$(OUT)/bpf/latency.o)
AGENT_BPF_LIBS := $(if $(BPF_OK),$(BPF_LIBS))
ifneq ($(BPF_OK),)
$(OUT)/agent/tasks/lat_src.o: CFLAGS += -DIDUNNO_BPF
endif

# JPEG preprocessing's resize loops are worth vectorising (docs/engine.md).
$(OUT)/engine/resize.o: CFLAGS += -fvect-cost-model=dynamic

# Our own kernels run on oneDNN's OpenMP threads (libgomp).
$(OUT)/kernels/kern_wino5.o $(OUT)/kernels/kern_gemv.o $(OUT)/kernels/kern_onednn_s2d.o: \
	CFLAGS += -fopenmp

# The CLI names the classes of results: the names' table alone, no network.
$(BINDIR)/agent: $(OUT)/agent/cli/main.o $(AGENT_LIB_OBJ) $(AGENT_BPF_OBJ) $(COMMON_OBJ) \
		$(OUT)/models/imagenet_classes.o
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(AGENT_LIBS) $(JPEG_LIBS) $(AGENT_BPF_LIBS) $(LDLIBS)

$(BENCH_PROGS): $(BINDIR)/%: $(OUT)/bench/%.o $(NET_OBJ)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(NET_LIBS)

# A test links only the layers it needs, so a pure layer that reached for
# the loop (or an engine symbol) fails to link: LINK_test_x names them.
# Tests without a LINK_ line get everything.
SODIUM_LIBS := $(shell $(PKG) --libs libsodium 2>/dev/null || echo -lsodium)
LINK_test_wire       := $(WIRE_OBJ) $(COMMON_OBJ)
LINK_test_wire_gate  := $(WIRE_OBJ) $(COMMON_OBJ)
LINK_probe_flood     := $(WIRE_OBJ) $(COMMON_OBJ)
LINK_test_err        := $(COMMON_OBJ)
LINK_test_swim       := $(MEMBERSHIP_OBJ) $(OUT)/agent/sdfs/place.o $(WIRE_OBJ) $(COMMON_OBJ)
LINK_test_place      := $(OUT)/agent/sdfs/place.o $(WIRE_OBJ) $(COMMON_OBJ)
STORE_OBJ            := $(OUT)/agent/sdfs/store.o $(OUT)/agent/sdfs/store_write.o \
                        $(OUT)/agent/sdfs/store_read.o $(OUT)/agent/sdfs/store_index.o \
                        $(OUT)/agent/sdfs/store_crc.o
LINK_test_store      := $(STORE_OBJ) $(COMMON_OBJ)
LINK_test_store_full := $(STORE_OBJ) $(COMMON_OBJ)
LINK_test_store_planted := $(STORE_OBJ) $(COMMON_OBJ)
LINK_test_sdfs_wire  := $(OUT)/agent/sdfs/sdfs_wire.o $(STORE_OBJ) $(WIRE_OBJ) $(COMMON_OBJ)
LINK_test_sdfs_backoff := $(OUT)/agent/sdfs/sdfs_backoff.o $(WIRE_OBJ) $(COMMON_OBJ)
LINK_test_sdfs_plan  := $(OUT)/agent/sdfs/sdfs_plan.o $(OUT)/agent/sdfs/place.o $(WIRE_OBJ) \
                        $(COMMON_OBJ)
# The log and its buffer, with the test's own fake loop in place of loop.o
# (it hands the writes to a real io_uring).
LINK_test_log        := $(OUT)/agent/core/log.o $(OUT)/agent/core/log_buffer.o $(COMMON_OBJ)
LIBS_test_log        := $(AGENT_LIBS) $(LDLIBS)
LINK_test_conn       := $(OUT)/agent/core/loop.o $(OUT)/agent/core/conn.o \
                        $(OUT)/agent/core/conn_accept.o $(OUT)/agent/core/log.o \
                        $(OUT)/agent/core/log_buffer.o $(WIRE_OBJ) $(COMMON_OBJ)
LIBS_test_conn       := $(AGENT_LIBS) $(LDLIBS)
LINK_test_task_wire  := $(OUT)/agent/tasks/task_wire.o $(WIRE_OBJ) $(COMMON_OBJ)
LINK_test_sched      := $(OUT)/agent/tasks/sched.o $(OUT)/agent/tasks/sched_ds.o \
                        $(OUT)/agent/tasks/sched_run.o $(OUT)/agent/tasks/sched_end.o \
                        $(OUT)/agent/tasks/sched_report.o \
                        $(COMMON_OBJ)
LINK_test_sched_express := $(LINK_test_sched)
LINK_test_engine_hang := $(OUT)/agent/tasks/engine_hang.o $(COMMON_OBJ)
LINK_test_dataset    := $(OUT)/agent/tasks/dataset.o $(STORE_OBJ) $(WIRE_OBJ) $(COMMON_OBJ)
LINK_test_coord_log  := $(OUT)/agent/tasks/coord_rec.o $(OUT)/agent/tasks/coord_state.o \
                        $(OUT)/agent/tasks/coord_snapshot.o $(OUT)/agent/tasks/coord_query.o \
                        $(OUT)/agent/tasks/coord_map.o $(OUT)/agent/tasks/dataset.o $(STORE_OBJ) \
                        $(WIRE_OBJ) $(COMMON_OBJ)
LINK_test_coord_rpc  := $(OUT)/agent/tasks/coord_rpc.o $(WIRE_OBJ) $(COMMON_OBJ)
LINK_test_qgen_ledger := $(OUT)/bench/qgen_ledger.o $(COMMON_OBJ)
LINK_test_submit_wire := $(OUT)/agent/tasks/submit_wire.o $(OUT)/agent/tasks/dataset.o \
                        $(STORE_OBJ) $(WIRE_OBJ) $(COMMON_OBJ)
LINK_test_roles      := $(OUT)/agent/tasks/roles.o $(WIRE_OBJ) $(COMMON_OBJ)
LINK_test_repl       := $(OUT)/agent/tasks/repl_wire.o $(OUT)/agent/tasks/repl_log.o \
                        $(LINK_test_coord_log)
LINK_test_coord_ckpt := $(OUT)/agent/tasks/coord_ckpt.o $(LINK_test_coord_log)
LINK_test_result_replay := $(OUT)/agent/tasks/result_replay.o $(OUT)/agent/tasks/result_part.o \
                        $(OUT)/models/imagenet_classes.o $(LINK_test_coord_log)
LINK_test_result_part := $(OUT)/agent/tasks/result_part.o $(OUT)/agent/tasks/coord_rec.o \
                        $(OUT)/agent/tasks/dataset.o $(STORE_OBJ) $(OUT)/models/imagenet_classes.o \
                        $(WIRE_OBJ) $(COMMON_OBJ)
LINK_test_prom       := $(OUT)/agent/core/prom.o $(OUT)/agent/core/http.o $(COMMON_OBJ)
LINK_test_ring_owner := $(COMMON_OBJ)
LINK_test_resolve    := $(OUT)/agent/cli/resolve.o $(WIRE_OBJ) $(COMMON_OBJ)
test_link = $(or $(LINK_$(1)),$(AGENT_LIB_OBJ) $(AGENT_BPF_OBJ) $(NET_OBJ))
test_libs = $(or $(LIBS_$(1)),$(if $(LINK_$(1)),$(SODIUM_LIBS) $(LDLIBS),$(AGENT_LIBS) $(AGENT_BPF_LIBS) $(NET_LIBS)))

# qgen: a client of the agent's RPC (the CLI's client code, the submission codecs).
QGEN_OBJ := $(QGEN_SRC:%.c=$(OUT)/%.o) $(OUT)/agent/cli/client.o $(OUT)/agent/cli/submit_client.o \
            $(OUT)/agent/cli/resolve.o \
            $(OUT)/agent/tasks/submit_wire.o $(OUT)/agent/tasks/coord_rpc.o \
            $(OUT)/agent/tasks/coord_rec.o $(OUT)/agent/tasks/dataset.o $(OUT)/agent/ctl/rpc.o \
            $(STORE_OBJ) $(MEMBERSHIP_OBJ) $(WIRE_OBJ) $(COMMON_OBJ)
$(BINDIR)/qgen: $(QGEN_OBJ)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(SODIUM_LIBS) $(LDLIBS)

.SECONDEXPANSION:
$(BINDIR)/tests/%: $(OUT)/tests/%.o $$(call test_link,$$*)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(call test_libs,$*)

# The slow-disk shim is preloaded into agents (tests/test_slow_disk.sh);
# built without sanitizers, whose runtime must come first in a process.
$(BINDIR)/tests/libslowio.so: tests/slowio.c
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(STD) $(OPT) $(WARN) -fPIC -shared -o $@ $< -ldl

$(OUT)/bpf/vmlinux.h:
	$(call say,GEN,$@)
	@mkdir -p $(dir $@)
	$(Q)$(BPFTOOL) btf dump file $(BTF) format c > $@

$(OUT)/bpf/latency.bpf.o: bpf/latency.bpf.c common/hist.h $(OUT)/bpf/vmlinux.h
	$(call say,BPF,$<)
	$(Q)$(BPF_CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -I$(OUT)/bpf -Icommon \
		-c $< -o $@

$(OUT)/bpf/latency.skel.h: $(OUT)/bpf/latency.bpf.o
	$(call say,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name latency_bpf > $@

$(OUT)/bpf/latency.o: $(OUT)/bpf/latency.skel.h
$(OUT)/bpf/lat_export.o $(OUT)/bpf/exporter.o: $(OUT)/bpf/latency.skel.h

$(BINDIR)/exporter: $(OUT)/bpf/exporter.o $(OUT)/bpf/lat_export.o $(OUT)/bpf/latency.o \
		$(OUT)/agent/core/prom.o $(OUT)/models/model_names.o $(COMMON_OBJ)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(BPF_LIBS) $(LDLIBS)

# Tests of the BPF side link the loader and libbpf; without BPF they are not built.
$(BINDIR)/tests/test_latency_bpf: $(OUT)/tests/test_latency_bpf.o $(OUT)/bpf/latency.o $(NET_OBJ)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(NET_LIBS) $(BPF_LIBS)

# --- entry points ---------------------------------------------------------
.PHONY: all test bench demo experiments deps ort-deps clean format

# test and demo first make sure the Debian packages are there (a no-op
# when they are), so a fresh machine needs nothing but these commands.
test: deps
	@$(MAKE) --no-print-directory all
	@IDUNNO_BIN=$(BINDIR) bash tests/run $(if $(TESTS),--only '$(TESTS)')

bench: deps
	@$(MAKE) --no-print-directory all
	@IDUNNO_BIN=$(BINDIR) bash bench/run

demo: deps
	@$(MAKE) --no-print-directory all
	@IDUNNO_BIN=$(BINDIR) bash bench/demo

experiments: deps
	@$(MAKE) --no-print-directory all
	@IDUNNO_BIN=$(BINDIR) bash bench/experiments

deps:
	@bash .ci/deps
	@bash bench/ort-setup

# ONNX Runtime for Node under build/ort: the engine benchmark's second peer
# and the ONNX round-trip test; never fails (says why it is missing).
ort-deps:
	@bash bench/ort-setup

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build bin

include tests/fuzz/fuzz.mk
include dist/install.mk

-include $(shell find build -name '*.d' 2>/dev/null)
