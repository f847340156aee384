#include "mp/process.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio_ext.h>
#include <sanitizer/asan_interface.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "mp/errors.h"
#include "mp/internal/child.h"
#include "mp/internal/deadline.h"
#include "mp/internal/exceptions.h"
#include "mp/internal/popen_fork.h"
#include "mp/internal/raw_syscall.h"
#include "mp/internal/stdio.h"
#include "mp/os.h"

namespace mp {
namespace internal {

struct ProcessState {
  std::function<void()> target;
  std::string name;
  bool daemon = false;
  absl::InlinedVector<int, 4> identity;
  pid_t parent_pid = -1;  // -1 for MainProcess, which has no parent here.
  std::string parent_name;
  bool is_main = false;
  bool closed = false;
  // Set once, by Start(): in place, so that the parent allocates nothing
  // after the fork (see internal/popen_fork.h).
  std::optional<Child> child;
};

}  // namespace internal

namespace {

using internal::ProcessState;

// Per-process bookkeeping, CPython's module globals _current_process,
// _parent_process, _process_counter and _children. A forked child starts a
// fresh one (the old one is deliberately leaked: another parent thread may
// have held its lock at the moment of fork).
struct Registry {
  std::mutex mu;
  // In a child, not owning: see Bootstrap. Its parent_name and parent_pid
  // are CPython's _parent_process.
  std::shared_ptr<ProcessState> current;
  int counter = 0;
  // Inline, so that a start+join writes no heap page (see HotPage).
  absl::InlinedVector<std::shared_ptr<ProcessState>, 8> children;
  // Whether Start() ever succeeded here: read without the lock, so that a
  // child that started none ends without taking it.
  std::atomic<bool> started_any{false};
  bool in_child = false;
  bool atexit_registered = false;
};

// One page of static storage for everything a start+join writes apart from
// the stack: the registries and the ProcessStates (with their shared_ptr
// control blocks). After a fork every page either process writes is a fault
// (a copy-on-write one, 10-20 us on a VM), so the cost of a start+join grows
// with the number of pages it writes, not with the work. On the heap, these
// were three pages in the parent (the registry, the state, malloc's own
// state) and one more in the child; here the parent writes one page, and the
// child writes the same page as it starts.
constexpr size_t kSlotSize = 320;
struct alignas(4096) HotPage {
  Registry* registry;  // TheRegistry(): main_registry, or child_registry in a child.
  alignas(Registry) unsigned char main_registry[sizeof(Registry)];
  alignas(Registry) unsigned char child_registry[sizeof(Registry)];
  std::atomic<uint64_t> used;  // One bit per slot.
  static constexpr size_t kSlots =
      std::min<size_t>(64, (4096 - 64 - 2 * ((sizeof(Registry) + 63) & ~size_t{63})) / kSlotSize);
  alignas(64) unsigned char slot[kSlots][kSlotSize];
};
static_assert(sizeof(HotPage) == 4096);
// Zero-initialized: usable from static initializers of any file.
constinit HotPage hot{};

// ProcessStates (and their control blocks) in the hot page while it has
// room, then on the heap.
void* HotAllocate(size_t bytes) {
  if (bytes <= kSlotSize) {
    constexpr uint64_t kAll = HotPage::kSlots == 64 ? ~uint64_t{0} : (uint64_t{1} << HotPage::kSlots) - 1;
    uint64_t used = hot.used.load(std::memory_order_relaxed);
    while (used != kAll) {
      const int i = std::countr_one(used);
      if (hot.used.compare_exchange_weak(used, used | (uint64_t{1} << i), std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
        ASAN_UNPOISON_MEMORY_REGION(hot.slot[i], kSlotSize);
        return hot.slot[i];
      }
    }
  }
  return ::operator new(bytes);
}

void HotFree(void* p) {
  auto* b = static_cast<unsigned char*>(p);
  if (b >= &hot.slot[0][0] && b < &hot.slot[0][0] + sizeof(hot.slot)) {
    const size_t i = static_cast<size_t>(b - &hot.slot[0][0]) / kSlotSize;
    // A free slot is poisoned, so AddressSanitizer still reports a use
    // after free of a ProcessState.
    ASAN_POISON_MEMORY_REGION(hot.slot[i], kSlotSize);
    hot.used.fetch_and(~(uint64_t{1} << i), std::memory_order_release);
    return;
  }
  ::operator delete(p);
}

template <typename T>
struct HotAllocator {
  using value_type = T;
  HotAllocator() = default;
  template <typename U>
  HotAllocator(const HotAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(HotAllocate(n * sizeof(T))); }
  void deallocate(T* p, size_t) { HotFree(p); }
  template <typename U>
  bool operator==(const HotAllocator<U>&) const { return true; }
};

std::shared_ptr<ProcessState> NewState() {
  // The control block: a vtable pointer, two counts, the state.
  static_assert(sizeof(ProcessState) + 16 <= kSlotSize, "a ProcessState no longer fits the hot page's slots");
  return std::allocate_shared<ProcessState>(HotAllocator<ProcessState>());
}

// Made on first use, so that a Process or Pool constructed during static
// initialization (a global Pool) finds it, whatever the order of
// initialization across files.
Registry*& TheRegistry() {
  static const bool made = [] {
    hot.registry = new (hot.main_registry) Registry;
    return true;
  }();
  (void)made;
  return hot.registry;
}

// Caller holds r.mu.
const std::shared_ptr<ProcessState>& CurrentState(Registry& r) {
  if (!r.current) {
    r.current = NewState();
    r.current->name = "MainProcess";
    r.current->is_main = true;
  }
  return r.current;
}

void Discard(const ProcessState* state) {
  Registry& r = *TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.children.erase(std::remove_if(r.children.begin(), r.children.end(),
                                  [state](const auto& c) { return c.get() == state; }),
                   r.children.end());
}

// Drops children that have ended, reaping them: CPython's _cleanup().
void Cleanup(Registry& r) {
  r.children.erase(std::remove_if(r.children.begin(), r.children.end(),
                                  [](const auto& c) { return c->child->Poll().has_value(); }),
                   r.children.end());
}

// CPython's util._exit_function: terminate daemonic children, then join all.
void RunExitFunction() {
  if (!TheRegistry()->started_any.load(std::memory_order_acquire)) return;
  for (Process& p : ActiveChildren()) {
    if (p.daemon()) (void)p.Terminate();
  }
  for (Process& p : ActiveChildren()) (void)p.Join();
}

// CPython's util._close_stdin(): a child reads /dev/null, not its parent's
// stdin. C++ has no sys.stdin apart from fd 0, so fd 0 itself becomes
// /dev/null (CPython leaves fd 0 to subprocesses and only repoints
// sys.stdin), and input the parent's stdio had buffered is dropped, as
// closing sys.stdin drops its buffer.
//
// The FILE is only read unless it holds something: purging or clearing it
// writes the FILE and its lock, a page copied in every child for a stream
// that is usually untouched (see Bootstrap).
void CloseStdin() {
#ifdef __GLIBC__
  const bool buffered = stdin->_mode != 0 && (stdin->_IO_read_ptr != stdin->_IO_read_end ||
                                              stdin->_IO_save_base != nullptr);  // ungetc's.
  const bool flagged = (stdin->_flags & (_IO_EOF_SEEN | _IO_ERR_SEEN)) != 0;
#else
  const bool buffered = true, flagged = true;
#endif
  if (buffered) __fpurge(stdin);
  // Raw system calls: libc's close and open would be one more page of code.
  internal::RawSyscall(SYS_close, 0);
  const long fd = internal::RawSyscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>("/dev/null"), O_RDONLY);
  if (fd > 0) {  // 0 is the lowest free fd, unless another thread took it.
    internal::RawSyscall(SYS_dup3, fd, 0, 0);
    internal::RawSyscall(SYS_close, fd);
  }
  if (flagged) std::clearerr(stdin);
}

// The child's Registry, in the hot page. A grandchild builds its own over its
// parent's, which is leaked like the parent's own (never destroyed).
Registry* NewChildRegistry() { return new (hot.child_registry) Registry; }

// std::exit(status) in a child, the natural port of sys.exit(status): as
// CPython's child ends with os._exit after SystemExit, the child joins its
// own children and flushes stdio, then _exits, so that no exit handler its
// parent registered (its atexit functions, the destructors of its globals:
// a global Pool's would stop the parent's pool) runs in the child.
// Also the end of mp::Exit in a child.
[[noreturn]] void ExitChild(int status) {
  RunExitFunction();
  internal::FlushStdStreams();
  ::_exit(status);
}

void ExitInChild(int status, void*) { ExitChild(status); }

bool InChild() { return TheRegistry()->in_child; }

// The one process-wide exit handler, registered by the first Start(): in the
// parent, CPython's util._exit_function; in a child (whose std::exit ran
// it), ExitChild. It runs after every handler registered later, so a child
// relies on it only where ExitGuard cannot act (see there).
void AtExit(int status, void*) {
  if (InChild()) ExitChild(status);
  RunExitFunction();
}

// How std::exit in a child gets ahead of every handler of its parent's
// without the child registering anything as it starts: registering (on_exit)
// wrote four pages in every child, each one a copy-on-write fault, 5% of a
// start+join on a VM where a fault costs 10-20 us.
//
// glibc's exit() first runs the exiting thread's thread_local destructors,
// then the atexit list, newest first. Each thread that starts a Process
// constructs this guard once (in the parent, before forking), so the child,
// a copy of that thread, inherits it: if that thread calls std::exit in the
// child, the guard's destructor registers ExitInChild, which then runs
// before every other handler. In the parent, and in a child that ends
// normally (_exit), it does nothing.
//
// Not covered: std::exit from another thread of the child (one the child
// created) runs AtExit instead, after the handlers the parent registered
// after its first Start(). Without glibc's order (other C libraries), the
// child registers ExitInChild itself as it starts.
struct ExitGuard {
  ~ExitGuard() {
    if (InChild()) ::on_exit(ExitInChild, nullptr);
  }
};

#ifdef __GLIBC__
constexpr bool kExitRunsThreadLocalDestructorsFirst = true;
#else
constexpr bool kExitRunsThreadLocalDestructorsFirst = false;
#endif

void ArmExitGuard() {
  if constexpr (kExitRunsThreadLocalDestructorsFirst) {
    thread_local ExitGuard guard;
    (void)&guard;  // odr-use: constructs it (once per thread).
  }
}

// Runs in the child: CPython's BaseProcess._bootstrap. It writes as little
// memory as it can: each page it writes is copied (fork is copy-on-write),
// and on a VM a page fault costs as much as several system calls, so they
// were most of Start()'s cost over a raw fork. It writes one page besides
// its stack (the hot page, where its Registry goes), registers no exit
// handler (ExitGuard), flushes the standard streams only if they hold output
// (internal/stdio.h), and `current` does not own `self`: a copy of it would
// write its reference count. (`self` is the parent's Process, alive in the
// child's copy of memory until _exit.)
int Bootstrap(const std::shared_ptr<ProcessState>& self) {
  CloseStdin();
  Registry* r = NewChildRegistry();
  r->current = std::shared_ptr<ProcessState>(std::shared_ptr<ProcessState>(), self.get());
  r->in_child = true;
  TheRegistry() = r;
  if constexpr (!kExitRunsThreadLocalDestructorsFirst) ::on_exit(ExitInChild, nullptr);

  int code = 0;
  try {
    self->target();
  } catch (const SystemExit& e) {
    code = e.code;  // Python: sys.exit(n); the stack has unwound.
  } catch (...) {
    code = 1;
    internal::CaughtException e = internal::CurrentException();
    internal::FlushStdStreams();
    if (e.is_std_exception) {
      std::fprintf(stderr, "Process %s:\n%s: %s\n", self->name.c_str(), e.type.c_str(), e.what.c_str());
    } else {
      std::fprintf(stderr, "Process %s:\nunknown exception (not derived from std::exception)\n", self->name.c_str());
    }
  }
  RunExitFunction();
  internal::FlushStdStreams();
  return code;
}

absl::Status ClosedError() { return PyError(PyExc::kValueError, "process object is closed"); }

}  // namespace

Process::Process(std::function<void()> target, ProcessOptions options)
    : state_(NewState()) {
  Registry& r = *TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  const std::shared_ptr<ProcessState>& current = CurrentState(r);
  state_->target = std::move(target);
  state_->identity = current->identity;
  state_->identity.push_back(++r.counter);
  state_->name = options.name.empty() ? absl::StrCat("Process-", absl::StrJoin(state_->identity, ":"))
                                      : std::move(options.name);
  state_->daemon = options.daemon.value_or(current->daemon);
  state_->parent_pid = ::getpid();
  state_->parent_name = current->name;
}

absl::Status Process::Start() {
  if (state_->closed) return ClosedError();
  if (state_->child || state_->is_main) return PyError(PyExc::kAssertionError, "cannot start a process twice");
  if (state_->parent_pid != ::getpid()) {
    return PyError(PyExc::kAssertionError, "can only start a process object created by current process");
  }
  Registry& r = *TheRegistry();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (CurrentState(r)->daemon) {
      return PyError(PyExc::kAssertionError, "daemonic processes are not allowed to have children");
    }
    Cleanup(r);
    if (!r.in_child && !r.atexit_registered) {
      r.atexit_registered = true;
      ::on_exit(AtExit, nullptr);
    }
    // Room for this child, made before the fork (internal/popen_fork.h).
    r.children.reserve(r.children.size() + 1);
  }
  ArmExitGuard();
  const std::shared_ptr<ProcessState>& self = state_;
  absl::StatusOr<internal::Forked> forked = internal::ForkChild([&self] { return Bootstrap(self); });
  if (!forked.ok()) return forked.status();
  state_->child.emplace(forked->pid, internal::Child::kLostAsProcess, std::move(forked->sentinel));
  state_->target = nullptr;  // As CPython drops _target: free the captures now.
  std::lock_guard<std::mutex> lock(r.mu);
  r.children.push_back(state_);
  r.started_any.store(true, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status Process::Join(absl::Duration timeout) {
  return JoinUntil(internal::DeadlineIn(timeout));
}

absl::Status Process::JoinUntil(absl::Time deadline) {
  if (state_->closed) return ClosedError();
  if (state_->parent_pid != ::getpid()) return PyError(PyExc::kAssertionError, "can only join a child process");
  if (!state_->child) return PyError(PyExc::kAssertionError, "can only join a started process");
  absl::StatusOr<std::optional<ExitStatus>> st = state_->child->Wait(deadline);
  if (!st.ok()) return st.status();
  if (*st) Discard(state_.get());
  return absl::OkStatus();
}

absl::StatusOr<bool> Process::IsAlive() const {
  if (state_->closed) return ClosedError();
  if (state_ == CurrentProcess().state_) return true;
  if (state_->parent_pid != ::getpid()) return PyError(PyExc::kAssertionError, "can only test a child process");
  if (!state_->child) return false;
  if (!state_->child->Poll()) return true;
  Discard(state_.get());
  return false;
}

absl::Status Process::Terminate() {
  if (state_->closed) return ClosedError();
  if (!state_->child) return PyError(PyExc::kAssertionError, "can only terminate a started process");
  return state_->child->SendSignal(SIGTERM);
}

absl::Status Process::Kill() {
  if (state_->closed) return ClosedError();
  if (!state_->child) return PyError(PyExc::kAssertionError, "can only kill a started process");
  return state_->child->SendSignal(SIGKILL);
}

absl::Status Process::Close() {
  if (state_->child) {
    if (!state_->child->Poll()) {
      return PyError(PyExc::kValueError,
                     "Cannot close a process while it is still running. You should first call join() or "
                     "terminate().");
    }
    Discard(state_.get());
  }
  state_->closed = true;
  return absl::OkStatus();
}

std::optional<pid_t> Process::pid() const {
  if (state_->child) return state_->child->pid();
  if (state_ == CurrentProcess().state_) return ::getpid();
  return std::nullopt;
}

std::optional<ExitStatus> Process::exit_status() const {
  if (!state_->child) return std::nullopt;
  return state_->child->Poll();
}

std::optional<int> Process::exitcode() const {
  std::optional<ExitStatus> st = exit_status();
  if (!st) return std::nullopt;
  return st->python_returncode();
}

absl::StatusOr<int> Process::sentinel() const {
  if (state_->closed) return ClosedError();
  if (!state_->child) return PyError(PyExc::kValueError, "process not started");
  return state_->child->Sentinel();
}

const std::string& Process::name() const { return state_->name; }

void Process::set_name(std::string name) { state_->name = std::move(name); }

bool Process::daemon() const { return state_->daemon; }

absl::Status Process::set_daemon(bool daemon) {
  if (state_->child) return PyError(PyExc::kAssertionError, "process has already started");
  state_->daemon = daemon;
  return absl::OkStatus();
}

void Exit(int code) {
  bool in_child;
  {
    Registry& r = *TheRegistry();
    std::lock_guard<std::mutex> lock(r.mu);
    in_child = r.in_child;
  }
  if (!in_child) std::exit(code);
  ExitChild(code);
}

Process CurrentProcess() {
  Registry& r = *TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  return Process(CurrentState(r));
}

std::optional<ParentInfo> ParentProcess() {
  Registry& r = *TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (!r.in_child) return std::nullopt;
  return ParentInfo{r.current->parent_name, r.current->parent_pid};
}

std::vector<Process> ActiveChildren() {
  Registry& r = *TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  Cleanup(r);
  std::vector<Process> out;
  out.reserve(r.children.size());
  for (const auto& c : r.children) out.push_back(Process(c));
  return out;
}

int CpuCount() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

int ProcessCpuCount() {
  // Machines with more CPUs than a cpu_set_t holds need a larger mask.
  for (int cpus = CPU_SETSIZE; cpus <= (1 << 16); cpus *= 2) {
    cpu_set_t* set = CPU_ALLOC(cpus);
    if (set == nullptr) break;
    const size_t size = CPU_ALLOC_SIZE(cpus);
    const int r = ::sched_getaffinity(0, size, set);
    const int n = r == 0 ? CPU_COUNT_S(size, set) : 0;
    CPU_FREE(set);
    if (r == 0) return n > 0 ? n : 1;
    if (errno != EINVAL) break;
  }
  return CpuCount();
}

}  // namespace mp
