#!/bin/bash
# natscope workshop provisioning: turns a fresh Ubuntu 24.04 or Debian 12
# machine into the kind lab. The Vagrantfile runs it in the workshop VM;
# people without Vagrant run the same script on their own Linux host:
#
#   sudo bash scripts/provision/provision.sh                 # build in place
#   sudo bash scripts/provision/provision.sh --no-lab        # tools only
#
# It installs Docker, kind, kubectl, Node.js, natscope (with its own
# scripts/setup.sh: bpftrace, iproute2, iptables, conntrack, a C compiler,
# npm packages, the build), puts `natscope` on PATH, then runs
# `natscope lab up --lab kind`. Every step checks before it acts, so running
# it again (vagrant provision) is safe and quick.
#
# Options:
#   --source DIR       the natscope project (default: this script's project)
#   --install-dir DIR  copy the project there and build there (default: build
#                      in place); the VM uses /opt/natscope so that host and
#                      VM never share node_modules or compiled files
#   --user NAME        add NAME to the docker group and give it a kubeconfig
#                      for the lab's cluster (~NAME/.kube/config)
#   --at-boot          re-stage the lab at every boot (a systemd unit): the
#                      routes inside the kind nodes do not survive a restart
#   --no-lab           install everything, do not bring the lab up
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/provision/versions.env
. "$here/versions.env"

source_dir=$(cd "$here/../.." && pwd)
install_dir=""
user=""
at_boot=0
lab=1
while [ $# -gt 0 ]; do
  case "$1" in
    --source) source_dir=${2:?--source needs a directory}; shift 2 ;;
    --install-dir) install_dir=${2:?--install-dir needs a directory}; shift 2 ;;
    --user) user=${2:?--user needs a name}; shift 2 ;;
    --at-boot) at_boot=1; shift ;;
    --no-lab) lab=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) printf 'provision: unknown option %s (try --help)\n' "$1" >&2; exit 2 ;;
  esac
done
[ -n "$install_dir" ] || install_dir=$source_dir

started=$(date +%s%N)
step_started=$started
step_no=0
steps=8
elapsed() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
step() {
  step_no=$((step_no + 1))
  step_started=$(date +%s%N)
  printf '\n[provision %6ss] %d/%d %s\n' "$(elapsed "$started")" "$step_no" "$steps" "$*"
}
ok() { printf '[provision %6ss]     %s (%ss)\n' "$(elapsed "$started")" "$*" "$(elapsed "$step_started")"; }
fail() { printf 'provision: %s\n  fix: %s\n' "$1" "$2" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$apt_updated" = 0 ]; then apt-get update -q >/dev/null; apt_updated=1; fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}
# An apt repository: its key (dearmored) and its one-line list, written once.
apt_repo() {
  local name=$1 key_url=$2 line=$3
  local keyring=/etc/apt/keyrings/$name.gpg list=/etc/apt/sources.list.d/$name.list
  install -m 0755 -d /etc/apt/keyrings
  [ -s "$keyring" ] || curl -fsSL "$key_url" | gpg --dearmor -o "$keyring"
  chmod a+r "$keyring"
  local want="deb [signed-by=$keyring] $line"
  if [ ! -f "$list" ] || [ "$(cat "$list")" != "$want" ]; then
    printf '%s\n' "$want" > "$list"
    apt_updated=0
  fi
}

step "checking this machine"
[ "$(id -u)" = 0 ] || fail "provisioning needs root" "sudo bash $0"
# shellcheck source=/dev/null
. /etc/os-release
case "${ID:-}-${VERSION_ID:-}" in
  ubuntu-24.04|debian-12) ;;
  *) [ -n "${NATSCOPE_PROVISION_ANY_OS:-}" ] || fail "made for Ubuntu 24.04 and Debian 12, not ${PRETTY_NAME:-this system}" "NATSCOPE_PROVISION_ANY_OS=1 to try anyway" ;;
esac
arch=$(dpkg --print-architecture)
case "$arch" in amd64|arm64) ;; *) fail "no kind release for $arch" "use an amd64 or arm64 machine" ;; esac
grep -qs '"name": "natscope"' "$source_dir/package.json" || fail "$source_dir is not the natscope project" "--source /path/to/natscope"
apt_install ca-certificates curl gnupg rsync
ok "${PRETTY_NAME}, $arch, $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"

step "Docker"
if ! command -v docker >/dev/null 2>&1; then apt_install docker.io; fi
systemctl enable --now docker >/dev/null 2>&1 || true
for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
docker info >/dev/null 2>&1 || fail "the Docker daemon does not answer" "systemctl status docker; journalctl -u docker"
if [ -n "$user" ] && id "$user" >/dev/null 2>&1 && ! id -nG "$user" | grep -qw docker; then usermod -aG docker "$user"; fi
# kind's known issues: a multi-node cluster runs out of inotify instances
# with the distributions' defaults ("too many open files" in pods).
printf 'fs.inotify.max_user_watches = 524288\nfs.inotify.max_user_instances = 512\n' > /etc/sysctl.d/99-natscope-kind.conf
sysctl -q -p /etc/sysctl.d/99-natscope-kind.conf
ok "Docker $(docker version --format '{{.Server.Version}}')"

step "kind $KIND_VERSION"
if [ "$(kind version -q 2>/dev/null || true)" != "${KIND_VERSION#v}" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  url="https://kind.sigs.k8s.io/dl/$KIND_VERSION/kind-linux-$arch"
  curl -fsSLo "$tmp/kind-linux-$arch" "$url"
  # KIND_SHA256 pins the binary's hash; otherwise check the release's own sum file
  if [ -n "${KIND_SHA256:-}" ]; then
    printf '%s  kind-linux-%s\n' "$KIND_SHA256" "$arch" > "$tmp/kind-linux-$arch.sha256sum"
  else
    curl -fsSLo "$tmp/kind-linux-$arch.sha256sum" "$url.sha256sum"
  fi
  (cd "$tmp" && sha256sum --quiet -c "kind-linux-$arch.sha256sum") || fail "the kind download does not match its checksum" "retry; or check $url"
  install -m 0755 "$tmp/kind-linux-$arch" /usr/local/bin/kind
  rm -rf "$tmp"
  trap - EXIT
fi
ok "$(kind version)"

step "kubectl $KUBECTL_MINOR"
if ! kubectl version --client 2>/dev/null | grep -q "Client Version: ${KUBECTL_MINOR}\."; then
  apt_repo kubernetes "https://pkgs.k8s.io/core:/stable:/$KUBECTL_MINOR/deb/Release.key" "https://pkgs.k8s.io/core:/stable:/$KUBECTL_MINOR/deb/ /"
  apt_updated=0
  apt_install kubectl
  # an older kubectl from this repository's earlier minor: take the pinned one
  kubectl version --client 2>/dev/null | grep -q "Client Version: ${KUBECTL_MINOR}\." || { apt-get update -q >/dev/null; apt-get install -y -q kubectl >/dev/null; }
fi
ok "$(kubectl version --client 2>/dev/null | head -n 1)"

step "Node.js $NODE_MAJOR"
if ! command -v node >/dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt "$NODE_MAJOR" ]; then
  apt_repo nodesource https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key "https://deb.nodesource.com/node_$NODE_MAJOR.x nodistro main"
  apt_updated=0
  apt_install nodejs
  [ "$(node -p 'process.versions.node.split(".")[0]')" -ge "$NODE_MAJOR" ] || { apt-get install -y -q nodejs >/dev/null; }
fi
ok "Node.js $(node --version), npm $(npm --version)"

step "natscope (its setup.sh: bpftrace and the lab's tools, npm packages, build)"
if [ "$install_dir" != "$source_dir" ]; then
  mkdir -p "$install_dir"
  # host-built files stay on the host: node_modules, dist and build are the VM's own
  rsync -a --delete --exclude .git/ --exclude node_modules/ --exclude dist/ --exclude build/ --exclude test-output/ "$source_dir/" "$install_dir/"
fi
bash "$install_dir/scripts/setup.sh"
chmod +x "$install_dir/dist/src/main.js"
ln -sfn "$install_dir/dist/src/main.js" /usr/local/bin/natscope
ok "natscope $(natscope --version) at $install_dir; $(bpftrace --version 2>/dev/null || echo 'bpftrace missing')"

step "the kind lab"
if [ "$lab" = 1 ]; then
  natscope lab up --lab kind
  if [ -n "$user" ] && id "$user" >/dev/null 2>&1; then
    home=$(getent passwd "$user" | cut -d: -f6)
    install -d -o "$user" -g "$(id -gn "$user")" -m 0700 "$home/.kube"
    # kind merges the cluster into the user's kubeconfig and selects it
    kind export kubeconfig --name natscope --kubeconfig "$home/.kube/config" >/dev/null 2>&1
    chown "$user:$(id -gn "$user")" "$home/.kube/config"
  fi
  ok "lab up"
else
  ok "skipped (--no-lab); later: sudo natscope lab up --lab kind"
fi

step "re-staging the lab at boot"
unit=/etc/systemd/system/natscope-kind-lab.service
if [ "$at_boot" = 1 ]; then
  cat > "$unit" <<UNIT
[Unit]
Description=natscope kind lab (routes and kube-proxy staging after a reboot)
After=docker.service network-online.target
Wants=network-online.target
Requires=docker.service

[Service]
Type=oneshot
ExecStart=/usr/local/bin/natscope lab up --lab kind
TimeoutStartSec=900

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable natscope-kind-lab.service >/dev/null 2>&1
  ok "natscope-kind-lab.service enabled"
else
  ok "not asked (--at-boot); after a reboot run: sudo natscope lab up --lab kind"
fi

printf '\n[provision %6ss] done.\n' "$(elapsed "$started")"
if [ "$user" = vagrant ]; then
  printf "\nNext:  vagrant ssh -c 'sudo natscope demo --lab kind'\n"
else
  printf '\nNext:  sudo natscope demo --lab kind\n'
fi
