#include "mp/shared_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "mp/errors.h"
#include "mp/internal/fd.h"
#include "mp/internal/resource_tracker.h"

namespace mp {
namespace {

// CPython's: "/psm_" and 4 random bytes in hex (14 characters, the most
// that macOS allows).
std::string FreshName() {
  static thread_local std::mt19937 gen(std::random_device{}());
  return absl::StrFormat("/psm_%08x", static_cast<uint32_t>(gen()));
}

std::string WithSlash(absl::string_view name) {
  return name.empty() || name[0] == '/' ? std::string(name) : absl::StrCat("/", name);
}

absl::StatusOr<char*> MapFd(int fd, size_t size, const std::string& name) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return PyOSError(errno, absl::StrCat("mmap of '", name, "'"));
  return static_cast<char*>(p);
}

}  // namespace

absl::StatusOr<SharedMemory> SharedMemory::Create(size_t size, absl::string_view name) {
  if (size == 0) return PyError(PyExc::kValueError, "'size' must be a positive number different from zero");
  bool fresh = name.empty();
  for (int attempt = 0;; ++attempt) {
    std::string path = fresh ? FreshName() : WithSlash(name);
    // A fresh name is registered before the segment exists, so that a kill
    // at any point after leaves nothing the tracker does not know of (an
    // unlink of a name that never came to be is harmless). A name the
    // caller chose may be someone else's: registered once it is ours.
    if (fresh) {
      if (absl::Status s = internal::RegisterSharedMemory(path); !s.ok()) return s;
    }
    internal::UniqueFd fd(::shm_open(path.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600));
    if (!fd.valid()) {
      int err = errno;
      if (fresh) internal::UnregisterSharedMemory(path);
      if (err == EEXIST && fresh && attempt < 100) continue;
      return PyOSError(err, absl::StrCat("'", path, "'"));
    }
    if (!fresh) {
      if (absl::Status s = internal::RegisterSharedMemory(path); !s.ok()) {
        ::shm_unlink(path.c_str());
        return s;
      }
    }
    absl::StatusOr<char*> data;
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
      data = PyOSError(errno, absl::StrCat("ftruncate of '", path, "'"));
    } else {
      data = MapFd(fd.get(), size, path);
    }
    if (!data.ok()) {
      ::shm_unlink(path.c_str());
      internal::UnregisterSharedMemory(path);
      return data.status();
    }
    SharedMemory shm;
    shm.name_ = path.substr(1);
    shm.data_ = *data;
    shm.size_ = size;
    return shm;
  }
}

absl::StatusOr<SharedMemory> SharedMemory::Attach(absl::string_view name) {
  if (name.empty() || name == "/") return PyError(PyExc::kValueError, "'name' can only be None if create=True");
  std::string path = WithSlash(name);
  internal::UniqueFd fd(::shm_open(path.c_str(), O_RDWR, 0600));
  if (!fd.valid()) return PyOSError(errno, absl::StrCat("'", path, "'"));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return PyOSError(errno, absl::StrCat("fstat of '", path, "'"));
  if (st.st_size <= 0) return PyError(PyExc::kValueError, absl::StrCat("'", path, "' is empty"));
  absl::StatusOr<char*> data = MapFd(fd.get(), static_cast<size_t>(st.st_size), path);
  if (!data.ok()) return data.status();
  SharedMemory shm;
  shm.name_ = path.substr(1);
  shm.data_ = *data;
  shm.size_ = static_cast<size_t>(st.st_size);
  return shm;
}

SharedMemory::SharedMemory(SharedMemory&& other) noexcept { *this = std::move(other); }

SharedMemory& SharedMemory::operator=(SharedMemory&& other) noexcept {
  if (this != &other) {
    Close();
    name_ = std::move(other.name_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SharedMemory::~SharedMemory() { Close(); }

void SharedMemory::Close() {
  if (data_ != nullptr) ::munmap(data_, size_);
  data_ = nullptr;
}

absl::Status SharedMemory::Unlink() {
  std::string path = absl::StrCat("/", name_);
  if (::shm_unlink(path.c_str()) != 0) return PyOSError(errno, absl::StrCat("'", path, "'"));
  internal::UnregisterSharedMemory(path);
  return absl::OkStatus();
}

}  // namespace mp
