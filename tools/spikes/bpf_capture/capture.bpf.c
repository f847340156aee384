// Spike, not built by Bazel: attribute every write(2) to a chosen pipe, and
// the process tree, from BPF raw tracepoints instead of ptrace and sockets.
// One ring buffer carries everything, so its order (the order of the
// reservations) is one total order consistent with happens-before.
//
// Only raw tracepoints: this kernel (6.18, Firecracker config) has no
// kprobes PMU, and fentry/fexit ("tracing") and BPF LSM programs are not
// available, so sys_exit is the only place to see a write's result.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#define MAX_DATA 4096

enum kind { KIND_WRITE = 0, KIND_FORK = 1, KIND_EXIT = 2 };

struct rec {
  __u32 kind;
  __u32 pid;    // Writer, new child, or exiting process (thread group ids).
  __u64 ts;     // bpf_ktime_get_ns (CLOCK_MONOTONIC).
  __u32 len;    // Bytes written (write), or 0.
  __u32 other;  // Parent (fork), exit_code (exit).
  char data[MAX_DATA];
};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 16 << 20);
} rb SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct rec);
} scratch SEC(".maps");

// The capture pipe's inode number, set by the loader.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} target SEC(".maps");

// The run's processes: the loader adds the root, forks add their children.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u32);
  __type(value, __u8);
} tracked SEC(".maps");

#define HEADER_SIZE __builtin_offsetof(struct rec, data)

SEC("raw_tracepoint/sys_exit")
int on_sys_exit(struct bpf_raw_tracepoint_args *ctx) {
  struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
  long ret = (long)ctx->args[1];
  if (ret <= 0 || BPF_CORE_READ(regs, orig_ax) != 1 /* write */) return 0;
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (!bpf_map_lookup_elem(&tracked, &tgid)) return 0;
  __u32 k = 0;
  __u64 *want = bpf_map_lookup_elem(&target, &k);
  if (!want) return 0;
  unsigned long fd = BPF_CORE_READ(regs, di);
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  if (fd >= BPF_CORE_READ(fdt, max_fds)) return 0;
  struct file **fds = BPF_CORE_READ(fdt, fd);
  struct file *f = 0;
  bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
  if (!f || BPF_CORE_READ(f, f_inode, i_ino) != *want) return 0;
  struct rec *r = bpf_map_lookup_elem(&scratch, &k);
  if (!r) return 0;
  r->kind = KIND_WRITE;
  r->pid = tgid;
  r->ts = bpf_ktime_get_ns();
  r->len = (__u32)ret;
  r->other = 0;
  __u32 len = ret > MAX_DATA ? MAX_DATA : (__u32)ret;  // The spike keeps 4 KiB of each write.
  len &= (2 * MAX_DATA - 1);
  if (len > MAX_DATA) len = MAX_DATA;
  bpf_probe_read_user(r->data, len, (const void *)BPF_CORE_READ(regs, si));
  bpf_ringbuf_output(&rb, r, HEADER_SIZE + len, BPF_RB_NO_WAKEUP);
  return 0;
}

// A record without data: a fork (other: the parent) or an exit (other: the
// exit code, as wait() reports it).
static __always_inline void Emit(__u32 kind, __u32 pid, __u32 other) {
  __u32 k = 0;
  struct rec *r = bpf_map_lookup_elem(&scratch, &k);
  if (!r) return;
  r->kind = kind;
  r->pid = pid;
  r->ts = bpf_ktime_get_ns();
  r->len = 0;
  r->other = other;
  bpf_ringbuf_output(&rb, r, HEADER_SIZE, BPF_RB_NO_WAKEUP);
}

SEC("raw_tracepoint/sched_process_fork")
int on_fork(struct bpf_raw_tracepoint_args *ctx) {
  struct task_struct *parent = (struct task_struct *)ctx->args[0];
  struct task_struct *child = (struct task_struct *)ctx->args[1];
  __u32 ppid = BPF_CORE_READ(parent, tgid);
  __u32 cpid = BPF_CORE_READ(child, tgid);
  if (BPF_CORE_READ(child, pid) != cpid) return 0;  // A thread.
  if (!bpf_map_lookup_elem(&tracked, &ppid)) return 0;
  __u8 one = 1;
  bpf_map_update_elem(&tracked, &cpid, &one, BPF_ANY);
  Emit(KIND_FORK, cpid, ppid);
  return 0;
}

SEC("raw_tracepoint/sched_process_exit")
int on_exit(struct bpf_raw_tracepoint_args *ctx) {
  struct task_struct *t = (struct task_struct *)ctx->args[0];
  __u32 tgid = BPF_CORE_READ(t, tgid);
  if (BPF_CORE_READ(t, pid) != tgid || !bpf_map_lookup_elem(&tracked, &tgid)) return 0;
  Emit(KIND_EXIT, tgid, (__u32)BPF_CORE_READ(t, exit_code));
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
