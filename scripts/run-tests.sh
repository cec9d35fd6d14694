#!/usr/bin/env bash
# Run the whole suite. pytest's exit code 5 ("no tests collected") is a failure, not a success.
set -u
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
"$BIN/python" -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "run-tests: pytest collected no tests; treating that as a failure." >&2
    exit 1
fi
exit "$rc"
