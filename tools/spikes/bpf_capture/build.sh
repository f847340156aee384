#!/bin/bash
# Builds the spike (as root, on the machine that runs it): see README.md.
set -euo pipefail
cd "$(dirname "$0")"
command -v bpftool >/dev/null || apt-get install -y bpftool libbpf-dev libelf-dev zlib1g-dev clang
out=${1:-/tmp/bpf_capture}
mkdir -p "$out"
bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$out/vmlinux.h"
clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -I"$out" -c capture.bpf.c -o "$out/capture.bpf.o"
gcc -O2 -Wall -o "$out/bench" bench.c -lbpf -lelf -lz
echo "built in $out"
