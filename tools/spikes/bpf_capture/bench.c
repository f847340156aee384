// Spike, not built by Bazel (see README.md): how fast can a program's
// output be attributed to its writers? Runs a command (the tracer's
// fork_print_stress) with stdout and stderr on one capture, in one of four
// ways, and prints the median wall time of N runs:
//   pipe    a pipe, nothing observed (the baseline);
//   bpf     a pipe; writes, forks and exits from BPF raw tracepoints
//           (capture.bpf.c), no ptrace: every write attributed;
//   ptrace  a pipe; ptrace fork/exec/exit events only: the tree, no writers;
//   socket  a Unix socket with SO_PASSCRED and the same ptrace events: what
//           the runner does today, minus its bookkeeping.
// bpf checks what it saw: as many bytes attributed as captured, with the
// same sum of byte values (an order-free checksum; writes up to 4 KiB).
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct rec {
  unsigned kind, pid;
  unsigned long long ts;
  unsigned len, other;
  char data[];
};

static long g_writes, g_bytes, g_forks, g_exits;
static unsigned long long g_sum;

static int OnRecord(void *ctx, void *data, size_t size) {
  (void)ctx;
  (void)size;
  const struct rec *r = data;
  if (r->kind == 0) {
    g_writes++;
    g_bytes += r->len;
    for (unsigned i = 0; i < r->len && i < 4096; ++i) g_sum += (unsigned char)r->data[i];
  } else if (r->kind == 1) {
    g_forks++;
  } else {
    g_exits++;
  }
  return 0;
}

static double NowMs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// Reads what `fd` holds (all of it, to EOF, when blocking) into the count
// and checksum of the bytes captured.
static void Drain(int fd, long *captured, unsigned long long *sum) {
  static char buf[1 << 16];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    *captured += n;
    for (ssize_t i = 0; i < n; ++i) *sum += (unsigned char)buf[i];
  }
}

static int Cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s pipe|bpf|ptrace|socket RUNS COMMAND...\n", argv[0]);
    return 2;
  }
  const char *mode = argv[1];
  int runs = atoi(argv[2]);
  int bpf = !strcmp(mode, "bpf"), trace = !strcmp(mode, "ptrace") || !strcmp(mode, "socket");
  int sock = !strcmp(mode, "socket");
  struct bpf_object *obj = NULL;
  struct ring_buffer *rb = NULL;
  int target_fd = -1, tracked_fd = -1;
  if (bpf) {
    obj = bpf_object__open_file("capture.bpf.o", NULL);
    if (!obj || bpf_object__load(obj)) {
      fprintf(stderr, "loading capture.bpf.o failed\n");
      return 1;
    }
    struct bpf_program *p;
    bpf_object__for_each_program(p, obj) {
      if (!bpf_program__attach(p)) {
        fprintf(stderr, "attaching %s failed\n", bpf_program__name(p));
        return 1;
      }
    }
    target_fd = bpf_object__find_map_fd_by_name(obj, "target");
    tracked_fd = bpf_object__find_map_fd_by_name(obj, "tracked");
    rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "rb"), OnRecord, NULL, NULL);
  }
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  double *ms = calloc(runs, sizeof(double));
  for (int r = 0; r < runs; ++r) {
    int cap[2], go[2];
    if (sock) {
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cap);
      int one = 1, size = 4 << 20;
      setsockopt(cap[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
      setsockopt(cap[1], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
    } else {
      pipe2(cap, O_CLOEXEC);
    }
    pipe2(go, O_CLOEXEC);
    if (bpf) {
      struct stat st;
      fstat(cap[1], &st);
      unsigned k = 0;
      unsigned long long ino = st.st_ino;
      bpf_map_update_elem(target_fd, &k, &ino, BPF_ANY);
    }
    g_writes = g_bytes = g_forks = g_exits = 0;
    g_sum = 0;
    unsigned long long sum = 0;
    double t0 = NowMs();
    pid_t pid = fork();
    if (pid == 0) {
      char c;
      dup2(cap[1], 1);
      dup2(cap[1], 2);
      if (read(go[0], &c, 1) != 1) _exit(127);
      execvp(argv[3], argv + 3);
      _exit(127);
    }
    close(cap[1]);
    if (bpf) {
      unsigned key = (unsigned)pid;
      unsigned char one = 1;
      bpf_map_update_elem(tracked_fd, &key, &one, BPF_ANY);
    }
    if (trace) {
      long o = PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC |
               PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL;
      ptrace(PTRACE_SEIZE, pid, 0, (void *)o);
    }
    (void)!write(go[1], "g", 1);
    close(go[0]);
    close(go[1]);
    fcntl(cap[0], F_SETFL, O_NONBLOCK);
    long captured = 0;
    for (;;) {
      int st;
      pid_t w = waitpid(-1, &st, __WALL | WNOHANG);
      Drain(cap[0], &captured, &sum);
      if (rb) ring_buffer__consume(rb);
      if (w < 0) break;
      if (w == 0) {
        struct pollfd f[2] = {{cap[0], POLLIN, 0}, {sfd, POLLIN, 0}};
        poll(f, 2, 100);
        if (f[1].revents) {
          struct signalfd_siginfo si[16];
          (void)!read(sfd, si, sizeof si);
        }
        continue;
      }
      if (WIFSTOPPED(st)) {
        int sig = WSTOPSIG(st);
        int deliver = (st >> 16) == 0 && sig != SIGSTOP && sig != SIGTRAP;
        ptrace(PTRACE_CONT, w, 0, (void *)(long)(deliver ? sig : 0));
      }
    }
    fcntl(cap[0], F_SETFL, 0);
    Drain(cap[0], &captured, &sum);
    close(cap[0]);
    if (rb) ring_buffer__consume(rb);
    ms[r] = NowMs() - t0;
    if (bpf) {
      unsigned key = (unsigned)pid;
      bpf_map_delete_elem(tracked_fd, &key);  // Children stay in the map; the spike does not care.
      if (g_bytes != captured || g_sum != sum) {
        fprintf(stderr, "run %d: %ld bytes captured, %ld attributed (checksums %llu, %llu)\n", r, captured, g_bytes,
                sum, g_sum);
        return 1;
      }
    }
    if (r == 0) {
      fprintf(stderr, "%s: %ld bytes captured", mode, captured);
      if (bpf) fprintf(stderr, "; %ld writes, %ld forks, %ld exits attributed", g_writes, g_forks, g_exits);
      fprintf(stderr, "\n");
    }
  }
  qsort(ms, runs, sizeof(double), Cmp);
  printf("%-7s median %.2f ms (min %.2f, max %.2f, %d runs)\n", mode, ms[runs / 2], ms[0], ms[runs - 1], runs);
  return 0;
}
