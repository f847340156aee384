#include "conformance/cli/observe.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "mp/errors.h"

namespace conformance {

// Interim: untraced capture until the tracer is merged.
absl::StatusOr<Observation> Observe(const ObserveRequest& req) {
  if (req.argv.empty()) return absl::InvalidArgumentError("empty argv");
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return mp::PyOSError(errno, "pipe2");
  std::vector<char*> argv, envp;
  for (const std::string& a : req.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const std::string& e : req.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const absl::Time start = absl::Now();
  pid_t pid = fork();
  if (pid < 0) return mp::PyOSError(errno, "fork");
  if (pid == 0) {
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (!req.cwd.empty() && chdir(req.cwd.c_str()) != 0) _exit(127);
    execvpe(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  setpgid(pid, pid);
  close(out[1]);
  close(err[1]);
  Observation obs;
  obs.traced = false;
  obs.untraced_reason = "the tracer is not built into this runner yet";
  int open_fds = 2;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  const absl::Time deadline = start + req.timeout;
  while (open_fds > 0) {
    int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (ms <= 0) {
      obs.timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, ms) < 0 && errno != EINTR) break;
    for (int k = 0; k < 2; ++k) {
      if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = read(fds[k].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[k].fd);
        fds[k].fd = -1;
        --open_fds;
      } else {
        (k == 0 ? obs.stdout_bytes : obs.stderr_bytes).append(buf, n);
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  ProcessRecord root;
  root.pid = pid;
  root.exit = mp::ExitStatus::FromWaitStatus(st);
  root.ended = absl::Now() - start;
  obs.processes.push_back(root);
  obs.wall = absl::Now() - start;
  return obs;
}

}  // namespace conformance
