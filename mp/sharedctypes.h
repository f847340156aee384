// -----------------------------------------------------------------------------
// File: sharedctypes.h
// -----------------------------------------------------------------------------
//
// mp::Value, mp::Array, mp::RawValue and mp::RawArray, as Python's
// multiprocessing.Value, Array, RawValue and RawArray: objects of a
// trivially copyable type (Python's typecodes: 'i' is int, 'd' double, ...)
// in shared memory, created before fork and inherited by children. Copies
// refer to the same memory.
//
// Value and Array carry a lock (a new RLock by default, or one you give, as
// Python's `lock=`): Get and Set take it for each access, as the attribute
// accesses of CPython's synchronized wrappers do. A read-modify-write is two
// accesses: hold get_lock() around it, as the Python documentation says
// (`with counter.get_lock(): counter.value += 1`):
//
//   absl::StatusOr<mp::Value<int>> counter = mp::Value<int>::Create(0);
//   {
//     mp::Guard g(counter->get_lock());
//     ++*counter->get_obj();
//   }
//
// RawValue and RawArray have no lock.
//
// A process killed while it holds the lock: the next Get or Set returns
// OwnerDiedError (the value may have been half-written; the access did not
// happen); the next Guard on get_lock() holds the lock with that status, and
// can repair the value (lock.h).
//
// Each object has its own mapping (a page at least), where CPython carves
// them from one shared heap.
//
// Thread-safety: Value and Array are thread- and process-safe; RawValue and
// RawArray are plain memory.

#ifndef MP_SHAREDCTYPES_H_
#define MP_SHAREDCTYPES_H_

#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "mp/errors.h"
#include "mp/internal/lock_core.h"
#include "mp/lock.h"

namespace mp {

namespace internal {
// Shared memory for `count` objects of `size` bytes each, zeroed.
absl::StatusOr<std::shared_ptr<SharedRegion>> MapObjects(size_t size, size_t count, const char* what);
// Takes `lock` for one access; OK only when taken from a live holder.
template <typename L>
absl::Status AcquireForAccess(L& lock) {
  absl::StatusOr<bool> r = lock.Acquire();
  if (r.ok()) return absl::OkStatus();
  if (Is(r.status(), PyExc::kOwnerDiedError)) (void)lock.Release();
  return r.status();
}
}  // namespace internal

// A T in shared memory, without a lock.
// Python: multiprocessing.sharedctypes.RawValue(typecode_or_type, *args)
template <typename T>
class RawValue {
  static_assert(std::is_trivially_copyable_v<T>, "shared objects must be trivially copyable");

 public:
  // Errors: OSError (mmap).
  static absl::StatusOr<RawValue> Create(T init = T{}) {
    absl::StatusOr<std::shared_ptr<internal::SharedRegion>> r = internal::MapObjects(sizeof(T), 1, "a RawValue");
    if (!r.ok()) return r.status();
    return RawValue(*std::move(r), init);
  }
  // Python: RawValue.value (read and assign)
  T& value() const { return *ptr_; }
  T* get_obj() const { return ptr_; }

 private:
  RawValue(std::shared_ptr<internal::SharedRegion> region, T init)
      : region_(std::move(region)), ptr_(static_cast<T*>(region_->data())) {
    std::memcpy(static_cast<void*>(ptr_), &init, sizeof(T));
  }
  std::shared_ptr<internal::SharedRegion> region_;
  T* ptr_;
};

// A T in shared memory with a lock.
template <typename T, typename L = RLock>
class Value {
 public:
  // Python: multiprocessing.Value(typecode_or_type, *args, lock=True)
  // Errors: OSError (mmap).
  static absl::StatusOr<Value> Create(T init = T{}) {
    absl::StatusOr<L> lock = L::Create();
    if (!lock.ok()) return lock.status();
    return Create(init, *std::move(lock));
  }
  // Python: multiprocessing.Value(typecode_or_type, *args, lock=lock)
  static absl::StatusOr<Value> Create(T init, L lock) {
    absl::StatusOr<RawValue<T>> raw = RawValue<T>::Create(init);
    if (!raw.ok()) return raw.status();
    return Value(*std::move(raw), std::move(lock));
  }

  // The value, read under the lock.
  // Python: Value.value
  // Errors: OwnerDiedError (not read: a holder died holding the lock).
  absl::StatusOr<T> Get() {
    if (absl::Status s = internal::AcquireForAccess(lock_); !s.ok()) return s;
    T v = raw_.value();
    (void)lock_.Release();
    return v;
  }
  // Python: Value.value = v
  // Errors: OwnerDiedError (not written).
  absl::Status Set(const T& v) {
    if (absl::Status s = internal::AcquireForAccess(lock_); !s.ok()) return s;
    raw_.value() = v;
    return lock_.Release();
  }

  // Python: Value.get_lock(), Value.get_obj() (unsynchronized), and
  // Value.acquire()/release() (the lock's).
  L& get_lock() { return lock_; }
  T* get_obj() const { return raw_.get_obj(); }
  absl::StatusOr<bool> Acquire(bool block = true, absl::Duration timeout = absl::InfiniteDuration()) {
    return lock_.Acquire(block, timeout);
  }
  absl::Status Release() { return lock_.Release(); }

 private:
  Value(RawValue<T> raw, L lock) : raw_(std::move(raw)), lock_(std::move(lock)) {}
  RawValue<T> raw_;
  L lock_;
};

// An array of T in shared memory, without a lock.
// Python: multiprocessing.sharedctypes.RawArray(typecode_or_type, size_or_initializer)
template <typename T>
class RawArray {
  static_assert(std::is_trivially_copyable_v<T>, "shared objects must be trivially copyable");

 public:
  // `size` zeroed elements, or a copy of `init`.
  // Errors: OSError (mmap).
  static absl::StatusOr<RawArray> Create(size_t size) {
    absl::StatusOr<std::shared_ptr<internal::SharedRegion>> r = internal::MapObjects(sizeof(T), size, "a RawArray");
    if (!r.ok()) return r.status();
    return RawArray(*std::move(r), size);
  }
  static absl::StatusOr<RawArray> Create(absl::Span<const T> init) {
    absl::StatusOr<RawArray> a = Create(init.size());
    if (a.ok() && !init.empty()) std::memcpy(static_cast<void*>(a->data_), init.data(), init.size() * sizeof(T));
    return a;
  }
  static absl::StatusOr<RawArray> Create(std::initializer_list<T> init) {
    return Create(absl::Span<const T>(init.begin(), init.size()));
  }

  // Python: len(a), a[i], a[:]
  size_t size() const { return size_; }
  T& operator[](size_t i) const { return data_[i]; }
  absl::Span<T> get_obj() const { return absl::Span<T>(data_, size_); }

 private:
  RawArray(std::shared_ptr<internal::SharedRegion> region, size_t size)
      : region_(std::move(region)), data_(static_cast<T*>(region_->data())), size_(size) {}
  std::shared_ptr<internal::SharedRegion> region_;
  T* data_;
  size_t size_;
};

// An array of T in shared memory with a lock.
template <typename T, typename L = RLock>
class Array {
 public:
  // Python: multiprocessing.Array(typecode_or_type, size_or_initializer, lock=True)
  // Errors: OSError (mmap).
  static absl::StatusOr<Array> Create(size_t size) { return Make(RawArray<T>::Create(size)); }
  static absl::StatusOr<Array> Create(absl::Span<const T> init) { return Make(RawArray<T>::Create(init)); }
  static absl::StatusOr<Array> Create(std::initializer_list<T> init) {
    return Create(absl::Span<const T>(init.begin(), init.size()));
  }

  // Python: len(a)
  size_t size() const { return raw_.size(); }

  // Element `i`, under the lock.
  // Python: a[i]
  // Errors: IndexError "invalid index"; OwnerDiedError (not read).
  absl::StatusOr<T> Get(size_t i) {
    if (i >= raw_.size()) return PyError(PyExc::kIndexError, "invalid index");
    if (absl::Status s = internal::AcquireForAccess(lock_); !s.ok()) return s;
    T v = raw_[i];
    (void)lock_.Release();
    return v;
  }
  // Python: a[i] = v
  // Errors: IndexError; OwnerDiedError (not written).
  absl::Status Set(size_t i, const T& v) {
    if (i >= raw_.size()) return PyError(PyExc::kIndexError, "invalid index");
    if (absl::Status s = internal::AcquireForAccess(lock_); !s.ok()) return s;
    raw_[i] = v;
    return lock_.Release();
  }
  // Every element, copied under the lock.
  // Python: a[:]
  // Errors: OwnerDiedError.
  absl::StatusOr<std::vector<T>> GetAll() {
    if (absl::Status s = internal::AcquireForAccess(lock_); !s.ok()) return s;
    std::vector<T> v(raw_.get_obj().begin(), raw_.get_obj().end());
    (void)lock_.Release();
    return v;
  }

  // Python: a.get_lock(), a.get_obj() (unsynchronized), a.acquire()/release()
  L& get_lock() { return lock_; }
  absl::Span<T> get_obj() const { return raw_.get_obj(); }
  absl::StatusOr<bool> Acquire(bool block = true, absl::Duration timeout = absl::InfiniteDuration()) {
    return lock_.Acquire(block, timeout);
  }
  absl::Status Release() { return lock_.Release(); }

 private:
  static absl::StatusOr<Array> Make(absl::StatusOr<RawArray<T>> raw) {
    if (!raw.ok()) return raw.status();
    absl::StatusOr<L> lock = L::Create();
    if (!lock.ok()) return lock.status();
    return Array(*std::move(raw), *std::move(lock));
  }
  Array(RawArray<T> raw, L lock) : raw_(std::move(raw)), lock_(std::move(lock)) {}
  RawArray<T> raw_;
  L lock_;
};

}  // namespace mp

#endif  // MP_SHAREDCTYPES_H_
