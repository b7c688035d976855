#!/usr/bin/env bash
# Run the test suite (all of tests/, or whatever pytest arguments are given) against a real
# engine: provisions what is missing first and exports AGENTLAB_BASE_IMAGE for the tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_all

step "pytest ${*:-(all of tests/)}"
exec .venv/bin/pytest "$@"
