#include "conformance/runner/bpf_observer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/posix/fd.h"

namespace conformance::internal {

// The object file bpf/observe.bpf.c compiles to, embedded by Bazel.
extern const unsigned char kObserveBpfObject[];
extern const unsigned long kObserveBpfObjectSize;

namespace {

// The record layout of observe.bpf.c.
struct RawRecord {
  uint64_t ts;
  uint32_t kind, pid, tid, arg, len, pad;
  char data[];
};

// observe.bpf.c's exec record: fixed fields after the header.
constexpr size_t kExecPath = 4096, kExecBinary = 4096 + 256, kExecArgs = 4096;

// The object's programs, in links_ order.
constexpr const char* kPrograms[] = {"on_sys_exit", "on_fork", "on_exec", "on_exit"};

// libbpf's messages (why a load failed) go here instead of stderr.
std::string* g_libbpf_log = nullptr;
int LogLibbpf(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (g_libbpf_log == nullptr || level == LIBBPF_DEBUG) return 0;
  char line[1024];
  int n = vsnprintf(line, sizeof(line), fmt, args);
  // The verifier's log can run to megabytes; its end says why.
  if (g_libbpf_log->size() > (64 << 10)) g_libbpf_log->erase(0, g_libbpf_log->size() - (32 << 10));
  g_libbpf_log->append(line);
  return n;
}

// libbpf's last lines (the verifier's verdict is at the end), on one line.
std::string Tail(const std::string& log) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < log.size()) {
    size_t end = log.find('\n', start);
    if (end == std::string::npos) end = log.size();
    std::string line = log.substr(start, end - start);
    if (line.rfind("libbpf: ", 0) == 0) line.erase(0, 8);
    if (!line.empty()) lines.push_back(line);
    start = end + 1;
  }
  if (lines.size() > 3) lines.erase(lines.begin(), lines.end() - 3);
  std::string out;
  for (const std::string& l : lines) absl::StrAppend(&out, out.empty() ? "" : " | ", l);
  if (out.size() > 400) out = "..." + out.substr(out.size() - 400);
  return out;
}

// Keeps the ring buffer's mappings (libbpf maps it, its data area twice) out
// of the runner's children: mapped page by page (VM_MIXEDMAP), they would
// have their page tables copied by every fork() the runner makes (the
// ptrace observer forks), 32 MiB of entries copied and torn down again at
// exec.
void KeepRingOutOfForks() {
  FILE* maps = std::fopen("/proc/self/maps", "re");
  if (maps == nullptr) return;
  char line[512];
  while (std::fgets(line, sizeof(line), maps) != nullptr) {
    if (std::strstr(line, "anon_inode:bpf-map") == nullptr) continue;
    unsigned long start = 0, end = 0;
    if (std::sscanf(line, "%lx-%lx", &start, &end) == 2 && end > start) {
      ::madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTFORK);
    }
  }
  std::fclose(maps);
}

absl::Status LoadError(const char* what, int err, const std::string& log) {
  std::string message = absl::StrCat("BPF observer: ", what, " failed");
  if (err == EPERM || err == EACCES || ::geteuid() != 0) {
    absl::StrAppend(&message, " (it needs root: CAP_BPF and CAP_PERFMON)");
  }
  if (::access("/sys/kernel/btf/vmlinux", R_OK) != 0) absl::StrAppend(&message, " (no kernel BTF)");
  if (!log.empty()) absl::StrAppend(&message, ": libbpf says: ", Tail(log));
  return base::posix::ErrnoError(err, message);
}

}  // namespace

absl::StatusOr<BpfObserver*> BpfObserver::Get() {
  static BpfObserver* observer = nullptr;
  static absl::Status* failure = nullptr;
  if (observer != nullptr) return observer;
  if (failure != nullptr) return *failure;
  std::string log;
  g_libbpf_log = &log;
  libbpf_print_fn_t old = libbpf_set_print(LogLibbpf);
  auto o = new BpfObserver();
  absl::Status s;
  o->obj_ = bpf_object__open_mem(kObserveBpfObject, kObserveBpfObjectSize, nullptr);
  if (o->obj_ == nullptr) {
    s = LoadError("opening the object", errno, log);
  } else if (int e = bpf_object__load(o->obj_); e != 0) {
    s = LoadError("loading the programs", -e, log);
  } else {
    auto map_fd = [&](const char* name) { return bpf_object__find_map_fd_by_name(o->obj_, name); };
    o->targets_fd_ = map_fd("targets");
    o->tracked_fd_ = map_fd("tracked");
    o->lost_fd_ = map_fd("lost");
    o->controls_fd_ = map_fd("controls");
    o->perturb_fd_ = map_fd("perturb");
    o->waited_fd_ = map_fd("waited");
    o->ring_ = ring_buffer__new(map_fd("records"), &BpfObserver::OnRecord, o, nullptr);
    if (o->ring_ == nullptr || o->targets_fd_ < 0 || o->tracked_fd_ < 0 || o->lost_fd_ < 0 || o->controls_fd_ < 0 ||
        o->perturb_fd_ < 0 || o->waited_fd_ < 0) {
      s = LoadError("setting up the maps", errno, log);
    }
    // Attached once: attaching a tracepoint patches kernel text on every
    // CPU and flags every thread of the machine, milliseconds each time.
    for (size_t i = 0; i < 4 && s.ok(); ++i) {
      bpf_program* p = bpf_object__find_program_by_name(o->obj_, kPrograms[i]);
      o->links_[i] = p != nullptr ? bpf_program__attach(p) : nullptr;
      if (o->links_[i] == nullptr) s = LoadError(absl::StrCat("attaching ", kPrograms[i]).c_str(), errno, log);
    }
  }
  libbpf_set_print(old);
  g_libbpf_log = nullptr;
  if (!s.ok()) {
    for (bpf_link* l : o->links_) {
      if (l != nullptr) bpf_link__destroy(l);
    }
    if (o->ring_ != nullptr) ring_buffer__free(o->ring_);
    if (o->obj_ != nullptr) bpf_object__close(o->obj_);
    delete o;
    failure = new absl::Status(s);
    return s;
  }
  KeepRingOutOfForks();
  observer = o;
  return observer;
}

// observe.bpf.c's controls, one word each.
enum Control : uint32_t { kKilling, kMaxForks, kForks, kMuted, kSpawner, kStopsEnded, kWaitsHeld, kControls };

static_assert(sizeof(BpfPerturbConfig) == 72, "perturb.bpf.h's struct perturb_cfg");

absl::Status BpfObserver::Begin(dev_t out_dev, ino_t out_ino, dev_t err_dev, ino_t err_ino, uint32_t max_forks,
                                const BpfPerturbConfig& perturb) {
  struct Target {
    uint64_t ino;
    uint32_t dev, pad;
  };
  const dev_t devs[3] = {0, out_dev, err_dev};
  const ino_t inos[3] = {0, out_ino, err_ino};
  for (uint32_t s = 1; s <= 2; ++s) {
    // The kernel's dev_t: 12 bits of major, 20 of minor.
    Target t = {inos[s], (major(devs[s]) << 20) | minor(devs[s]), 0};
    if (bpf_map_update_elem(targets_fd_, &s, &t, BPF_ANY) != 0) return base::posix::ErrnoError(errno, "BPF observer: targets");
  }
  uint32_t zero = 0;
  uint64_t none = 0;
  bpf_map_update_elem(lost_fd_, &zero, &none, BPF_ANY);
  BpfPerturbConfig cfg = perturb;
  cfg.stops_used = cfg.ms_used = cfg.stops_made = cfg.live = 0;
  if (bpf_map_update_elem(perturb_fd_, &zero, &cfg, BPF_ANY) != 0) {
    return base::posix::ErrnoError(errno, "BPF observer: perturbation");
  }
  for (uint32_t k = 0; k < kControls; ++k) {
    if (!SetControl(k, k == kMaxForks ? max_forks : 0)) return base::posix::ErrnoError(errno, "BPF observer: controls");
  }
  return absl::OkStatus();
}

bool BpfObserver::SetControl(uint32_t index, uint32_t value) {
  return bpf_map_update_elem(controls_fd_, &index, &value, BPF_ANY) == 0;
}

uint32_t BpfObserver::GetControl(uint32_t index) const {
  uint32_t value = 0;
  bpf_map_lookup_elem(controls_fd_, &index, &value);
  return value;
}

absl::Status BpfObserver::ArmSpawn() {
  if (!SetControl(kSpawner, static_cast<uint32_t>(::gettid()))) return base::posix::ErrnoError(errno, "BPF observer: controls");
  return absl::OkStatus();
}

bool BpfObserver::Spawned() {
  if (GetControl(kSpawner) == 0) return true;
  SetControl(kSpawner, 0);
  return false;
}

int BpfObserver::PollFd() const { return ring_buffer__epoll_fd(ring_); }

int BpfObserver::OnRecord(void* ctx, void* data, size_t size) {
  auto* self = static_cast<BpfObserver*>(ctx);
  if (self->sink_ == nullptr || size < sizeof(RawRecord)) return 0;
  const auto* raw = static_cast<const RawRecord*>(data);
  BpfRecord r;
  r.ts_ns = raw->ts;
  r.kind = static_cast<BpfRecord::Kind>(raw->kind);
  r.pid = static_cast<pid_t>(raw->pid);
  r.tid = static_cast<pid_t>(raw->tid);
  r.arg = raw->arg;
  r.blind_len = r.kind == BpfRecord::kBlind ? raw->len : 0;
  if (r.kind == BpfRecord::kFork) {
    r.index = raw->pad;
    if (raw->len >= sizeof(r.ident) && size >= sizeof(RawRecord) + sizeof(r.ident)) {
      std::memcpy(&r.ident, raw->data, sizeof(r.ident));
    }
  } else if (r.kind == BpfRecord::kStop) {
    r.stop_ms = raw->len;
    r.other = static_cast<pid_t>(raw->pad);
    (*self->sink_)(r);
    return 0;
  }
  if (r.kind == BpfRecord::kExec) {
    if (size < sizeof(RawRecord) + kExecPath + kExecBinary + kExecArgs) return 0;
    // The lengths: the path's in arg, the arguments' in len; the binary's
    // offset and length in pad's halves.
    r.arg = 0;
    r.exec_path = std::string_view(raw->data, std::min<size_t>(raw->arg, kExecPath - 1));
    size_t at = std::min<size_t>(raw->pad >> 16, kExecBinary), n = std::min<size_t>(raw->pad & 0xffff, kExecBinary - at);
    r.exec_binary = std::string_view(raw->data + kExecPath + at, n);
    r.data = std::string_view(raw->data + kExecPath + kExecBinary, std::min<size_t>(raw->len, kExecArgs));
  } else {
    size_t len = r.kind == BpfRecord::kBlind || r.kind == BpfRecord::kFork ? 0 : std::min<size_t>(raw->len, size - sizeof(RawRecord));
    r.data = std::string_view(raw->data, len);
  }
  (*self->sink_)(r);
  return 0;
}

void BpfObserver::Consume(absl::FunctionRef<void(const BpfRecord&)> sink) {
  sink_ = &sink;
  ring_buffer__consume(ring_);
  sink_ = nullptr;
}

void BpfObserver::Kill() { SetControl(kKilling, 1); }

// Only the runner writes kMuted.
void BpfObserver::Mute(int stream) { SetControl(kMuted, GetControl(kMuted) | (1u << stream)); }

void BpfObserver::SetHolds(uint32_t stops_ended, uint32_t waits_held) {
  SetControl(kStopsEnded, stops_ended);
  SetControl(kWaitsHeld, waits_held);
}

void BpfObserver::SetWaited(pid_t tgid, uint32_t ms) {
  uint32_t key = static_cast<uint32_t>(tgid);
  bpf_map_update_elem(waited_fd_, &key, &ms, BPF_ANY);
}

uint64_t BpfObserver::Lost() const {
  uint32_t zero = 0;
  uint64_t n = 0;
  bpf_map_lookup_elem(lost_fd_, &zero, &n);
  return n;
}

void BpfObserver::End() {
  // Off first: from here on no process is stopped that the runner would not
  // continue.
  uint32_t zero = 0;
  BpfPerturbConfig off;
  bpf_map_update_elem(perturb_fd_, &zero, &off, BPF_ANY);
  // Whatever the run left: records, and processes that never exited.
  Consume([](const BpfRecord&) {});
  for (int fd : {tracked_fd_, waited_fd_}) {
    uint32_t key, next;
    while (bpf_map_get_next_key(fd, nullptr, &next) == 0) {
      key = next;
      bpf_map_delete_elem(fd, &key);
    }
  }
  for (uint32_t s = 1; s <= 2; ++s) {
    uint8_t zero[16] = {};
    bpf_map_update_elem(targets_fd_, &s, zero, BPF_ANY);
  }
  for (uint32_t k = 0; k < kControls; ++k) SetControl(k, 0);
}

}  // namespace conformance::internal
