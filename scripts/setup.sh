#!/usr/bin/env bash
# Set up everything dvi_widget needs on a fresh Debian machine (Python 3.10+, Node 20, root,
# no GPU, package registries only) — and do nothing slow when it is already set up.
#
#   1. Debian packages: chromium (browser tests) and dataset-fashion-mnist (demo data),
#      only when missing and only where apt-get exists;
#   2. the virtual environment .venv (PYTHON=python3.x to choose the interpreter);
#   3. torch==2.13.0 FIRST: that pin takes the CPU wheel lying on this kind of machine's disk,
#      whereas an unpinned torch requirement would pull gigabytes of CUDA wheels;
#   4. `npm ci` in js/ (skipped while node_modules matches package-lock.json);
#   5. the front-end bundle dvi_widget/static/widget.js (`npm run build` when missing or older
#      than its sources);
#   6. `pip install -e ".[dev]"` (skipped while pyproject.toml is unchanged and the package
#      imports from this checkout).
#
# Each step prints its wall time. Environment: PYTHON (interpreter for the venv), DVI_SKIP_APT=1
# (no Debian packages), DVI_SKIP_BUNDLE=1 (no front-end build: Python-only work; widgets then
# refuse to show and the wheel test fails).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMPS="$VENV/.dvi-setup"
BUNDLE="dvi_widget/static/widget.js"
TORCH_PIN="torch==2.13.0"

_now() { date +%s.%N; }
_t_all=$(_now)
step() {  # step "description" command args...
    local name="$1"; shift
    local t0; t0=$(_now)
    echo "==> $name"
    "$@"
    printf '    [%s: %.1f s]\n' "$name" "$(awk "BEGIN{print $(_now) - $t0}")"
}
hash_of() { sha256sum "$@" | sha256sum | cut -c1-64; }
# pip, quietly: this machine's pip.conf names extra index folders that may not exist, and pip
# warns once per package about each; keep the log readable (pip's exit status is kept).
pip_q() { "$PY" -m pip install -q "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }; }

# ---------------------------------------------------------------- 1. Debian packages
apt_packages() {
    if [[ "${DVI_SKIP_APT:-0}" == 1 ]] || ! command -v apt-get >/dev/null 2>&1; then
        echo "    apt-get not available (or DVI_SKIP_APT=1): skipping Debian packages"
        return 0
    fi
    local missing=()
    local pkg
    for pkg in chromium dataset-fashion-mnist; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        echo "    chromium and dataset-fashion-mnist already installed"
        return 0
    fi
    local sudo=()
    [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1 && sudo=(sudo)
    # Update the package lists only when apt does not know a candidate for a missing package.
    for pkg in "${missing[@]}"; do
        if ! apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
            "${sudo[@]}" apt-get update -qq
            break
        fi
    done
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"
}

# ---------------------------------------------------------------- 2./3. venv + torch
make_venv() {
    if [[ -x "$PY" ]] && "$PY" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null; then
        echo "    .venv exists ($("$PY" --version))"
        return 0
    fi
    local base="${PYTHON:-}"
    if [[ -z "$base" ]]; then
        for cand in python3.11 python3 python; do
            command -v "$cand" >/dev/null 2>&1 && { base="$cand"; break; }
        done
    fi
    [[ -n "$base" ]] || { echo "error: no python3 found (set PYTHON=...)" >&2; return 1; }
    "$base" -m venv "$VENV"
    pip_q --upgrade pip
}

install_torch() {
    local have
    have=$("$PY" -c 'from importlib.metadata import version; print(version("torch"))' 2>/dev/null \
        || true)
    if [[ "$have" == 2.13.0* ]]; then
        echo "    torch $have already installed"
        return 0
    fi
    pip_q "$TORCH_PIN"
}

# ---------------------------------------------------------------- 4./5. front end
npm_ci() {
    if [[ ! -f js/package.json ]]; then
        echo "    js/package.json not found: no front end to install (widget will be unavailable)"
        return 0
    fi
    local want have=""
    want=$(hash_of js/package.json js/package-lock.json)
    [[ -f js/node_modules/.dvi-lock.sha256 ]] && have=$(cat js/node_modules/.dvi-lock.sha256)
    if [[ -d js/node_modules && "$want" == "$have" ]]; then
        echo "    js/node_modules matches package-lock.json"
        return 0
    fi
    (cd js && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >js/node_modules/.dvi-lock.sha256
}

build_bundle() {
    if [[ "${DVI_SKIP_BUNDLE:-0}" == 1 || ! -f js/package.json ]]; then
        echo "    DVI_SKIP_BUNDLE=1 or no js/package.json: not building the bundle"
        return 0
    fi
    if [[ -f "$BUNDLE" ]]; then
        local newer
        newer=$(find js -path js/node_modules -prune -o -type f -newer "$BUNDLE" -print | head -1)
        if [[ -z "$newer" ]]; then
            echo "    $BUNDLE is up to date"
            return 0
        fi
        echo "    $newer is newer than $BUNDLE: rebuilding"
    fi
    (cd js && npm run --silent build)
    [[ -f "$BUNDLE" ]] || { echo "error: npm run build did not write $BUNDLE" >&2; return 1; }
    touch "$BUNDLE"
}

# ---------------------------------------------------------------- 6. the package itself
pip_editable() {
    local want have=""
    want=$(hash_of pyproject.toml)
    [[ -f "$STAMPS/pyproject.sha256" ]] && have=$(cat "$STAMPS/pyproject.sha256")
    if [[ "$want" == "$have" ]] && "$PY" - "$ROOT" <<'EOF' 2>/dev/null; then
import pathlib, sys
import dvi_widget
assert pathlib.Path(dvi_widget.__file__).resolve().parent == pathlib.Path(sys.argv[1]) / "dvi_widget"
EOF
        echo "    dvi_widget[dev] already installed (editable, pyproject.toml unchanged)"
        return 0
    fi
    # The bundle was built (or found missing) just above; the build hook's own `npm install`
    # would only rewrite the lockfile, so it is skipped here.
    HATCH_JUPYTER_BUILDER_SKIP_NPM=1 pip_q -e ".[dev]"
    mkdir -p "$STAMPS"
    echo "$want" >"$STAMPS/pyproject.sha256"
}

step "Debian packages (chromium, dataset-fashion-mnist)" apt_packages
step "virtual environment .venv" make_venv
step "$TORCH_PIN (CPU wheel, before anything that depends on torch)" install_torch
step "npm ci in js/" npm_ci
step "front-end bundle $BUNDLE" build_bundle
step "pip install -e .[dev]" pip_editable
printf '==> setup done in %.1f s\n' "$(awk "BEGIN{print $(_now) - $_t_all}")"
