# Two commands do everything on a fresh machine (see README.md):
#   make demo   set up .venv/, generate the demo data, train + evaluate PANet
#   make test   set up .venv/, run the test suite
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test clean-venv

setup:
	@bash tools/setup_env.sh

demo: setup
	@bash tools/run_demo.sh

test: setup
	$(PY) -m pytest tests $(PYTEST_ARGS)

clean-venv:
	rm -rf .venv
