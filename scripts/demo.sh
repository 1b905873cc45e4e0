#!/usr/bin/env bash
# Set everything up (scripts/setup.sh), then run the main job: execute notebooks/quickstart.ipynb
# on a Fashion-MNIST subset (train a small CNN for 10 epochs recording each one, fit the
# DeepVisualInsight view, save a standalone HTML page of the widget). Outputs go to out/ (or
# $DVI_OUT_DIR); their paths are printed at the end. DVI_NOTEBOOK_SMALL=1 runs a reduced version.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${DVI_OUT_DIR:-$ROOT/out}"

bash scripts/setup.sh

echo "==> executing notebooks/quickstart.ipynb (outputs in $OUT)"
t0=$(date +%s)
executed=$(.venv/bin/python scripts/run_notebook.py notebooks/quickstart.ipynb --out "$OUT")
echo "    [quickstart: $(( $(date +%s) - t0 )) s]"

echo
echo "Executed notebook:  $executed"
if [[ -f "$OUT/quickstart.html" ]]; then
    echo "Widget (HTML):      $OUT/quickstart.html"
else
    echo "Widget (HTML):      not written (the engine or the widget is not available yet)"
fi
echo "Recorded run:       $OUT/runs/quickstart"
echo "Open the notebook in JupyterLab:  .venv/bin/jupyter lab $ROOT/notebooks/quickstart.ipynb"
