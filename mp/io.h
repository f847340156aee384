// -----------------------------------------------------------------------------
// File: io.h
// -----------------------------------------------------------------------------
//
// mp::io::File is Python's file object over one end of a pipe, as
// subprocess.Popen hands them out in Popen.stdin, Popen.stdout and
// Popen.stderr:
//
//   * in binary mode, io.BufferedWriter (writes gather in an 8 KiB buffer,
//     as io.DEFAULT_BUFFER_SIZE, until Flush, Close, or a full buffer) or
//     io.BufferedReader (Read(n) blocks until n bytes or EOF, ReadLine up to
//     and including b"\n");
//   * in text mode, io.TextIOWrapper over those: the child's bytes are
//     decoded from `encoding` into UTF-8 (C++ strings hold UTF-8 where
//     Python holds str), "\r\n" and "\r" read as "\n" (universal newlines),
//     and what is written is encoded from UTF-8 into `encoding`. Sizes count
//     characters (code points), as Python's do. Any encoding iconv(3) knows
//     works; errors are always 'strict' (UnicodeDecodeError /
//     UnicodeEncodeError). CPython defaults to the locale's encoding; mp to
//     UTF-8, which C++ programs rarely set a locale to get.
//
// A dead reader gives BrokenPipeError, never SIGPIPE.
//
// Thread-safety: a File is not thread-safe; use one per thread or a lock.
//
// Example (the port of `p.stdin.write(b"2\n1\n"); p.stdin.close();
// for line in p.stdout: ...`):
//
//   auto p = mp::subprocess::Popen::Start({"sort"}, {.std_in = mp::subprocess::kPipe,
//                                                    .std_out = mp::subprocess::kPipe});
//   (void)p->std_in()->Write("2\n1\n");
//   (void)p->std_in()->Close();                 // EOF: sort prints now.
//   for (;;) {
//     absl::StatusOr<std::string> line = p->std_out()->ReadLine();
//     if (!line.ok() || line->empty()) break;   // "" at EOF, as Python's
//     std::cout << *line;
//   }
//   (void)p->Wait();

#ifndef MP_IO_H_
#define MP_IO_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mp::io {

class File {
 public:
  enum class Mode { kRead, kWrite };

  // A closed file.
  File();
  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();  // Closes (flushing first, errors ignored).

  // Wraps `fd`, taking ownership (it is closed even on error). `encoding`:
  // text mode with that encoding ("utf-8", "latin-1", ...); nullopt: binary.
  // Python: open(fd, "rb"/"wb"), or io.TextIOWrapper(..., encoding=...)
  // Errors: LookupError "unknown encoding: ..." (no such encoding).
  static absl::StatusOr<File> FromFd(int fd, Mode mode, std::optional<std::string> encoding = std::nullopt);

  // Buffers `data` and returns its length in bytes (binary) or characters
  // (text), writing to the pipe when the buffer fills.
  // Python: write(b) / write(s)
  // Errors: ValueError "I/O operation on closed file."; io.UnsupportedOperation
  // "not writable"; UnicodeEncodeError; BrokenPipeError; OSError.
  absl::StatusOr<size_t> Write(absl::string_view data);

  // Writes the buffer to the pipe.
  // Python: flush()
  // Errors: as Write.
  absl::Status Flush();

  // Up to `size` bytes (binary) or characters (text), fewer only at EOF;
  // with a negative size, all until EOF. "" at EOF.
  // Python: read(size=-1)
  // Errors: ValueError (closed); io.UnsupportedOperation "not readable";
  // UnicodeDecodeError; OSError.
  absl::StatusOr<std::string> Read(int64_t size = -1);

  // One line, with its "\n" (none on the last line if the stream ends
  // without one), at most `size` bytes/characters if `size` >= 0. "" at EOF.
  // Python: readline(size=-1)
  // Errors: as Read.
  absl::StatusOr<std::string> ReadLine(int64_t size = -1);

  // Every line until EOF.
  // Python: readlines()
  // Errors: as Read.
  absl::StatusOr<std::vector<std::string>> ReadLines();

  // Flushes (a writer) and closes the fd; the peer sees EOF. Idempotent. The
  // fd is closed even when flushing fails.
  // Python: close()
  // Errors: as Flush.
  absl::Status Close();

  // Python: closed
  bool closed() const;
  // Python: fileno()
  // Errors: ValueError "I/O operation on closed file".
  absl::StatusOr<int> fileno() const;
  // Python: readable(), writable()
  bool readable() const;
  bool writable() const;
  // Python: encoding (nullopt in binary mode)
  std::optional<std::string> encoding() const;

  // For Popen::Communicate, which reads and writes the pipes itself.
  // Reads once (a single read(2), which may block) into the buffer; false
  // at EOF. Errors: as Read.
  absl::StatusOr<bool> ReadOnce();
  // What is buffered (decoded), without consuming it.
  std::string Peek() const;
  // `data` as it goes to the pipe (encoded in text mode).
  // Errors: UnicodeEncodeError.
  absl::StatusOr<std::string> Encode(absl::string_view data) const;

 private:
  struct State;
  explicit File(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace mp::io

#endif  // MP_IO_H_
