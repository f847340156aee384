#include "mp/testing/leak_check.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "mp/exit_status.h"

namespace mp::testing {

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

std::string ReapLeftoverChildren() {
  std::string found;
  for (;;) {
    int wstatus = 0;
    pid_t pid = ::waitpid(-1, &wstatus, WNOHANG);
    if (pid > 0) {
      absl::StrAppend(&found, found.empty() ? "" : ", ", "zombie ", pid, " (",
                      ExitStatus::FromWaitStatus(wstatus).ToString(), ")");
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

namespace {

// Failures added in OnTestEnd are recorded against the test that just ran:
// listeners' OnTestEnd runs in reverse order, so this one (appended last)
// runs before the result printer prints the verdict.
class LeakChecker : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override { before_ = OpenFds(); }
  void OnTestEnd(const ::testing::TestInfo&) override {
    std::string children = ReapLeftoverChildren();
    if (!children.empty()) ADD_FAILURE() << "test left children behind: " << children;
    std::map<int, std::string> after = OpenFds();
    for (const auto& [fd, target] : after) {
      auto it = before_.find(fd);
      if (it == before_.end() || it->second != target) {
        ADD_FAILURE() << "test leaked fd " << fd << " -> " << target;
      }
    }
  }
  std::map<int, std::string> before_;
};

}  // namespace
}  // namespace mp::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new mp::testing::LeakChecker);
  return RUN_ALL_TESTS();
}
