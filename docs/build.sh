#!/usr/bin/env bash
# Build the documentation site with warnings treated as errors.
#
#   bash docs/build.sh            # HTML into docs/_build/html (gallery examples are run)
#   bash docs/build.sh --clean    # from scratch (removes the build, generated API pages, gallery)
#
# Needs the docs extra (pip install -e ".[docs]") and the reference data: CRFKIT_DATA, or
# ../shared/data beside the checkout (docs/conf.py looks there when CRFKIT_DATA is unset).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cd "$root"
if [[ "${1:-}" == "--clean" ]]; then
    rm -rf docs/_build docs/api/generated docs/auto_examples docs/sg_execution_times.rst
    shift
fi
# One BLAS/OpenMP thread per process: the build shares small machines with other work.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export MPLBACKEND=Agg
start=$SECONDS
python -m sphinx -W --keep-going -b html -j 1 "$@" docs docs/_build/html
echo "docs built in $((SECONDS - start)) s: docs/_build/html/index.html"
