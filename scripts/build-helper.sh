#!/bin/bash
# Compiles the lab's C helper (src/lab/helper/natscope-net.c) into build/.
set -eu
cd "$(dirname "$0")/.."
mkdir -p build
src=src/lab/helper/natscope-net.c
out=build/natscope-net
if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
  cc -O2 -Wall -Wextra -o "$out" "$src"
fi
