#include "conformance/runner/reconcile.h"

#include <algorithm>
#include <iterator>
#include <utility>
#include <cstring>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace conformance::internal {
namespace {

// Writes up to this size are atomic on a pipe (PIPE_BUF on Linux).
constexpr size_t kPipeBuf = 4096;
// How far past the oldest unmatched write the search goes: writes are
// reordered only among those in flight at once.
constexpr size_t kWindow = 4096;

// A reported write and how much of it the pipe has shown so far.
class Pending {
 public:
  explicit Pending(ReportedWrite& w) : w_(&w), size_(w.data.size()) {
    if (!w.blind.empty()) {
      known_.assign(w.data.size(), true);
      for (auto [off, len] : w.blind) {
        for (size_t i = off; i < off + len && i < known_.size(); ++i) known_[i] = false;
      }
      blind_only_ = std::none_of(known_.begin(), known_.end(), [](bool k) { return k; });
    }
  }
  const ReportedWrite& write() const { return *w_; }
  // Whether `n` bytes are all of it, every one known: the pipe's bytes are
  // then the reported ones.
  bool whole(size_t n) const { return done_ == 0 && n == size_ && known_.empty(); }
  // Its data, moved out (only once whole() was true, as it is then done).
  std::string TakeData() {
    done_ = size_;
    return std::move(w_->data);
  }
  size_t left() const { return size_ - done_; }
  bool blind_only() const { return blind_only_; }
  bool splittable() const { return size_ > kPipeBuf; }
  void Take(size_t n) { done_ += n; }
  // How many of the bytes left match `s` from `p` (blind bytes match any).
  size_t CommonPrefix(const std::string& s, size_t p) const {
    size_t n = std::min(left(), s.size() - p);
    const char* mine = w_->data.data() + done_;
    if (known_.empty() && std::memcmp(mine, s.data() + p, n) == 0) return n;
    size_t i = 0;
    while (i < n && (mine[i] == s[p + i] || (!known_.empty() && !known_[done_ + i]))) ++i;
    return i;
  }

 private:
  ReportedWrite* w_;
  size_t size_;
  size_t done_ = 0;
  std::vector<bool> known_;  // Empty: every byte known.
  bool blind_only_ = false;
};

}  // namespace

Reconciled Reconcile(int stream, std::vector<ReportedWrite> reported, const std::string& captured, bool truncated) {
  Reconciled out;
  const char* name = stream == 1 ? "stdout" : "stderr";
  std::vector<Pending> pending;
  pending.reserve(reported.size());
  for (ReportedWrite& w : reported) {
    if (!w.data.empty()) pending.emplace_back(w);
  }
  std::vector<bool> finished(pending.size(), false);
  out.writes.reserve(pending.size());
  size_t head = 0;        // The oldest write not yet found whole.
  size_t last = SIZE_MAX;  // The write the previous run came from.
  size_t p = 0;
  while (p < captured.size()) {
    while (head < pending.size() && finished[head]) ++head;
    size_t end = std::min(pending.size(), head + kWindow);
    std::optional<size_t> chosen;
    size_t take = 0;
    // 1. The oldest write whose bytes come next, whole (or up to the cap).
    for (size_t i = head; i < end && !chosen; ++i) {
      if (finished[i] || pending[i].blind_only()) continue;
      size_t n = pending[i].CommonPrefix(captured, p);
      if (n == pending[i].left() || (truncated && p + n == captured.size())) chosen = i, take = n;
    }
    // 2. The oldest large write whose next bytes come next: other writers'
    //    bytes may have cut it.
    for (size_t i = head; i < end && !chosen; ++i) {
      if (finished[i] || pending[i].blind_only() || !pending[i].splittable()) continue;
      size_t n = pending[i].CommonPrefix(captured, p);
      if (n > 0) chosen = i, take = n;
    }
    // 3. The oldest write whose bytes the kernel could not copy.
    for (size_t i = head; i < end && !chosen; ++i) {
      if (finished[i] || !pending[i].blind_only()) continue;
      chosen = i;
      take = std::min(pending[i].left(), captured.size() - p);
    }
    if (!chosen) {
      std::string next = captured.substr(p, 40);
      absl::StrAppend(&out.mismatch, name, ": byte ", p, " of ", captured.size(),
                      " is in no write the kernel reported (next bytes: \"", absl::CEscape(next), "\")");
      WriteRecord rest;
      rest.pid = 0;
      rest.stream = stream;
      rest.data = captured.substr(p);
      rest.at = out.writes.empty() ? absl::ZeroDuration() : out.writes.back().at;
      out.writes.push_back(std::move(rest));
      break;
    }
    Pending& w = pending[*chosen];
    if (*chosen == last && !out.writes.empty()) {
      out.writes.back().data.append(captured, p, take);
    } else {
      WriteRecord run;
      run.pid = w.write().pid;
      run.stream = stream;
      if (w.whole(take)) {
        run.data = w.TakeData();  // The same bytes: no copy.
      } else {
        run.data = captured.substr(p, take);
      }
      run.at = w.write().returned;
      out.writes.push_back(std::move(run));
    }
    last = *chosen;
    if (w.left() != 0) w.Take(take);  // (TakeData took it all.)
    if (w.left() == 0) finished[*chosen] = true;
    p += take;
  }
  if (!truncated && out.mismatch.empty()) {
    size_t writes = 0, bytes = 0;
    for (size_t i = 0; i < pending.size(); ++i) {
      if (finished[i]) continue;
      ++writes;
      bytes += pending[i].left();
    }
    if (writes != 0) {
      absl::StrAppend(&out.mismatch, name, ": ", writes, " reported writes (", bytes,
                      " bytes) never reached the capture");
    }
  }
  // No run's time is later than a later run's: a run found before another in
  // the pipe was written before it, whatever order the returns came in.
  for (size_t i = out.writes.size(); i-- > 1;) {
    out.writes[i - 1].at = std::min(out.writes[i - 1].at, out.writes[i].at);
  }
  return out;
}

bool WriteReports::Add(int stream, pid_t pid, pid_t tid, bool continues, absl::string_view data, size_t blind,
                       absl::Duration t, uint64_t order) {
  if (stream != 1 && stream != 2) return false;
  if (!Wanted(stream)) return false;
  bytes_[stream] += blind != 0 ? blind : data.size();
  std::vector<ReportedWrite>& writes = reported_[stream];
  auto open = writing_.find(tid);
  ReportedWrite* w;
  if (continues && open != writing_.end() && open->second.first == stream) {
    w = &writes[open->second.second];
  } else {
    w = &writes.emplace_back();
    w->pid = pid;
    w->order = order;
    writing_[tid] = {stream, writes.size() - 1};
  }
  w->returned = t;
  if (blind != 0) {
    w->blind.push_back({w->data.size(), blind});
    w->data.append(blind, '\0');
  } else {
    w->data.append(data.data(), data.size());
  }
  return Wanted(stream);
}

void WriteReports::ReconcileInto(Observation* obs) {
  obs->writes.clear();
  const std::string* captured[3] = {nullptr, &obs->stdout_bytes, &obs->stderr_bytes};
  size_t stdout_runs = 0;
  for (int s = 1; s <= 2; ++s) {
    std::stable_sort(reported_[s].begin(), reported_[s].end(),
                     [](const ReportedWrite& a, const ReportedWrite& b) { return a.order < b.order; });
    Reconciled r = Reconcile(s, std::move(reported_[s]), *captured[s], obs->output_truncated);
    if (!r.mismatch.empty()) {
      absl::StrAppend(&obs->attribution_mismatch, obs->attribution_mismatch.empty() ? "" : "; ", r.mismatch);
    }
    obs->writes.insert(obs->writes.end(), std::make_move_iterator(r.writes.begin()),
                       std::make_move_iterator(r.writes.end()));
    reported_[s] = {};
    if (s == 1) stdout_runs = obs->writes.size();
  }
  writing_.clear();
  // One order for both streams, by time (each stream's runs are in order).
  std::inplace_merge(obs->writes.begin(), obs->writes.begin() + static_cast<std::ptrdiff_t>(stdout_runs),
                     obs->writes.end(), [](const WriteRecord& a, const WriteRecord& b) { return a.at < b.at; });
}

}  // namespace conformance::internal
