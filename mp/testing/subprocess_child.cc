// A child program for subprocess_test, for behaviour the shell cannot show
// exactly:
//   fds          prints its open fds ("0 1 2"), without the listing's own.
//   both N       writes N bytes to stdout and N to stderr, interleaved in
//                64 KiB chunks (a reader that drains one pipe first would
//                deadlock).
//   sid          prints "pid sid pgid".
//   umask        prints the umask in octal ("0027").
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  std::string mode = argv[1];
  if (mode == "fds") {
    DIR* d = opendir("/proc/self/fd");
    if (d == nullptr) return 3;
    std::vector<int> fds;
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      int fd = atoi(e->d_name);
      if (fd != dirfd(d)) fds.push_back(fd);
    }
    closedir(d);
    std::sort(fds.begin(), fds.end());
    for (size_t i = 0; i < fds.size(); ++i) printf(i ? " %d" : "%d", fds[i]);
    printf("\n");
    return 0;
  }
  if (mode == "both" && argc == 3) {
    long left = atol(argv[2]);
    static char chunk[64 * 1024];
    memset(chunk, 'x', sizeof chunk);
    while (left > 0) {
      size_t n = std::min<long>(left, sizeof chunk);
      if (fwrite(chunk, 1, n, stdout) != n || fwrite(chunk, 1, n, stderr) != n) return 4;
      left -= static_cast<long>(n);
    }
    return 0;
  }
  if (mode == "sid") {
    printf("%d %d %d\n", getpid(), getsid(0), getpgid(0));
    return 0;
  }
  if (mode == "umask") {
    mode_t m = umask(0);
    printf("%04o\n", m);
    return 0;
  }
  return 2;
}
