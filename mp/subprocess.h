// -----------------------------------------------------------------------------
// File: subprocess.h
// -----------------------------------------------------------------------------
//
// Python's subprocess module in C++: start a program, feed its stdin, collect
// its stdout and stderr, wait for it, signal it.
//
//   * Run() is the one-call form (subprocess.run): it returns a
//     CompletedProcess, or an error for a timeout, a failed exec, or (with
//     `check`) a non-zero exit.
//   * Call, CheckCall and CheckOutput are the older shorthands.
//   * Popen is the object behind them all, for programs that need to talk to
//     the child while it runs.
//
// Args are an argv: args[0] is looked up on PATH (the PATH of the child's
// environment, as CPython does) unless it contains a '/'. A shell is used only
// when Options::shell asks for one ("/bin/sh -c args[0] args[1:]...").
//
// Errors are absl::Status values built through mp/errors.h:
//   * exec failed: FileNotFoundError / PermissionError / OSError with the
//     child's errno and the path ("[Errno 2] No such file or directory:
//     'nosuch'"), reported by the child before exec (see below);
//   * subprocess.TimeoutExpired: the output read so far comes with it;
//   * subprocess.CalledProcessError: returncode, cmd, output and stderr.
// The last two carry a SubprocessErrorInfo payload: GetSubprocessErrorInfo().
//
// How a child is started: the child never runs user code between fork and
// exec, so it is started vfork-style (clone(CLONE_VM|CLONE_VFORK) on a
// dedicated stack, as posix_spawn does): no page tables are copied and the
// parent resumes once the child has exec'd. Everything the child needs (argv,
// envp, the PATH candidates, the fd plan) is prepared before; between clone
// and exec the child allocates nothing and makes only raw system calls (it
// shares our memory, so even a sanitizer's libc interceptor must not run
// there); it resets the parent's signal handlers to SIG_DFL first. A failure
// there ({errno, stage}) is written into the parent's memory, which the
// parent reads once the child has exec'd or exited. Only Options::preexec_fn
// needs a full fork(); that child reports through a close-on-exec pipe.
// Stdio is flushed before the child starts, so output appears in program
// order (CPython does not flush: a block-buffered print() before
// subprocess.call() lands after the child's output).
//
// Thread-safety: a Popen may be waited on, polled and signalled from several
// threads at once (reaping and signalling share a lock, so a signal never
// reaches a recycled pid). Communicate() must be called from one thread at a
// time.
//
// Example (the seed's program):
//
//   std::printf("$ nslookup\n");
//   absl::StatusOr<mp::subprocess::Popen> p = mp::subprocess::Popen::Start(
//       {"nslookup"}, {.std_in = mp::subprocess::kPipe,
//                      .std_out = mp::subprocess::kPipe,
//                      .std_err = mp::subprocess::kPipe});
//   absl::StatusOr<mp::subprocess::Output> out =
//       p->Communicate("set q=mx\npython.org\nexit\n");
//   std::printf("%s\n", out->std_out.c_str());
//   std::printf("Exit code: %d\n", *p->returncode());
//
// (stdin/stdout/stderr are macros in <cstdio>, hence the names std_in,
// std_out and std_err.)

#ifndef MP_SUBPROCESS_H_
#define MP_SUBPROCESS_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "mp/exit_status.h"
#include "mp/io.h"

namespace mp::subprocess {

// Where one of the child's standard streams goes.
struct Redirect {
  enum class Kind {
    kInherit,  // The parent's own fd (Python: None).
    kPipe,     // A new pipe; the parent's end is Popen::stdin_fd() etc.
    kDevNull,  // /dev/null.
    kStdout,   // stderr only: wherever stdout goes.
    kFd,       // The given fd of the parent.
  };
  Kind kind = Kind::kInherit;
  int fd = -1;  // For kFd.
};

// Python: subprocess.PIPE, subprocess.DEVNULL, subprocess.STDOUT.
inline constexpr Redirect kInherit{Redirect::Kind::kInherit};
inline constexpr Redirect kPipe{Redirect::Kind::kPipe};
inline constexpr Redirect kDevNull{Redirect::Kind::kDevNull};
inline constexpr Redirect kStdout{Redirect::Kind::kStdout};
inline constexpr Redirect Fd(int fd) { return Redirect{Redirect::Kind::kFd, fd}; }

// Popen's keyword arguments. Designated initializers read like Python:
//   Popen::Start({"ls"}, {.std_out = kPipe, .cwd = "/tmp"})
struct Options {
  Redirect std_in;
  Redirect std_out;
  Redirect std_err;
  // Run "/bin/sh -c args[0] args[1:]..." instead of args.
  bool shell = false;
  // The program to run instead of args[0] (args[0] stays argv[0]).
  std::optional<std::string> executable;
  // The child's working directory.
  std::optional<std::string> cwd;
  // The child's whole environment (Python: env=...). Unset: the parent's.
  std::optional<std::map<std::string, std::string>> env;
  // Added to (or overriding entries of) the environment above: Python's
  // env={**os.environ, **extra_env}.
  std::map<std::string, std::string> extra_env;
  // Close every fd >= 3 in the child except pass_fds (which are made
  // inheritable). With false, fds without FD_CLOEXEC are inherited.
  bool close_fds = true;
  std::vector<int> pass_fds;
  // setsid() in the child. Run's timeout then kills the whole group.
  bool start_new_session = false;
  // setpgid(0, process_group) in the child; 0 makes a new group.
  std::optional<pid_t> process_group;
  // umask(umask) in the child.
  std::optional<mode_t> umask;
  // SIGPIPE and SIGXFSZ back to SIG_DFL in the child (Python:
  // restore_signals=True, the default). Ignored signals stay ignored across
  // exec, so a program that ignores SIGPIPE, as servers (and Python) do,
  // would hand that on: `yes | head` would see EPIPE instead of ending.
  // false: the child keeps this process's dispositions.
  bool restore_signals = true;
  // Text mode: the pipes are text files (io.h): the child's output is
  // decoded into UTF-8 with universal newlines, input is encoded. `encoding`
  // alone also selects text mode; with `text` alone it is UTF-8 (CPython:
  // the locale's encoding). Python: text=True (universal_newlines=True),
  // encoding=...; errors= is always 'strict'.
  bool text = false;
  std::optional<std::string> encoding;
  // Runs in the child after fork, before exec; forces a full fork(). It must
  // be async-signal-safe if the parent has threads. If it throws, the child
  // ends there and Start returns SubprocessError "Exception occurred in
  // preexec_fn." (as CPython raises it).
  std::function<void()> preexec_fn;
};

// What Communicate() collected (decoded in text mode). A stream that is not
// a pipe gives "".
struct Output {
  std::string std_out;
  std::string std_err;
};

// Python: subprocess.CompletedProcess.
struct CompletedProcess {
  std::vector<std::string> args;
  int returncode = 0;
  std::string std_out;  // "" unless stdout was captured.
  std::string std_err;  // "" unless stderr was captured.
  // Python: CompletedProcess.check_returncode()
  // Errors: CalledProcessError when returncode != 0.
  absl::Status CheckReturncode() const;
};

// The data a TimeoutExpired or CalledProcessError carries.
struct SubprocessErrorInfo {
  std::vector<std::string> cmd;
  std::optional<int> returncode;  // CalledProcessError only.
  double timeout_seconds = 0;     // TimeoutExpired only.
  std::string output;             // stdout so far / captured.
  std::string std_err;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(cmd, returncode, timeout_seconds, output, std_err);
  }
};

// The payload of a TimeoutExpired or CalledProcessError status; nullopt for
// any other status.
std::optional<SubprocessErrorInfo> GetSubprocessErrorInfo(const absl::Status& status);

struct RunOptions;

// A running (or finished) child. Move-only.
//
// Destroying (or assigning over) a Popen closes its pipes and does not wait
// for the child, as CPython's Popen.__del__ does not: a child still running
// is reaped in the background when it ends (CPython keeps it in
// subprocess._active and reaps it at the next Popen), so no zombie is left
// and the caller never blocks. Call Wait() to wait, as `with Popen(...)`
// does in Python. (CPython also emits a ResourceWarning, hidden by default;
// mp has no warnings.)
class Popen {
 public:
  // Starts args (see the file comment for PATH lookup and the shell).
  // Python: subprocess.Popen(args, **options)
  // Errors: ValueError (empty args, bad option); FileNotFoundError,
  // PermissionError, OSError from exec, chdir or pipe creation, naming the
  // path; SubprocessError (preexec_fn threw).
  static absl::StatusOr<Popen> Start(std::vector<std::string> args, Options options = {});

  Popen(Popen&&) noexcept;
  Popen& operator=(Popen&&) noexcept;
  ~Popen();

  pid_t pid() const;
  const std::vector<std::string>& args() const;

  // The parent's ends of the pipes, as file objects (io.h), owned by the
  // Popen; nullptr for a stream that is not kPipe (Python's None). Write to
  // the child's stdin and Close() it to send EOF; read the child's output a
  // line at a time while it runs.
  // Python: Popen.stdin, Popen.stdout, Popen.stderr
  io::File* std_in();
  io::File* std_out();
  io::File* std_err();
  // Shorthands: their fds, or -1 (not a pipe, or closed).
  int stdin_fd() const;
  int stdout_fd() const;
  int stderr_fd() const;

  // n after exit(n), -N after signal N, nullopt while running (or not yet
  // waited for). Python: Popen.returncode
  std::optional<int> returncode() const;
  std::optional<ExitStatus> exit_status() const;

  // Reaps the child if it has terminated. Python: Popen.poll()
  std::optional<int> Poll();

  // Waits for the child to terminate. Retries on EINTR.
  // Python: Popen.wait(timeout)
  // Errors: TimeoutExpired (the child keeps running).
  absl::StatusOr<int> Wait(absl::Duration timeout = absl::InfiniteDuration());

  // Flushes what was written through std_in(), writes `input` to stdin
  // (then closes it), reads stdout and stderr until EOF, and waits for the
  // child, all at once (poll(2) over every pipe), so no pipe can fill up and
  // deadlock. A child that stops reading stdin is not an error (EPIPE is
  // ignored, as CPython does). After a timeout the call may be repeated; the
  // output collected so far is kept, and the input is not resent. Output
  // already buffered in std_out()/std_err() by earlier reads is included
  // (CPython's would skip it).
  // Python: Popen.communicate(input, timeout)
  // Errors: TimeoutExpired (the payload's output/std_err hold what was read
  // so far; the child keeps running); OSError.
  absl::StatusOr<Output> Communicate(absl::string_view input = {},
                                     absl::Duration timeout = absl::InfiniteDuration());

  // Sends `signo` unless the child was already reaped.
  // Python: Popen.send_signal(signo), terminate(), kill()
  // Errors: OSError other than ESRCH.
  absl::Status SendSignal(int signo);
  absl::Status Terminate();
  absl::Status Kill();

  // Internal state (pipes, buffers, pid bookkeeping).
  struct State;

 private:
  explicit Popen(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
  // Run kills a timed-out child's whole process group.
  friend absl::StatusOr<CompletedProcess> Run(std::vector<std::string> args, RunOptions options);
};

// Run's options beyond Popen's.
struct RunOptions {
  Options popen;
  // Sent to stdin (which becomes a pipe); nullopt leaves stdin as configured.
  std::optional<std::string> input;
  // stdout and stderr become pipes and are returned.
  bool capture_output = false;
  // On expiry the child is killed (with start_new_session or a new process
  // group: the whole group) and reaped, and TimeoutExpired is returned.
  absl::Duration timeout = absl::InfiniteDuration();
  // A non-zero returncode becomes CalledProcessError.
  bool check = false;
};

// Runs args to completion. A grandchild that keeps the output pipes open
// cannot make a timed-out Run hang (CPython does, bpo-37424): once the child
// is killed and reaped, reading stops after a short grace.
// Python: subprocess.run(args, input=, capture_output=, timeout=, check=)
// Errors: ValueError (input with std_in set, capture_output with std_out or
// std_err set); TimeoutExpired; CalledProcessError (with check); Popen's.
absl::StatusOr<CompletedProcess> Run(std::vector<std::string> args, RunOptions options = {});

// Runs args and returns its returncode.
// Python: subprocess.call(args, timeout=)
// Errors: TimeoutExpired (the child is killed); Popen's.
absl::StatusOr<int> Call(std::vector<std::string> args, Options options = {},
                         absl::Duration timeout = absl::InfiniteDuration());

// Python: subprocess.check_call(args, timeout=)
// Errors: CalledProcessError; Call's.
absl::Status CheckCall(std::vector<std::string> args, Options options = {},
                       absl::Duration timeout = absl::InfiniteDuration());

// Runs args with stdout captured and returns it.
// Python: subprocess.check_output(args, input=, timeout=)
// Errors: CalledProcessError (its payload holds the output); Run's.
absl::StatusOr<std::string> CheckOutput(std::vector<std::string> args, Options options = {},
                                        std::optional<std::string> input = std::nullopt,
                                        absl::Duration timeout = absl::InfiniteDuration());

}  // namespace mp::subprocess

#endif  // MP_SUBPROCESS_H_
