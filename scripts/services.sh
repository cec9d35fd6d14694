#!/usr/bin/env bash
# Install the real services the test suite starts (tests/services.py):
#   - PostgreSQL server binaries (Debian package postgresql) when no /usr/lib/postgresql/*/bin/initdb
#   - redis-server (Debian package redis-server) when it is not on PATH
#   - Azurite, the Azure Blob emulator, from package.json/package-lock.json into ./node_modules
# Idempotent and quiet: a second run does nothing. The tests start and stop the services themselves.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'services.sh: %s\n' "$*" >&2; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi

APT_UPDATED=0
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [ "$APT_UPDATED" -eq 0 ]; then
        "${SUDO[@]}" apt-get update -qq >/dev/null
        APT_UPDATED=1
    fi
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    log "installing PostgreSQL (apt-get install postgresql)"
    apt_install postgresql
fi

if ! command -v redis-server >/dev/null 2>&1; then
    log "installing Redis (apt-get install redis-server)"
    apt_install redis-server
fi

if ! command -v npm >/dev/null 2>&1; then
    log "installing Node.js and npm (apt-get install nodejs npm)"
    apt_install nodejs npm
fi

wanted=$(node -p "require('./package.json').devDependencies.azurite")
installed=$(node -p "try { require('./node_modules/azurite/package.json').version } catch { '' }")
if [ "$installed" != "$wanted" ] || [ ! -x node_modules/.bin/azurite-blob ]; then
    log "installing Azurite $wanted (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi

node_modules/.bin/azurite-blob --version >/dev/null
compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null
redis-server --version >/dev/null
