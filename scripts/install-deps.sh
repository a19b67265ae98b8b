#!/usr/bin/env bash
# Installs the Debian packages Switchboard needs, only those that are missing.
#   scripts/install-deps.sh          what building and running the proxy needs
#   scripts/install-deps.sh --test   also what the end-to-end tests drive (sshd, ssh, sshpass, ...)
set -euo pipefail

packages=(libssh-dev libsqlite3-dev pkg-config)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(openssh-server openssh-client sshpass rsync tmux procps)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

if ! command -v swift >/dev/null 2>&1; then
  echo "the Swift toolchain (6.0 or newer) is not on PATH: install it from swift.org first" >&2
  exit 1
fi
