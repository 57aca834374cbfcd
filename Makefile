# The two commands of the README (`make site`, `make test`). Each does all set-up on a fresh machine (Python 3.10+).
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# The versions the stored outputs were made with; `make test LOCK=` lets pip choose (outputs then checked for errors only).
LOCK ?= requirements-lock.txt
PIN := $(if $(LOCK),-c $(LOCK))
PYTEST := $(PYTHON) -m pytest -rs

.PHONY: site test test-fast lint install-test notebooks

site:  ## build the static site into _build/html
	$(PIP) install -q -r requirements.txt
	jupyter-book build . -W -n --keep-going

install-test:
	$(PIP) install -q $(PIN) -r requirements-dev.txt
	$(PIP) install -q --no-deps d2l==1.0.3
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	  else echo "The browser test needs Debian's chromium: sudo apt-get install chromium chromium-driver"; exit 1; fi; }

# Every test: unit tests, every notebook under nbval, the site build and the browser tests. A skip that is not
# expected here (only the CUDA variants skip on a CPU machine) fails the run (D2LMINI_STRICT_SKIPS, tests/conftest.py).
# OMP_WAIT_POLICY=PASSIVE: two test workers share two cores; threads that spin while they wait would stall each other.
test: install-test  ## unit tests, notebooks under nbval, the site build and the browser tests
	D2LMINI_STRICT_SKIPS=1 OMP_WAIT_POLICY=PASSIVE $(PYTEST) -n 2 --dist loadscope; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests; that is a failure here"; fi; exit $$rc

# The unit tests alone (no notebooks, no site build, no browser, no fresh environments): under a minute.
test-fast:
	$(PYTEST) -n 2 -m "not slow" -p no:nbval -o addopts="-p no:cacheprovider" tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests; that is a failure here"; fi; exit $$rc

lint:  ## ruff on the whole tree (Python files and notebooks; chapters at 79 columns)
	$(PYTHON) -m ruff check .

notebooks:  ## refresh every chapter's stored outputs
	$(PYTHON) tools/execute_notebooks.py
