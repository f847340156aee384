// The BPF observer's half of the Tracer (tracer_impl.h): the records of
// bpf_observer.h, the runner's own children's ends, and the reconciliation
// of the reported writes with the captured bytes.
#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
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
      return;
    case BpfRecord::kExec:
      if (ProcessRecord* p = Proc(r.pid)) {
        p->execs.push_back({std::string(r.exec_path), std::string(r.exec_binary), SplitArgs(absl::string_view(r.data.data(), r.data.size())), t});
      }
      return;
    case BpfRecord::kExit:
      if (ProcessRecord* p = Proc(r.pid); p != nullptr && !p->ended) {
        p->ended = t;
        p->exit = WaitStatus::FromRaw(static_cast<int>(r.arg));
        // Killed while it was exiting on its own: the runner did not end it.
        if (p->killed_by_runner && *p->exit != WaitStatus::Signaled(SIGKILL)) p->killed_by_runner = false;
      }
      return;
    case BpfRecord::kWrite:
    case BpfRecord::kBlind: {
      int s = r.stream();
      if (s != 1 && s != 2) return;
      // Past the cap the capture drops the bytes; the reports go too.
      size_t len = r.kind == BpfRecord::kBlind ? r.blind_len : r.data.size();
      if (reported_bytes_[s] >= req_.max_output_bytes) return;
      if ((reported_bytes_[s] += len) >= req_.max_output_bytes) bpf_->Mute(s);
      std::vector<internal::ReportedWrite>& writes = reported_[s];
      auto open = writing_.find(r.tid);
      internal::ReportedWrite* w;
      if (r.continues() && open != writing_.end() && open->second.first == s) {
        w = &writes[open->second.second];
        w->returned = t;
      } else {
        writes.emplace_back();
        w = &writes.back();
        w->pid = r.pid;
        w->returned = t;
        writing_[r.tid] = {s, writes.size() - 1};
      }
      if (r.kind == BpfRecord::kBlind) {
        w->blind.push_back({w->data.size(), r.blind_len});
        w->data.append(r.blind_len, '\0');
      } else {
        w->data.append(r.data);
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

void Tracer::Reconcile() {
  obs_->writes.clear();
  const std::string* captured[3] = {nullptr, &obs_->stdout_bytes, &obs_->stderr_bytes};
  size_t stdout_runs = 0;
  for (int s = 1; s <= 2; ++s) {
    internal::Reconciled r = internal::Reconcile(s, std::move(reported_[s]), *captured[s], obs_->output_truncated);
    if (!r.mismatch.empty()) {
      absl::StrAppend(&obs_->attribution_mismatch, obs_->attribution_mismatch.empty() ? "" : "; ", r.mismatch);
    }
    obs_->writes.insert(obs_->writes.end(), std::make_move_iterator(r.writes.begin()),
                        std::make_move_iterator(r.writes.end()));
    reported_[s] = {};
    if (s == 1) stdout_runs = obs_->writes.size();
  }
  // One order for both streams, by time (each stream's runs are in order).
  std::inplace_merge(obs_->writes.begin(), obs_->writes.begin() + static_cast<std::ptrdiff_t>(stdout_runs),
                     obs_->writes.end(), [](const WriteRecord& a, const WriteRecord& b) { return a.at < b.at; });
}

}  // namespace conformance::internal
