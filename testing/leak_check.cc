#include "testing/leak_check.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"

namespace test_support {

std::map<int, std::string> OpenFds() {
  std::map<int, std::string> fds;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return fds;
  int own = ::dirfd(dir);
  while (struct dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    if (fd == own) continue;
    char target[512];
    ssize_t n = ::readlinkat(own, e->d_name, target, sizeof(target) - 1);
    fds[fd] = n > 0 ? std::string(target, static_cast<size_t>(n)) : "?";
  }
  ::closedir(dir);
  return fds;
}

namespace {

// How a child ended, as wait(2) reports it.
std::string Describe(int wstatus) {
  if (WIFEXITED(wstatus)) return absl::StrCat("exited with ", WEXITSTATUS(wstatus));
  if (WIFSIGNALED(wstatus)) return absl::StrCat("killed by signal ", WTERMSIG(wstatus));
  return absl::StrCat("wait status ", wstatus);
}

}  // namespace

std::string ReapLeftoverChildren() {
  std::string found;
  for (;;) {
    int wstatus = 0;
    pid_t pid = ::waitpid(-1, &wstatus, WNOHANG);
    if (pid > 0) {
      absl::StrAppend(&found, found.empty() ? "" : ", ", "zombie ", pid, " (",
                      Describe(wstatus), ")");
      continue;
    }
    if (pid < 0) break;  // ECHILD: no children at all.
    // Running children: name them, kill them so later tests start clean.
    std::string children;
    char path[64];
    std::snprintf(path, sizeof(path), "/proc/self/task/%d/children", ::getpid());
    if (FILE* f = std::fopen(path, "r")) {
      int c;
      while (std::fscanf(f, "%d", &c) == 1) {
        absl::StrAppend(&found, found.empty() ? "" : ", ", "running ", c, " (killed)");
        ::kill(c, SIGKILL);
      }
      std::fclose(f);
    }
    // Reap what we killed (and anything a thread forked meanwhile).
    while (::waitpid(-1, &wstatus, 0) > 0) {
    }
    break;
  }
  return found;
}

}  // namespace test_support
