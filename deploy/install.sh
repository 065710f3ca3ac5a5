#!/usr/bin/env bash
# Installs every Debian 12 package that hopscope's build, tests and lab need.
# Idempotent; noninteractive; fails loudly naming what could not be installed.
# Postfix is preseeded to "No configuration" so no system MTA starts on port 25.
set -euo pipefail

packages=(
  # build
  cmake g++ make pkg-config ninja-build
  libboost1.81-dev libboost-json1.81-dev libssl-dev libspdlog-dev
  libtomlplusplus-dev libcli11-dev
  # tests
  libgtest-dev libgmock-dev clang-format clang-tidy
  # real peers for the integration and interop tests
  postfix swaks libnet-ssleay-perl openssl haproxy procps
)

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -E bash "$0" "$@"
  fi
  echo "install.sh: must run as root (apt-get); no sudo found" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install.sh: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string hopscope.invalid" | debconf-set-selections

echo "install.sh: installing ${missing[*]}"
apt-get update -q || { echo "install.sh: apt-get update failed" >&2; exit 1; }
if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  for p in "${missing[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
      echo "install.sh: package '$p' could not be installed" >&2
  done
  exit 1
fi
# The Debian package may have started a Postfix instance; tests run their own.
if command -v postfix >/dev/null 2>&1; then
  postfix stop >/dev/null 2>&1 || true
fi
echo "install.sh: done"
