#!/usr/bin/env bash
# Quick start: provision what is missing (the registry image too), build the demo images and
# push them to the demo lab's registry, start v1.3.0 (up prints the status table, with
# digests), then say what to try next. The demo lab ships inside the agentlab package
# (agentlab/demo); `agentlab` finds it when no compose file is given or found here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_all
unset AGENTLAB_FILE  # the demo lab, whatever the environment points at

lab() {
    step "agentlab $*"
    .venv/bin/agentlab "$@"
}
lab up --version v1.3.0  # builds what v1.3.0 needs; starts the lab's registry too
lab images build         # the rest of the catalogue, for the rollouts below

cat <<EOF2
==> the demo lab is up: gateway on http://127.0.0.1:${AGENTLAB_GATEWAY_PORT:-8080}/
    next: .venv/bin/agentlab rollout agent --to 1.4.0 --traffic 50
          .venv/bin/agentlab lock && .venv/bin/agentlab up --locked
          .venv/bin/agentlab tui
EOF2
