// -----------------------------------------------------------------------------
// File: shared_memory.h
// -----------------------------------------------------------------------------
//
// mp::SharedMemory, as Python's multiprocessing.shared_memory.SharedMemory:
// a named POSIX shared memory segment (shm_open, in /dev/shm) that any
// process can attach to by name, forked or not.
//
// Who unlinks a segment when a process dies: as in CPython, a resource
// tracker (mp/internal/resource_tracker.h). The process that creates a
// segment registers it; Unlink() unregisters it. When every process that
// shares the tracker (the creator's program: the process that first created
// a segment and everything it forked since) has exited, however it died,
// the tracker unlinks each segment still registered and says so on stderr.
// So a creator SIGKILLed before it unlinks leaks nothing past the end of its
// program, and never loses the segment while a process of its program still
// runs (`tools/faults` case `shm_creator_kills`). Only the creator registers
// (CPython 3.11 also registers on attach, so that an attaching process
// unlinks the segment when it exits: bpo-39959, fixed by `track` in 3.13).
//
// Close() unmaps this process's view; Unlink() removes the name (the memory
// lives on while any process has it mapped). Call Unlink once, in one
// process, as in CPython.
//
// No ShareableList: its value is its pickle-compatible layout for Python
// peers; from C++, a SharedMemory and a trivially copyable struct in it (or
// mp::RawArray, for forked children) say the same more plainly.
//
// Thread-safety: a SharedMemory is not thread-safe; the bytes are plain
// memory.
//
// Example:
//
//   absl::StatusOr<mp::SharedMemory> shm = mp::SharedMemory::Create(1024);
//   std::memcpy(shm->buf().data(), "hello", 5);
//   // elsewhere:
//   absl::StatusOr<mp::SharedMemory> same = mp::SharedMemory::Attach(shm->name());
//   same->Close();
//   shm->Close();
//   (void)shm->Unlink();

#ifndef MP_SHARED_MEMORY_H_
#define MP_SHARED_MEMORY_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace mp {

class SharedMemory {
 public:
  // Creates a segment of `size` bytes, zeroed, named `name` ("" : a fresh
  // name "psm_" and 8 hex digits, as CPython's), and registers it with the
  // resource tracker.
  // Python: SharedMemory(name=None, create=True, size=size)
  // Errors: ValueError "'size' must be a positive number different from
  // zero"; FileExistsError (the name is taken); OSError.
  static absl::StatusOr<SharedMemory> Create(size_t size, absl::string_view name = "");

  // Attaches to the existing segment `name` (with or without its leading
  // '/'); its size is the segment's.
  // Python: SharedMemory(name, create=False)
  // Errors: FileNotFoundError; ValueError (empty name); OSError.
  static absl::StatusOr<SharedMemory> Attach(absl::string_view name);

  SharedMemory(SharedMemory&& other) noexcept;
  SharedMemory& operator=(SharedMemory&& other) noexcept;
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  ~SharedMemory();  // Close().

  // Python: SharedMemory.name (without the leading '/'), .size, .buf
  const std::string& name() const { return name_; }
  size_t size() const { return size_; }
  // Empty after Close().
  absl::Span<char> buf() const { return absl::Span<char>(data_, data_ == nullptr ? 0 : size_); }

  // Unmaps this process's view. Idempotent.
  // Python: SharedMemory.close()
  void Close();

  // Removes the segment's name, and its registration.
  // Python: SharedMemory.unlink()
  // Errors: FileNotFoundError (already unlinked).
  absl::Status Unlink();

 private:
  SharedMemory() = default;
  std::string name_;
  char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace mp

#endif  // MP_SHARED_MEMORY_H_
