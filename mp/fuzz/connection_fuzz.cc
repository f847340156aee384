// libFuzzer target for Connection's receive side (CPython's framing: a 4-byte
// big-endian length, or -1 and an 8-byte length, then the body). The first
// byte picks maxlength and how each message is read; the rest goes down a
// pipe, whose writer is then closed. Every receive must give the message a
// reference decoder predicts or its defined error, never crash, hang or
// allocate what a header merely claims. Run: tools/fuzz.sh connection [SECONDS].
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "mp/connection.h"
#include "mp/errors.h"
#include "mp/internal/fd.h"

namespace {

// What one receive must return, decoded from the bytes left.
struct Expected {
  enum Kind { kMessage, kEof, kTruncated, kBadLength } kind;
  std::string body;
};

Expected Decode(absl::string_view& in, uint64_t maxlength) {
  if (in.empty()) return {Expected::kEof, ""};
  if (in.size() < 4) return {Expected::kTruncated, ""};
  auto byte = [&](size_t i) { return uint64_t{static_cast<unsigned char>(in[i])}; };
  uint64_t size = byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3);
  size_t header = 4;
  if (size == 0xffffffff) {
    if (in.size() < 12) return {Expected::kTruncated, ""};
    size = 0;
    for (size_t i = 4; i < 12; ++i) size = size << 8 | byte(i);
    header = 12;
  } else if (size > 0x7fffffff) {
    return {Expected::kBadLength, ""};
  }
  if (size > maxlength) return {Expected::kBadLength, ""};
  if (in.size() - header < size) return {Expected::kTruncated, ""};
  Expected e{Expected::kMessage, std::string(in.substr(header, size))};
  in.remove_prefix(header + size);
  return e;
}

bool Matches(const absl::Status& s, const Expected& e) {
  switch (e.kind) {
    case Expected::kEof: return mp::Is(s, mp::PyExc::kEOFError);
    case Expected::kTruncated: return mp::Is(s, mp::PyExc::kOSError) && s.message() == "OSError: got end of file during message";
    case Expected::kBadLength: return mp::Is(s, mp::PyExc::kOSError) && s.message() == "OSError: bad message length";
    case Expected::kMessage: return false;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  // The whole input fits the pipe buffer, so no writer thread is needed.
  if (rest.size() > 60000) return 0;
  static constexpr uint64_t kMaxLengths[] = {UINT64_MAX, 0, 1, 7, 64, 4096, 0x7fffffff, 0x80000000};
  const uint64_t maxlength = kMaxLengths[mode & 7];
  absl::StatusOr<mp::internal::PipeFds> p = mp::internal::MakePipe();
  if (!p.ok()) std::abort();
  if (!mp::internal::WriteFull(p->write.get(), rest.data(), rest.size()).ok()) std::abort();
  p->write.reset();
  mp::Connection reader = mp::Connection::FromFd(p->read.release(), true, false);

  absl::string_view model = rest;
  for (int i = 0;; ++i) {
    Expected want = Decode(model, maxlength);
    // Bits 3..7 pick RecvBytes or RecvBytesTo per message, cycling.
    const bool streamed = (mode >> (3 + i % 5)) & 1;
    absl::Status status;
    std::string got;
    if (streamed) {
      absl::StatusOr<uint64_t> n = reader.RecvBytesTo(
          [&](absl::string_view piece) {
            if (piece.empty()) std::abort();
            got.append(piece.data(), piece.size());
            return absl::OkStatus();
          },
          maxlength);
      status = n.status();
      if (n.ok() && *n != got.size()) std::abort();
    } else {
      absl::StatusOr<std::string> m = reader.RecvBytes(static_cast<size_t>(maxlength));
      status = m.status();
      if (m.ok()) got = *std::move(m);
    }
    if (want.kind == Expected::kMessage) {
      if (!status.ok() || got != want.body) std::abort();
      continue;
    }
    if (!Matches(status, want)) std::abort();
    break;  // After any error the connection's position is undefined.
  }
  return 0;
}
