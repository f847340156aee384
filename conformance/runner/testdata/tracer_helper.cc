// Small programs the tracer's tests run, one per mode (argv[1]). Each writes
// with write(2) and friends directly, so every line is one system call.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

void Say(int fd, const std::string& s) { (void)!::write(fd, s.data(), s.size()); }
void Out(const std::string& s) { Say(1, s); }
std::string Pid() { return std::to_string(::getpid()); }

// forks N: N children each write 3 lines and exit with their index; the parent
// reaps them in order and reports each status.
int Forks(int n) {
  Out("root " + Pid() + "\n");
  pid_t kids[64];
  for (int i = 0; i < n; ++i) {
    kids[i] = ::fork();
    if (kids[i] == 0) {
      for (int k = 0; k < 3; ++k) {
        Out("child " + Pid() + " parent " + std::to_string(::getppid()) + " line " + std::to_string(k) + "\n");
      }
      ::_exit(i);
    }
  }
  for (int i = 0; i < n; ++i) {
    int st = 0;
    ::waitpid(kids[i], &st, 0);
    Out("reaped " + std::to_string(kids[i]) + " " + std::to_string(WEXITSTATUS(st)) + "\n");
  }
  Say(2, "done\n");
  return 0;
}

// pipe: the child's stdout is a pipe to the parent, which prints what it read.
int PipeToParent() {
  int p[2];
  if (::pipe(p) != 0) return 1;
  pid_t kid = ::fork();
  if (kid == 0) {
    ::dup2(p[1], 1);
    ::close(p[0]);
    ::close(p[1]);
    Out("secret from child\n");
    ::_exit(0);
  }
  ::close(p[1]);
  char buf[256];
  ssize_t n = ::read(p[0], buf, sizeof(buf));
  ::close(p[0]);
  ::waitpid(kid, nullptr, 0);
  Out("parent got: " + std::string(buf, n > 0 ? static_cast<size_t>(n) : 0));
  return 0;
}

// leak: a child leaves the session, ignores SIGTERM and sleeps; the parent
// exits at once.
int Leak() {
  pid_t kid = ::fork();
  if (kid == 0) {
    ::setsid();
    ::signal(SIGTERM, SIG_IGN);
    Out("orphan " + Pid() + "\n");
    ::sleep(1000);
    ::_exit(0);
  }
  // Let the child print before the parent exits.
  ::usleep(200 * 1000);
  Out("parent " + Pid() + " leaves " + std::to_string(kid) + "\n");
  return 0;
}

// hang: parent and child sleep forever.
int Hang() {
  pid_t kid = ::fork();
  if (kid == 0) {
    ::setpgid(0, 0);
    ::sleep(1000);
    ::_exit(0);
  }
  Out("hanging\n");
  ::sleep(1000);
  return 0;
}

// signal: a child dies of SIGUSR1; the parent reaps it, then dies of SIGTERM.
int Signal() {
  pid_t kid = ::fork();
  if (kid == 0) {
    ::raise(SIGUSR1);
    ::_exit(0);
  }
  ::waitpid(kid, nullptr, 0);
  Out("raising\n");
  ::raise(SIGTERM);
  return 0;
}

void* ThreadBody(void* arg) {
  long id = reinterpret_cast<long>(arg);
  for (int k = 0; k < 20; ++k) Out("thread " + std::to_string(id) + " line " + std::to_string(k) + "\n");
  return nullptr;
}

// threads: four threads write lines concurrently.
int Threads() {
  pthread_t t[4];
  for (long i = 0; i < 4; ++i) ::pthread_create(&t[i], nullptr, ThreadBody, reinterpret_cast<void*>(i));
  for (auto& th : t) ::pthread_join(th, nullptr);
  Out("main " + Pid() + "\n");
  return 0;
}

// bypass: writes through every other path into the capture, and tries the
// ways around the tracer.
int Bypass() {
  struct iovec iov[2] = {{const_cast<char*>("write"), 5}, {const_cast<char*>("v\n"), 2}};
  (void)!::writev(1, iov, 2);
  int p[2];
  if (::pipe(p) != 0) return 1;
  Say(p[1], "spliced\n");
  (void)!::splice(p[0], nullptr, 1, nullptr, 8, 0);
  // vmsplice needs a pipe; the captures are sockets (EBADF).
  struct iovec viov = {const_cast<char*>("vmspliced\n"), 10};
  if (::vmsplice(1, &viov, 1, 0) < 0) Out("vmsplice " + std::to_string(errno) + "\n");
  // sendfile from a file.
  int f = ::memfd_create("sendfile", MFD_CLOEXEC);
  if (f >= 0) {
    Say(f, "sendfile\n");
    off_t off = 0;
    (void)!::sendfile(1, f, &off, 9);
    ::close(f);
  }
  // Another open file on the same pipe still reaches the capture.
  int again = ::open("/proc/self/fd/1", O_WRONLY);
  Say(again, "reopened\n");
  ::close(again);
  long r = ::syscall(SYS_io_uring_setup, 1, nullptr);
  Out("io_uring_setup " + std::to_string(r) + " " + std::to_string(errno) + "\n");
  r = ::syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
  if (r == 0) ::_exit(0);
  if (r > 0) ::waitpid(static_cast<pid_t>(r), nullptr, 0);
  Out("clone_untraced " + std::to_string(r < 0 ? errno : 0) + "\n");
  r = ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
  Out("traceme " + std::to_string(r) + "\n");
  ::close(p[0]);
  ::close(p[1]);
  return 0;
}

// partial: a non-blocking stdout and a large write, so the kernel accepts
// part of it.
int Partial() {
  ::fcntl(1, F_SETFL, ::fcntl(1, F_GETFL) | O_NONBLOCK);
  std::string big(1 << 20, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  size_t done = 0;
  int partial = 0;
  while (done < big.size()) {
    ssize_t n = ::write(1, big.data() + done, big.size() - done);
    if (n > 0) {
      if (static_cast<size_t>(n) < big.size() - done) ++partial;
      done += static_cast<size_t>(n);
    } else {
      ::usleep(1000);
    }
  }
  Say(2, "partial writes: " + std::to_string(partial) + "\n");
  return 0;
}

// exec: the child execs this program again in mode "forks 1".
int Exec(const char* self) {
  pid_t kid = ::fork();
  if (kid == 0) {
    ::execl(self, self, "forks", "1", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int st = 0;
  ::waitpid(kid, &st, 0);
  Out("exec child exited " + std::to_string(WEXITSTATUS(st)) + "\n");
  return 0;
}

// burst: rounds of many lines then a fork (the child writes one line and
// exits), then many lines and an exec of `self` exit3: each event may come
// before the runner has read the lines written just before it.
int Burst(const char* self) {
  constexpr int kRounds = 5, kLines = 400;
  for (int r = 0; r < kRounds; ++r) {
    for (int k = 0; k < kLines; ++k) Out("before fork " + std::to_string(r) + " " + std::to_string(k) + "\n");
    pid_t kid = ::fork();
    if (kid == 0) {
      Out("child " + std::to_string(r) + "\n");
      ::_exit(0);
    }
  }
  while (::wait(nullptr) > 0) {
  }
  for (int k = 0; k < kLines; ++k) Out("before exec " + std::to_string(k) + "\n");
  ::execl(self, self, "exit3", static_cast<char*>(nullptr));
  return 127;
}

// forkbomb: every process forks children as fast as it can, forever.
int ForkBomb() {
  for (;;) {
    if (::fork() < 0) ::usleep(1000);
  }
}

// bigout N: writes N bytes to stdout in 1 MiB writes.
int BigOut(long n) {
  std::string chunk(1 << 20, 'z');
  while (n > 0) {
    size_t take = std::min<size_t>(chunk.size(), static_cast<size_t>(n));
    ssize_t w = ::write(1, chunk.data(), take);
    if (w <= 0) return 1;
    n -= w;
  }
  return 0;
}

// threadexit: two children whose status is set by a thread other than the
// main one: in the first a thread calls exit(5) while main blocks; in the
// second main calls pthread_exit and the last thread exits by signal
// (SIGABRT: "killed by 6"). The parent reaps both and reports their status.
void* ExitFive(void*) {
  ::usleep(20000);
  std::exit(5);
}
void* AbortLater(void*) {
  ::usleep(20000);
  std::abort();
}
int ThreadExit() {
  for (int k = 0; k < 2; ++k) {
    pid_t kid = ::fork();
    if (kid < 0) return 1;
    if (kid == 0) {
      pthread_t t;
      ::pthread_create(&t, nullptr, k == 0 ? ExitFive : AbortLater, nullptr);
      if (k == 0) ::pause();
      ::pthread_exit(nullptr);
    }
    int st = 0;
    ::waitpid(kid, &st, 0);
    Out("child " + std::to_string(kid) + " status " + std::to_string(st) + "\n");
  }
  return 0;
}

// bigpair: a parent and its child each write 2 blocks of 3 MB at once ('p'
// and 'c'): larger than the capture's buffer, so each write waits for the
// runner partway, and the other's bytes come between.
int BigPair() {
  pid_t kid = ::fork();
  if (kid < 0) return 1;
  std::string block(3000000, kid == 0 ? 'c' : 'p');
  for (int i = 0; i < 2; ++i) {
    size_t done = 0;
    while (done < block.size()) {
      ssize_t w = ::write(1, block.data() + done, block.size() - done);
      if (w <= 0) return 1;
      done += static_cast<size_t>(w);
    }
  }
  if (kid == 0) ::_exit(0);
  int st = 0;
  return ::waitpid(kid, &st, 0) == kid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

// stopcont: a child stops itself; the parent sees it stopped, continues it
// and reaps it.
int StopCont() {
  pid_t kid = ::fork();
  if (kid == 0) {
    ::raise(SIGSTOP);
    Out("child continued\n");
    ::_exit(7);
  }
  int st = 0;
  ::waitpid(kid, &st, WUNTRACED);
  Out(WIFSTOPPED(st) ? "child stopped\n" : "child not stopped\n");
  ::kill(kid, SIGCONT);
  ::waitpid(kid, &st, 0);
  Out("child exited " + std::to_string(WEXITSTATUS(st)) + "\n");
  return 0;
}

// linger: the parent exits at once; its child writes a line a little later.
int Linger() {
  if (::fork() == 0) {
    ::usleep(100 * 1000);
    Out("child outlived its parent\n");
    ::_exit(0);
  }
  return 0;
}

// reopen: opens its captured streams again by every path that names them,
// writes through each new fd, and reports what it got. On a pipe these opens
// reopen it; the runner's captures are sockets, where the tracer turns them
// into dups.
int Reopen() {
  struct stat st;
  ::fstat(1, &st);
  Out(std::string("stdout is ") + (S_ISSOCK(st.st_mode) ? "a socket" : S_ISFIFO(st.st_mode) ? "a pipe" : "other") +
      "\n");
  char c;
  Out("read(1) = " + std::to_string(::read(1, &c, 1)) + "\n");
  std::string self = "/proc/" + Pid() + "/fd/1";
  const char* paths[] = {"/proc/self/fd/1", "/dev/stdout", "/dev/fd/1", "/proc/thread-self/fd/1", self.c_str(),
                         "/dev/stderr"};
  for (const char* p : paths) {
    int fd = ::open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      Out(std::string(p) + " failed: " + std::to_string(errno) + "\n");
      continue;
    }
    int flags = ::fcntl(fd, F_GETFD);
    Say(fd, std::string("via ") + p + ((flags & FD_CLOEXEC) != 0 ? " cloexec" : " inheritable") + "\n");
    ::close(fd);
  }
  // Without O_CLOEXEC, and through openat and creat: the lowest free fd.
  ::close(0);
  int fd = static_cast<int>(::syscall(SYS_openat, AT_FDCWD, "/dev/stdout", O_WRONLY));
  Say(fd, "openat fd " + std::to_string(fd) + ((::fcntl(fd, F_GETFD) & FD_CLOEXEC) ? " cloexec" : " inheritable") +
              "\n");
  ::close(fd);
  fd = static_cast<int>(::syscall(SYS_creat, "/dev/fd/2", 0644));
  Say(fd, "creat fd " + std::to_string(fd) + "\n");
  ::close(fd);
  // Paths that do not name a capture open as before.
  fd = ::open("/proc/self/fd/0", O_RDONLY);  // Closed above: ENOENT.
  Out("closed fd: " + std::to_string(fd < 0 ? errno : 0) + "\n");
  fd = ::open("/dev/null", O_WRONLY);
  Out("dev null: " + std::to_string(fd) + "\n");
  ::close(fd);
  fd = ::open("/dev/stdout", O_WRONLY | O_CREAT | O_EXCL, 0644);
  Out("O_EXCL: " + std::to_string(fd < 0 ? errno : 0) + "\n");
  if (fd >= 0) ::close(fd);
  fd = ::open("/dev/stdout", O_PATH);
  Out("O_PATH: " + std::string(fd >= 0 ? "ok" : "failed") + "\n");
  if (fd >= 0) ::close(fd);
  // A child writes through its parent's /proc/<pid>/fd/1, as bash's
  // /proc/$$/fd/1 does in a subshell.
  std::string parent = "/proc/" + Pid() + "/fd/1";
  pid_t kid = ::fork();
  if (kid == 0) {
    int k = ::open(parent.c_str(), O_WRONLY);
    Say(k, "child via parent's fd\n");
    ::_exit(k < 0 ? 1 : 0);
  }
  int status = 0;
  ::waitpid(kid, &status, 0);
  Out("child exited " + std::to_string(WEXITSTATUS(status)) + "\n");
  return 0;
}

// torn: a child writes half a line, the parent writes a whole line, the
// child finishes its line: three runs, in that order, each its writer's.
int Torn() {
  int a[2], b[2];
  if (::pipe(a) != 0 || ::pipe(b) != 0) return 1;
  pid_t kid = ::fork();
  char c = 0;
  if (kid == 0) {
    Out("child half ");
    (void)!::write(a[1], "x", 1);
    (void)!::read(b[0], &c, 1);
    Out("and the rest\n");
    ::_exit(0);
  }
  (void)!::read(a[0], &c, 1);
  Out("parent line\n");
  (void)!::write(b[1], "x", 1);
  ::waitpid(kid, nullptr, 0);
  return 0;
}

// execs SCRIPT: three children exec, and the parent reaps each: the first
// fails to exec a missing file, then runs /bin/echo as "nslookup"; the
// second runs SCRIPT (a #! script); the third runs "echo" in /bin through
// execveat and a directory fd (whose number it prints first).
int Execs(const char* script) {
  auto run = [](auto body) {
    pid_t kid = ::fork();
    if (kid == 0) {
      body();
      ::_exit(127);
    }
    ::waitpid(kid, nullptr, 0);
  };
  run([] {
    ::execl("/nonexistent/program", "program", static_cast<char*>(nullptr));
    char* const argv[] = {const_cast<char*>("nslookup"), const_cast<char*>("a b"), const_cast<char*>(""),
                          const_cast<char*>("c"), nullptr};
    ::execv("/bin/echo", argv);
  });
  run([script] { ::execl(script, script, "arg1", static_cast<char*>(nullptr)); });
  int dir = ::open("/bin", O_PATH | O_DIRECTORY);
  Out("dirfd " + std::to_string(dir) + "\n");
  run([dir] {
    char* const argv[] = {const_cast<char*>("echo"), const_cast<char*>("via execveat"), nullptr};
    ::syscall(SYS_execveat, dir, "echo", argv, environ, 0);
  });
  return 0;
}

// orphan: the parent exits at once; its child waits until it has been
// reparented, then prints what getppid() says.
int Orphan() {
  pid_t parent = ::getpid();
  if (::fork() == 0) {
    while (::getppid() == parent) ::usleep(1000);
    Out("orphan " + Pid() + " parent " + std::to_string(::getppid()) + "\n");
    ::_exit(0);
  }
  return 0;
}

// tty: what a program sees of its stdin, stdout and stderr (run it with
// terminal captures): which are terminals, stdout's window, what opening
// /dev/tty gives (errno), then bytes a terminal would change with output
// processing on, and lines through reopened stdouts.
int Tty() {
  struct winsize ws = {};
  bool window = ::ioctl(1, TIOCGWINSZ, &ws) == 0;
  int fd = ::open("/dev/tty", O_WRONLY | O_CLOEXEC);
  int tty_errno = fd < 0 ? errno : 0;
  if (fd >= 0) ::close(fd);
  Out("isatty " + std::to_string(::isatty(0)) + std::to_string(::isatty(1)) + std::to_string(::isatty(2)) + "\n");
  Out(window ? "window " + std::to_string(ws.ws_row) + "x" + std::to_string(ws.ws_col) + "\n" : "window none\n");
  Out("/dev/tty " + std::to_string(tty_errno) + "\n");
  Out("raw\r\n\tbytes\n");
  for (const char* p : {"/dev/stdout", "/proc/self/fd/1"}) {
    int again = ::open(p, O_WRONLY | O_CLOEXEC);
    Say(again, std::string("via ") + p + "\n");
    if (again >= 0) ::close(again);
  }
  Say(2, "to stderr\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "forks") return Forks(argc > 2 ? std::atoi(argv[2]) : 3);
  if (mode == "pipe") return PipeToParent();
  if (mode == "leak") return Leak();
  if (mode == "hang") return Hang();
  if (mode == "signal") return Signal();
  if (mode == "threads") return Threads();
  if (mode == "bypass") return Bypass();
  if (mode == "partial") return Partial();
  if (mode == "exec") return Exec(argv[0]);
  if (mode == "burst") return Burst(argv[0]);
  if (mode == "exit3") return 3;
  if (mode == "forkbomb") return ForkBomb();
  if (mode == "bigout") return BigOut(argc > 2 ? std::atol(argv[2]) : 0);
  if (mode == "bigpair") return BigPair();
  if (mode == "threadexit") return ThreadExit();
  if (mode == "stopcont") return StopCont();
  if (mode == "linger") return Linger();
  if (mode == "reopen") return Reopen();
  if (mode == "torn") return Torn();
  if (mode == "execs" && argc > 2) return Execs(argv[2]);
  if (mode == "orphan") return Orphan();
  if (mode == "tty") return Tty();
  std::fprintf(stderr, "unknown mode '%s'\n", mode.c_str());
  return 2;
}
