#include "conformance/runner/perturb.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <iterator>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "conformance/runner/proc.h"

namespace conformance::internal {
namespace {

using base::posix::UniqueFd;

// Decisions at the waits are drawn from their own sequence, apart from the
// kernel's stops (which count from 0 with the same identity).
constexpr uint64_t kWaitSalt = 0x5741495453000000ULL;
constexpr uint64_t kCpuSalt = 0x4350550000000000ULL;
constexpr uint64_t kStepsSalt = 0x5354455053000000ULL;

// How often a hold looks whether the others only wait (Perturber::OnlyWaiting).
constexpr absl::Duration kWaitingPoll = absl::Milliseconds(5);

// How many steps of the others a hold drawn as `hash` waits for: 1, 2 or 3
// (a quarter, a quarter, a half). A race may take the other side more than
// one step to show (a reader prints that it started before it prints what
// it read), and a hold that ends too early decides nothing.
int Steps(uint64_t hash) {
  const int q = static_cast<int>((hash >> 40) % 4);
  return q == 0 ? 1 : q == 1 ? 2 : 3;
}

// A probability, per 65536 as the kernel draws it: 1.0 is always.
uint32_t Per65536(double p) { return static_cast<uint32_t>(std::clamp(p, 0.0, 1.0) * 65536.0); }

uint32_t Ms(absl::Duration d) { return static_cast<uint32_t>(std::max<int64_t>(0, absl::ToInt64Milliseconds(d))); }

absl::Duration Monotonic() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return absl::DurationFromTimespec(ts);
}

// The calls a POINT_WAKE names (perturb.bpf.h's Woke and the reads).
const char* SyscallName(uint32_t nr) {
  switch (nr) {
    case SYS_read: return "read";
    case SYS_readv: return "readv";
    case SYS_recvfrom: return "recvfrom";
    case SYS_recvmsg: return "recvmsg";
    case SYS_futex: return "futex";
    case SYS_futex_waitv: return "futex_waitv";
    case SYS_wait4: return "wait4";
    case SYS_waitid: return "waitid";
    case SYS_poll: return "poll";
    case SYS_ppoll: return "ppoll";
    case SYS_select: return "select";
    case SYS_pselect6: return "pselect6";
    case SYS_epoll_wait: return "epoll_wait";
    case SYS_epoll_pwait: return "epoll_pwait";
    case SYS_epoll_pwait2: return "epoll_pwait2";
    case SYS_nanosleep: return "nanosleep";
    case SYS_clock_nanosleep: return "clock_nanosleep";
    case SYS_pause: return "pause";
    case SYS_rt_sigtimedwait: return "rt_sigtimedwait";
    case SYS_rt_sigsuspend: return "rt_sigsuspend";
    case SYS_semop: return "semop";
    case SYS_semtimedop: return "semtimedop";
    case SYS_msgrcv: return "msgrcv";
    case SYS_accept: return "accept";
    case SYS_accept4: return "accept4";
    default: return "a blocking call";
  }
}

// The first bytes a held write(2) or writev(2) of `tid` is about to write,
// quoted, for its line ("" if they cannot be read).
std::string Bytes(pid_t tid, const struct seccomp_data& call) {
  constexpr size_t kShown = 40;
  uint64_t addr = call.args[1], len = call.args[2];
  std::string out;
  if (call.nr == SYS_writev) {
    uint64_t iov[2];
    if (len == 0 || !ReadMemory(tid, call.args[1], sizeof(iov), &out)) return "";
    std::memcpy(iov, out.data(), sizeof(iov));
    out.clear();
    addr = iov[0];
    len = iov[1];
  }
  const size_t n = std::min<uint64_t>(len, kShown);
  if (n == 0 || !ReadMemory(tid, addr, n, &out)) return "";
  return absl::StrCat(" \"", absl::CHexEscape(out), len > kShown ? "..." : "", "\"");
}

void Answer(int listener, uint64_t id) {
  if (listener < 0) return;
  struct seccomp_notif_resp resp = {};
  resp.id = id;
  resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  // ENOENT: the call is gone (its thread was killed, or a signal interrupted
  // it; a restarted call is a new notification).
  (void)::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

}  // namespace

uint64_t Mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::vector<sock_filter> BuildPerturbFilter() {
  constexpr uint8_t kAllow = 9, kNotify = 10;  // The last two instructions.
  auto to = [](uint8_t target, uint8_t at) { return static_cast<uint8_t>(target - at - 1); };
  return {
      /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, to(kAllow, 1)),
      /* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, to(kNotify, 3), 0),
      /* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_write, to(6, 4), 0),
      /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_writev, 0, to(kAllow, 5)),
      // The fd's low word (an int to the kernel).
      /* 6 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
      /* 7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, to(kNotify, 7), 0),
      /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 2, to(kNotify, 8), to(kAllow, 8)),
      /* 9 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      /* 10 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
  };
}

Perturber::Perturber(uint64_t seed, const PerturbOptions& options, Observation* obs, BpfObserver* bpf,
                     const UniqueFd* listener)
    : seed_(seed), options_(options), obs_(obs), bpf_(bpf), listener_(listener) {
  obs_->perturb_seed = seed;
  uint64_t h = Mix(seed ^ kCpuSalt);
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if ((h & 0xffff) < Per65536(options.one_cpu) && ::sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
    int count = CPU_COUNT(&allowed);
    int pick = count > 0 ? static_cast<int>((h >> 16) % static_cast<uint64_t>(count)) : -1;
    for (int cpu = 0; cpu < CPU_SETSIZE && pick >= 0; ++cpu) {
      if (CPU_ISSET(cpu, &allowed) && pick-- == 0) cpu_ = cpu;
    }
  }
  if (cpu_ >= 0) Log(absl::StrCat("every process of the run on CPU ", cpu_));
}

BpfPerturbConfig Perturber::KernelConfig() const {
  BpfPerturbConfig c;
  c.seed = seed_;
  c.p_fork = Per65536(options_.fork);
  c.p_child_first = Per65536(options_.child_first);
  c.p_write = Per65536(options_.after_write);
  c.p_wake = Per65536(options_.after_wake);
  c.p_long = Per65536(options_.long_share);
  c.short_max = std::max<uint32_t>(1, Ms(options_.short_max));
  c.long_min = std::max<uint32_t>(1, Ms(options_.long_min));
  c.long_max = std::max(c.long_min, Ms(options_.long_max));
  c.max_stops_proc = static_cast<uint32_t>(std::max(0, options_.max_per_process));
  c.max_stops_run = static_cast<uint32_t>(std::max(0, options_.max_per_run));
  c.max_ms_run = Ms(options_.max_delay_per_run);
  c.max_ms_proc = Ms(options_.max_delay_per_process);
  return c;
}

uint32_t Perturber::DelayMs(uint64_t h) const {
  const BpfPerturbConfig c = KernelConfig();
  uint64_t r = h >> 32;
  if (((h >> 16) & 0xffff) < c.p_long) return c.long_min + static_cast<uint32_t>(r % (c.long_max - c.long_min + 1));
  return 1 + static_cast<uint32_t>(r % c.short_max);
}

Perturber::Proc& Perturber::ProcOf(pid_t tgid) {
  auto [it, added] = procs_.try_emplace(tgid);
  // Not reported by BPF (which reports every fork before the child runs):
  // a name that says so, and an identity of its own.
  if (added) it->second = {absl::StrCat("unknown ", tgid), Mix(seed_ ^ static_cast<uint64_t>(tgid))};
  return it->second;
}

void Perturber::Log(std::string line) { obs_->perturbations.push_back(std::move(line)); }

void Perturber::OnRoot(pid_t pid) {
  procs_[pid] = {"root", Mix(seed_)};
  alive_.insert(pid);
}

void Perturber::OnFork(pid_t child, pid_t parent, uint32_t index, uint64_t ident) {
  procs_[child] = {absl::StrCat(ProcOf(parent).name, ".", index), ident};
  alive_.insert(child);
}

void Perturber::OnStop(const BpfRecord& r) {
  Proc& p = ProcOf(r.pid);
  p.delay_ms += r.stop_ms;
  // The kernel's decision's hash is its own: the steps are drawn from the
  // process's count of stops, as deterministic.
  const int steps = Steps(Mix(p.ident ^ Mix(kStepsSalt ^ p.stops++)));
  const std::string who = absl::StrCat("pid ", r.pid, " (", p.name, ")");
  const std::string ms = absl::StrCat(" stopped (at most ", r.stop_ms, " ms)");
  switch (r.arg & 0xff) {
    case BpfRecord::kChildFirst:
      Log(absl::StrCat(who, ms, " after forking pid ", r.other, ": child first"));
      break;
    case BpfRecord::kParentFirst:
      Log(absl::StrCat(who, ms, " as it left fork, before running: parent first"));
      break;
    case BpfRecord::kAfterWrite:
      Log(absl::StrCat(who, ms, " after a write to ", ((r.arg >> 8) & 0xff) == 2 ? "stderr" : "stdout"));
      break;
    default:
      Log(absl::StrCat(who, ms, " as ", SyscallName(r.arg >> 16), " returned"));
      break;
  }
  // Due `stop_ms` after the stop, however late the record is read.
  const absl::Duration since = absl::Nanoseconds(static_cast<int64_t>(r.ts_ns)) - Monotonic();
  const absl::Time now = absl::Now();
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, r.pid, 0)));
  if (!pidfd.valid()) {
    // ESRCH: killed meanwhile (SIGKILL ends a stop).
    ++stops_ended_;
    SyncHolds();
    return;
  }
  // Child first: the parent waits for the child's first step; parent first:
  // the child waits for its parent to finish.
  Pending hold{r.pid, 0, steps, now + since, now + since + absl::Milliseconds(r.stop_ms), std::move(pidfd), 0,
               obs_->perturbations.size() - 1};
  if ((r.arg & 0xff) == BpfRecord::kChildFirst) {
    hold.until = r.other;
    hold.steps = 1;
  } else if ((r.arg & 0xff) == BpfRecord::kParentFirst) {
    hold.until = r.other;
  }
  pending_.push_back(std::move(hold));
}

void Perturber::OnNotification(UniqueFd* listener) {
  // Zeroed, as the kernel requires; this kernel's sizes at least.
  static const size_t kSize = [] {
    struct seccomp_notif_sizes s = {};
    if (::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &s) != 0) s.seccomp_notif = 0;
    return std::max<size_t>(s.seccomp_notif, sizeof(struct seccomp_notif));
  }();
  std::vector<char> buf(kSize, 0);
  auto* req = reinterpret_cast<struct seccomp_notif*>(buf.data());
  if (::ioctl(listener->get(), SECCOMP_IOCTL_NOTIF_RECV, req) != 0) {
    // ENOENT: the caller died meanwhile; EINTR: try again when polled.
    if (errno != ENOENT && errno != EINTR) listener->reset();
    return;
  }
  const pid_t tid = static_cast<pid_t>(req->pid);
  pid_t tgid = procs_.contains(tid) ? tid : TgidOf(tid);
  if (tgid == 0) tgid = tid;
  Proc& p = ProcOf(tgid);
  const bool exiting = req->data.nr == SYS_exit_group;
  const uint64_t h = Mix(p.ident ^ Mix(kWaitSalt ^ p.points++));
  uint32_t ms = 0;
  // Only where no hold on already waits for this process's progress: one
  // that waits for anyone's (after a write, before a write or exit), or for
  // this process's (a fork's). Holding both sides of a race would make it a
  // race of two delays, and a hold that waits for one process (the parent
  // stopped for its child) leaves the others free to race. Never a second
  // hold in a process (another of its threads), and only while, with this
  // one, some process of the run is not held.
  absl::flat_hash_set<pid_t> held = {tgid};
  bool blocked = false;
  for (const Pending& q : pending_) {
    blocked |= q.held == tgid || q.until == 0 || q.until == tgid;
    held.insert(q.held);
  }
  size_t free = 0;
  for (pid_t a : alive_) free += !held.contains(a);
  const bool others = free > 0 && !blocked;
  if ((h & 0xffff) < Per65536(exiting ? options_.before_exit : options_.before_write) && others &&
      p.waits < options_.max_per_process && waits_ < options_.max_per_run) {
    ms = DelayMs(h);
    // The process's stops (all reported before this call: they came first)
    // and waits, and the run's waits.
    if (p.delay_ms + ms > Ms(options_.max_delay_per_process) ||
        waited_ + absl::Milliseconds(ms) > options_.max_delay_per_run) {
      ms = 0;
    }
  }
  if (ms == 0) {
    Answer(listener->get(), req->id);
    return;
  }
  ++p.waits;
  p.delay_ms += ms;
  ++waits_;
  waited_ += absl::Milliseconds(ms);
  if (bpf_ != nullptr) bpf_->SetWaited(tgid, p.delay_ms);
  const std::string thread = tid != tgid ? absl::StrCat(" thread ", tid) : "";
  Log(absl::StrCat("pid ", tgid, " (", p.name, ")", thread, " waited (at most ", ms, " ms) before ",
                   exiting ? "exit_group" : absl::StrCat("writing", Bytes(tid, req->data), " to fd ", req->data.args[0])));
  const absl::Time now = absl::Now();
  pending_.push_back({tgid, 0, Steps(h), now, now + absl::Milliseconds(ms), UniqueFd(), req->id,
                      obs_->perturbations.size() - 1});
  SyncHolds();
}

namespace {

// How long an exit may take to finish once it is reported (the observer's
// exit record comes from sched_process_exit, before the kernel has torn the
// process down; a large heap takes milliseconds to unmap).
constexpr absl::Duration kGoneWait = absl::Milliseconds(50);

// Waits (bounded) until `tgid` is gone as its children see it: its pidfd
// becomes readable only after exit_notify has handed its children to their
// new parent. Released before that, a child held "parent first" would still
// find its forker as its parent, and the reparented outcome a hold is meant
// to make possible would (almost) never happen.
void WaitUntilGone(pid_t tgid) {
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, tgid, 0)));
  if (!pidfd.valid()) return;  // Already reaped: gone.
  struct pollfd pfd = {pidfd.get(), POLLIN, 0};
  const int ms = static_cast<int>(absl::ToInt64Milliseconds(kGoneWait));
  while (::poll(&pfd, 1, ms) < 0 && errno == EINTR) {
  }
}

}  // namespace

void Perturber::OnProgress(pid_t tgid, bool exited) {
  if (exited) alive_.erase(tgid);
  if (pending_.empty()) return;
  // Whether `tgid`'s progress counts for a hold: any process's but the held
  // one, or the one it waits for.
  auto counts_for = [tgid](const Pending& p) { return p.until == 0 ? p.held != tgid : p.until == tgid; };
  if (exited && std::any_of(pending_.begin(), pending_.end(), counts_for)) WaitUntilGone(tgid);
  for (Pending& p : pending_) {
    if (counts_for(p)) --p.steps;
  }
  End([](const Pending& p) { return p.steps <= 0; }, absl::Now(),
      absl::StrCat("until pid ", tgid, exited ? " exited" : " wrote"));
  // Every process left is held: none can make the progress the holds wait
  // for, and their delays would be latency only.
  if (exited && !pending_.empty()) {
    absl::flat_hash_set<pid_t> held;
    for (const Pending& p : pending_) held.insert(p.held);
    if (std::all_of(alive_.begin(), alive_.end(), [&](pid_t a) { return held.contains(a); })) {
      End([](const Pending&) { return true; }, absl::Now(), absl::StrCat("pid ", tgid, " exited, no other left to run"));
    }
  }
}

void Perturber::SyncHolds() {
  if (bpf_ == nullptr) return;
  uint32_t waits = 0;
  for (const Pending& p : pending_) waits += !p.pidfd.valid();
  bpf_->SetHolds(stops_ended_, waits);
}

absl::Time Perturber::NextDue() const {
  absl::Time next = absl::InfiniteFuture();
  for (const Pending& p : pending_) next = std::min(next, p.due);
  // While a hold is on, a look every few milliseconds at whether anyone can
  // still make progress (OnlyWaiting).
  if (!pending_.empty()) next = std::min(next, absl::Now() + kWaitingPoll);
  return next;
}

bool Perturber::OnlyWaiting() const {
  absl::flat_hash_set<pid_t> held;
  for (const Pending& p : pending_) held.insert(p.held);
  for (pid_t a : alive_) {
    if (held.contains(a)) continue;
    // Every thread blocked in wait4, waitid or rt_sigsuspend (how dash's
    // `wait` waits for SIGCHLD): /proc/TID/syscall starts with the number of
    // the call a thread is blocked in ("running" otherwise).
    std::error_code ec;
    bool threads = false;
    for (const auto& t : std::filesystem::directory_iterator(absl::StrCat("/proc/", a, "/task"), ec)) {
      const std::string call = ReadSmallFile(t.path().string() + "/syscall");
      bool waits = false;
      for (long nr : {SYS_wait4, SYS_waitid, SYS_rt_sigsuspend}) waits |= absl::StartsWith(call, absl::StrCat(nr, " "));
      if (!waits) return false;
      threads = true;
    }
    if (!threads) return false;  // Gone, or unreadable: not known to wait.
  }
  return true;
}

void Perturber::Release(absl::Time now, bool all) {
  End([&](const Pending& p) { return all || p.due <= now; }, now, "");
  // Every process not held waits for a child (the held one, or one that is
  // itself held): nothing can make the progress the holds wait for, and
  // their delays would be latency only.
  // Seen twice in a row, kWaitingPoll apart: a process whose child has just
  // exited is still in wait4 until it is scheduled.
  waiting_seen_ = !pending_.empty() && OnlyWaiting() ? waiting_seen_ + 1 : 0;
  if (waiting_seen_ >= 2) {
    End([](const Pending&) { return true; }, now, "the others only waited");
    waiting_seen_ = 0;
  }
}

void Perturber::End(absl::FunctionRef<bool(const Pending&)> ends, absl::Time now, const std::string& why) {
  auto kept = std::stable_partition(pending_.begin(), pending_.end(), [&](const Pending& p) { return !ends(p); });
  std::vector<Pending> ended(std::make_move_iterator(kept), std::make_move_iterator(pending_.end()));
  pending_.erase(kept, pending_.end());
  if (ended.empty()) return;
  for (const Pending& p : ended) stops_ended_ += p.pidfd.valid();
  // The kernel learns that the holds are over before the processes go on.
  SyncHolds();
  for (Pending& p : ended) {
    if (p.pidfd.valid()) {
      // ESRCH: it ended meanwhile (killed).
      (void)::syscall(SYS_pidfd_send_signal, p.pidfd.get(), SIGCONT, nullptr, 0);
    } else {
      Answer(listener_->valid() ? listener_->get() : -1, p.notification);
    }
    // How long it was held, and what ended the hold (its delay, if nothing
    // else did).
    const int64_t held = absl::ToInt64Milliseconds(std::min(now, p.due) - p.since);
    if (p.line < obs_->perturbations.size()) {
      absl::StrAppend(&obs_->perturbations[p.line], " [held ", std::max<int64_t>(held, 0), " ms",
                      why.empty() ? "" : ", ", why, "]");
    }
  }
}

}  // namespace conformance::internal
