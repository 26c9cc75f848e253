# Set-up and entry points. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
# The pinned CPU build of torch is installed before the package so that pip never pulls a CUDA build.
TORCH_SPEC ?= torch==2.13.0
# torchvision (the `vision` extra) is installed only when VISION_SPEC names it, right after torch. No torchvision
# matches torch 2.13.0+cpu here: PyPI's 0.28.0 (the release for 2.13) is a CUDA build whose _C.so needs
# libc10_cuda.so, and importing it beside the CPU torch fails ("operator torchvision::nms does not exist", checked
# 2026-12-01). The pair that imports on this machine is a CUDA build of 5.5 GB that replaces the pinned torch:
#   make venv TORCH_SPEC=torch==2.14.1 VISION_SPEC=torchvision==0.29.1
# hwnas does not need it: its datasets and augmentation presets are written with torch ops (hwnas/train/data/).
VISION_SPEC ?=
BIN := $(VENV)/bin

.PHONY: venv demo test test-all bench lint docs clean

$(BIN)/hwnas: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" $(if $(VISION_SPEC),"$(VISION_SPEC)")
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(BIN)/hwnas

venv: $(BIN)/hwnas

# Fashion-MNIST (Debian's dataset-fashion-mnist, 30 MB) is the demo's data where apt can install it; without it the
# demo uses scikit-learn's digits and says so in its report
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
demo: venv
	@if [ ! -e $(FASHION_MNIST) ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
	  || echo "note: could not install dataset-fashion-mnist; the demo uses scikit-learn's digits"; fi
	$(BIN)/hwnas demo

test: venv
	$(BIN)/python -m pytest -q -m "not slow and not gpu"

test-all: venv
	$(BIN)/python -m pytest -q

# every benchmark in its own process, then benchmarks/results/SUMMARY.md (planned for 45 min on 2 cores, 30 min measured);
# `make bench BENCH_ARGS=--quick` for CI-sized checks, `OFA_TABLE=published.yaml` to check a published table
bench: venv
	$(BIN)/python benchmarks/run_all.py $(if $(OFA_TABLE),--table $(OFA_TABLE)) $(BENCH_ARGS)

lint: venv
	$(BIN)/ruff check hwnas tests benchmarks

# the documentation site (mkdocs.yml, docs/) into site/; --strict: any warning (a broken link, a page missing
# from the nav) fails the build, as in CI. The two packages are pyproject's `docs` extra, installed by name so
# that the venv's editable hwnas install is left as it is.
docs: venv
	$(BIN)/python -m pip install --quiet "mkdocs>=1.5" "mkdocs-material>=9"
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache
