// The seed's multiprocessing.Queue program, with mp: a writer process puts
// A, B, C (sleeping a random fraction of a second after each), a reader
// process gets forever, and the parent joins the writer, then terminates the
// reader. Each line is flushed as printed, so none is lost when the reader
// is killed by SIGTERM.
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>

#include "mp/os.h"
#include "mp/process.h"
#include "mp/queue.h"

// The code the writer process runs.
void write(mp::Queue<std::string>& q) {
  std::printf("Process to write: %d\n", mp::GetPid());
  std::fflush(stdout);
  std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<double> random(0.0, 1.0);
  for (const char* value : {"A", "B", "C"}) {
    std::printf("Put %s to queue..\n", value);
    std::fflush(stdout);
    if (!q.Put(value).ok()) _exit(1);
    ::usleep(static_cast<useconds_t>(random(rng) * 1e6));
  }
}

// The code the reader process runs.
void read(mp::Queue<std::string>& q) {
  std::printf("Process to read: %d\n", mp::GetPid());
  std::fflush(stdout);
  for (;;) {
    absl::StatusOr<std::string> value = q.Get(true);
    if (!value.ok()) _exit(1);
    std::printf("Get %s from queue\n", value->c_str());
    std::fflush(stdout);
  }
}

int main() {
  // The parent creates the queue and passes it to the children.
  absl::StatusOr<mp::Queue<std::string>> q = mp::Queue<std::string>::Create();
  if (!q.ok()) {
    std::fprintf(stderr, "%s\n", std::string(q.status().message()).c_str());
    return 1;
  }
  mp::Process pw([&] { write(*q); });
  mp::Process pr([&] { read(*q); });
  if (absl::Status s = pw.Start(); !s.ok()) return 1;
  if (absl::Status s = pr.Start(); !s.ok()) return 1;
  if (absl::Status s = pw.Join(); !s.ok()) return 1;
  // The reader loops forever: it can only be terminated.
  if (absl::Status s = pr.Terminate(); !s.ok()) return 1;
  (void)pr.Join();
  return 0;
}
