// -----------------------------------------------------------------------------
// File: connection.h
// -----------------------------------------------------------------------------
//
// mp::Pipe and mp::Connection: message-oriented byte channels between
// processes, as Python's multiprocessing.Pipe() and
// multiprocessing.connection.Connection.
//
// Each message is framed exactly as CPython frames it (connection.py,
// `_send_bytes`/`_recv_bytes`): a 4-byte big-endian signed length, then the
// bytes; a message of more than 0x7fffffff bytes is sent as the 4-byte length
// -1, an 8-byte big-endian unsigned length, then the bytes. So an mp process
// and a Python process sharing an fd can talk: Python's send_bytes() into
// RecvBytes() and SendBytes() into Python's recv_bytes().
//
// Send/Recv move typed values encoded with mp/serialize.h (cereal), mp's
// counterpart of pickle; they interoperate with other mp processes only.
//
// Messages have no size limit. RecvBytesTo and SendBytesChunks stream a
// message through a callback, so a message of many GiB never has to be held
// in memory at once.
//
// A receiver waiting for a message first polls without blocking for up to
// 50 us, then sleeps in read(): waking a sleeping process on another CPU
// costs more than a typical reply takes, so request/reply traffic runs
// several times faster for at most that much spent CPU per wait. Reads never
// go past the current message, so processes may still share a reading fd (with
// a lock around whole messages), as in CPython.
//
// Connections are created before fork and inherited, as with the fork start
// method; each process then closes the ends it does not use.
//
// Thread-safety: a Connection is not thread-safe; use one per thread, or
// lock around it. Different Connections are independent.
//
// Example:
//
//   auto [reader, writer] = *mp::Pipe(/*duplex=*/false);
//   pid_t pid = *mp::Fork();
//   if (pid == 0) {
//     reader.Close();
//     (void)writer.Send(std::string("hello"));
//     _exit(0);
//   }
//   writer.Close();
//   absl::StatusOr<std::string> got = reader.Recv<std::string>();  // "hello"

#ifndef MP_CONNECTION_H_
#define MP_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "mp/internal/fd.h"
#include "mp/serialize.h"

namespace mp {

class Connection {
 public:
  // A closed connection.
  Connection() = default;
  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() = default;

  // Wraps `fd` (taking ownership; it is closed with the Connection). The fd
  // keeps its close-on-exec flag as it is.
  // Python: multiprocessing.connection.Connection(fd, readable, writable)
  static Connection FromFd(int fd, bool readable = true, bool writable = true);

  // Sends `buf` as one message.
  // Python: Connection.send_bytes(buf)
  // Errors: OSError "handle is closed" / "connection is read-only";
  // BrokenPipeError (the reader is gone).
  absl::Status SendBytes(absl::string_view buf);

  // Sends the concatenation of `pieces` as one message, gathered by writev(2)
  // from where they lie: a message assembled from several buffers (a header
  // and a large payload) need not be copied together first.
  // Python: Connection.send_bytes(b"".join(pieces))
  // Errors: as SendBytes.
  absl::Status SendBytesV(absl::Span<const absl::string_view> pieces);

  // Sends one message of exactly `size` bytes, produced by successive calls
  // of `next_chunk` (each returns the next non-empty piece; the pieces must add
  // up to `size`). For messages too large to hold in memory.
  // Errors: as SendBytes; ValueError if a chunk is empty or overruns `size`
  // (the message on the wire is then incomplete: close the connection).
  absl::Status SendBytesChunks(uint64_t size, absl::FunctionRef<absl::string_view()> next_chunk);

  // Receives one message, blocking until it arrives.
  // Python: Connection.recv_bytes(maxlength)
  // Errors: EOFError (the peer closed at a message boundary); OSError "got end
  // of file during message" (the peer closed mid-message); OSError "bad
  // message length" (the message is longer than `maxlength`, or its header is
  // malformed: its bytes stay unread, so, as CPython does, the connection
  // stops being readable, and a read-only one is closed); OSError "handle is
  // closed" / "connection is write-only".
  absl::StatusOr<std::string> RecvBytes(size_t maxlength = SIZE_MAX);

  // Receives one message, passing its bytes to `sink` in pieces as they are
  // read (never more than 1 MiB at a time), and returns the message's length.
  // A sink error stops the transfer and is returned; the rest of the message
  // is then unread (close the connection).
  // Errors: as RecvBytes.
  absl::StatusOr<uint64_t> RecvBytesTo(absl::FunctionRef<absl::Status(absl::string_view)> sink,
                                       uint64_t maxlength = UINT64_MAX);

  // Serializes `value` (mp/serialize.h) and sends it as one message.
  // Python: Connection.send(obj)
  // Errors: TypeError (not serializable); as SendBytes.
  template <typename T>
  absl::Status Send(const T& value) {
    std::string buf;
    if (absl::Status s = SerializeTo(value, &buf); !s.ok()) return s;
    return SendBytes(buf);
  }

  // Receives one message and deserializes it as a T.
  // Python: Connection.recv()
  // Errors: UnpicklingError (the bytes are not a T); as RecvBytes.
  template <typename T>
  absl::StatusOr<T> Recv() {
    absl::StatusOr<std::string> buf = RecvBytes();
    if (!buf.ok()) return buf.status();
    return Deserialize<T>(*buf);
  }

  // Whether there is data (or EOF) to read, waiting up to `timeout`
  // (zero: just check; absl::InfiniteDuration(): Python's None).
  // Python: Connection.poll(timeout)
  // Errors: OSError "handle is closed" / "connection is write-only".
  absl::StatusOr<bool> Poll(absl::Duration timeout = absl::ZeroDuration());

  // Closes the fd. Idempotent.
  // Python: Connection.close()
  void Close();

  // Python: Connection.closed
  bool closed() const { return !fd_.valid(); }
  // The fd, or -1 when closed.
  // Python: Connection.fileno()
  int fileno() const { return fd_.get(); }
  // Python: Connection.readable / Connection.writable
  bool readable() const { return readable_; }
  bool writable() const { return writable_; }

 private:
  Connection(int fd, bool readable, bool writable) : fd_(fd), readable_(readable), writable_(writable) {}
  absl::Status CheckReadable() const;
  absl::Status CheckWritable() const;
  // Reads the frame header; returns the message length.
  absl::StatusOr<uint64_t> RecvHeader(uint64_t maxlength);
  absl::Status BadMessageLength();

  internal::UniqueFd fd_;
  bool readable_ = false;
  bool writable_ = false;
  bool is_socket_ = false;
  // Whether RecvBytes may poll without blocking before it reads (see
  // ReadFullSpinning in connection.cc).
  bool can_spin_ = true;
};

// Returns a pair of connected Connections. With `duplex` both ends read and
// write (a socketpair); otherwise (a pipe) the first only reads and the second
// only writes. Both fds are close-on-exec.
// Python: multiprocessing.Pipe(duplex=True)
// Errors: OSError (EMFILE, ENFILE).
absl::StatusOr<std::pair<Connection, Connection>> Pipe(bool duplex = true);

}  // namespace mp

#endif  // MP_CONNECTION_H_
