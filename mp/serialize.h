// -----------------------------------------------------------------------------
// File: serialize.h
// -----------------------------------------------------------------------------
//
// How values cross a process boundary in mp (Connection::Send, Queue::Put,
// Pool arguments and results): mp's counterpart of pickle. Values are encoded
// with cereal's binary archive (Debian's libcereal-dev, header only), so
//
//   * arithmetic types, std::string, and the standard containers, pairs,
//     tuples, optionals and variants of them work out of the box, and
//   * a user type needs only a `serialize` member:
//
//       struct Point {
//         int x, y;
//         template <class Archive> void serialize(Archive& ar) { ar(x, y); }
//       };
//
// The encoding is for processes of one program on one machine (as pickle
// between a parent and its forked children): it is not a stable or portable
// wire format. A type cereal cannot serialize at all is a compile error; a
// `serialize` that throws is a TypeError at run time.
//
// Thread-safety: the functions are reentrant.
//
// Example:
//
//   absl::StatusOr<std::string> bytes = mp::Serialize(std::vector<int>{1, 2});
//   absl::StatusOr<std::vector<int>> back = mp::Deserialize<std::vector<int>>(*bytes);

#ifndef MP_SERIALIZE_H_
#define MP_SERIALIZE_H_

#include <cstdint>
#include <cstring>
#include <exception>
#include <istream>
#include <new>
#include <optional>
#include <ostream>
#include <streambuf>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "cereal/archives/binary.hpp"
#include "cereal/types/array.hpp"
#include "cereal/types/map.hpp"
#include "cereal/types/optional.hpp"
#include "cereal/types/set.hpp"
#include "cereal/types/string.hpp"
#include "cereal/types/tuple.hpp"
#include "cereal/types/unordered_map.hpp"
#include "cereal/types/utility.hpp"
#include "cereal/types/variant.hpp"
#include "cereal/types/vector.hpp"
#include "mp/errors.h"
#include "mp/internal/exceptions.h"

namespace mp {
namespace internal {

// A streambuf that appends to a std::string: cereal writes through an
// ostream, and this avoids ostringstream's extra copy of the result.
class StringAppendBuf : public std::streambuf {
 public:
  explicit StringAppendBuf(std::string* out) : out_(out) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_->append(s, static_cast<size_t>(n));
    return n;
  }
  int_type overflow(int_type ch) override {
    if (!traits_type::eq_int_type(ch, traits_type::eof())) out_->push_back(traits_type::to_char_type(ch));
    return traits_type::not_eof(ch);
  }

 private:
  std::string* out_;
};

// A read-only streambuf over bytes the caller keeps alive.
class ViewBuf : public std::streambuf {
 public:
  explicit ViewBuf(absl::string_view bytes) {
    char* p = const_cast<char*>(bytes.data());
    setg(p, p, p + bytes.size());
  }
};

// MemoryError for a Deserialize that ran out of memory. noexcept: if even
// the fallback message cannot be allocated, the process ends (std::terminate)
// rather than unwinding through a caller that holds a queue's lock.
absl::Status DecodeOutOfMemory(const std::type_info& type, size_t size) noexcept;

// The buffer Deserialize is decoding on this thread (null outside it): the
// length-prefix check below needs to know how many bytes remain.
inline thread_local std::streambuf* decoding = nullptr;

// Length prefixes up to this are believed even when fewer bytes remain: the
// elements of a container may encode to nothing (empty structs).
inline constexpr uint64_t kUncheckedLength = 4096;

// cereal's binary archive encodes a std::string, and a std::vector of numbers
// (any arithmetic type but bool, or an enum: cereal writes its underlying
// value), as its element count (a native uint64) then the elements' bytes.
// This is mp's one encoding of "a vector of numbers": the functions below
// write and read exactly those bytes without cereal's streams, so that a large
// item can be encoded straight into its destination (mp::Queue's shared ring,
// a Pool task written from the caller's items) and decoded with one copy.
// serialize_test checks that they agree with Serialize/Deserialize.
template <typename E>
inline constexpr bool kIsFlatElement = (std::is_arithmetic_v<E> && !std::is_same_v<E, bool>) || std::is_enum_v<E>;

template <typename T>
struct IsFlatArray : std::false_type {};
template <>
struct IsFlatArray<std::string> : std::true_type {};
template <typename E, typename A>
struct IsFlatArray<std::vector<E, A>> : std::bool_constant<kIsFlatElement<E>> {};
template <typename T>
inline constexpr bool kIsFlatArray = IsFlatArray<T>::value;

inline constexpr size_t kFlatArrayHeader = sizeof(uint64_t);

template <typename T>
size_t FlatArrayEncodedSize(const T& v) {
  return kFlatArrayHeader + v.size() * sizeof(typename T::value_type);
}

// Writes the header of a flat array of `n` elements (kFlatArrayHeader bytes).
inline void EncodeFlatArrayHeader(uint64_t n, char* dst) { std::memcpy(dst, &n, kFlatArrayHeader); }

// Writes the encoding of `n` elements at `items` to `dst`.
template <typename E>
void EncodeFlatArray(const E* items, size_t n, char* dst) {
  EncodeFlatArrayHeader(n, dst);
  if (n != 0) std::memcpy(dst + kFlatArrayHeader, items, n * sizeof(E));
}

// Writes the encoding of `v` to `dst` (FlatArrayEncodedSize(v) bytes).
template <typename T>
void EncodeFlatArray(const T& v, char* dst) {
  EncodeFlatArray(v.data(), v.size(), dst);
}

// The element count a flat array's header claims.
inline uint64_t DecodeFlatArrayHeader(const char* src) {
  uint64_t n;
  std::memcpy(&n, src, kFlatArrayHeader);
  return n;
}

// How many E's the flat array `bytes` holds (they start kFlatArrayHeader
// bytes in, possibly unaligned), or nullopt if its size disagrees with its
// header.
template <typename E>
std::optional<size_t> FlatArrayCount(absl::string_view bytes) {
  if (bytes.size() < kFlatArrayHeader) return std::nullopt;
  const uint64_t n = DecodeFlatArrayHeader(bytes.data());
  const size_t body = bytes.size() - kFlatArrayHeader;
  if (body % sizeof(E) != 0 || n != body / sizeof(E)) return std::nullopt;
  return static_cast<size_t>(n);
}

// Decodes `bytes` if they are exactly one encoded T, else nullopt
// (Deserialize<T> then says why).
template <typename T>
std::optional<T> DecodeFlatArray(absl::string_view bytes) {
  using E = typename T::value_type;
  std::optional<size_t> n = FlatArrayCount<E>(bytes);
  if (!n) return std::nullopt;
  const char* p = bytes.data() + kFlatArrayHeader;
  const size_t body = bytes.size() - kFlatArrayHeader;
  if constexpr (std::is_same_v<T, std::string>) {
    return std::string(p, body);
  } else {
    T v;
    if (reinterpret_cast<uintptr_t>(p) % alignof(E) == 0) {
      // One pass: no value-initialisation before the copy.
      const E* first = reinterpret_cast<const E*>(p);
      v.assign(first, first + *n);
    } else {
      v.resize(*n);
      if (*n != 0) std::memcpy(v.data(), p, body);
    }
    return v;
  }
}

}  // namespace internal

// Appends the encoding of `value` to `*out`.
// Python: pickle.dumps(value)
// Errors: TypeError (the type's serialize threw), MemoryError (out of memory).
template <typename T>
absl::Status SerializeTo(const T& value, std::string* out) {
  if constexpr (std::is_arithmetic_v<T> || std::is_enum_v<T>) {
    out->append(reinterpret_cast<const char*>(&value), sizeof(T));
    return absl::OkStatus();
  } else if constexpr (internal::kIsFlatArray<T>) {
    // cereal's bytes without its stream: one copy.
    size_t start = out->size();
    try {
      out->resize(start + internal::FlatArrayEncodedSize(value));
    } catch (const std::bad_alloc&) {
      out->resize(start);
      out->shrink_to_fit();
      return PyError(PyExc::kMemoryError, absl::StrCat("out of memory serializing '", internal::TypeName(typeid(T)),
                                                       "' object (0 bytes written)"));
    } catch (const std::exception& e) {
      out->resize(start);
      return PyError(PyExc::kTypeError,
                     absl::StrCat("cannot serialize '", internal::TypeName(typeid(T)), "' object: ", e.what()));
    }
    internal::EncodeFlatArray(value, out->data() + start);
    return absl::OkStatus();
  } else {
    size_t start = out->size();
    try {
      internal::StringAppendBuf buf(out);
      std::ostream os(&buf);
      cereal::BinaryOutputArchive archive(os);
      archive(value);
    } catch (const std::bad_alloc&) {
      // Out of memory is not the value's fault: MemoryError, as pickle says.
      size_t reached = out->size() - start;
      out->resize(start);
      out->shrink_to_fit();
      return PyError(PyExc::kMemoryError, absl::StrCat("out of memory serializing '", internal::TypeName(typeid(T)),
                                                       "' object (", reached, " bytes written)"));
    } catch (const std::exception& e) {
      out->resize(start);
      return PyError(PyExc::kTypeError,
                     absl::StrCat("cannot serialize '", internal::TypeName(typeid(T)), "' object: ", e.what()));
    }
    return absl::OkStatus();
  }
}

template <typename T>
absl::StatusOr<std::string> Serialize(const T& value) {
  std::string out;
  if (absl::Status s = SerializeTo(value, &out); !s.ok()) return s;
  return out;
}

// Decodes a value of type T from exactly `bytes`.
// Python: pickle.loads(bytes)
// Errors: UnpicklingError (truncated, trailing or malformed bytes),
// MemoryError (out of memory).
template <typename T>
absl::StatusOr<T> Deserialize(absl::string_view bytes) {
  if constexpr (std::is_arithmetic_v<T> || std::is_enum_v<T>) {
    if (bytes.size() != sizeof(T)) {
      return PyError(PyExc::kUnpicklingError,
                     absl::StrCat("expected ", sizeof(T), " bytes for '", internal::TypeName(typeid(T)),
                                  "', got ", bytes.size()));
    }
    if constexpr (std::is_same_v<T, bool>) {
      // Any byte but 0 or 1 is no bool: reading it as one is undefined.
      if (static_cast<unsigned char>(bytes[0]) > 1) {
        return PyError(PyExc::kUnpicklingError,
                       absl::StrCat("invalid bool byte ", static_cast<unsigned char>(bytes[0])));
      }
    }
    T value;
    std::memcpy(&value, bytes.data(), sizeof(T));
    return value;
  } else {
    if constexpr (internal::kIsFlatArray<T>) {
      // One copy; anything malformed goes to cereal below, which says why.
      try {
        if (std::optional<T> v = internal::DecodeFlatArray<T>(bytes)) return *std::move(v);
      } catch (const std::bad_alloc&) {
        return internal::DecodeOutOfMemory(typeid(T), bytes.size());
      }
    }
    static_assert(std::is_default_constructible_v<T>, "mp::Deserialize needs a default-constructible type");
    T value{};
    internal::ViewBuf buf(bytes);
    std::istream is(&buf);
    // Restored on the way out: a user type's load may itself Deserialize.
    struct Decoding {
      std::streambuf* saved = std::exchange(internal::decoding, nullptr);
      ~Decoding() { internal::decoding = saved; }
    } decoding;
    internal::decoding = &buf;
    try {
      cereal::BinaryInputArchive archive(is);
      archive(value);
    } catch (const std::bad_alloc&) {
      // Length prefixes are checked against the bytes left (below), so this
      // is the process's memory, not corrupt input.
      return internal::DecodeOutOfMemory(typeid(T), bytes.size());
    } catch (const std::exception& e) {
      return PyError(PyExc::kUnpicklingError,
                     absl::StrCat("cannot decode '", internal::TypeName(typeid(T)), "' from ", bytes.size(),
                                  " bytes: ", e.what()));
    }
    if (is.rdbuf()->in_avail() != 0) {
      return PyError(PyExc::kUnpicklingError,
                     absl::StrCat(is.rdbuf()->in_avail(), " trailing bytes after '",
                                  internal::TypeName(typeid(T)), "'"));
    }
    return value;
  }
}

}  // namespace mp

namespace cereal {

// cereal sizes a string or vector from its length prefix before reading the
// elements, so 8 corrupt bytes claiming 2^40 elements would allocate (and for
// a vector, touch) terabytes. Every element takes at least one byte (bar
// empty types), so a prefix larger than the bytes left is corrupt: throw,
// which Deserialize reports as UnpicklingError. A non-template overload of
// cereal's templated SizeTag serializer wins overload resolution, for the
// binary input archive only.
inline void serialize(BinaryInputArchive& ar, SizeTag<size_type&>& tag) {
  ar(tag.size);
  std::streambuf* buf = mp::internal::decoding;
  if (buf == nullptr || tag.size <= mp::internal::kUncheckedLength) return;
  if (std::streamsize left = buf->in_avail(); left < 0 || tag.size > static_cast<uint64_t>(left)) {
    throw Exception(absl::StrCat("length prefix ", tag.size, " exceeds the ", left < 0 ? 0 : left,
                                 " bytes left"));
  }
}

// A bool is one byte on the wire, and any byte but 0 or 1 (corrupt input) is
// not a valid bool: cereal's generic load would copy it into one, which is
// undefined behaviour (found by mp/fuzz/serialize_fuzz.cc). Read the byte and
// reject the rest. Chosen over cereal's template for the same reason as above.
inline void CEREAL_LOAD_FUNCTION_NAME(BinaryInputArchive& ar, bool& value) {
  uint8_t byte = 0;
  ar.loadBinary(&byte, 1);
  if (byte > 1) throw Exception(absl::StrCat("invalid bool byte ", byte));
  value = byte == 1;
}

}  // namespace cereal

#endif  // MP_SERIALIZE_H_
