# tests/fuzz/fuzz.mk - libFuzzer targets for every decoder a peer or a file
# reaches (included by the Makefile).  Built with clang, ASan and UBSan
# into build/fuzz/, apart from every other build.
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="frame swim"]
#                      build, then run each target for FUZZ_SECONDS
#   make fuzz-build    build only
#   make fuzz-seeds    regenerate the committed seed corpora (tests/fuzz/corpus)

FUZZ_CC   ?= clang
FUZZ_OUT  := build/fuzz
FUZZ_SAN  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := $(STD) -g -O1 -Wall -Wextra -Wno-unused-parameter $(INCLUDES) -Itests/fuzz \
               $(BLAS_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP
FUZZ_LIBS := $(SODIUM_LIBS) $(NET_LIBS)
FUZZ_ALL  := frame swim rpc sdfs_req sdfs_ans task_wire coord_rpc coord_rec coord_snapshot dataset \
             safetensors jpeg config stream_wire coord_ckpt result_part http_req ring \
             store_file key
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SECONDS ?= 60

fuzz_objs = $(patsubst %.c,$(FUZZ_OUT)/%.o,$(1))
FZ_COMMON  := $(call fuzz_objs,$(COMMON_SRC) $(wildcard agent/wire/*.c))
FZ_STORE   := $(call fuzz_objs,$(wildcard agent/sdfs/store*.c))
FZ_COORD   := $(call fuzz_objs,$(addprefix agent/tasks/,coord_rec.c coord_state.c coord_snapshot.c \
                coord_query.c coord_map.c dataset.c)) $(FZ_STORE)
FZ_MODEL   := $(call fuzz_objs,models/safetensors.c models/model.c models/model_names.c \
                $(KERNELS_SRC))

FUZZ_LINK_frame          :=
FUZZ_LINK_swim           := $(call fuzz_objs,$(wildcard agent/membership/*.c))
FUZZ_LINK_rpc            := $(call fuzz_objs,agent/ctl/rpc.c) $(FUZZ_LINK_swim)
FUZZ_LINK_sdfs_req       := $(call fuzz_objs,agent/sdfs/sdfs_wire.c) $(FZ_STORE)
FUZZ_LINK_sdfs_ans       := $(FUZZ_LINK_sdfs_req)
FUZZ_LINK_task_wire      := $(call fuzz_objs,agent/tasks/task_wire.c)
FUZZ_LINK_coord_rpc      := $(call fuzz_objs,agent/tasks/coord_rpc.c)
FUZZ_LINK_coord_rec      := $(FZ_COORD)
FUZZ_LINK_coord_snapshot := $(FZ_COORD)
FUZZ_LINK_dataset        := $(call fuzz_objs,agent/tasks/dataset.c) $(FZ_STORE)
FUZZ_LINK_safetensors    := $(FZ_MODEL)
FUZZ_LINK_jpeg           := $(call fuzz_objs,engine/image.c engine/resize.c) $(FZ_MODEL)
FUZZ_LINK_config         := $(call fuzz_objs,agent/core/config.c) $(FUZZ_LINK_swim)
FUZZ_LINK_stream_wire    := $(call fuzz_objs,agent/tasks/repl_wire.c agent/tasks/submit_wire.c) \
                            $(FZ_COORD)
FUZZ_LINK_coord_ckpt     := $(call fuzz_objs,agent/tasks/coord_ckpt.c) $(FZ_COORD)
FUZZ_LINK_result_part    := $(call fuzz_objs,agent/tasks/result_part.c) $(FZ_COORD) \
                            $(FUZZ_OUT)/gen/imagenet_classes.o
FUZZ_LINK_http_req       := $(call fuzz_objs,agent/core/http.c)
FUZZ_LINK_ring           :=
FUZZ_LINK_store_file     := $(FZ_STORE)
FUZZ_LINK_key            :=

FUZZ_BINS := $(FUZZ_ALL:%=$(FUZZ_OUT)/bin/fuzz_%)

$(FUZZ_OUT)/%.o: %.c
	$(call say,FUZZCC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

# The class names a result part spells out (as the Makefile's own rule).
$(FUZZ_OUT)/gen/imagenet_classes.c: models/imagenet_classes.txt models/gen_classes.sh
	$(call say,GEN,$@)
	@mkdir -p $(dir $@)
	$(Q)sh models/gen_classes.sh $< > $@

$(FUZZ_OUT)/gen/imagenet_classes.o: $(FUZZ_OUT)/gen/imagenet_classes.c
	$(call say,FUZZCC,$<)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_OUT)/bin/fuzz_%: $(FUZZ_OUT)/tests/fuzz/fuzz_%.o $$(FUZZ_LINK_$$*) $(FZ_COMMON)
	$(call say,FUZZLD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS)

# The seed generator: the project's encoders, a main of its own.
$(FUZZ_OUT)/bin/seeds: $(FUZZ_OUT)/tests/fuzz/seeds.o $(FUZZ_OUT)/tests/fuzz/seeds_node.o \
		$(sort $(foreach t,$(FUZZ_ALL),$(FUZZ_LINK_$(t)))) $(FZ_COMMON)
	$(call say,FUZZLD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -o $@ $^ $(FUZZ_LIBS)

.PHONY: fuzz fuzz-build fuzz-seeds
fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run $(FUZZ_TARGETS)

fuzz-seeds: $(FUZZ_OUT)/bin/seeds
	@rm -rf tests/fuzz/corpus
	@$(FUZZ_OUT)/bin/seeds tests/fuzz/corpus
