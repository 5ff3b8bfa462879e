# attnbench — build, test, benchmark.
#   make            build build/attnbench (checks dependencies first: scripts/deps.sh)
#   make test       CPU tests (no GPU needed); ends with "N passed, N failed". Checks its
#                   dependencies first (gnuplot too), installing missing Debian packages when run as
#                   root with apt-get (DEPS_INSTALL=0: only print the command), else stopping
#   make test-gpu   GPU tests (needs a GPU)
#   make sanitize   the CPU tests on an ASan + UBSan build of the host code in build-sanitize/
#   make demo       small CPU-backend sweep into results/demo.db, then its summary
#   make bench      the standard GPU sweep into results/attnbench.db
#   make plots      figures of the newest run of DB (default: the newest results/*.db) in plots/out/
#   make format     clang-format -i (.clang-format) over harness/, variants/ and tests/
#   V=1             show full commands; GPU_ARCH="..." overrides the nvcc targets
CUDA     ?= /usr/local/cuda
NVCC     ?= $(CUDA)/bin/nvcc
CLANG_FORMAT ?= clang-format
GPU_ARCH ?= -gencode=arch=compute_80,code=sm_80 -gencode=arch=compute_90a,code=sm_90a
BUILD    ?= build

ifeq ($(V),1)
Q :=
else
Q := @
endif

INCLUDES := -Iharness -Ivariants -Ikernels -I$(BUILD)
CPPFLAGS := -isystem $(CUDA)/include $(INCLUDES) -MMD -MP
# Flags given on the command line (make CFLAGS=-O0, make CFLAGS+=-fsanitize=...) replace -O2 -g
# only: the language and warning flags are always added, and CFLAGS reaches every link.
CFLAGS   ?= -O2 -g
override CFLAGS += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE
NVFLAGS  ?= -O3 -lineinfo
NVFLAGS  += -std=c++17 $(GPU_ARCH) -Xcompiler -Wall -Xcompiler -Werror -Xptxas -warn-spills
LDFLAGS  := -L$(CUDA)/lib64 -Wl,--disable-new-dtags,-rpath,$(CUDA)/lib64
LDLIBS   := -lcublasLt -lcublas -lcupti -lcudart -lsqlite3 -lstdc++ -lm -lpthread -ldl

LIB_C   := $(wildcard harness/*/*.c) $(wildcard variants/*.c)
LIB_CU  := $(wildcard harness/*/*.cu) $(wildcard kernels/*.cu)
LIB_OBJ := $(LIB_C:%.c=$(BUILD)/%.o) $(LIB_CU:%.cu=$(BUILD)/%.o)
TESTS     := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
GPU_TESTS := $(patsubst tests/gpu/%.c,$(BUILD)/tests/gpu/%,$(wildcard tests/gpu/test_*.c))

.PHONY: all deps test test-gpu sanitize demo bench plots format clean FORCE
all: deps $(BUILD)/attnbench

# One line per dependency (scripts/deps.sh), before anything is compiled (every object waits for
# it): a missing required one stops the build with the command that installs it. DEPS_FOR says
# whose needs: the build's, or make test's (gnuplot too).
DEPS_FOR ?= build
deps:
	$(Q)CUDA='$(CUDA)' NVCC='$(NVCC)' CC='$(CC)' CLANG_FORMAT='$(CLANG_FORMAT)' scripts/deps.sh $(DEPS_FOR)

$(BUILD)/attnbench: $(BUILD)/harness/main.o $(BUILD)/libattn.a
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Provenance baked into the binary; rewritten only when it changes, so builds stay incremental.
$(BUILD)/version.h: FORCE | deps
	@mkdir -p $(BUILD)
	@scripts/version.sh "$$($(CC) --version | head -1) $(CFLAGS); nvcc $$($(NVCC) --version | sed -n 's/.*release \([0-9.]*\).*/\1/p') $(NVFLAGS)" > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
$(BUILD)/harness/run/provenance.o: $(BUILD)/version.h

$(BUILD)/libattn.a: $(LIB_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.cu | deps
	@mkdir -p $(dir $@)
	@echo "  NVCC    $<"
	$(Q)$(NVCC) $(INCLUDES) -MMD -MP $(NVFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libattn.a
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(BUILD)/libattn.a $(LDLIBS)

# The GPU tests are built too (a machine without a GPU still compiles them; test_make runs them
# there, where each must fail with its reason). tests/test_adding_variant.sh follows README.md's
# "Adding a variant" literally (builds its example against this build).
test: DEPS_FOR = test
test: deps $(BUILD)/attnbench $(TESTS) $(GPU_TESTS)
	$(Q)CC="$(CC)" CFLAGS="$(CFLAGS)" NVCC="$(NVCC)" CUDA="$(CUDA)" BUILD="$(BUILD)" \
	    GPU_ARCH="$(GPU_ARCH)" scripts/run-tests.sh $(TESTS) tests/test_adding_variant.sh

# ASan + UBSan on the host code (the kernels are nvcc's, unsanitized), in a build of its own, then
# (when valgrind is installed) memcheck over a small CPU run of the plain build, with the
# suppressions of known false positives outside attnbench (tests/valgrind.supp). A few minutes.
SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
VALGRIND := valgrind --suppressions=tests/valgrind.supp --error-exitcode=1 --leak-check=full \
            --errors-for-leak-kinds=definite --quiet
sanitize:
	$(Q)$(MAKE) --no-print-directory BUILD=build-sanitize CFLAGS="-O1 -g $(SANITIZE)" test
	$(Q)$(MAKE) --no-print-directory all
	$(Q)if command -v valgrind > /dev/null; then \
	    rm -f build-sanitize/valgrind.db* && echo "valgrind: a small CPU run of $(BUILD)/attnbench, then show" && \
	    $(VALGRIND) $(BUILD)/attnbench run --backend cpu --db build-sanitize/valgrind.db --quiet \
	        --variants naive,cublas,fused --seq 1,127 --heads 4 --kv-heads 2 --head-dim 64 \
	        --causal 0,1 --max-time 0.01 && \
	    $(VALGRIND) $(BUILD)/attnbench show --db build-sanitize/valgrind.db > /dev/null && \
	    echo "valgrind: no errors"; \
	else echo "valgrind not installed: memcheck pass skipped (apt-get install valgrind)"; fi

# On the GPU machine (no compiler headers there) run scripts/run-tests.sh on the built binaries.
test-gpu: $(BUILD)/attnbench $(GPU_TESTS)
	$(Q)scripts/run-tests.sh $(GPU_TESTS)

demo: all
	$(Q)rm -f results/demo.db
	$(Q)$(BUILD)/attnbench run --backend cpu --db results/demo.db --tag demo \
	    --seq 64,128,256 --heads 4 --kv-heads 2,4 --head-dim 64 --batch 1 --dtype bf16 \
	    --causal 0,1 --max-time 0.2
	$(Q)$(BUILD)/attnbench show --db results/demo.db
	@echo "figures of this run: make plots DB=results/demo.db (into plots/out/)"

bench: all
	$(Q)$(BUILD)/attnbench run --sweep sweeps/standard.sweep --db results/attnbench.db

# The newest run of DB; DB defaults to the most recently written database in results/.
DB ?= $(firstword $(shell ls -t results/*.db 2>/dev/null))
plots: all
	$(Q)if [ -z "$(DB)" ]; then echo "make plots: no database in results/ (make demo or make bench first, or DB=PATH)"; exit 2; fi
	@echo "figures of the newest run in $(DB) (DB=PATH for another database)"
	$(Q)$(BUILD)/attnbench plot --db $(DB) --out plots/out

# The host sources; kernels/ are left out: their layout (tile tables, inline PTX, launch bounds
# lined up by hand) is part of how they are read, and a reformat would bury the next real diff.
FORMAT_SRC := $(wildcard harness/*.[ch] harness/*/*.[ch] harness/*/*.cu variants/*.[ch] \
                         tests/*.[ch] tests/gpu/*.[ch])
format:
	$(Q)$(CLANG_FORMAT) -i $(FORMAT_SRC)

clean:
	rm -rf $(BUILD) build-sanitize

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
