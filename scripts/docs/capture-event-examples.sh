#!/bin/bash
# Captures one real event of every kind for docs/events.md: run it as root
# where kprobes attach (natively, or in the micro-VM):
#   sudo natscope vm run --share "$PWD/test-output" -- bash scripts/docs/capture-event-examples.sh "$PWD/test-output/event-examples.jsonl"
# It drives `natscope agent --stdio` (the lab and the tracer) with commands,
# deletes node1's conntrack entries half-way (so ct-destroy events happen),
# and keeps everything the agent printed.
set -euo pipefail
out=${1:?usage: capture-event-examples.sh OUTPUT.jsonl}
here=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkfifo "$dir/in"
node "$here/dist/src/main.js" agent --stdio --prefix natscope-doc- < "$dir/in" > "$out" &
agent=$!
exec 3> "$dir/in"
send() { printf '%s\n' "$1" >&3; }
wait_for() { for _ in $(seq 1 600); do grep -q "$1" "$out" && return 0; sleep 0.2; done; echo "no $1" >&2; return 1; }

wait_for '"state":"ready"'
send '{"id":1,"cmd":"trace","probes":["nat","conntrack","drop","rewrite"]}'
wait_for '"id":1'
send '{"id":2,"cmd":"request","target":"mysql","timeoutMs":2000}'
send '{"id":3,"cmd":"request","target":"nginx","timeoutMs":2000}'
send '{"id":4,"cmd":"conntrack","node":"node1"}'
wait_for '"id":4'
ip netns exec natscope-doc-node1 conntrack -D -p tcp >/dev/null 2>&1 || true
send 'this is not a command'
send '{"id":5,"cmd":"load","target":"nginx","seconds":3,"workers":4}'
wait_for '"id":5'
send '{"id":6,"cmd":"untrace"}'
wait_for '"id":6'
send '{"id":7,"cmd":"shutdown","labDown":true}'
exec 3>&-
wait "$agent"
