// Schedule perturbation (perturb.h), the kernel's half, included by
// observe.bpf.c. While a run is perturbed (PERTURB's seed is non-zero), the
// run's processes are stopped with SIGSTOP at the points where
// multi-process programs race, and the runner continues them (SIGCONT) when
// the delay the record names has passed:
//
//   - a fork, in the parent (sched_process_fork): "child first" stops the
//     parent as it returns from fork; "parent first" marks the child, which
//     stops at its first return to user space (its return from fork, a
//     sys_exit like any other);
//   - the return of a write to a capture;
//   - the return of a call that can block (a futex wait, wait4, poll,
//     nanosleep, a read of a pipe or socket, ...): a process that has just
//     been woken, or just timed out.
//
// A stop is a group stop (every thread of the process), delivered as the
// system call returns, before the process runs any more of its own code. The
// record goes out (BPF_RB_FORCE_WAKEUP, so the runner wakes at once) before
// the signal, and no signal is sent without a record: a process is never
// stopped without the runner knowing when to continue it.
//
// Decisions are a hash of the process's identity (the seed's hash for the
// root; its parent's identity and its index among the parent's forks for any
// other) and of its count of points so far: a process that goes through the
// same points in the same order gets the same decisions in every run with the
// seed, whatever the other processes do. Only budgets are shared (stops and
// milliseconds per run), and a process stopped at most `max_stops_proc`
// times.

// The run's perturbation, one element: written by the runner before the
// run, its counters by the kernel. Must match bpf_observer.cc.
struct perturb_cfg {
  __u64 seed;  // 0: not perturbing.
  // Probabilities, per 65536.
  __u32 p_fork, p_child_first, p_write, p_wake, p_long;
  // Delays in milliseconds: a share p_long in [long_min, long_max], the rest
  // in [1, short_max].
  __u32 short_max, long_min, long_max;
  __u32 max_stops_proc, max_stops_run, max_ms_run;
  __u32 stops_used, ms_used;  // The kernel's: stops drawn (and their delays).
  __u32 max_ms_proc;          // Stops and the runner's waits (`waited`) together.
  __u32 stops_made;           // The kernel's: stops made (CTL_STOPS_ENDED ended).
  __u32 live;                 // The kernel's: processes of the run alive.
};
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct perturb_cfg);
} perturb SEC(".maps");

// The points, in a STOP record's `arg` (low byte); the rest of `arg` says
// more: the stream of a write (bits 8..15), the system call that returned
// (bits 16..31). Must match bpf_observer.h.
enum { POINT_CHILD_FIRST = 1, POINT_PARENT_FIRST = 2, POINT_WRITE = 3, POINT_WAKE = 4 };

// The milliseconds each process of the run waited at the runner's points
// (perturb.h: before a write, before exit): written by the runner only, so
// that a process's delays in all stay within max_ms_proc.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u32);
  __type(value, __u32);
} waited SEC(".maps");

#define SIGSTOP 19

static __always_inline struct perturb_cfg *Perturbing(void) {
  __u32 k = 0;
  struct perturb_cfg *c = bpf_map_lookup_elem(&perturb, &k);
  return c && c->seed ? c : 0;
}

// splitmix64's finaliser: every bit of the result depends on every bit of z.
static __always_inline __u64 Mix(__u64 z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The identity of `parent`'s child number `index` (from 1).
static __always_inline __u64 ChildIdent(__u64 parent, __u32 index) { return Mix(parent ^ Mix(index)); }

// The decision at `proc`'s next point: 0 (go on), or how many milliseconds
// to stop for at most. `p` is the probability (per 65536) of a stop; `*hash`
// gets the decision's hash, for the caller's further choices.
static __always_inline __u32 Draw(struct perturb_cfg *c, struct proc *proc, __u32 p, __u64 *hash) {
  if (proc->held) return 0;
  // The count goes up at every point, stopped or not, so that a decision
  // depends only on the process's own sequence of points.
  __u32 n = __sync_fetch_and_add(&proc->points, 1);
  __u64 h = Mix(proc->ident ^ Mix(n));
  *hash = h;
  if ((h & 0xffff) >= p) return 0;
  __u64 r = h >> 32;
  if (((h >> 16) & 0xffff) < c->p_long) {
    __u32 span = c->long_max > c->long_min ? c->long_max - c->long_min + 1 : 1;
    return c->long_min + (__u32)(r % span);
  }
  return 1 + (__u32)(r % (c->short_max ? c->short_max : 1));
}

// Whether `proc` (of `tgid`) may stop `ms` more; if so, counted against the
// budgets (the process's and the run's). One hold at a time (the runner's
// waits and the kernel's stops): a hold waits for the others' progress, and
// two would mostly wait for each other. None in a process alone.
static __always_inline int Charge(struct perturb_cfg *c, struct proc *proc, __u32 tgid, __u32 ms) {
  __u32 *ended = Control(CTL_STOPS_ENDED), *waits = Control(CTL_WAITS_HELD);
  if (!ended || !waits || c->stops_made != *ended || *waits != 0 || c->live < 2) return 0;
  if (proc->stops >= c->max_stops_proc) return 0;
  // Another thread's stop is on its way: one stop at a time.
  if (bpf_ktime_get_ns() < proc->stop_until) return 0;
  __u32 *w = bpf_map_lookup_elem(&waited, &tgid);
  if (proc->delay_ms + (w ? *w : 0) + ms > c->max_ms_proc) return 0;
  if (__sync_fetch_and_add(&c->stops_used, 1) >= c->max_stops_run) return 0;
  if (__sync_fetch_and_add(&c->ms_used, ms) + ms > c->max_ms_run) return 0;
  __sync_fetch_and_add(&proc->delay_ms, ms);
  return 1;
}

// Stops the current process for `ms` (after its record, never without it).
// `other`: the pid the description names besides (the child of a fork).
static __always_inline void Stop(struct proc *proc, __u32 tgid, __u32 point, __u32 ms, __u32 other) {
  struct rec *r = bpf_ringbuf_reserve(&records, HEADER, 0);
  if (!r) {
    __u32 k = 0;
    __u64 *n = bpf_map_lookup_elem(&lost, &k);
    if (n) __sync_fetch_and_add(n, 1);
    return;
  }
  __u64 now = bpf_ktime_get_ns();
  r->ts = now;
  r->kind = REC_STOP;
  r->pid = tgid;
  r->tid = (__u32)bpf_get_current_pid_tgid();
  r->arg = point;
  r->len = ms;
  r->pad = other;
  bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
  struct perturb_cfg *c = Perturbing();
  if (c) __sync_fetch_and_add(&c->stops_made, 1);
  proc->stops++;
  proc->stop_until = now + (__u64)ms * 1000000;
  bpf_send_signal(SIGSTOP);
}

// At a fork by a tracked process (`parent` its state, `child` the new
// process's): maybe stop one side. The decision is the parent's; the delay
// counts against the process it stops.
static __always_inline void PerturbFork(struct perturb_cfg *c, struct proc *parent, struct proc *child, __u32 ptgid,
                                        __u32 ctgid) {
  __u64 h;
  __u32 ms = Draw(c, parent, c->p_fork, &h);
  if (!ms) return;
  if (((h >> 48) & 0xffff) < c->p_child_first) {
    if (Charge(c, parent, ptgid, ms)) Stop(parent, ptgid, POINT_CHILD_FIRST, ms, ctgid);
  } else if (Charge(c, child, ctgid, ms)) {
    child->first_stop_ms = ms;  // Stopped at its first return: PerturbReturn.
  }
}

// The calls a process can block in, for POINT_WAKE: 1 if the return of
// system call `nr` with `ret` ends a wait (or may have).
static __always_inline int Woke(long nr, long ret, struct pt_regs *regs) {
  switch (nr) {
    case 202: {  // futex(uaddr, op, ...): the waiting operations, not wakes.
      long op = BPF_CORE_READ(regs, si) & 0x7f;
      return (op == 0 || op == 6 || op == 9 || op == 11 || op == 13) && ret != -11 /* EAGAIN: never slept */;
    }
    case 449:  // futex_waitv
      return ret >= 0;
    case 61:  // wait4: a child changed state
      return ret > 0;
    case 247:  // waitid
      return ret == 0;
    case 7:    // poll(fds, n, timeout_ms)
    case 232:  // epoll_wait(epfd, events, max, timeout_ms)
    case 281:  // epoll_pwait
      // A zero timeout never waits (busy polling).
      return (int)(nr == 7 ? BPF_CORE_READ(regs, dx) : BPF_CORE_READ(regs, r10)) != 0 && ret >= 0;
    case 23:   // select
    case 270:  // pselect6
    case 271:  // ppoll
    case 441:  // epoll_pwait2
    case 35:   // nanosleep
    case 230:  // clock_nanosleep
    case 34:   // pause
    case 128:  // rt_sigtimedwait
    case 130:  // rt_sigsuspend
    case 65:   // semop
    case 220:  // semtimedop
    case 70:   // msgrcv
    case 43:   // accept
    case 288:  // accept4
      return 1;
    default:
      return 0;
  }
}

#define S_IFMT 0170000
#define S_IFIFO 0010000
#define S_IFSOCK 0140000

// Whether `fd` of the current process is a pipe or a socket: reads of files
// (a program loading itself) are not waits.
static __always_inline int IsPipeOrSocket(unsigned long fd) {
  struct file *f = FileOf(fd);  // observe.bpf.c
  if (!f) return 0;
  __u16 mode = BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT;
  return mode == S_IFIFO || mode == S_IFSOCK;
}

// At any system call's return while the run is perturbed (writes to a
// capture have their own point: PerturbWrite): in a tracked process, the
// first return of a child that is to stop (parent first: its return from
// fork), and the returns of the calls that can block. The system call is
// checked first, so that other processes' calls cost no lookup.
static __noinline int PerturbReturn(long nr, long ret, struct pt_regs *regs) {
  int first = (nr == 56 || nr == 57 || nr == 58 || nr == 435) && ret == 0;  // clone, fork, vfork, clone3
  int read = nr == 0 || nr == 19 || nr == 45 || nr == 47;                   // read, readv, recvfrom, recvmsg
  if (!first && !(read && ret >= 0) && !Woke(nr, ret, regs)) return 0;
  struct perturb_cfg *c = Perturbing();
  if (!c) return 0;
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  struct proc *proc = bpf_map_lookup_elem(&tracked, &tgid);
  if (!proc) return 0;
  if (first) {
    __u32 ms = proc->first_stop_ms;
    if (ms) {
      proc->first_stop_ms = 0;
      Stop(proc, tgid, POINT_PARENT_FIRST, ms, proc->parent);
    }
    return 0;
  }
  if (read && !IsPipeOrSocket(BPF_CORE_READ(regs, di))) return 0;
  __u64 h;
  __u32 ms = Draw(c, proc, c->p_wake, &h);
  if (ms && Charge(c, proc, tgid, ms)) Stop(proc, tgid, POINT_WAKE | ((__u32)nr << 16), ms, 0);
  return 0;
}

// After a write to capture `stream` by the current process.
static __always_inline void PerturbWrite(struct proc *proc, __u32 tgid, __u32 stream) {
  struct perturb_cfg *c = Perturbing();
  if (!c) return;
  __u64 h;
  __u32 ms = Draw(c, proc, c->p_write, &h);
  if (ms && Charge(c, proc, tgid, ms)) Stop(proc, tgid, POINT_WRITE | (stream << 8), ms, 0);
}
