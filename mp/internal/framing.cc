#include "mp/internal/framing.h"

#include <cstring>

#include "mp/errors.h"

namespace mp::internal {
namespace {

uint64_t BigEndian(const char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = v << 8 | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

size_t EncodeFrameHeader(uint64_t body_size, char out[kMaxFrameHeader]) {
  if (body_size > kMaxShortFrameBody) {
    std::memcpy(out, "\xff\xff\xff\xff", 4);
    for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<char>(body_size >> (56 - 8 * i));
    return kLongFrameHeader;
  }
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(body_size >> (24 - 8 * i));
  return kShortFrameHeader;
}

FrameHeader DecodeFrameHeader(absl::string_view bytes) {
  FrameHeader h;
  if (bytes.size() < kShortFrameHeader) return h;
  const uint64_t first = BigEndian(bytes.data(), kShortFrameHeader);
  if (first == 0xffffffff) {
    h.header_size = kLongFrameHeader;
    if (bytes.size() < kLongFrameHeader) return h;
    h.state = FrameHeader::State::kComplete;
    h.body_size = BigEndian(bytes.data() + kShortFrameHeader, 8);
    return h;
  }
  h.state = first > kMaxShortFrameBody ? FrameHeader::State::kBad : FrameHeader::State::kComplete;
  h.body_size = first > kMaxShortFrameBody ? 0 : first;
  return h;
}

absl::StatusOr<FrameHeader> ReadFrameHeader(
    absl::FunctionRef<absl::StatusOr<size_t>(char* data, size_t size)> read_full) {
  char h[kMaxFrameHeader];
  size_t have = 0;
  FrameHeader header;
  while (header.state == FrameHeader::State::kNeedMore) {
    absl::StatusOr<size_t> n = read_full(h + have, header.header_size - have);
    if (!n.ok()) return n.status();
    if (*n == 0 && have == 0) return PyError(PyExc::kEOFError, "end of file");
    have += *n;
    if (have < header.header_size) return PyError(PyExc::kOSError, "got end of file during message");
    header = DecodeFrameHeader(absl::string_view(h, have));
  }
  return header;
}

}  // namespace mp::internal
