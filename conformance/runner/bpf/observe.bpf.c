// The conformance runner's BPF observer (bpf_observer.h): what the processes
// of one run write to the two capture pipes, with the writer, and the tree
// (forks, execs, exits), from raw tracepoints only. One ring buffer carries
// every record, so its order (the order of the reservations) is one total
// order consistent with happens-before: a record is reserved after what it
// reports has happened (a write's bytes are in the pipe by its sys_exit) and
// before the process can do anything that depends on it.
//
// Raw tracepoints, not kprobes or fentry: they are what every kernel with BPF
// offers (the development VM has no kprobe PMU and no "tracing" programs).
// Kernel types are the hand-written CO-RE declarations below; libbpf
// relocates each field against the running kernel's BTF at load time.
#include <linux/bpf.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#define CORE __attribute__((preserve_access_index))

typedef struct {
  int counter;
} atomic_t;
struct pt_regs {  // x86-64: the system call's number and arguments.
  unsigned long di, si, dx, r10, orig_ax;
} CORE;
struct signal_struct {
  atomic_t live;
  unsigned int flags;
  int group_exit_code;
} CORE;
struct qstr {  // The kernel's layout on a little-endian machine.
  union {
    struct {
      __u32 hash;
      __u32 len;
    };
    __u64 hash_len;
  };
  const unsigned char *name;
} CORE;
struct dentry {
  struct qstr d_name;
  struct dentry *d_parent;
} CORE;
struct vfsmount {
  struct dentry *mnt_root;
} CORE;
struct mount {  // A vfsmount is the `mnt` field of its struct mount.
  struct mount *mnt_parent;
  struct dentry *mnt_mountpoint;
  struct vfsmount mnt;
} CORE;
struct path {
  struct vfsmount *mnt;
  struct dentry *dentry;
} CORE;
struct file;
struct mm_struct {
  unsigned long arg_start, arg_end;
  struct file *exe_file;
} CORE;
struct linux_binprm {
  const char *filename;
} CORE;
struct fdtable {
  unsigned int max_fds;
  struct file **fd;
} CORE;
struct files_struct {
  struct fdtable *fdt;
} CORE;
struct super_block {
  __u32 s_dev;
} CORE;
struct inode {
  unsigned short i_mode;
  unsigned long i_ino;
  struct super_block *i_sb;
} CORE;
struct file {
  struct inode *f_inode;
  struct path f_path;
} CORE;
struct task_struct {
  int pid, tgid, exit_code;
  struct task_struct *group_leader;
  struct signal_struct *signal;
  struct files_struct *files;
  struct mm_struct *mm;
} CORE;
struct iovec_user {
  __u64 base, len;
};

#define SIGNAL_GROUP_EXIT 0x4
#define CHUNK 4096

// Must match bpf_observer.cc.
enum { REC_WRITE = 1, REC_BLIND = 2, REC_FORK = 3, REC_EXEC = 4, REC_EXIT = 5, REC_STOP = 6 };
#define ARG_CONTINUES 0x100  // A later piece of the same system call.
struct rec {
  __u64 ts;   // bpf_ktime_get_ns(): CLOCK_MONOTONIC.
  __u32 kind;
  __u32 pid;  // The thread group: writer, new process, exec'ing or exiting.
  __u32 tid;  // The thread (a write's pieces are one system call's by pid and tid).
  // WRITE, BLIND: stream (1, 2) | ARG_CONTINUES; FORK: the parent; EXIT:
  // wait status; STOP: the point (perturb.bpf.h).
  __u32 arg;
  // Bytes of data (WRITE, FORK); BLIND: bytes written that could not be
  // copied; STOP: milliseconds.
  __u32 len;
  __u32 pad;  // FORK: the child's index among its parent's forks; STOP: the child of a fork.
  char data[CHUNK];  // FORK: the child's identity (8 bytes; perturb.bpf.h).
};
#define HEADER __builtin_offsetof(struct rec, data)

// An exec: three fixed fields after the header (the same as struct rec's),
// each cut to its size: the file execve was asked to run (bprm->filename,
// NUL-terminated, its length in `arg`), the full path of the executable that
// runs (mm->exe_file: a script's interpreter; built backwards to the end of
// `binary`: its offset there in the high half of `pad`, its length in the
// low half; the file name alone, from offset 0, when the path is deeper than
// BINARY_DEPTH or longer than EXEC_BINARY), and the first ARGS bytes of the
// new program's arguments (arg_start..arg_end, NULs between them, their
// length in `len`). Must match bpf_observer.cc.
#define EXEC_PATH 4096
#define EXEC_BINARY 4096
#define EXEC_ARGS 4096
#define BINARY_DEPTH 40
#define NAME_MAX 255
struct exec_rec {
  __u64 ts;
  __u32 kind, pid, tid, arg, len, pad;
  char path[EXEC_PATH];
  char binary[EXEC_BINARY + NAME_MAX + 1];  // Room for a name written at any offset.
  char args[EXEC_ARGS];
};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 32 << 20);
} records SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct rec);
} scratch SEC(".maps");

// The captures' pipes, as the kernel names them (index 1: stdout, 2: stderr).
struct target {
  __u64 ino;
  __u32 dev;  // The kernel's encoding: major << 20 | minor.
  __u32 pad;
};
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 3);
  __type(key, __u32);
  __type(value, struct target);
} targets SEC(".maps");

// The run's live processes (thread group ids): the runner adds the root
// before it may run, forks add their children, exits remove them. The value
// is what schedule perturbation keeps per process (perturb.bpf.h).
struct proc {
  __u64 ident;         // Its identity: decisions are drawn from it.
  __u64 stop_until;    // While stopped (bpf_ktime_get_ns), no more stops.
  __u32 forks;         // Processes it forked so far.
  __u32 points;        // Perturbation points it reached so far.
  __u32 stops;         // Stops it got.
  __u32 delay_ms;      // Their delays, in all.
  __u32 first_stop_ms; // Parent first: stop for this long at its first return.
  // No perturbation yet: the root until its exec, since the runner that
  // started it with vfork cannot run (nor continue it) until then.
  __u32 held;
  __u32 parent;        // The process that forked it (0: the root).
  __u32 pad;
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u32);
  __type(value, struct proc);
} tracked SEC(".maps");

// The run's controls, one word each, so that the runner's writes and the
// kernel's never overwrite each other's fields. Once KILLING is set, every
// process of the run gets SIGKILL at its next return from a system call (a
// new process: at its first, out of fork), so nothing of the run outlives a
// kill, however fast it forks; the kernel sets it itself when FORKS reaches
// MAX_FORKS. MUTED: streams (bit 1, bit 2) past the runner's cap, whose
// writes are no longer reported. SPAWNER: the runner's thread about to start
// the run's root (vfork); its next fork is the root, tracked from birth.
// STOPS_ENDED, WAITS_HELD: a perturbed run's holds the runner ended, and the
// calls it holds now (perturb.bpf.h). Must match bpf_observer.cc.
enum { CTL_KILLING, CTL_MAX_FORKS, CTL_FORKS, CTL_MUTED, CTL_SPAWNER, CTL_STOPS_ENDED, CTL_WAITS_HELD, CTL_COUNT };
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, CTL_COUNT);
  __type(key, __u32);
  __type(value, __u32);
} controls SEC(".maps");

static __always_inline __u32 *Control(__u32 index) { return bpf_map_lookup_elem(&controls, &index); }

#define SIGKILL 9

// Records the ring buffer had no room for (index 0).
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} lost SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct exec_rec);
} exec_scratch SEC(".maps");

// The open file behind `fd` of the current process, or 0.
static __always_inline struct file *FileOf(unsigned long fd) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds)) return 0;
  struct file **fds = BPF_CORE_READ(fdt, fd);
  struct file *f = 0;
  bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
  return f;
}

#include "perturb.bpf.h"

static __always_inline struct rec *Scratch(void) {
  __u32 k = 0;
  return bpf_map_lookup_elem(&scratch, &k);
}

// Records stay unannounced until the ring is a quarter full: a wake-up per
// record would cost the program a context switch each. The runner reads the
// ring whenever it wakes anyway (output in a capture, a child's end, a
// deadline, or once a second), and nothing urgent waits for it: the kernel
// enforces the process cap and kills itself (controls).
// A perturbed run is the exception: the runner ends a stop as soon as another
// process writes or exits (perturb.h), so it must hear of those at once.
static __always_inline void Emit(void *data, __u64 size) {
  __u64 flags = Perturbing() || bpf_ringbuf_query(&records, BPF_RB_AVAIL_DATA) > (8 << 20) ? BPF_RB_FORCE_WAKEUP
                                                                                           : BPF_RB_NO_WAKEUP;
  if (bpf_ringbuf_output(&records, data, size, flags) != 0) {
    __u32 k = 0;
    __u64 *n = bpf_map_lookup_elem(&lost, &k);
    if (n) __sync_fetch_and_add(n, 1);
  }
}

static __always_inline void Output(struct rec *r, __u32 size) {
  if (size > sizeof(*r)) size = sizeof(*r);
  Emit(r, size);
}

// Which capture `fd` of the current process is: 1, 2, or 0 (neither).
static __always_inline __u32 StreamOf(unsigned long fd) {
  struct file *f = FileOf(fd);
  if (!f) return 0;
  struct inode *inode = BPF_CORE_READ(f, f_inode);
  __u64 ino = BPF_CORE_READ(inode, i_ino);
  __u32 dev = BPF_CORE_READ(inode, i_sb, s_dev);
  for (__u32 s = 1; s <= 2; ++s) {
    __u32 key = s;
    struct target *t = bpf_map_lookup_elem(&targets, &key);
    if (t && t->ino == ino && t->dev == dev) return s;
  }
  return 0;
}

// One system call's bytes, walked chunk by chunk (bpf_loop) through its
// buffer or its iovecs: `left` of the call's result still to record. It lives
// in a map, not on the stack (which holds a pointer to it): the verifier then sees its fields as unknown
// numbers and checks Step once, instead of once per value it could track.
struct walk {
  const struct iovec_user *iov;  // 0: one buffer (base, seg_len).
  __u64 base, seg_len, off, left;
  __u32 idx, cnt, pid, tid, arg;
  __u64 ts;
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct walk);
} walks SEC(".maps");

static __always_inline void Blind(struct walk *w, __u64 n) {
  struct rec *r = Scratch();
  if (!r) return;
  r->ts = w->ts;
  r->kind = REC_BLIND;
  r->pid = w->pid;
  r->tid = w->tid;
  r->arg = w->arg;
  r->len = n > 0xffffffffULL ? 0xffffffffU : (__u32)n;
  Output(r, HEADER);
  w->arg |= ARG_CONTINUES;
}

static long Step(__u32 i, void *ctx) {
  struct walk *w = *(struct walk **)ctx;
  if (w->left == 0) return 1;
  if (w->off >= w->seg_len) {
    struct iovec_user seg;
    if (!w->iov || w->idx >= w->cnt || bpf_probe_read_user(&seg, sizeof(seg), &w->iov[w->idx]) != 0) {
      Blind(w, w->left);  // The iovecs changed under us: the bytes are unknown.
      return 1;
    }
    w->idx++;
    w->base = seg.base;
    w->seg_len = seg.len;
    w->off = 0;
    return 0;
  }
  __u64 n = w->seg_len - w->off;
  if (n > w->left) n = w->left;
  __u32 len = n > CHUNK ? CHUNK : (__u32)n;
  len &= 2 * CHUNK - 1;  // For the verifier.
  if (len > CHUNK) len = CHUNK;
  struct rec *r = Scratch();
  if (!r) return 1;
  if (bpf_probe_read_user(r->data, len, (const void *)(w->base + w->off)) != 0) {
    Blind(w, len);  // Not resident, or unmapped since.
  } else {
    r->ts = w->ts;
    r->kind = REC_WRITE;
    r->pid = w->pid;
    r->tid = w->tid;
    r->arg = w->arg;
    r->len = len;
    Output(r, HEADER + len);
    w->arg |= ARG_CONTINUES;
  }
  w->off += len;
  w->left -= len;
  return 0;
}

SEC("raw_tracepoint/sys_exit")
int on_sys_exit(struct bpf_raw_tracepoint_args *ctx) {
  __u32 *killing = Control(CTL_KILLING);
  if (killing && *killing) {
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (bpf_map_lookup_elem(&tracked, &tgid)) bpf_send_signal(SIGKILL);
    return 0;
  }
  long ret = (long)ctx->args[1];
  // Unperturbed, only writes matter, and only those that wrote something.
  struct perturb_cfg *perturbing = Perturbing();
  if (ret <= 0 && !perturbing) return 0;
  struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
  long nr = BPF_CORE_READ(regs, orig_ax);
  unsigned long fd;
  int shape;  // 0: one buffer, 1: iovecs, 2: bytes that were never in the caller's memory.
  switch (nr) {
    case 1:  // write(fd, buf, count)
      fd = BPF_CORE_READ(regs, di);
      shape = 0;
      break;
    case 20:   // writev(fd, iov, iovcnt)
    case 278:  // vmsplice(fd, iov, nr_segs, flags)
    case 328:  // pwritev2(fd, iov, iovcnt, offset -1, flags)
      fd = BPF_CORE_READ(regs, di);
      shape = 1;
      break;
    case 40:  // sendfile(out_fd, in_fd, offset, count)
      fd = BPF_CORE_READ(regs, di);
      shape = 2;
      break;
    case 275:  // splice(fd_in, off_in, fd_out, off_out, len, flags)
    case 326:  // copy_file_range(fd_in, off_in, fd_out, ...)
      fd = BPF_CORE_READ(regs, dx);
      shape = 2;
      break;
    case 276:  // tee(fd_in, fd_out, len, flags)
      fd = BPF_CORE_READ(regs, si);
      shape = 2;
      break;
    default:
      return perturbing ? PerturbReturn(nr, ret, regs) : 0;
  }
  if (ret <= 0) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32;
  struct proc *proc = bpf_map_lookup_elem(&tracked, &tgid);
  if (!proc) return 0;
  __u32 stream = StreamOf(fd);
  __u32 *muted = Control(CTL_MUTED);
  if (!stream || (muted && (*muted & (1u << stream)))) return 0;
  __u32 k = 0;
  struct walk *w = bpf_map_lookup_elem(&walks, &k);
  if (!w) return 0;
  __builtin_memset(w, 0, sizeof(*w));
  w->pid = tgid;
  w->tid = (__u32)id;
  w->arg = stream;
  w->ts = bpf_ktime_get_ns();
  w->left = (__u64)ret;
  if (shape == 2) {
    Blind(w, w->left);
    if (perturbing) PerturbWrite(proc, tgid, stream);
    return 0;
  }
  __u64 loops = w->left / CHUNK + 1;
  if (shape == 0) {
    w->base = BPF_CORE_READ(regs, si);
    w->seg_len = w->left;
  } else {
    w->iov = (const struct iovec_user *)BPF_CORE_READ(regs, si);
    w->cnt = (__u32)BPF_CORE_READ(regs, dx);
    if (w->cnt > 1024) w->cnt = 1024;  // IOV_MAX
    loops += 2 * w->cnt;
  }
  if (loops > (1 << 23)) loops = 1 << 23;
  bpf_loop((__u32)loops, Step, &w, 0);  // The context must be on the stack.
  if (w->left != 0) Blind(w, w->left);
  if (perturbing) PerturbWrite(proc, tgid, stream);
  return 0;
}

// A record without data.
static __always_inline void Event(__u32 kind, __u32 pid, __u32 arg) {
  struct rec *r = Scratch();
  if (!r) return;
  r->ts = bpf_ktime_get_ns();
  r->kind = kind;
  r->pid = pid;
  r->tid = (__u32)bpf_get_current_pid_tgid();
  r->arg = arg;
  r->len = 0;
  Output(r, HEADER);
}

SEC("raw_tracepoint/sched_process_fork")
int on_fork(struct bpf_raw_tracepoint_args *ctx) {
  struct task_struct *parent = (struct task_struct *)ctx->args[0];
  struct task_struct *child = (struct task_struct *)ctx->args[1];
  __u32 ppid = BPF_CORE_READ(parent, tgid);
  __u32 cpid = BPF_CORE_READ(child, tgid);
  if (BPF_CORE_READ(child, pid) != (int)cpid) return 0;  // A thread.
  struct perturb_cfg *c = Perturbing();
  struct proc state = {};
  __u32 *spawner = Control(CTL_SPAWNER);
  if (spawner && *spawner != 0 && *spawner == (__u32)BPF_CORE_READ(parent, pid)) {
    *spawner = 0;
    state.ident = c ? Mix(c->seed) : 0;
    state.held = 1;
    if (c) __sync_fetch_and_add(&c->live, 1);
    bpf_map_update_elem(&tracked, &cpid, &state, BPF_ANY);  // The root: the runner records it.
    return 0;
  }
  struct proc *pstate = bpf_map_lookup_elem(&tracked, &ppid);
  if (!pstate) return 0;
  __u32 index = __sync_fetch_and_add(&pstate->forks, 1) + 1;
  state.ident = ChildIdent(pstate->ident, index);
  state.parent = ppid;
  bpf_map_update_elem(&tracked, &cpid, &state, BPF_ANY);
  if (c) __sync_fetch_and_add(&c->live, 1);
  struct rec *r = Scratch();
  if (r) {
    r->ts = bpf_ktime_get_ns();
    r->kind = REC_FORK;
    r->pid = cpid;
    r->tid = (__u32)bpf_get_current_pid_tgid();
    r->arg = ppid;
    r->len = sizeof(state.ident);
    r->pad = index;
    __builtin_memcpy(r->data, &state.ident, sizeof(state.ident));
    Output(r, HEADER + sizeof(state.ident));
  }
  __u32 *forks = Control(CTL_FORKS), *max_forks = Control(CTL_MAX_FORKS), *killing = Control(CTL_KILLING);
  if (forks && max_forks && killing) {
    if (__sync_fetch_and_add(forks, 1) + 1 >= *max_forks) *killing = 1;
    if (*killing) {
      bpf_send_signal(SIGKILL);  // The parent; the child dies on its way out of fork.
      return 0;
    }
  }
  if (c) {
    struct proc *cstate = bpf_map_lookup_elem(&tracked, &cpid);
    if (cstate) PerturbFork(c, pstate, cstate, ppid, cpid);
  }
  return 0;
}

// Writes the path of `exe` into e->binary (see struct exec_rec) as d_path
// would: its dentries' names up to its mount's root, then on through the
// mount points, to the root of the mount tree. Returns what goes in `pad`.
static __always_inline __u32 ExePath(struct exec_rec *e, struct file *exe) {
  if (!exe) return 0;
  struct dentry *d = BPF_CORE_READ(exe, f_path.dentry);
  struct vfsmount *vm = BPF_CORE_READ(exe, f_path.mnt);
  struct mount *m = (struct mount *)((char *)vm - bpf_core_field_offset(struct mount, mnt));
  __u32 pos = EXEC_BINARY;
  int whole = 0;
  for (int i = 0; i < BINARY_DEPTH; ++i) {
    if (d == BPF_CORE_READ(vm, mnt_root)) {
      struct mount *parent = BPF_CORE_READ(m, mnt_parent);
      if (parent == m) {  // The root of the mount tree.
        whole = 1;
        break;
      }
      d = BPF_CORE_READ(m, mnt_mountpoint);
      m = parent;
      vm = (struct vfsmount *)((char *)m + bpf_core_field_offset(struct mount, mnt));
      continue;
    }
    struct dentry *up = BPF_CORE_READ(d, d_parent);
    __u32 len = BPF_CORE_READ(d, d_name.len);
    if (up == d || len > NAME_MAX || len + 1 > pos) break;
    pos = (pos - len - 1) & (EXEC_BINARY - 1);
    if (bpf_probe_read_kernel(e->binary + pos + 1, len & NAME_MAX, BPF_CORE_READ(d, d_name.name)) != 0) break;
    e->binary[pos] = '/';
    d = up;
  }
  if (whole && pos == EXEC_BINARY) {  // The root itself.
    pos = EXEC_BINARY - 1;
    e->binary[pos] = '/';
  }
  if (whole) return pos << 16 | (EXEC_BINARY - pos);
  // Too deep or too long: the file name alone.
  long n = bpf_probe_read_kernel_str(e->binary, NAME_MAX + 1, BPF_CORE_READ(exe, f_path.dentry, d_name.name));
  return n > 1 ? (__u32)(n - 1) : 0;
}

// sched_process_exec(task, old_pid, bprm): after the new program is loaded,
// so its memory (the arguments) and mm->exe_file are the new program's.
SEC("raw_tracepoint/sched_process_exec")
int on_exec(struct bpf_raw_tracepoint_args *ctx) {
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  struct proc *proc = bpf_map_lookup_elem(&tracked, &tgid);
  if (!proc) return 0;
  proc->held = 0;
  __u32 k = 0;
  struct exec_rec *e = bpf_map_lookup_elem(&exec_scratch, &k);
  if (!e) return 0;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
  e->ts = bpf_ktime_get_ns();
  e->kind = REC_EXEC;
  e->pid = tgid;
  e->tid = (__u32)bpf_get_current_pid_tgid();
  long n = bpf_probe_read_kernel_str(e->path, EXEC_PATH, BPF_CORE_READ(bprm, filename));
  e->arg = n > 1 ? (__u32)(n - 1) : 0;  // Without the NUL.
  e->pad = ExePath(e, BPF_CORE_READ(task, mm, exe_file));
  unsigned long start = BPF_CORE_READ(task, mm, arg_start), end = BPF_CORE_READ(task, mm, arg_end);
  __u64 len = end > start ? end - start : 0;
  if (len > EXEC_ARGS) len = EXEC_ARGS;
  if (len != 0 && bpf_probe_read_user(e->args, len & (2 * EXEC_ARGS - 1), (const void *)start) != 0) len = 0;
  e->len = (__u32)len;
  Emit(e, sizeof(*e));
  return 0;
}

// When the last thread of a process exits: the status wait() will report
// (do_exit decremented signal->live before this tracepoint).
SEC("raw_tracepoint/sched_process_exit")
int on_exit(struct bpf_raw_tracepoint_args *ctx) {
  struct task_struct *t = (struct task_struct *)ctx->args[0];
  __u32 tgid = BPF_CORE_READ(t, tgid);
  if (!bpf_map_lookup_elem(&tracked, &tgid)) return 0;
  if (BPF_CORE_READ(t, signal, live.counter) != 0) return 0;  // Other threads live on.
  __u32 status;
  if (BPF_CORE_READ(t, signal, flags) & SIGNAL_GROUP_EXIT) {
    status = (__u32)BPF_CORE_READ(t, signal, group_exit_code);
  } else {
    status = (__u32)BPF_CORE_READ(t, group_leader, exit_code);
  }
  Event(REC_EXIT, tgid, status);
  bpf_map_delete_elem(&tracked, &tgid);
  struct perturb_cfg *c = Perturbing();
  if (c) __sync_fetch_and_add(&c->live, -1);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
