#!/usr/bin/env bash
# Lint and format check with OpenMMLab's settings (setup.cfg: flake8, isort,
# yapf), on the project's Python files. Exits non-zero if any of the three
# reports something; prints every finding.
#
#   bash tools/dev/lint.sh          # check (what .ci/run calls)
#   bash tools/dev/lint.sh --fix    # isort + yapf in place, then check
#
# The linters come with the test requirements (requirements/tests.txt).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BIN=${PANET_LINT_BIN:-.venv/bin}
PATHS=(panet_mmdet tools tests configs setup.py)
if [ "${1:-}" = "--fix" ]; then
    "$BIN/isort" -q "${PATHS[@]}"
    "$BIN/yapf" -i -r "${PATHS[@]}"
fi
status=0
echo "lint: flake8"
"$BIN/flake8" "${PATHS[@]}" || status=1
echo "lint: isort --check-only"
"$BIN/isort" --check-only "${PATHS[@]}" || status=1
echo "lint: yapf --diff"
"$BIN/yapf" --diff -r -p "${PATHS[@]}" || status=1
[ $status = 0 ] && echo "lint: clean" || echo "lint: violations above"
exit $status
