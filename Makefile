# Set-up and the two README entry points. `make demo`: compile a shipped example; `make test`: all tests.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.snncompile-installed
EXAMPLE ?= examples/models/mpbn_cnn.pt

.PHONY: setup setup-lava demo test lint clean

setup: $(STAMP)

# torch first, pinned to the local CPU build; everything else under constraints.txt so pip can
# never swap in a CUDA torch.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	# SNN libraries for the frontend extensions and their tests, without their torchvision/torchaudio
	# (CUDA builds); loguru and nirtorch are what spikingjelly and norse.torch import at load time.
	$(BIN)/pip install --quiet -c constraints.txt --no-deps snntorch==1.0.0 norse==1.1.0 spikingjelly==2.0.0
	$(BIN)/pip install --quiet -c constraints.txt loguru nirtorch==2.6
	# tonic (event-camera datasets, --data tonic:NAME) without its audio (librosa, numba) and torch (torchvision)
	# dependencies; importRosbag, tqdm, requests and scipy are what `import tonic` loads.
	$(BIN)/pip install --quiet -c constraints.txt --no-deps tonic==1.7.0 importRosbag==1.0.4
	$(BIN)/pip install --quiet -c constraints.txt tqdm requests scipy
	touch $(STAMP)

# Lava in its own Python 3.10 environment (docs/LOIHI.md 6.1), for the Loihi tests and benchmark.
LAVA_STAMP := .venv-lava/.lava-installed

setup-lava: $(LAVA_STAMP)

$(LAVA_STAMP): scripts/setup_lava.sh
	bash scripts/setup_lava.sh

demo: setup setup-lava
	$(BIN)/snncompile inspect $(EXAMPLE)
	$(BIN)/snncompile $(EXAMPLE) --target loihi -o build/$(notdir $(basename $(EXAMPLE))) --time-passes
	$(BIN)/snncompile verify $(EXAMPLE) --target loihi --data digits --json build/verify-$(notdir $(basename $(EXAMPLE))).json

lint: setup
	$(BIN)/ruff check snncompile tests examples benchmarks
	$(BIN)/mypy snncompile

test: setup setup-lava lint
	$(BIN)/pytest -n 2 -p no:cacheprovider

clean:
	rm -rf build $(VENV) .venv-lava .pytest_cache .hypothesis

# Benchmarks: compile time vs depth, simulator throughput (vs PyTorch and Lava), fidelity per method.
.PHONY: bench
bench: setup setup-lava
	$(BIN)/python -m benchmarks.bench_compile --repeat 3 --out benchmarks/results/compile.md
	$(BIN)/python -m benchmarks.bench_compile --repeat 1 --calibration 64 --out benchmarks/results/compile_calibrated.md
	$(BIN)/python -m benchmarks.bench_throughput --repeat 5 --out benchmarks/results/throughput.md
	$(BIN)/python -m benchmarks.bench_fidelity --out benchmarks/results/fidelity.md
	$(BIN)/python -m benchmarks.bench_onnx --out benchmarks/results/onnx.md
