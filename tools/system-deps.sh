#!/usr/bin/env bash
# The system packages the test suite needs beyond Python and Node, installed only when missing:
# PostgreSQL's server binaries (the store tests start a throw-away cluster of their own; Debian
# keeps them off PATH in /usr/lib/postgresql/<version>/bin, and the cluster its package may start
# on 5432 is not used) and Chromium (the web studio's browser tests; no browser download is
# possible here). Debian's packages; as root, or through sudo.
set -euo pipefail

missing=()
if ! command -v initdb >/dev/null && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    missing+=(postgresql)
fi
if ! command -v chromium >/dev/null; then
    missing+=(chromium)
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "installing ${missing[*]} (Debian packages) for the tests"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
