#!/bin/bash
# natscope workshop provisioning: turns a fresh Ubuntu 24.04 or Debian 12
# machine into the kind lab. The Vagrantfile runs it in the workshop VM;
# people without Vagrant run the same script on their own Linux host:
#
#   sudo bash scripts/provision/provision.sh                 # build in place
#   sudo bash scripts/provision/provision.sh --no-lab        # tools only
#   sudo bash scripts/provision/provision.sh --bundle DIR    # no downloads
#
# It installs Docker, kind, kubectl, Node.js, natscope (with its own
# scripts/setup.sh: bpftrace, iproute2, iptables, conntrack, a C compiler,
# npm packages, the build), puts `natscope` on PATH, blackholes the lab's
# Service CIDR in this machine's routing table (a ClusterIP ping must not
# leave it), then runs `natscope lab up --lab kind`. Every step checks
# before it acts, so running it again (vagrant provision) is safe and quick.
#
# Options:
#   --source DIR       the natscope project (the Vagrantfile passes /vagrant;
#                      default: the project this script sits in, if it does)
#   --install-dir DIR  copy the project there and build there (default: build
#                      in place); the VM uses /opt/natscope so that host and
#                      VM never share node_modules or compiled files
#   --user NAME        add NAME to the docker group and give it a kubeconfig
#                      for the lab's cluster (~NAME/.kube/config)
#   --at-boot          re-stage the lab at every boot (a systemd unit): the
#                      routes inside the kind nodes and the blackhole route
#                      do not survive a restart
#   --no-lab           install everything, do not bring the lab up
#   --bundle DIR       install kind, the node image, kubectl, Node.js and the
#                      npm packages from an offline bundle (natscope workshop
#                      bundle DIR); its checksums are verified first. Also
#                      taken from NATSCOPE_BUNDLE.
set -euo pipefail

# Vagrant's shell provisioner uploads this script's contents alone to
# /tmp/vagrant-shell and runs it from there: nothing can be read from
# beside it. Every path comes from the arguments (or, run in place from a
# checkout, from the checkout around it).

started=$(date +%s%N)
step_started=$started
step_no=0
steps=9
elapsed() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
step() {
  step_no=$((step_no + 1))
  step_started=$(date +%s%N)
  printf '\n[provision %6ss] %d/%d %s\n' "$(elapsed "$started")" "$step_no" "$steps" "$*"
}
ok() { printf '[provision %6ss]     %s (%ss)\n' "$(elapsed "$started")" "$*" "$(elapsed "$step_started")"; }
fail() { printf 'provision: %s\n  fix: %s\n' "$1" "$2" >&2; exit 1; }

source_dir=""
install_dir=""
user=""
at_boot=0
lab=1
bundle=${NATSCOPE_BUNDLE:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --source) source_dir=${2:?--source needs a directory}; shift 2 ;;
    --install-dir) install_dir=${2:?--install-dir needs a directory}; shift 2 ;;
    --user) user=${2:?--user needs a name}; shift 2 ;;
    --at-boot) at_boot=1; shift ;;
    --no-lab) lab=0; shift ;;
    --bundle) bundle=${2:?--bundle needs a directory}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) printf 'provision: unknown option %s (try --help)\n' "$1" >&2; exit 2 ;;
  esac
done

is_project() { grep -qs '"name": "natscope"' "$1/package.json"; }
if [ -z "$source_dir" ]; then
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  is_project "$here/../.." || fail "no natscope project given, and this script does not sit in one" "--source /path/to/natscope (the Vagrantfile passes --source /vagrant)"
  source_dir=$(cd "$here/../.." && pwd)
fi
[ -d "$source_dir" ] || fail "--source $source_dir: no such directory" "--source /path/to/natscope"
source_dir=$(cd "$source_dir" && pwd)
is_project "$source_dir" || fail "$source_dir is not the natscope project" "--source /path/to/natscope"
[ -n "$install_dir" ] || install_dir=$source_dir

# KEY=VALUE lines into an associative array; comments and blank lines
# skipped. Read, never sourced: a bundle is data from another machine.
read_env() {
  local file=$1 line n=0 key
  local -n into=$2
  [ -r "$file" ] || fail "cannot read $file" "$3"
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    case "$line" in ''|'#'*) continue ;; esac
    [[ "$line" =~ ^([A-Z][A-Z0-9_]*)=([A-Za-z0-9._:/@+-]*)$ ]] || fail "$file line $n is not KEY=VALUE: ${line//[^[:print:]]/?}" "$3"
    # shellcheck disable=SC2004 # an associative array, not an arithmetic index
    into[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
  done < "$file"
  for key in "${@:4}"; do
    [ -n "${into[$key]:-}" ] || fail "$file sets no $key" "$3"
  done
}
declare -A pin=() manifest=()
read_env "$source_dir/scripts/provision/versions.env" pin "check out an unmodified natscope" KIND_VERSION KIND_NODE_IMAGE KUBECTL_MINOR NODE_MAJOR
# The lab's Service CIDR, as its kind config states it.
service_cidr=$(sed -n 's/^ *serviceSubnet: *"\{0,1\}\([0-9./]*\)"\{0,1\} *$/\1/p' "$source_dir/src/lab/kind/manifests/kind-config.yaml")
[[ "$service_cidr" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$ ]] || fail "no serviceSubnet in $source_dir/src/lab/kind/manifests/kind-config.yaml" "check out an unmodified natscope"

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

# The offline bundle (natscope workshop bundle DIR): SHA256SUMS covers every
# file, manifest.env says what they are. Checked before anything is installed.
bundle_fix="copy the bundle again from the instructor's copy (or make a new one: natscope workshop bundle DIR), or provision without --bundle"
check_bundle() {
  [ -d "$bundle" ] || fail "--bundle $bundle: no such directory" "$bundle_fix"
  bundle=$(cd "$bundle" && pwd)
  [ -f "$bundle/SHA256SUMS" ] || fail "the bundle $bundle has no SHA256SUMS" "$bundle_fix"
  local line n=0 listed=" "
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    [[ "$line" =~ ^[0-9a-f]{64}\ \ ([A-Za-z0-9][A-Za-z0-9._-]*)$ ]] || fail "the bundle's SHA256SUMS line $n is not '<sha256>  <file name>'" "$bundle_fix"
    [ -f "$bundle/${BASH_REMATCH[1]}" ] || fail "the bundle has no ${BASH_REMATCH[1]}, which its SHA256SUMS lists (an incomplete copy)" "$bundle_fix"
    listed="$listed${BASH_REMATCH[1]} "
  done < "$bundle/SHA256SUMS"
  [[ "$listed" == *" manifest.env "* ]] || fail "the bundle's SHA256SUMS does not cover manifest.env" "$bundle_fix"
  local bad
  bad=$(cd "$bundle" && sha256sum --check --quiet SHA256SUMS 2>/dev/null | sed -n 's/: FAILED.*$//p' | head -n 1) || true
  [ -z "$bad" ] || fail "the bundle's $bad does not match its SHA256SUMS (a corrupt or incomplete copy)" "$bundle_fix"
  (cd "$bundle" && sha256sum --check --quiet --strict SHA256SUMS >/dev/null 2>&1) || fail "the bundle $bundle does not match its SHA256SUMS" "$bundle_fix"
  read_env "$bundle/manifest.env" manifest "$bundle_fix" NATSCOPE_BUNDLE_FORMAT ARCH KIND_VERSION KIND_FILE \
    KUBECTL_VERSION KUBECTL_FILE NODE_IMAGE NODE_IMAGE_TAG NODE_IMAGE_ID NODE_IMAGE_FILE NODEJS_VERSION NODEJS_FILE \
    NPM_CACHE_FILE NPM_LOCK_SHA256
  local key
  for key in KIND_FILE KUBECTL_FILE NODE_IMAGE_FILE NODEJS_FILE NPM_CACHE_FILE; do
    [[ "$listed" == *" ${manifest[$key]} "* ]] || fail "the bundle's SHA256SUMS does not cover ${manifest[$key]}" "$bundle_fix"
  done
  [ "${manifest[NATSCOPE_BUNDLE_FORMAT]}" = 1 ] || fail "the bundle is format ${manifest[NATSCOPE_BUNDLE_FORMAT]}; this natscope reads format 1" "make the bundle with this natscope: natscope workshop bundle DIR"
  local remake="make the bundle from this natscope checkout: natscope workshop bundle DIR --arch $arch"
  [ "${manifest[ARCH]}" = "$arch" ] || fail "the bundle is for ${manifest[ARCH]}, this machine is $arch" "$remake"
  [ "${manifest[KIND_VERSION]}" = "${pin[KIND_VERSION]}" ] || fail "the bundle has kind ${manifest[KIND_VERSION]}; this natscope pins ${pin[KIND_VERSION]}" "$remake"
  [ "${manifest[NODE_IMAGE]}" = "${pin[KIND_NODE_IMAGE]}" ] || fail "the bundle has the node image ${manifest[NODE_IMAGE]}; this natscope pins ${pin[KIND_NODE_IMAGE]}" "$remake"
  [ "${manifest[NODEJS_VERSION]%%.*}" = "v${pin[NODE_MAJOR]}" ] || fail "the bundle has Node.js ${manifest[NODEJS_VERSION]}; this natscope wants Node.js ${pin[NODE_MAJOR]}" "$remake"
  [ "$(sha256sum < "$source_dir/package-lock.json" | cut -d' ' -f1)" = "${manifest[NPM_LOCK_SHA256]}" ] || fail "the bundle's npm packages were made for another package-lock.json than $source_dir's" "$remake"
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
if [ -n "$bundle" ]; then check_bundle; fi
# xz-utils: the bundle's Node.js is a .tar.xz (a minimal Debian has no xz)
apt_install ca-certificates curl gnupg rsync xz-utils
ok "${PRETTY_NAME}, $arch, $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); project $source_dir${bundle:+; offline bundle $bundle (checksums verified)}"

step "Docker"
if ! command -v docker >/dev/null 2>&1; then
  apt_install docker.io
  # Debian 13 moved the client to docker-cli, which docker.io only recommends
  command -v docker >/dev/null 2>&1 || apt_install docker-cli
fi
systemctl enable --now docker >/dev/null 2>&1 || true
for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
docker info >/dev/null 2>&1 || fail "the Docker daemon does not answer" "systemctl status docker; journalctl -u docker"
if [ -n "$user" ] && id "$user" >/dev/null 2>&1 && ! id -nG "$user" | grep -qw docker; then usermod -aG docker "$user"; fi
# kind's known issues: a multi-node cluster runs out of inotify instances
# with the distributions' defaults ("too many open files" in pods). Only
# ever raised: a larger value someone set stays.
at_least() { local now; now=$(cat "/proc/sys/fs/inotify/$1"); [ "$now" -ge "$2" ] && echo "$now" || echo "$2"; }
printf 'fs.inotify.max_user_watches = %s\nfs.inotify.max_user_instances = %s\n' \
  "$(at_least max_user_watches 524288)" "$(at_least max_user_instances 512)" > /etc/sysctl.d/99-natscope-kind.conf
sysctl -q -p /etc/sysctl.d/99-natscope-kind.conf
ok "Docker $(docker version --format '{{.Server.Version}}')"

step "kind ${pin[KIND_VERSION]} and its node image"
if [ "$(kind version -q 2>/dev/null || true)" != "${pin[KIND_VERSION]#v}" ]; then
  if [ -n "$bundle" ]; then
    install -m 0755 "$bundle/${manifest[KIND_FILE]}" /usr/local/bin/kind
  else
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    url="https://kind.sigs.k8s.io/dl/${pin[KIND_VERSION]}/kind-linux-$arch"
    curl -fsSLo "$tmp/kind-linux-$arch" "$url"
    curl -fsSLo "$tmp/kind-linux-$arch.sha256sum" "$url.sha256sum"
    (cd "$tmp" && sha256sum --quiet -c "kind-linux-$arch.sha256sum") || fail "the kind download does not match its checksum" "retry; or check $url"
    install -m 0755 "$tmp/kind-linux-$arch" /usr/local/bin/kind
    rm -rf "$tmp"
    trap - EXIT
  fi
fi
image_note="pulled by kind when the cluster is first created"
if [ -n "$bundle" ]; then
  # Saved under its tag: docker load restores the tag, not the registry's
  # digest, and natscope lab up uses the tag when the digest reference is
  # not found locally. NODE_IMAGE_ID is the image's config digest, which the
  # classic image store reports as its ID (so a second run skips the load).
  tag=${manifest[NODE_IMAGE_TAG]}
  if [ "$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)" = "${manifest[NODE_IMAGE_ID]}" ]; then
    image_note="$tag already loaded (${manifest[NODE_IMAGE_ID]})"
  else
    docker load --quiet --input "$bundle/${manifest[NODE_IMAGE_FILE]}" >/dev/null
    docker image inspect "$tag" >/dev/null 2>&1 || fail "docker load of the bundle's ${manifest[NODE_IMAGE_FILE]} left no image $tag" "$bundle_fix"
    image_note="$tag loaded from the bundle ($(docker image inspect --format '{{.Id}}' "$tag"))"
  fi
fi
ok "$(kind version); $image_note"

step "kubectl ${pin[KUBECTL_MINOR]}"
if ! kubectl version --client 2>/dev/null | grep -q "Client Version: ${pin[KUBECTL_MINOR]}\."; then
  if [ -n "$bundle" ]; then
    install -m 0755 "$bundle/${manifest[KUBECTL_FILE]}" /usr/local/bin/kubectl
  else
    apt_repo kubernetes "https://pkgs.k8s.io/core:/stable:/${pin[KUBECTL_MINOR]}/deb/Release.key" "https://pkgs.k8s.io/core:/stable:/${pin[KUBECTL_MINOR]}/deb/ /"
    apt_updated=0
    apt_install kubectl
    # an older kubectl from this repository's earlier minor: take the pinned one
    kubectl version --client 2>/dev/null | grep -q "Client Version: ${pin[KUBECTL_MINOR]}\." || { apt-get update -q >/dev/null; apt-get install -y -q kubectl >/dev/null; }
  fi
fi
ok "$(kubectl version --client 2>/dev/null | head -n 1)"

step "Node.js ${pin[NODE_MAJOR]}"
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt "${pin[NODE_MAJOR]}" ]; then
  if [ -n "$bundle" ]; then
    # nodejs.org's tarball: node-vX.Y.Z-linux-<arch>/{bin,lib,include,share}
    name=${manifest[NODEJS_FILE]%.tar.xz}
    outside=$(tar -tJf "$bundle/${manifest[NODEJS_FILE]}" | grep -cv "^$name/" || true)
    [ "$outside" = 0 ] || fail "the bundle's ${manifest[NODEJS_FILE]} holds files outside $name/: not a Node.js release tarball" "$bundle_fix"
    install -d /usr/local/lib/nodejs
    rm -rf "/usr/local/lib/nodejs/$name"
    tar -xJf "$bundle/${manifest[NODEJS_FILE]}" -C /usr/local/lib/nodejs
    for bin in node npm npx; do ln -sfn "/usr/local/lib/nodejs/$name/bin/$bin" "/usr/local/bin/$bin"; done
    hash -r
  else
    apt_repo nodesource https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key "https://deb.nodesource.com/node_${pin[NODE_MAJOR]}.x nodistro main"
    apt_updated=0
    apt_install nodejs
    [ "$(node_major)" -ge "${pin[NODE_MAJOR]}" ] || { apt-get install -y -q nodejs >/dev/null; }
  fi
fi
[ "$(node_major)" -ge "${pin[NODE_MAJOR]}" ] || fail "Node.js $(node --version 2>/dev/null || echo 'is missing'), not ${pin[NODE_MAJOR]}" "remove the older Node.js from PATH, or install Node.js ${pin[NODE_MAJOR]} yourself"
ok "Node.js $(node --version) at $(command -v node), npm $(npm --version)"

step "natscope (its setup.sh: bpftrace and the lab's tools, npm packages, build)"
if [ "$install_dir" != "$source_dir" ]; then
  mkdir -p "$install_dir"
  # host-built files stay on the host: node_modules, dist and build are the
  # VM's own; so does an offline bundle kept inside the project. No trailing
  # slash on node_modules: a symlinked one (a git worktree's) is left out
  # too, or npm ci below would write through it into the host's folder.
  excludes=(--exclude .git --exclude node_modules --exclude dist/ --exclude build/ --exclude test-output/ --exclude .vagrant/)
  for d in "$source_dir"/*/; do
    if [ -f "$d/SHA256SUMS" ] && [ -f "$d/manifest.env" ]; then excludes+=(--exclude "/$(basename "$d")/"); fi
  done
  rsync -a --delete "${excludes[@]}" "$source_dir/" "$install_dir/"
fi
if [ -n "$bundle" ] && { [ ! -f "$install_dir/node_modules/.package-lock.json" ] || [ "$install_dir/package-lock.json" -nt "$install_dir/node_modules/.package-lock.json" ]; }; then
  # npm's own cache, made by `npm ci` on the instructor's machine; extracted
  # to a scratch folder because npm writes to its cache even when offline
  npm_tmp=$(mktemp -d)
  trap 'rm -rf "$npm_tmp"' EXIT
  tar -xf "$bundle/${manifest[NPM_CACHE_FILE]}" -C "$npm_tmp"
  (cd "$install_dir" && npm ci --offline --cache "$npm_tmp/npm-cache" --no-audit --no-fund --loglevel=error >/dev/null)
  rm -rf "$npm_tmp"
  trap - EXIT
fi
bash "$install_dir/scripts/setup.sh"
chmod +x "$install_dir/dist/src/main.js"
ln -sfn "$install_dir/dist/src/main.js" /usr/local/bin/natscope
ok "natscope $(natscope --version) at $install_dir; $(bpftrace --version 2>/dev/null || echo 'bpftrace missing')"

step "the Service CIDR stays in this machine"
# On a node a ClusterIP packet kube-proxy does not DNAT (a ping: iptables
# mode has no rule for ICMP) follows the node's default route, through
# Docker's NAT and out to the attendee's own network, where an address in
# 10.96.0.0/16 may well answer. A blackhole route drops it here instead.
ip_bin=$(command -v ip)
"$ip_bin" route replace blackhole "$service_cidr"
ok "$("$ip_bin" route show "$service_cidr" | head -n 1 | sed 's/ *$//'): what no node DNATs is dropped here"

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
Description=natscope kind lab (the Service CIDR blackhole, routes and kube-proxy staging after a reboot)
After=docker.service network-online.target
Wants=network-online.target
Requires=docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStartPre=$ip_bin route replace blackhole $service_cidr
ExecStart=/usr/local/bin/natscope lab up --lab kind
TimeoutStartSec=900

[Install]
WantedBy=multi-user.target
UNIT
  # daemon-reload needs a running systemd (not a chroot or a container)
  if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
  systemctl enable natscope-kind-lab.service >/dev/null 2>&1
  ok "natscope-kind-lab.service enabled"
else
  ok "not asked (--at-boot); after a reboot run: sudo ip route replace blackhole $service_cidr && sudo natscope lab up --lab kind"
fi

printf '\n[provision %6ss] done.\n' "$(elapsed "$started")"
if [ "$user" = vagrant ]; then
  printf "\nCheck:  vagrant ssh -c 'sudo natscope doctor --lab kind'\nNext:   vagrant ssh -c 'sudo natscope demo --lab kind'\n"
else
  printf '\nCheck:  sudo natscope doctor --lab kind\nNext:   sudo natscope demo --lab kind\n'
fi
