// The BPF observer's half of the Tracer (tracer_impl.h): the records of
// bpf_observer.h and the runner's own children's ends.
#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "conformance/observation/observation.h"
#include "conformance/runner/proc.h"
#include "conformance/runner/reconcile.h"
#include "conformance/runner/tracer_impl.h"

namespace conformance::internal {

void Tracer::OnRecord(const BpfRecord& r) {
  absl::Duration t = std::max(last_record_ + absl::Nanoseconds(1),
                              absl::Nanoseconds(static_cast<int64_t>(r.ts_ns)) - mono_start_);
  last_record_ = t;
  switch (r.kind) {
    case BpfRecord::kFork:
      AddProcess(r.pid, static_cast<pid_t>(r.arg), t);
      if (perturber_) perturber_->OnFork(r.pid, static_cast<pid_t>(r.arg), r.index, r.ident);
      return;
    case BpfRecord::kStop:
      if (perturber_) perturber_->OnStop(r);
      return;
    case BpfRecord::kExec:
      if (ProcessRecord* p = Proc(r.pid)) {
        p->execs.push_back({std::string(r.exec_path), std::string(r.exec_binary), SplitArgs(absl::string_view(r.data.data(), r.data.size())), t});
      }
      return;
    case BpfRecord::kExit:
      if (perturber_) perturber_->OnProgress(r.pid, /*exited=*/true);
      if (ProcessRecord* p = Proc(r.pid); p != nullptr && !p->ended) {
        p->ended = t;
        p->exit = WaitStatus::FromRaw(static_cast<int>(r.arg));
        // Killed while it was exiting on its own: the runner did not end it.
        if (p->killed_by_runner && *p->exit != WaitStatus::Signaled(SIGKILL)) p->killed_by_runner = false;
      }
      return;
    case BpfRecord::kWrite:
    case BpfRecord::kBlind: {
      if (perturber_ && !r.continues()) perturber_->OnProgress(r.pid, /*exited=*/false);
      absl::string_view data(r.data.data(), r.data.size());
      // Past the cap the capture drops the bytes; the reports go too.
      if (!writes_.Add(r.stream(), r.pid, r.tid, r.continues(), data, r.kind == BpfRecord::kBlind ? r.blind_len : 0,
                        t)) {
        bpf_->Mute(r.stream());
      }
      return;
    }
  }
}

void Tracer::HandleReaped(pid_t pid, int status) {
  ReceiveCaptures();  // Its exit record came before its zombie.
  ProcessRecord* p = Proc(pid);
  WaitStatus exit = WaitStatus::FromRaw(status);
  if (p == nullptr) {
    p = AddProcess(pid, 0, Since());
    obs_->anomalies.push_back(absl::StrCat("pid ", pid, " was reaped by the runner but never reported by BPF"));
  }
  if (!p->ended) {
    p->ended = Since();
    p->exit = exit;
    obs_->anomalies.push_back(absl::StrCat("pid ", pid, " ended without an exit record from BPF"));
  } else if (p->exit != exit) {
    obs_->anomalies.push_back(absl::StrCat("pid ", pid, ": BPF reported exit status ", p->exit->returncode(),
                                           ", wait() ", exit.returncode()));
    p->exit = exit;
  }
  if (pid == root_) OnRootEnded();
}

}  // namespace conformance::internal
