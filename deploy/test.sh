#!/usr/bin/env bash
# Installs what is needed, builds hopscope with warnings as errors, and runs the whole
# test suite (unit, integration against real Postfix/swaks/openssl). CTest's summary
# line closes the run. Used verbatim by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install.sh
cmake --preset ci
cmake --build --preset ci
ctest --preset ci
