#!/usr/bin/env bash
# Create the project's virtual environment; on Debian, install python3-venv first if needed.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
if [ -x "$venv/bin/python" ]; then exit 0; fi
if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >/dev/null
        "$python" -m venv "$venv"
    else
        echo "error: '$python -m venv' failed; install python3-venv (Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
fi
