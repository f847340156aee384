// Private: the bytes the Pool's parent and its workers exchange, defined in
// one place (both sides are one binary on one machine, so integers are
// native).
//
// Each direction is a stream of frames in CPython's framing (framing.h):
//   * A task frame holds task records, each
//       [u64 trampoline][u64 fn][u32 len][len bytes of arguments];
//     a worker runs them in order. An empty task frame means "exit".
//   * A result frame holds [i64 busy nanoseconds][result records], each
//       [u8 kind][u32 code][u32 len][len bytes of payload],
//     answering the oldest task in flight. kOk: the serialized value;
//     kStatus (the task returned an error): the Python exception's name,
//     NUL, the message, with `code` the absl::StatusCode; kRaised (the task
//     threw): as kStatus for the Python exception the C++ one stands for
//     (exceptions.h), then NUL, the C++ type's name, NUL, what().
//
// TaskRecordWriter and NextTaskRecord write and read task records;
// TaskOutput writes result records (in the worker); ResultStreamParser reads
// the result stream (in the parent), incrementally, as bytes arrive.
//
// Thread-safety: none of these objects is thread-safe.

#ifndef MP_INTERNAL_POOL_WIRE_H_
#define MP_INTERNAL_POOL_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "mp/internal/exceptions.h"

namespace mp::internal {

class TaskOutput;

// Runs one task in a worker: decodes `args`, calls the function (`fn` is a
// function pointer, or 0 for a capture-less lambda type), writes one record
// to `out`. Never throws.
using Trampoline = void (*)(uintptr_t fn, absl::string_view args, TaskOutput& out);

// ---------------------------------------------------------------------------
// Task records

inline constexpr size_t kTaskRecordHeader = 20;

// Appends one task record to a string: the header, then the caller appends
// the arguments to record(), then Finish().
class TaskRecordWriter {
 public:
  TaskRecordWriter(std::string* record, Trampoline trampoline, uintptr_t fn);
  std::string* record() { return record_; }
  // Sets the arguments' length: the bytes appended since construction, plus
  // `sent_after` bytes that are not in the string but sent right after it.
  void Finish(size_t sent_after = 0);

 private:
  std::string* record_;
  size_t args_start_;
};

struct TaskRecordView {
  Trampoline trampoline;
  uintptr_t fn;
  absl::string_view args;
};

// Takes the next task record off the front of `*frame`; false if no whole
// record is left.
bool NextTaskRecord(absl::string_view* frame, TaskRecordView* out);

// ---------------------------------------------------------------------------
// Result records

enum class ResultKind : uint8_t { kOk = 0, kRaised = 1, kStatus = 2 };
inline constexpr size_t kResultRecordHeader = 9;
inline constexpr size_t kResultFrameHeader = 8;  // The busy time.

// What a worker writes back for its tasks: result records appended to a
// string, plus bulk bytes spliced in where they were written.
class TaskOutput {
 public:
  explicit TaskOutput(std::string* out) : out_(out) {}
  TaskOutput(const TaskOutput&) = delete;
  TaskOutput& operator=(const TaskOutput&) = delete;
  // Starts an OK record; the caller appends the value; then EndOk().
  size_t BeginOk();
  void EndOk(size_t start);
  // Discards a record begun with BeginOk (serializing the value failed).
  void Abandon(size_t start);
  // The task threw `e`.
  void Raised(const CaughtException& e);
  // The task returned an error status.
  void Failed(const absl::Status& status);
  std::string* buffer() { return out_; }

  // Appends `n` bytes for the caller to fill through the returned pointer
  // (aligned for any arithmetic type). They are neither zero-filled nor
  // copied into buffer(): they are sent from where they lie, spliced in at
  // this point. For a map chunk's raw results, hundreds of KB. Valid until
  // Clear().
  char* AppendBulk(size_t n);
  // All bytes, buffer() with the bulk spliced in, and their total size.
  void Pieces(std::vector<absl::string_view>* pieces) const;
  size_t size() const { return out_->size() + bulk_bytes_; }
  bool has_bulk() const { return !splices_.empty(); }
  // Whether a task failed since the last Clear().
  bool has_error() const { return has_error_; }
  // Keeps the first `keep` bytes of buffer() and drops all bulk.
  void Clear(size_t keep);

 private:
  void Header(ResultKind kind, uint32_t code, uint32_t len);
  // Bulk bytes spliced in before buffer()[at].
  struct Splice {
    size_t at;
    const char* data;
    size_t size;
  };
  struct Block {
    std::unique_ptr<char[]> data;
    size_t size;
  };
  std::string* out_;
  std::vector<Splice> splices_;
  size_t bulk_bytes_ = 0;
  bool has_error_ = false;
  std::vector<Block> blocks_;  // Bump-allocated, reused after Clear().
  size_t block_ = 0, block_used_ = 0;
};

// The error a kRaised or kStatus record stands for, naming `task` ("task #3
// (apply_async of int (*)(int))"). A kRaised one also carries the C++
// exception's type and what() (RemoteExceptionOf).
absl::Status DecodeTaskError(ResultKind kind, uint32_t code, absl::string_view payload, absl::string_view task);

// The C++ type and what() of the exception a task threw, if `status` is the
// error it became.
struct RemoteExceptionParts {
  std::string type;
  std::string what;
};
std::optional<RemoteExceptionParts> RemoteExceptionOf(const absl::Status& status);

// ---------------------------------------------------------------------------
// Reading

// A growable byte buffer without std::string's zero-fill on resize: frames
// of a map chunk are hundreds of KB.
class ByteBuf {
 public:
  const char* begin() const { return data_.get() + head_; }
  size_t size() const { return tail_ - head_; }
  absl::string_view view() const { return absl::string_view(begin(), size()); }
  void Consume(size_t n);
  // Makes room for at least `n` more bytes at the end; returns where.
  char* Reserve(size_t n);
  void Commit(size_t n) { tail_ += n; }

 private:
  std::unique_ptr<char[]> data_;
  size_t head_ = 0, tail_ = 0, cap_ = 0;
};

// Parses a worker's result stream as its bytes arrive, in pieces of any
// size. The caller asks Next() what happened; kNeed says where to read the
// next bytes (then Received()).
//
// An OK record whose payload is a flat array of numbers (serialize.h) may go
// "in place": when the caller says the record it waits for may, the parser
// stops after the array's header (kInPlace) and, if the caller gives a
// target, the payload's bytes are read straight there instead of into the
// parser's buffer.
class ResultStreamParser {
 public:
  struct Event {
    enum Kind {
      kNeed,         // Read up to `size` bytes (exactly `size` if `exact`) into `dst`.
      kRecord,       // A whole record; `payload` is valid until the next call.
      kInPlace,      // An OK record of `count` numbers in `bytes` bytes: ReadInPlace or Decline.
      kInPlaceDone,  // All of an in-place payload has arrived.
      kFrameEnd,     // A frame ended: `busy_ns`, and `records` answered in it.
      kCorrupt,      // A malformed frame header: the stream cannot be read on.
    };
    Kind kind = kNeed;
    char* dst = nullptr;
    size_t size = 0;
    bool exact = false;
    ResultKind result = ResultKind::kOk;
    uint32_t code = 0;
    absl::string_view payload;
    uint64_t count = 0;
    uint64_t bytes = 0;
    int64_t busy_ns = 0;
    size_t records = 0;
  };

  // The next event. `in_place_wanted`: whether the record to come (the
  // answer to the oldest task in flight) may go in place.
  Event Next(bool in_place_wanted);
  // `n` bytes were read into the last kNeed's `dst`.
  void Received(size_t n);
  // After kInPlace: the payload's `bytes` bytes go to `dst`.
  void ReadInPlace(char* dst);
  // After kInPlace: the record is read as any other.
  void Decline() { declined_ = true; }

 private:
  Event Need(size_t size, bool exact);
  // Drops what has arrived of the current frame; true when more of it is
  // still to come (*need then asks for it).
  bool SkipFrameRest(Event* need);

  ByteBuf in_;
  bool corrupt_ = false;
  size_t consume_ = 0;      // Bytes of the last kRecord, dropped at the next call.
  bool in_frame_ = false;
  uint64_t frame_left_ = 0;  // Bytes of the current frame not yet parsed.
  int64_t frame_busy_ = 0;
  size_t frame_records_ = 0;
  bool declined_ = false;  // The record at the front is not to go in place.
  char* direct_ = nullptr;  // Where the rest of an in-place payload goes...
  size_t direct_left_ = 0;  // ...and how much of it is still to come.
  bool direct_done_ = false;
  bool reading_direct_ = false;  // The last kNeed was for direct_.
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_POOL_WIRE_H_
