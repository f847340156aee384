#include "mp/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "mp/errors.h"
#include "mp/internal/child.h"
#include "mp/internal/deadline.h"
#include "mp/internal/fd.h"
#include "mp/internal/spawn.h"
#include "mp/os.h"
#include "mp/serialize.h"

extern char** environ;

namespace mp::subprocess {

using internal::UniqueFd;

struct Popen::State {
  std::vector<std::string> args;
  std::unique_ptr<internal::Child> child;
  bool own_group = false;  // The child leads its own process group.
  // The parent's pipe ends; a stream that is not a pipe has none (Python's
  // None), and a closed File stays (Python's closed file object).
  std::optional<io::File> in, out, err;

  // Communicate's progress, kept across a TimeoutExpired: the input still to
  // send (encoded), and which outputs reached EOF.
  bool communicating = false;
  std::string pending_input;
  size_t input_sent = 0;
  bool out_done = false, err_done = false;
};

namespace {

constexpr char kInfoUrl[] = "type.mp.dev/subprocess_error";

// Python's repr of a list of str, as CalledProcessError prints cmd.
std::string ListRepr(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    s += '\'';
    for (char c : v[i]) {
      if (c == '\\' || c == '\'') s += '\\';
      s += c;
    }
    s += '\'';
  }
  return s + "]";
}

absl::Status WithInfo(absl::Status status, const SubprocessErrorInfo& info) {
  absl::StatusOr<std::string> bytes = Serialize(info);
  if (bytes.ok()) status.SetPayload(kInfoUrl, absl::Cord(*bytes));
  return status;
}

absl::Status TimeoutError(const std::vector<std::string>& cmd, absl::Duration timeout,
                          std::string out, std::string err) {
  SubprocessErrorInfo info{cmd, std::nullopt, absl::ToDoubleSeconds(timeout), std::move(out),
                           std::move(err)};
  return WithInfo(PyError(PyExc::kTimeoutExpired,
                          absl::StrCat("Command '", ListRepr(cmd), "' timed out after ",
                                       info.timeout_seconds, " seconds")),
                  info);
}

absl::Status CalledError(const std::vector<std::string>& cmd, int rc, std::string out,
                         std::string err) {
  std::string what = rc < 0 ? absl::StrCat("died with <Signals.", SignalName(-rc), ": ", -rc, ">.")
                            : absl::StrCat("returned non-zero exit status ", rc, ".");
  SubprocessErrorInfo info{cmd, rc, 0, std::move(out), std::move(err)};
  return WithInfo(PyError(PyExc::kCalledProcessError,
                          absl::StrCat("Command '", ListRepr(cmd), "' ", what)),
                  info);
}

int PollTimeoutMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  absl::Duration left = std::max(deadline - absl::Now(), absl::ZeroDuration());
  return static_cast<int>(
      std::min<int64_t>(absl::ToInt64Milliseconds(left + absl::Microseconds(999)), INT32_MAX));
}

// The environment the child gets, as "K=V" strings; nullopt: ours, as is.
std::optional<std::vector<std::string>> ChildEnv(const Options& o) {
  if (!o.env && o.extra_env.empty()) return std::nullopt;
  std::map<std::string, std::string> env;
  if (o.env) {
    env = *o.env;
  } else {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::pair<std::string, std::string> kv = absl::StrSplit(*e, absl::MaxSplits('=', 1));
      env.insert(std::move(kv));
    }
  }
  for (const auto& [k, v] : o.extra_env) env[k] = v;
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(absl::StrCat(k, "=", v));
  return out;
}

// Where execve should look for `program`: itself if it has a '/', else each
// directory of PATH (the child's PATH; "/bin:/usr/bin" without one).
std::vector<std::string> ExecCandidates(const std::string& program,
                                        const std::optional<std::vector<std::string>>& env) {
  if (program.find('/') != std::string::npos) return {program};
  std::string path = "/bin:/usr/bin";
  if (env) {
    for (const std::string& kv : *env) {
      if (absl::StartsWith(kv, "PATH=")) path = kv.substr(5);
    }
  } else if (const char* p = ::getenv("PATH")) {
    path = p;
  }
  std::vector<std::string> out;
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    out.push_back(dir.empty() ? program : absl::StrCat(dir, "/", program));
  }
  return out;
}

}  // namespace

absl::Status CompletedProcess::CheckReturncode() const {
  if (returncode == 0) return absl::OkStatus();
  return CalledError(args, returncode, std_out, std_err);
}

std::optional<SubprocessErrorInfo> GetSubprocessErrorInfo(const absl::Status& status) {
  auto payload = status.GetPayload(kInfoUrl);
  if (!payload) return std::nullopt;
  absl::StatusOr<SubprocessErrorInfo> info = Deserialize<SubprocessErrorInfo>(std::string(*payload));
  if (!info.ok()) return std::nullopt;
  return *std::move(info);
}

absl::StatusOr<Popen> Popen::Start(std::vector<std::string> args, Options o) {
  internal::ReapAbandoned();
  if (args.empty()) return PyError(PyExc::kValueError, "args must not be empty");
  if (o.std_in.kind == Redirect::Kind::kStdout || o.std_out.kind == Redirect::Kind::kStdout) {
    return PyError(PyExc::kValueError, "STDOUT is valid only for stderr");
  }
  for (const Redirect* r : {&o.std_in, &o.std_out, &o.std_err}) {
    if (r->kind == Redirect::Kind::kFd && r->fd < 0) {
      return PyError(PyExc::kValueError, absl::StrCat("bad file descriptor for a stream: ", r->fd));
    }
  }
  for (int fd : o.pass_fds) {
    if (fd < 3) return PyError(PyExc::kValueError, absl::StrCat("pass_fds: ", fd, " is below 3"));
  }

  auto state = std::make_unique<State>();
  std::vector<std::string> argv = args;
  if (o.shell) {
    argv.insert(argv.begin(), {"/bin/sh", "-c"});
  }
  std::string program = o.executable ? *o.executable : argv[0];
  std::optional<std::vector<std::string>> env = ChildEnv(o);
  std::vector<std::string> candidates = ExecCandidates(program, env);

  internal::SpawnPlan plan;
  for (const std::string& c : candidates) plan.exec_paths.push_back(c.c_str());
  plan.exec_paths.push_back(nullptr);
  for (std::string& a : argv) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  std::vector<char*> envp;
  if (env) {
    for (std::string& kv : *env) envp.push_back(kv.data());
    envp.push_back(nullptr);
    plan.envp = envp.data();
  } else {
    plan.envp = environ;
  }

  // The child's ends live until the child has exec'd, then close here.
  UniqueFd child_ends[3];
  UniqueFd devnull;
  const Redirect* streams[3] = {&o.std_in, &o.std_out, &o.std_err};
  std::optional<io::File>* parent_ends[3] = {&state->in, &state->out, &state->err};
  // Text mode (Python: text=, universal_newlines=, encoding=): UTF-8 unless
  // an encoding is given (CPython: the locale's).
  std::optional<std::string> encoding = o.encoding;
  if (o.text && !encoding) encoding = "utf-8";
  for (int i = 0; i < 3; ++i) {
    switch (streams[i]->kind) {
      case Redirect::Kind::kInherit: break;
      case Redirect::Kind::kStdout: plan.stderr_to_stdout = true; break;
      case Redirect::Kind::kFd: plan.stdio[i] = streams[i]->fd; break;
      case Redirect::Kind::kDevNull:
        if (!devnull.valid()) {
          devnull.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
          if (!devnull.valid()) return PyOSError(errno, "'/dev/null'");
        }
        plan.stdio[i] = devnull.get();
        break;
      case Redirect::Kind::kPipe: {
        absl::StatusOr<internal::PipeFds> p = internal::MakePipe();
        if (!p.ok()) return p.status();
        absl::StatusOr<io::File> f =
            i == 0 ? io::File::FromFd(p->write.release(), io::File::Mode::kWrite, encoding)
                   : io::File::FromFd(p->read.release(), io::File::Mode::kRead, encoding);
        if (!f.ok()) return f.status();
        *parent_ends[i] = *std::move(f);
        child_ends[i] = i == 0 ? std::move(p->read) : std::move(p->write);
        plan.stdio[i] = child_ends[i].get();
        break;
      }
    }
  }
  if (o.cwd) {
    plan.cwd = o.cwd->c_str();
    plan.display_cwd = *o.cwd;
  }
  if (o.umask) plan.umask = static_cast<int>(*o.umask);
  plan.restore_signals = o.restore_signals;
  plan.setsid = o.start_new_session;
  if (o.process_group) plan.pgid = *o.process_group;
  plan.pass_fds = o.pass_fds;
  std::sort(plan.pass_fds.begin(), plan.pass_fds.end());
  plan.pass_fds.erase(std::unique(plan.pass_fds.begin(), plan.pass_fds.end()), plan.pass_fds.end());
  // As CPython: pass_fds implies close_fds.
  plan.close_fds = o.close_fds || !plan.pass_fds.empty();
  if (o.preexec_fn) plan.preexec_fn = &o.preexec_fn;
  plan.display_program = program;

  // Output buffered before the child starts appears before the child's.
  FlushStdio();
  absl::StatusOr<pid_t> pid = internal::Spawn(plan);
  if (!pid.ok()) return pid.status();
  state->child = std::make_unique<internal::Child>(*pid, internal::Child::kLostAsSubprocess);
  state->own_group = o.start_new_session || (o.process_group && *o.process_group == 0);
  state->args = std::move(args);
  return Popen(std::move(state));
}

Popen::Popen(std::unique_ptr<State> state) : state_(std::move(state)) {}
Popen::Popen(Popen&&) noexcept = default;
Popen& Popen::operator=(Popen&& other) noexcept {
  if (this != &other) {
    Popen old(std::move(*this));  // Closes the pipes as a destructor would.
    state_ = std::move(other.state_);
  }
  return *this;
}

Popen::~Popen() {
  if (state_ == nullptr) return;
  // Closed as CPython's Popen.__del__ leaves them to their own finalizers:
  // what was written through std_in() is flushed, errors ignored.
  state_->in.reset();
  state_->out.reset();
  state_->err.reset();
  internal::ReapInBackground(std::move(state_->child));
}

namespace {

io::File* FileOf(std::optional<io::File>& f) { return f ? &*f : nullptr; }
int FdOf(const std::optional<io::File>& f) { return f && !f->closed() ? *f->fileno() : -1; }

}  // namespace

pid_t Popen::pid() const { return state_->child->pid(); }
const std::vector<std::string>& Popen::args() const { return state_->args; }
io::File* Popen::std_in() { return FileOf(state_->in); }
io::File* Popen::std_out() { return FileOf(state_->out); }
io::File* Popen::std_err() { return FileOf(state_->err); }
int Popen::stdin_fd() const { return FdOf(state_->in); }
int Popen::stdout_fd() const { return FdOf(state_->out); }
int Popen::stderr_fd() const { return FdOf(state_->err); }

std::optional<ExitStatus> Popen::exit_status() const { return state_->child->status(); }

std::optional<int> Popen::returncode() const {
  std::optional<ExitStatus> st = exit_status();
  if (!st) return std::nullopt;
  return st->python_returncode();
}

std::optional<int> Popen::Poll() {
  std::optional<ExitStatus> st = state_->child->Poll();
  if (!st) return std::nullopt;
  return st->python_returncode();
}

absl::StatusOr<int> Popen::Wait(absl::Duration timeout) {
  absl::StatusOr<std::optional<ExitStatus>> st = state_->child->Wait(internal::DeadlineIn(timeout));
  if (!st.ok()) return st.status();
  if (!*st) return TimeoutError(state_->args, timeout, "", "");
  return (*st)->python_returncode();
}

absl::Status Popen::SendSignal(int signo) { return state_->child->SendSignal(signo); }
absl::Status Popen::Terminate() { return SendSignal(SIGTERM); }
absl::Status Popen::Kill() { return SendSignal(SIGKILL); }

absl::StatusOr<Output> Popen::Communicate(absl::string_view input, absl::Duration timeout) {
  State& s = *state_;
  absl::Time deadline = internal::DeadlineIn(timeout);
  const bool in_open = s.in && !s.in->closed();
  if (!s.communicating) {
    s.communicating = true;
    s.out_done = !s.out || s.out->closed();
    s.err_done = !s.err || s.err->closed();
    if (in_open) {
      // As CPython: first flush what the caller wrote through std_in() (this
      // may block), then send the input, or close stdin at once. A child
      // that stopped reading is no error.
      (void)s.in->Flush();
      if (input.empty()) {
        (void)s.in->Close();
      } else {
        absl::StatusOr<std::string> bytes = s.in->Encode(input);
        if (!bytes.ok()) return bytes.status();
        s.pending_input = *std::move(bytes);
        int fd = *s.in->fileno();
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
      }
    }
  }

  std::optional<internal::SigpipeGuard> sigpipe;
  if (s.in && !s.in->closed()) sigpipe.emplace();
  for (;;) {
    const int in_fd = FdOf(s.in);
    const int out_fd = s.out_done ? -1 : FdOf(s.out);
    const int err_fd = s.err_done ? -1 : FdOf(s.err);
    struct pollfd fds[3];
    int n = 0;
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
    if (n == 0) break;
    if (n == 1 && in_fd < 0 && deadline == absl::InfiniteFuture()) {
      // One output pipe, no deadline: plain blocking reads.
      io::File& f = out_fd >= 0 ? *s.out : *s.err;
      for (;;) {
        absl::StatusOr<bool> more = f.ReadOnce();
        if (!more.ok()) return more.status();
        if (!*more) break;
      }
      (out_fd >= 0 ? s.out_done : s.err_done) = true;
      break;
    }
    int r = ::poll(fds, n, PollTimeoutMs(deadline));
    if (r < 0) {
      if (errno == EINTR) continue;
      return PyOSError(errno, "poll()");
    }
    if (r == 0) {
      if (absl::Now() < deadline) continue;
      return TimeoutError(s.args, timeout, s.out ? s.out->Peek() : "", s.err ? s.err->Peek() : "");
    }
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in_fd) {
        absl::string_view pending = absl::string_view(s.pending_input).substr(s.input_sent);
        ssize_t w = ::write(in_fd, pending.data(), std::min<size_t>(pending.size(), 1 << 20));
        if (w > 0) s.input_sent += static_cast<size_t>(w);
        if (w < 0 && errno == EPIPE) sigpipe->Caused();
        if (s.input_sent == s.pending_input.size() || (w < 0 && errno != EAGAIN && errno != EINTR)) {
          (void)s.in->Close();
        }
      } else {
        bool& done = fds[i].fd == out_fd ? s.out_done : s.err_done;
        absl::StatusOr<bool> more = (fds[i].fd == out_fd ? *s.out : *s.err).ReadOnce();
        if (!more.ok()) return more.status();
        if (!*more) done = true;
      }
    }
  }
  s.pending_input.clear();

  absl::StatusOr<int> rc = Wait(std::max(deadline - absl::Now(), absl::ZeroDuration()));
  if (!rc.ok()) {
    if (Is(rc.status(), PyExc::kTimeoutExpired)) {
      return TimeoutError(s.args, timeout, s.out ? s.out->Peek() : "", s.err ? s.err->Peek() : "");
    }
    return rc.status();
  }
  Output output;
  for (auto [file, text] : {std::pair(&s.out, &output.std_out), std::pair(&s.err, &output.std_err)}) {
    if (!*file || (*file)->closed()) continue;
    absl::StatusOr<std::string> all = (*file)->Read();  // At EOF: what is buffered.
    if (!all.ok()) return all.status();
    *text = *std::move(all);
    (void)(*file)->Close();
  }
  return output;
}

absl::StatusOr<CompletedProcess> Run(std::vector<std::string> args, RunOptions options) {
  Options& o = options.popen;
  if (options.input) {
    if (o.std_in.kind != Redirect::Kind::kInherit) {
      return PyError(PyExc::kValueError, "stdin and input arguments may not both be used.");
    }
    o.std_in = kPipe;
  }
  if (options.capture_output) {
    if (o.std_out.kind != Redirect::Kind::kInherit || o.std_err.kind != Redirect::Kind::kInherit) {
      return PyError(PyExc::kValueError,
                     "stdout and stderr arguments may not be used with capture_output.");
    }
    o.std_out = kPipe;
    o.std_err = kPipe;
  }
  absl::StatusOr<Popen> p = Popen::Start(args, std::move(o));
  if (!p.ok()) return p.status();
  absl::StatusOr<Output> out =
      p->Communicate(options.input ? *options.input : absl::string_view(), options.timeout);
  if (!out.ok()) {
    Popen::State& s = *p->state_;
    if (s.own_group) (void)s.child->SendSignal(SIGKILL, /*to_group=*/true);
    (void)p->Kill();
    (void)p->Wait();
    if (!Is(out.status(), PyExc::kTimeoutExpired)) return out.status();
    // Collect what the killed child left in the pipes. A grandchild may hold
    // them open forever (bpo-37424), so give up after a short grace.
    absl::StatusOr<Output> rest = p->Communicate({}, absl::Milliseconds(100));
    if (rest.ok()) {
      return TimeoutError(args, options.timeout, std::move(rest->std_out), std::move(rest->std_err));
    }
    return TimeoutError(args, options.timeout, s.out ? s.out->Peek() : "", s.err ? s.err->Peek() : "");
  }
  CompletedProcess done{std::move(args), *p->returncode(), std::move(out->std_out),
                        std::move(out->std_err)};
  if (options.check) {
    absl::Status st = done.CheckReturncode();
    if (!st.ok()) return st;
  }
  return done;
}

absl::StatusOr<int> Call(std::vector<std::string> args, Options options, absl::Duration timeout) {
  absl::StatusOr<Popen> p = Popen::Start(std::move(args), std::move(options));
  if (!p.ok()) return p.status();
  absl::StatusOr<int> rc = p->Wait(timeout);
  if (!rc.ok()) {
    (void)p->Kill();
    (void)p->Wait();
  }
  return rc;
}

absl::Status CheckCall(std::vector<std::string> args, Options options, absl::Duration timeout) {
  std::vector<std::string> cmd = args;
  absl::StatusOr<int> rc = Call(std::move(args), std::move(options), timeout);
  if (!rc.ok()) return rc.status();
  if (*rc != 0) return CalledError(cmd, *rc, "", "");
  return absl::OkStatus();
}

absl::StatusOr<std::string> CheckOutput(std::vector<std::string> args, Options options,
                                        std::optional<std::string> input, absl::Duration timeout) {
  if (options.std_out.kind != Redirect::Kind::kInherit) {
    return PyError(PyExc::kValueError, "stdout argument not allowed, it will be overridden.");
  }
  options.std_out = kPipe;
  absl::StatusOr<CompletedProcess> done =
      Run(std::move(args), RunOptions{std::move(options), std::move(input), false, timeout, true});
  if (!done.ok()) return done.status();
  return std::move(done->std_out);
}

}  // namespace mp::subprocess
