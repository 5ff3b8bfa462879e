# attnbench — build, test, benchmark.
#   make            build build/attnbench (checks dependencies first)
#   make test       CPU tests (no GPU needed); ends with "N passed, N failed"
#   make test-gpu   GPU tests (needs a GPU)
#   make demo       small CPU-backend sweep into results/demo.db, then its summary
#   make bench      the standard GPU sweep into results/attnbench.db
#   make plots      figures of the newest run in results/attnbench.db into plots/out/
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
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE
NVFLAGS  ?= -O3 -lineinfo
NVFLAGS  += -std=c++17 $(GPU_ARCH) -Xcompiler -Wall -Xcompiler -Werror -Xptxas -warn-spills
LDFLAGS  := -L$(CUDA)/lib64 -Wl,--disable-new-dtags,-rpath,$(CUDA)/lib64
LDLIBS   := -lcublas -lcupti -lcudart -lsqlite3 -lstdc++ -lm -lpthread -ldl

LIB_C   := $(wildcard harness/*/*.c) $(wildcard variants/*.c)
LIB_CU  := $(wildcard harness/*/*.cu) $(wildcard kernels/*.cu)
LIB_OBJ := $(LIB_C:%.c=$(BUILD)/%.o) $(LIB_CU:%.cu=$(BUILD)/%.o)
TESTS     := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
GPU_TESTS := $(patsubst tests/gpu/%.c,$(BUILD)/tests/gpu/%,$(wildcard tests/gpu/test_*.c))

.PHONY: all deps test test-gpu demo bench plots format clean FORCE
all: deps $(BUILD)/attnbench

# One line per dependency; a missing required one stops the build with what to install.
deps:
	@ok=1; \
	if [ -x "$(NVCC)" ]; then echo "✓ nvcc       $$($(NVCC) --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"; \
	else echo "✗ nvcc       not found at $(NVCC) (install the CUDA toolkit or set CUDA=)"; ok=0; fi; \
	if [ -e "$(CUDA)/lib64/libcublas.so" ] && [ -e "$(CUDA)/include/cublas_v2.h" ]; then echo "✓ cuBLAS"; \
	else echo "✗ cuBLAS     not found under $(CUDA) (part of the CUDA toolkit)"; ok=0; fi; \
	if [ -e "$(CUDA)/lib64/libcupti.so" ]; then echo "✓ CUPTI"; \
	else echo "✗ CUPTI      not found under $(CUDA)/lib64 (part of the CUDA toolkit)"; ok=0; fi; \
	if echo '#include <sqlite3.h>' | $(CC) -E -x c - >/dev/null 2>&1; then echo "✓ SQLite     $$(echo '#include <sqlite3.h>\nSQLITE_VERSION' | $(CC) -E -P -x c - | tail -1)"; \
	else echo "✗ SQLite     sqlite3.h missing: apt-get install libsqlite3-dev"; ok=0; fi; \
	if command -v gnuplot >/dev/null; then echo "✓ gnuplot    $$(gnuplot --version)"; \
	else echo "✗ gnuplot    not found (needed by attnbench plot and make test): apt-get install gnuplot-nox"; fi; \
	if command -v $(CLANG_FORMAT) >/dev/null; then echo "✓ clang-format $$($(CLANG_FORMAT) --version | sed -n 's/.*version \([0-9.]*\).*/\1/p')"; \
	else echo "✗ clang-format not found (needed by make format only): apt-get install clang-format"; fi; \
	[ $$ok = 1 ]

$(BUILD)/attnbench: $(BUILD)/harness/main.o $(BUILD)/libattn.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Provenance baked into the binary; rewritten only when it changes, so builds stay incremental.
$(BUILD)/version.h: FORCE
	@mkdir -p $(BUILD)
	@scripts/version.sh "$$($(CC) --version | head -1) $(CFLAGS); nvcc $$($(NVCC) --version | sed -n 's/.*release \([0-9.]*\).*/\1/p') $(NVFLAGS)" > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
$(BUILD)/harness/run/provenance.o: $(BUILD)/version.h

$(BUILD)/libattn.a: $(LIB_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	@echo "  NVCC    $<"
	$(Q)$(NVCC) $(INCLUDES) -MMD -MP $(NVFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libattn.a
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(BUILD)/libattn.a $(LDLIBS)

# tests/test_adding_variant.sh follows README.md's "Adding a variant" literally (builds its example).
test: $(BUILD)/attnbench $(TESTS)
	$(Q)CC="$(CC)" NVCC="$(NVCC)" CUDA="$(CUDA)" BUILD="$(BUILD)" GPU_ARCH="$(GPU_ARCH)" \
	    scripts/run-tests.sh $(TESTS) tests/test_adding_variant.sh

# On the GPU machine (no compiler headers there) run scripts/run-tests.sh on the built binaries.
test-gpu: $(BUILD)/attnbench $(GPU_TESTS)
	$(Q)scripts/run-tests.sh $(GPU_TESTS)

demo: all
	$(Q)rm -f results/demo.db
	$(Q)$(BUILD)/attnbench run --backend cpu --db results/demo.db --tag demo \
	    --seq 64,128,256 --heads 4 --kv-heads 2,4 --head-dim 64 --batch 1 --dtype bf16 \
	    --causal 0,1 --max-time 0.2
	$(Q)$(BUILD)/attnbench show --db results/demo.db

bench: all
	$(Q)$(BUILD)/attnbench run --sweep sweeps/standard.sweep --db results/attnbench.db

plots: all
	$(Q)$(BUILD)/attnbench plot --db results/attnbench.db --out plots/out

# The host sources; kernels/ are left out: their layout (tile tables, inline PTX, launch bounds
# lined up by hand) is part of how they are read, and a reformat would bury the next real diff.
FORMAT_SRC := $(wildcard harness/*.[ch] harness/*/*.[ch] harness/*/*.cu variants/*.[ch] \
                         tests/*.[ch] tests/gpu/*.[ch])
format:
	$(Q)$(CLANG_FORMAT) -i $(FORMAT_SRC)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
