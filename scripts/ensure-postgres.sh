#!/usr/bin/env bash
# The tests start a throwaway PostgreSQL server from this machine's programs.
# Install Debian's postgresql package when those programs are missing.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "PostgreSQL's server programs are missing: install the postgresql package" \
         "(Debian: sudo apt-get install -y postgresql), then run the tests again" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends postgresql postgresql-client
