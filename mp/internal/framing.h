// Private: CPython's message framing (multiprocessing/connection.py,
// `_send_bytes`/`_recv_bytes`), the one codec for every frame mp reads or
// writes: Connection's messages, and the Pool's task and result frames.
//
// A frame is a 4-byte big-endian signed length, then that many bytes; a body
// of more than 0x7fffffff bytes has the length -1, then an 8-byte big-endian
// unsigned length. Any other negative 4-byte length is malformed (CPython's
// recv_bytes raises "bad message length" there as well).
//
// Thread-safety: the functions are pure.

#ifndef MP_INTERNAL_FRAMING_H_
#define MP_INTERNAL_FRAMING_H_

#include <cstddef>
#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mp::internal {

inline constexpr size_t kShortFrameHeader = 4;
inline constexpr size_t kLongFrameHeader = 12;
inline constexpr size_t kMaxFrameHeader = kLongFrameHeader;
// The largest body a 4-byte header carries.
inline constexpr uint64_t kMaxShortFrameBody = 0x7fffffff;

// Writes the header of a frame whose body is `body_size` bytes into `out` and
// returns its length (4 or 12).
size_t EncodeFrameHeader(uint64_t body_size, char out[kMaxFrameHeader]);

// What the bytes at the start of a stream say about the frame they begin.
struct FrameHeader {
  enum class State {
    kComplete,  // header_size and body_size are valid.
    kNeedMore,  // header_size is how many bytes the header needs in all.
    kBad,       // A negative length other than -1.
  };
  State state = State::kNeedMore;
  size_t header_size = kShortFrameHeader;
  uint64_t body_size = 0;
};

// Decodes the frame header at the start of `bytes` (which may hold more: the
// body, further frames).
FrameHeader DecodeFrameHeader(absl::string_view bytes);

// Reads one frame header from a stream through `read_full`, which reads
// exactly `size` bytes into `data` unless EOF comes first, and returns how
// many it read. Returns the decoded header: kComplete, or kBad (the caller
// decides what a malformed stream means for it).
// Errors: EOFError "end of file" (EOF before the first byte); OSError "got
// end of file during message" (EOF within the header); whatever `read_full`
// returns.
absl::StatusOr<FrameHeader> ReadFrameHeader(
    absl::FunctionRef<absl::StatusOr<size_t>(char* data, size_t size)> read_full);

}  // namespace mp::internal

#endif  // MP_INTERNAL_FRAMING_H_
