#!/usr/bin/env bash
# The Airflow test loads the exported DAG file with real Airflow and runs a
# drill through it. Airflow pins its dependencies tightly, and they clash with
# opskit's, so Airflow lives in a virtual environment of its own,
# .venv-airflow/, made once and reused while its stamp names this version.
# Airflow's constraint files are not on PyPI, so pip resolves the pinned
# version's own requirements (about 20 s to a minute with a warm cache).
set -euo pipefail
cd "$(dirname "$0")/.."

AIRFLOW_VERSION=3.3.2
VENV=.venv-airflow
STAMP="$VENV/.installed-$AIRFLOW_VERSION"
PYTHON="${PYTHON:-python3}"

if [ -f "$STAMP" ]; then
    exit 0
fi
echo "installing Airflow $AIRFLOW_VERSION into $VENV/ for the Airflow test" >&2
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "apache-airflow==$AIRFLOW_VERSION"
touch "$STAMP"
