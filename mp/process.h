// -----------------------------------------------------------------------------
// File: process.h
// -----------------------------------------------------------------------------
//
// mp::Process is Python's multiprocessing.Process on POSIX with the "fork"
// start method: Start() forks, and the child runs the target, a callable, in
// a copy of the parent's memory. The target may capture anything, since the
// child is a fork.
//
// The child's stdin is /dev/null, as CPython's _bootstrap makes it, so that
// it never competes with its parent for input (fd 0 itself: C++ has no
// separate sys.stdin to repoint).
//
// Start() flushes the standard streams (std::cout, std::cerr, std::clog,
// stdout, stderr) first, as CPython's popen_fork flushes sys.stdout and
// sys.stderr, and the child flushes them as it ends. Other FILE streams are
// the program's to flush: the child ends with _exit and never writes what
// they had buffered.
//
// How the child ends, as Python's:
//   * the target returns                  -> exitcode 0
//   * the target throws                   -> exitcode 1, after
//                                            "Process <name>:" and the error
//                                            on stderr
//   * the target calls mp::Exit(n), throws
//     mp::SystemExit{n} or calls
//     std::exit(n)                        -> exitcode n
//   * signal N kills it                   -> exitcode -N
//
// A Process is a reference to a process object, as a Python variable is:
// copies refer to the same child. Started, unjoined children are also kept by
// mp itself (see ActiveChildren()); as in Python, when the main program
// exits normally, daemonic children are terminated and then every child is
// joined.
//
// Deviation from CPython: pid() and exitcode() keep reporting after Close(),
// where CPython raises ValueError; every method that acts on the process
// returns CPython's error there.
//
// Thread-safety: a Process may be used from several threads; the usual rule
// that only the parent may join, signal or poll a child applies.
//
// Example (the seed's Process program):
//
//   std::printf("Parent process %d.\n", mp::GetPid());
//   mp::Process p([] { std::printf("Run child process test (%d)...\n", mp::GetPid()); });
//   std::printf("Child process will start.\n");
//   if (absl::Status s = p.Start(); !s.ok()) return 1;
//   (void)p.Join();
//   std::printf("Child process end.\n");

#ifndef MP_PROCESS_H_
#define MP_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mp/exit_status.h"

namespace mp {

namespace internal {
struct ProcessState;
}  // namespace internal

struct ProcessOptions {
  // Empty: "Process-N", N counted per parent ("Process-2:1" for the first
  // child of Process-2), as CPython names them.
  std::string name;
  // nullopt: inherit the current process's daemon flag, as CPython does.
  std::optional<bool> daemon;
};

class Process {
 public:
  // Python: multiprocessing.Process(target=..., name=..., daemon=...)
  explicit Process(std::function<void()> target, ProcessOptions options = {});

  // Copies refer to the same process object.
  Process(const Process&) = default;
  Process& operator=(const Process&) = default;
  Process(Process&&) noexcept = default;
  Process& operator=(Process&&) noexcept = default;
  ~Process() = default;

  // Forks a child that runs the target.
  // Python: multiprocessing.Process.start()
  // Errors: AssertionError "cannot start a process twice",
  //   AssertionError "can only start a process object created by current process",
  //   AssertionError "daemonic processes are not allowed to have children",
  //   ValueError "process object is closed", OSError from fork.
  absl::Status Start();

  // Waits until the child terminates or `timeout` passes; check exitcode()
  // to tell which. InfiniteDuration() is Python's None.
  // Python: multiprocessing.Process.join(timeout)
  // Errors: AssertionError "can only join a started process",
  //   AssertionError "can only join a child process",
  //   AssertionError "cannot join current process", ValueError (closed).
  absl::Status Join(absl::Duration timeout = absl::InfiniteDuration());
  absl::Status JoinUntil(absl::Time deadline);

  // Whether the child is running (started and not yet terminated). Reaps it
  // if it has terminated.
  // Python: multiprocessing.Process.is_alive()
  // Errors: AssertionError "can only test a child process", ValueError (closed).
  absl::StatusOr<bool> IsAlive() const;

  // Sends SIGTERM (Terminate) or SIGKILL (Kill); nothing if already ended.
  // Python: multiprocessing.Process.terminate(), .kill()
  // Errors: AssertionError "can only terminate a started process",
  //   ValueError (closed).
  absl::Status Terminate();
  absl::Status Kill();

  // Releases the sentinel and the bookkeeping. Fails while the child runs.
  // Python: multiprocessing.Process.close()
  // Errors: ValueError "Cannot close a process while it is still running.
  //   You should first call join() or terminate()."
  absl::Status Close();

  // The child's pid; nullopt before Start(). For CurrentProcess(), getpid().
  // Python: multiprocessing.Process.pid
  std::optional<pid_t> pid() const;

  // nullopt while the child runs (or before Start()), else Python's code:
  // 0, 1 (the target threw), n (mp::Exit(n)) or -N (signal N).
  // Python: multiprocessing.Process.exitcode
  std::optional<int> exitcode() const;

  // The same, as an ExitStatus (exited n / signaled N).
  std::optional<ExitStatus> exit_status() const;

  // An fd that becomes readable when the child ends; owned by the Process.
  // Python: multiprocessing.Process.sentinel
  // Errors: ValueError "process not started", ValueError (closed).
  absl::StatusOr<int> sentinel() const;

  // Python: multiprocessing.Process.name
  const std::string& name() const;
  void set_name(std::string name);

  // Python: multiprocessing.Process.daemon
  bool daemon() const;
  // Errors: AssertionError "process has already started".
  absl::Status set_daemon(bool daemon);

  // Whether both refer to the same process object.
  friend bool operator==(const Process& a, const Process& b) { return a.state_ == b.state_; }

 private:
  friend Process CurrentProcess();
  friend std::vector<Process> ActiveChildren();
  explicit Process(std::shared_ptr<internal::ProcessState> state) : state_(std::move(state)) {}

  std::shared_ptr<internal::ProcessState> state_;
};

// Python's SystemExit. Thrown in a Process child, it unwinds the stack
// (destructors run, as `finally` blocks do) up to the child's start, which
// ends the child with `code`, as sys.exit(code) does. Like SystemExit, which
// is no Exception, it is not a std::exception: `catch (const
// std::exception&)` lets it through. In a pool task it ends the worker, as
// sys.exit does in CPython's (mp fails that task with WorkerLostError and
// replaces the worker; CPython's pool loses the task). In the main program,
// catch it in main().
// Python: raise SystemExit(code), sys.exit(code)
struct SystemExit {
  int code = 0;
};

// Ends the current process with exit code `code`, as sys.exit(code) does, but
// without unwinding the stack (throw SystemExit for that). In a Process
// child: terminates the child's daemonic children, joins its other children,
// flushes the standard streams and _exit()s, so exitcode() is `code`. In the
// main process: std::exit(code) (atexit handlers run, including mp's).
//
// std::exit(code) itself, in a Process child, does the same as Exit(code): no
// exit handler of the parent's (atexit functions, destructors of its
// globals) runs in the child, as none of its Python ones would. With glibc,
// that holds when the thread that runs the target calls std::exit; from a
// thread the child created, the parent's handlers registered after its first
// Start() run first (the others still do not). The thread_local destructors
// of the exiting thread run, as exit() runs them before any handler.
// Python: sys.exit(code)
[[noreturn]] void Exit(int code);

// The Process object of the running process: "MainProcess" in the main
// program, the Process itself inside a child.
// Python: multiprocessing.current_process()
Process CurrentProcess();

struct ParentInfo {
  std::string name;
  pid_t pid;
};
// The process that started the current one, or nullopt in the main process.
// Python: multiprocessing.parent_process()
std::optional<ParentInfo> ParentProcess();

// Children of the current process that are still running. Reaps those that
// have ended, as CPython does.
// Python: multiprocessing.active_children()
std::vector<Process> ActiveChildren();

// The number of CPUs in the system.
// Python: multiprocessing.cpu_count()
int CpuCount();

// The number of CPUs this process may run on (its affinity mask), which is
// what Pool() starts by default, as CPython 3.13 does.
// Python: os.process_cpu_count()
int ProcessCpuCount();

}  // namespace mp

#endif  // MP_PROCESS_H_
