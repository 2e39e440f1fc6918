#!/bin/bash
# natscope setup: everything natscope needs on a fresh Debian 12 / Ubuntu 24.04
# machine, installed only where missing, so it is safe to run any number of
# times. `npm run demo`, `npm test` and `npm run bench` call it first.
#
#   bash scripts/setup.sh            OS packages, npm packages, build, micro-VM kernel
#   bash scripts/setup.sh --tests    also what the test suite needs (tmux, shellcheck, ruby, docker,
#                                    the micro-VM's Debian 13 stack)
set -eu
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }
fail() { printf 'natscope setup: %s\n  fix: %s\n' "$1" "$2" >&2; exit 1; }

tests=0
[ "${1:-}" = "--tests" ] && tests=1

# What natscope runs: the tracer, the lab, the micro-VM, the lab's C helper.
# xz-utils and zstd unpack the VM kernel (Debian 12's is xz; Debian 13's and
# Ubuntu's are zstd).
packages="bpftrace iproute2 iptables nftables conntrack iputils-ping procps kmod util-linux xz-utils zstd gcc libc6-dev qemu-system-x86 busybox-static tcpdump"
# bpftool: cross-checks natscope's own BTF reader in the tests (Debian names it bpftool)
optional="bpftool"
[ "$tests" = 1 ] && packages="$packages tmux shellcheck ruby docker.io"
# vagrant: `vagrant validate` of the workshop Vagrantfile (offline); large, so optional
[ "$tests" = 1 ] && optional="$optional vagrant"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
available() { apt-cache show "$1" >/dev/null 2>&1; }

missing=""
for p in $packages; do installed "$p" || missing="$missing $p"; done
for p in $optional; do installed "$p" || { available "$p" && missing="$missing $p"; } || true; done
if [ -n "$missing" ]; then
  [ "$(id -u)" = 0 ] || fail "missing packages:$missing" "run this as root: sudo npm run setup"
  say "apt-get install$missing"
  export DEBIAN_FRONTEND=noninteractive
  # Installing packages must not start services: a Docker engine started now would
  # change this host's network (docker0, iptables FORWARD policy). The tests run their
  # own engine in a namespace of their own. (policy-rc.d is how Debian asks for that.)
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  # shellcheck disable=SC2086 # the list is ours, split on purpose
  if ! apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >/dev/null || fail "apt-get could not install:$missing" "sudo apt-get update && sudo apt-get install$missing"
  fi
fi

command -v node >/dev/null || fail "Node.js is not installed" "install Node.js 20 or newer (https://nodejs.org or your distribution)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || fail "Node.js $(node --version) is too old" "install Node.js 20 or newer"

# npm packages: install when missing or when the lock file changed since
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi

# build: TypeScript to dist/, the lab helper to build/
if [ ! -f dist/src/main.js ] || [ -n "$(find src tui scripts tsconfig.json package.json -newer dist/src/main.js -type f 2>/dev/null | head -n 1)" ]; then
  say "build"
  npm run build --silent
fi

# The micro-VM's kernel (Debian's linux-image package, unpacked, not installed):
# natscope runs the probes there when this kernel refuses kprobes.
if available linux-image-amd64 && [ "$(id -u)" = 0 ]; then
  NATSCOPE_QUIET=1 node dist/src/main.js vm setup
fi
# The tests' second micro-VM stack: Debian 13's kernel 6.12 and a Debian 13 root
# filesystem (bpftrace 0.23), from Debian's archive through a private apt
# configuration. About two minutes and 800 MB the first time, cached after.
if [ "$tests" = 1 ] && [ "$(id -u)" = 0 ]; then
  node dist/src/main.js vm setup --stack debian13
fi
say "ready"
