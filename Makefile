# Two commands do everything on a fresh machine (see README.md):
#   make demo   set up .venv/, generate the demo data, train + evaluate PANet
#   make test   set up .venv/, run the test suite
PY := .venv/bin/python
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` (each test file on one worker, the
# longest first: tests/conftest.py); PYTEST_WORKERS=0 runs the suite in one
# process
PYTEST_WORKERS ?= 2

.PHONY: setup demo test compare ablation clean-venv

setup:
	@bash tools/setup_env.sh

demo: setup
	@bash tools/run_demo.sh

test: setup
	$(PY) -m pytest tests -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

clean-venv:
	rm -rf .venv

# Stock Mask R-CNN with the same data and schedule as the PANet demo, then
# both results side by side (run `make demo` first).
compare: setup
	@bash tools/run_demo.sh configs/demo/mask-rcnn_r18_fpn-gn_demo.py
	@.venv/bin/python tools/analysis/compare_results.py \
		work_dirs/demo/panet_r18_bufpn-gn_demo work_dirs/demo/mask-rcnn_r18_fpn-gn_demo

# The demo ablation ladder (stock -> +BPA -> +AFP -> +FF -> +HHD), 3 seeds,
# two 1-thread runs at a time as for results/demo_ablation/, then its table
# and plot in work_dirs/ablation/ (resumable; docs/results.md, knobs in
# tools/analysis/run_ablation.py).
ablation: setup
	@OMP_NUM_THREADS=1 ABLATION_JOBS=2 bash tools/run_ablation.sh 0 1 2
