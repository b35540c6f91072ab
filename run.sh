#!/usr/bin/env bash
# FashionSeg's two entry points. On first use (or after requirements change) it
# creates .venv with Python 3.11 and installs the pinned requirements.
#
#   ./run.sh app     start the Streamlit app on http://localhost:8501
#   ./run.sh test    run the whole test suite (extra arguments go to pytest)
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv

find_python() {
    for candidate in python3.11 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    echo "error: FashionSeg needs Python 3.11 (python3.11 or python3 on PATH)" >&2
    exit 1
}

ensure_env() {
    if [ ! -x "$VENV/bin/python" ]; then
        echo "creating $VENV ..." >&2
        "$(find_python)" -m venv "$VENV"
    fi
    local stamp
    stamp=$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)
    if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$stamp" ]; then
        echo "installing dependencies into $VENV (first run takes a few minutes) ..." >&2
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -r requirements.txt -r requirements-dev.txt
        "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
        echo "$stamp" >"$VENV/.installed"
    fi
}

case "${1:-}" in
app)
    shift
    ensure_env
    exec "$VENV/bin/streamlit" run app.py "$@"
    ;;
test)
    shift
    ensure_env
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
*)
    echo "usage: ./run.sh app | ./run.sh test [pytest arguments]" >&2
    exit 2
    ;;
esac
