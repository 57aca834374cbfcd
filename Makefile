# The two commands of the README. Each does all set-up on a fresh machine (Python 3.10+ with pip).
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: site test install-test notebooks

site:  ## build the static site into _build/html
	$(PIP) install -q -r requirements.txt
	jupyter-book build . -W -n --keep-going

install-test:
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q --no-deps d2l==1.0.3
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	  else echo "The browser test needs Debian's chromium: sudo apt-get install chromium chromium-driver"; exit 1; fi; }

test: install-test  ## unit tests, notebooks under nbval, and the site build
	$(PYTHON) -m pytest -n 2 --dist loadscope; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests; that is a failure here"; fi; exit $$rc

notebooks:  ## refresh every chapter's stored outputs
	$(PYTHON) tools/execute_notebooks.py
