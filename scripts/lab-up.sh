#!/usr/bin/env bash
# Quick start: provision what is missing, build the demo images, start v1.3.0, show its status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_all

lab() {
    step "agentlab $*"
    .venv/bin/agentlab -f compose/compose.yaml "$@"
}
lab images build
lab up --version v1.3.0
lab status
