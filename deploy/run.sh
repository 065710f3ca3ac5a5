#!/usr/bin/env bash
# Installs what is needed, builds hopscope, and runs its main job.
# Today that is: validate the example configuration and show the command line.
# `hopscope demo` (the embedded lab) replaces this once it is built.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install.sh
cmake --preset release
cmake --build --preset release --target hopscope
./build/release/proxy/hopscope --version
./build/release/proxy/hopscope check-config deploy/hopscope.example.toml
./build/release/proxy/hopscope --help
