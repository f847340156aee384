#include "mp/internal/pool_wire.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "mp/errors.h"
#include "mp/internal/framing.h"
#include "mp/serialize.h"

namespace mp::internal {
namespace {

template <typename T>
void Put(std::string* s, T v) {
  s->append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <typename T>
T Get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

constexpr char kRemoteExceptionUrl[] = "type.mp.dev/remote_exception";

// The smallest read worth a system call when the caller has no exact need.
constexpr size_t kMinRead = 64 * 1024;

}  // namespace

// ---------------------------------------------------------------------------
// Task records

TaskRecordWriter::TaskRecordWriter(std::string* record, Trampoline trampoline, uintptr_t fn) : record_(record) {
  Put(record_, reinterpret_cast<uintptr_t>(trampoline));
  Put(record_, fn);
  Put(record_, uint32_t{0});
  args_start_ = record_->size();
}

void TaskRecordWriter::Finish(size_t sent_after) {
  uint32_t len = static_cast<uint32_t>(record_->size() - args_start_ + sent_after);
  std::memcpy(record_->data() + args_start_ - 4, &len, 4);
}

bool NextTaskRecord(absl::string_view* frame, TaskRecordView* out) {
  if (frame->size() < kTaskRecordHeader) return false;
  const char* p = frame->data();
  const uint32_t len = Get<uint32_t>(p + 16);
  if (frame->size() - kTaskRecordHeader < len) return false;
  out->trampoline = reinterpret_cast<Trampoline>(Get<uintptr_t>(p));
  out->fn = Get<uintptr_t>(p + 8);
  out->args = frame->substr(kTaskRecordHeader, len);
  frame->remove_prefix(kTaskRecordHeader + len);
  return true;
}

// ---------------------------------------------------------------------------
// TaskOutput

void TaskOutput::Header(ResultKind kind, uint32_t code, uint32_t len) {
  out_->push_back(static_cast<char>(kind));
  Put(out_, code);
  Put(out_, len);
}

size_t TaskOutput::BeginOk() {
  size_t start = out_->size();
  Header(ResultKind::kOk, 0, 0);
  return start;
}

void TaskOutput::EndOk(size_t start) {
  size_t bulk = 0;
  for (auto it = splices_.rbegin(); it != splices_.rend() && it->at > start; ++it) bulk += it->size;
  uint32_t len = static_cast<uint32_t>(out_->size() - start - kResultRecordHeader + bulk);
  std::memcpy(out_->data() + start + 5, &len, 4);
}

void TaskOutput::Abandon(size_t start) {
  out_->resize(start);
  while (!splices_.empty() && splices_.back().at > start) {
    bulk_bytes_ -= splices_.back().size;
    splices_.pop_back();
  }
}

char* TaskOutput::AppendBulk(size_t n) {
  size_t rounded = (n + 15) / 16 * 16;
  while (block_ < blocks_.size() && blocks_[block_].size - block_used_ < rounded) {
    ++block_;
    block_used_ = 0;
  }
  if (block_ == blocks_.size()) {
    size_t size = std::max({rounded, size_t{64 * 1024}, blocks_.empty() ? 0 : 2 * blocks_.back().size});
    // new char[] is aligned for any arithmetic type, and leaves the bytes
    // as they are.
    blocks_.push_back(Block{std::unique_ptr<char[]>(new char[size]), size});
  }
  char* p = blocks_[block_].data.get() + block_used_;
  block_used_ += rounded;
  splices_.push_back(Splice{out_->size(), p, n});
  bulk_bytes_ += n;
  return p;
}

void TaskOutput::Pieces(std::vector<absl::string_view>* pieces) const {
  pieces->clear();
  size_t at = 0;
  for (const Splice& s : splices_) {
    pieces->push_back(absl::string_view(out_->data() + at, s.at - at));
    pieces->push_back(absl::string_view(s.data, s.size));
    at = s.at;
  }
  pieces->push_back(absl::string_view(out_->data() + at, out_->size() - at));
}

void TaskOutput::Clear(size_t keep) {
  out_->resize(keep);
  splices_.clear();
  bulk_bytes_ = 0;
  has_error_ = false;
  block_ = block_used_ = 0;
}

void TaskOutput::Raised(const CaughtException& e) {
  has_error_ = true;
  const std::string name = PythonException(e.python);
  const absl::string_view message = e.python.message();
  Header(ResultKind::kRaised, static_cast<uint32_t>(e.python.code()),
         static_cast<uint32_t>(name.size() + message.size() + e.type.size() + e.what.size() + 3));
  for (absl::string_view part : {absl::string_view(name), message, absl::string_view(e.type)}) {
    out_->append(part.data(), part.size());
    out_->push_back('\0');
  }
  out_->append(e.what);
}

void TaskOutput::Failed(const absl::Status& status) {
  has_error_ = true;
  std::string name = PythonException(status);
  uint32_t len = static_cast<uint32_t>(name.size() + 1 + status.message().size());
  Header(ResultKind::kStatus, static_cast<uint32_t>(status.code()), len);
  out_->append(name);
  out_->push_back('\0');
  out_->append(status.message().data(), status.message().size());
}

absl::Status DecodeTaskError(ResultKind kind, uint32_t code, absl::string_view payload, absl::string_view task) {
  std::vector<absl::string_view> parts = absl::StrSplit(payload, absl::MaxSplits('\0', 3));
  parts.resize(4);
  const absl::string_view name = parts[0], message = parts[1];
  if (kind != ResultKind::kRaised) {
    return PyErrorFromParts(static_cast<absl::StatusCode>(code), name, absl::StrCat(message, " (in ", task, ")"));
  }
  // As CPython's RemoteTraceback rides along as the re-raised exception's
  // cause, the C++ exception rides along as a payload.
  absl::Status s = PyErrorFromParts(static_cast<absl::StatusCode>(code), name,
                                    absl::StrCat(message, " (", parts[2], " raised in ", task, ")"));
  s.SetPayload(kRemoteExceptionUrl, absl::Cord(absl::StrCat(parts[2], absl::string_view("\0", 1), parts[3])));
  return s;
}

std::optional<RemoteExceptionParts> RemoteExceptionOf(const absl::Status& status) {
  auto payload = status.GetPayload(kRemoteExceptionUrl);  // absl::optional
  if (!payload) return std::nullopt;
  std::string flat(*payload);
  std::pair<std::string, std::string> parts = absl::StrSplit(flat, absl::MaxSplits('\0', 1));
  return RemoteExceptionParts{std::move(parts.first), std::move(parts.second)};
}

// ---------------------------------------------------------------------------
// ByteBuf

void ByteBuf::Consume(size_t n) {
  head_ += n;
  if (head_ == tail_) head_ = tail_ = 0;
}

char* ByteBuf::Reserve(size_t n) {
  if (cap_ - tail_ >= n) return data_.get() + tail_;
  size_t live = size();
  if (head_ > 0 && cap_ - live >= n && live <= cap_ / 2) {
    std::memmove(data_.get(), begin(), live);
  } else {
    size_t cap = std::max({cap_ * 2, live + n, kMinRead});
    std::unique_ptr<char[]> d(new char[cap]);
    if (live) std::memcpy(d.get(), begin(), live);
    data_ = std::move(d);
    cap_ = cap;
  }
  head_ = 0;
  tail_ = live;
  return data_.get() + tail_;
}

// ---------------------------------------------------------------------------
// ResultStreamParser

ResultStreamParser::Event ResultStreamParser::Need(size_t size, bool exact) {
  Event e;
  e.kind = Event::kNeed;
  e.exact = exact;
  e.size = exact ? size : std::max(size, kMinRead);
  e.dst = in_.Reserve(e.size);
  reading_direct_ = false;
  return e;
}

bool ResultStreamParser::SkipFrameRest(Event* need) {
  size_t skip = static_cast<size_t>(std::min<uint64_t>(frame_left_, in_.size()));
  in_.Consume(skip);
  frame_left_ -= skip;
  if (frame_left_ == 0) return false;
  *need = Need(static_cast<size_t>(frame_left_), false);
  return true;
}

void ResultStreamParser::Received(size_t n) {
  if (!reading_direct_) {
    in_.Commit(n);
    return;
  }
  direct_ += n;
  direct_left_ -= n;
  if (direct_left_ == 0) direct_done_ = true;
}

void ResultStreamParser::ReadInPlace(char* dst) {
  const uint64_t rlen = Get<uint32_t>(in_.begin() + 5);
  const size_t bytes = static_cast<size_t>(rlen - kFlatArrayHeader);
  in_.Consume(kResultRecordHeader + kFlatArrayHeader);
  frame_left_ -= kResultRecordHeader + rlen;
  ++frame_records_;
  const size_t have = std::min(in_.size(), bytes);
  if (have > 0) std::memcpy(dst, in_.begin(), have);
  in_.Consume(have);
  direct_ = dst + have;
  direct_left_ = bytes - have;
  direct_done_ = direct_left_ == 0;
}

ResultStreamParser::Event ResultStreamParser::Next(bool in_place_wanted) {
  Event e;
  if (corrupt_) {
    e.kind = Event::kCorrupt;
    return e;
  }
  in_.Consume(std::exchange(consume_, 0));
  if (direct_done_) {
    direct_done_ = false;
    direct_ = nullptr;
    declined_ = false;
    e.kind = Event::kInPlaceDone;
    return e;
  }
  if (direct_left_ > 0) {
    e.kind = Event::kNeed;
    e.dst = direct_;
    e.size = direct_left_;
    e.exact = true;
    reading_direct_ = true;
    return e;
  }
  const bool in_place = in_place_wanted && !declined_;
  for (;;) {
    if (!in_frame_) {
      FrameHeader h = DecodeFrameHeader(in_.view());
      if (h.state == FrameHeader::State::kBad) {
        corrupt_ = true;
        e.kind = Event::kCorrupt;
        return e;
      }
      const size_t header = h.header_size;
      // The frame's header, its busy time, and (to see whether it may go in
      // place) the first record's header and array count, in one read.
      if (h.state == FrameHeader::State::kNeedMore || in_.size() < header + kResultFrameHeader) {
        const size_t first_record = in_place ? kResultRecordHeader + kFlatArrayHeader : 0;
        return Need(header + kResultFrameHeader + first_record - in_.size(), in_place);
      }
      in_frame_ = true;
      frame_left_ = h.body_size >= kResultFrameHeader ? h.body_size - kResultFrameHeader : 0;
      frame_busy_ = h.body_size >= kResultFrameHeader ? Get<int64_t>(in_.begin() + header) : 0;
      frame_records_ = 0;
      in_.Consume(header + std::min<uint64_t>(h.body_size, kResultFrameHeader));
      continue;
    }
    if (frame_left_ == 0) {
      in_frame_ = false;
      e.kind = Event::kFrameEnd;
      e.busy_ns = frame_busy_;
      e.records = frame_records_;
      return e;
    }
    if (frame_left_ < kResultRecordHeader || in_.size() < kResultRecordHeader) {
      if (frame_left_ >= kResultRecordHeader) {
        return Need(kResultRecordHeader + (in_place ? kFlatArrayHeader : 0) - in_.size(), in_place);
      }
      // Not a record: skip it (a worker never sends this).
      if (SkipFrameRest(&e)) return e;
      continue;
    }
    const auto kind = static_cast<ResultKind>(*in_.begin());
    const uint64_t rlen = Get<uint32_t>(in_.begin() + 5);
    if (kResultRecordHeader + rlen > frame_left_) {
      // A record overrunning its frame (a worker never sends this).
      if (SkipFrameRest(&e)) return e;
      continue;
    }
    if (kind == ResultKind::kOk && rlen >= kFlatArrayHeader && in_place) {
      if (in_.size() < kResultRecordHeader + kFlatArrayHeader) {
        return Need(kResultRecordHeader + kFlatArrayHeader - in_.size(), true);
      }
      e.kind = Event::kInPlace;
      e.count = DecodeFlatArrayHeader(in_.begin() + kResultRecordHeader);
      e.bytes = rlen - kFlatArrayHeader;
      return e;
    }
    if (in_.size() < kResultRecordHeader + rlen) {
      return Need(static_cast<size_t>(kResultRecordHeader + rlen - in_.size()), false);
    }
    e.kind = Event::kRecord;
    e.result = kind;
    e.code = Get<uint32_t>(in_.begin() + 1);
    e.payload = absl::string_view(in_.begin() + kResultRecordHeader, static_cast<size_t>(rlen));
    consume_ = static_cast<size_t>(kResultRecordHeader + rlen);
    frame_left_ -= kResultRecordHeader + rlen;
    ++frame_records_;
    declined_ = false;
    return e;
  }
}

}  // namespace mp::internal
