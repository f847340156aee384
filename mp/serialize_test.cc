#include "mp/serialize.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "gtest/gtest.h"
#include "mp/testing/sanitizers.h"
#include "mp/errors.h"

namespace mp {
namespace {

struct Point {
  int x = 0, y = 0;
  std::string label;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(x, y, label);
  }
  bool operator==(const Point&) const = default;
};

struct Unserializable {
  template <class Archive>
  void serialize(Archive&) {
    throw std::runtime_error("refuses");
  }
};

template <typename T>
T RoundTrip(const T& v) {
  absl::StatusOr<std::string> bytes = Serialize(v);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<T> back = Deserialize<T>(*bytes);
  EXPECT_TRUE(back.ok()) << back.status();
  return *back;
}

TEST(SerializeTest, ScalarsStringsAndContainersRoundTrip) {
  EXPECT_EQ(RoundTrip(42), 42);
  EXPECT_EQ(RoundTrip(-1.5), -1.5);
  EXPECT_EQ(RoundTrip(std::string("A")), "A");
  EXPECT_EQ(RoundTrip(std::string(1 << 20, 'x')), std::string(1 << 20, 'x'));
  std::vector<int> v = {1, 2, 3};
  EXPECT_EQ(RoundTrip(v), v);
  std::map<std::string, std::vector<double>> m = {{"a", {1.0}}, {"b", {}}};
  EXPECT_EQ(RoundTrip(m), m);
  auto t = std::make_tuple(1, std::string("two"), std::optional<int>(3));
  EXPECT_EQ(RoundTrip(t), t);
  std::variant<int, std::string> var = std::string("s");
  EXPECT_EQ(RoundTrip(var), var);
}

TEST(SerializeTest, UserTypeNeedsOnlyASerializeMember) {
  Point p{1, -2, "origin-ish"};
  EXPECT_EQ(RoundTrip(p), p);
}

TEST(SerializeTest, ThrowingSerializeIsTypeError) {
  absl::StatusOr<std::string> bytes = Serialize(Unserializable{});
  ASSERT_FALSE(bytes.ok());
  EXPECT_TRUE(Is(bytes.status(), PyExc::kTypeError)) << bytes.status();
  EXPECT_NE(bytes.status().message().find("Unserializable"), std::string::npos) << bytes.status();
}

TEST(SerializeTest, FailedSerializeLeavesOutputUntouched) {
  std::string out = "kept";
  EXPECT_FALSE(SerializeTo(Unserializable{}, &out).ok());
  EXPECT_EQ(out, "kept");
}

// mp::Queue encodes and decodes strings and vectors of numbers without
// cereal's streams: the bytes must be exactly cereal's, both ways, and
// anything else must be refused.
template <typename T>
void ExpectFlatArrayMatchesCereal(const T& v) {
  std::string cereal = *Serialize(v);
  std::string ours(internal::FlatArrayEncodedSize(v), '?');
  internal::EncodeFlatArray(v, ours.data());
  EXPECT_TRUE(ours == cereal) << v.size();
  std::optional<T> back = internal::DecodeFlatArray<T>(cereal);
  ASSERT_TRUE(back.has_value()) << v.size();
  EXPECT_TRUE(*back == v) << v.size();
  // Misaligned input (the copy path without assign()).
  std::string shifted = "x" + cereal;
  back = internal::DecodeFlatArray<T>(absl::string_view(shifted).substr(1));
  ASSERT_TRUE(back.has_value()) << v.size();
  EXPECT_TRUE(*back == v) << v.size();
  for (size_t n = 0; n < cereal.size(); ++n) {
    EXPECT_FALSE(internal::DecodeFlatArray<T>(absl::string_view(cereal).substr(0, n)).has_value()) << n;
  }
  EXPECT_FALSE(internal::DecodeFlatArray<T>(cereal + "x").has_value());
}

enum class Color : uint16_t { kRed = 1, kGreen = 2, kBlue = 0x8000 };

TEST(SerializeTest, FlatArrayCodecMatchesCereal) {
  static_assert(internal::kIsFlatArray<std::string> && internal::kIsFlatArray<std::vector<double>>);
  static_assert(internal::kIsFlatArray<std::vector<Color>>);
  static_assert(!internal::kIsFlatArray<std::vector<bool>> && !internal::kIsFlatArray<std::vector<std::string>>);
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{300}}) {
    std::string s(n, '\0');
    std::vector<double> d(n);
    std::vector<int16_t> i16(n);
    std::vector<uint8_t> u8(n);
    std::vector<Color> colors(n);
    for (size_t i = 0; i < n; ++i) {
      colors[i] = i % 3 == 0 ? Color::kRed : i % 3 == 1 ? Color::kGreen : Color::kBlue;
      s[i] = static_cast<char>(i * 31 + 7);
      d[i] = static_cast<double>(i) * 0.5 - 3;
      i16[i] = static_cast<int16_t>(i * 1000);
      u8[i] = static_cast<uint8_t>(i);
    }
    ExpectFlatArrayMatchesCereal(s);
    ExpectFlatArrayMatchesCereal(d);
    ExpectFlatArrayMatchesCereal(i16);
    ExpectFlatArrayMatchesCereal(u8);
    ExpectFlatArrayMatchesCereal(colors);
  }
  ExpectFlatArrayMatchesCereal(std::string(size_t{1} << 20, 'm'));
}

TEST(SerializeTest, TruncatedInputIsUnpicklingError) {
  std::string bytes = *Serialize(std::string("hello world"));
  for (size_t n = 0; n < bytes.size(); ++n) {
    absl::StatusOr<std::string> back = Deserialize<std::string>(absl::string_view(bytes).substr(0, n));
    ASSERT_FALSE(back.ok()) << n;
    EXPECT_TRUE(Is(back.status(), PyExc::kUnpicklingError)) << back.status();
  }
  EXPECT_FALSE(Deserialize<int>("abc").ok());
}

// A bool is one byte; any other value than 0 or 1 is corrupt, and loading it
// into a bool would be undefined behaviour (found by fuzzing).
TEST(SerializeTest, InvalidBoolByteIsUnpicklingError) {
  EXPECT_TRUE(Is(Deserialize<bool>("\x02").status(), PyExc::kUnpicklingError));
  EXPECT_EQ(*Deserialize<bool>(std::string("\x01", 1)), true);
  std::string bytes = *Serialize(std::make_tuple(std::optional<int>(), true));
  ASSERT_EQ(bytes.size(), 2u);
  for (size_t i : {0, 1}) {
    std::string bad = bytes;
    bad[i] = '\x3f';
    absl::Status s = Deserialize<std::tuple<std::optional<int>, bool>>(bad).status();
    EXPECT_TRUE(Is(s, PyExc::kUnpicklingError)) << s;
    EXPECT_NE(s.message().find("invalid bool byte 63"), std::string::npos) << s;
  }
  EXPECT_EQ(*Deserialize<std::vector<bool>>(*Serialize(std::vector<bool>{true, false})),
            (std::vector<bool>{true, false}));
}

TEST(SerializeTest, TrailingBytesAreUnpicklingError) {
  std::string bytes = *Serialize(Point{1, 2, "x"}) + "junk";
  absl::StatusOr<Point> back = Deserialize<Point>(bytes);
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.status().message().find("4 trailing bytes"), std::string::npos) << back.status();
}

TEST(SerializeTest, HugeLengthPrefixDoesNotAllocateWildly) {
  // A string whose length prefix claims 2^60 bytes: must fail, not OOM.
  std::string bytes(8, '\0');
  uint64_t huge = uint64_t{1} << 60;
  std::memcpy(bytes.data(), &huge, 8);
  absl::StatusOr<std::string> back = Deserialize<std::string>(bytes);
  ASSERT_FALSE(back.ok());
  EXPECT_TRUE(Is(back.status(), PyExc::kUnpicklingError)) << back.status();
  EXPECT_NE(back.status().message().find("length prefix 1152921504606846976 exceeds the 0 bytes left"),
            std::string::npos)
      << back.status();
}

TEST(SerializeTest, LengthPrefixLargerThanInputIsRejectedBeforeAllocating) {
  // 2^33 ints would be 32 GiB, value-initialised (touched) by vector::resize:
  // an OOM kill rather than an error unless the prefix is checked first.
  std::string bytes(8, '\0');
  uint64_t count = uint64_t{1} << 33;
  std::memcpy(bytes.data(), &count, 8);
  bytes += std::string(64, 'x');
  absl::StatusOr<std::vector<int>> back = Deserialize<std::vector<int>>(bytes);
  ASSERT_FALSE(back.ok());
  EXPECT_TRUE(Is(back.status(), PyExc::kUnpicklingError)) << back.status();
  EXPECT_NE(back.status().message().find("length prefix 8589934592 exceeds the 64 bytes left"), std::string::npos)
      << back.status();
}

struct Empty {
  template <class Archive>
  void serialize(Archive&) {}
};

TEST(SerializeTest, LargeContainersAndEmptyElementsStillRoundTrip) {
  std::vector<int> many(100000, 7);
  absl::StatusOr<std::vector<int>> back = Deserialize<std::vector<int>>(*Serialize(many));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, many);
  // Empty elements encode to no bytes: a short prefix is believed anyway.
  absl::StatusOr<std::vector<Empty>> empties = Deserialize<std::vector<Empty>>(*Serialize(std::vector<Empty>(100)));
  ASSERT_TRUE(empties.ok()) << empties.status();
  EXPECT_EQ(empties->size(), 100u);
}

// Out of memory (RLIMIT_AS, in a child so the limit cannot hurt the test
// binary) is MemoryError, not TypeError: the value itself is fine.
TEST(SerializeTest, OutOfMemoryIsMemoryError) {
  if (mp::testing::kSanitizerReservesAddressSpace) {
    GTEST_SKIP() << "sanitizers reserve terabytes of address space: RLIMIT_AS cannot be applied";
  }
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string big(64 << 20, 'm');
    if (!testing::LimitAddressSpace(32 << 20)) _exit(3);
    absl::StatusOr<std::string> bytes = Serialize(big);
    if (bytes.ok()) _exit(4);
    if (!Is(bytes.status(), PyExc::kMemoryError)) _exit(5);
    if (bytes.status().message().find("out of memory serializing") == absl::string_view::npos) _exit(6);
    _exit(0);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  EXPECT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0) << "3: setup failed, 4: succeeded, 5: not MemoryError, 6: message";
}

// Decoding out of memory is MemoryError too, not UnpicklingError: the bytes
// are fine (a corrupt length prefix is caught before anything is allocated).
TEST(SerializeTest, DecodingOutOfMemoryIsMemoryError) {
  if (mp::testing::kSanitizerReservesAddressSpace) {
    GTEST_SKIP() << "sanitizers reserve terabytes of address space: RLIMIT_AS cannot be applied";
  }
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    absl::StatusOr<std::string> bytes = Serialize(std::vector<std::string>{std::string(64 << 20, 'm')});
    if (!bytes.ok()) _exit(3);
    absl::StatusOr<std::string> flat = Serialize(std::vector<int64_t>(8 << 20, 7));
    if (!flat.ok()) _exit(3);
    if (!testing::LimitAddressSpace(32 << 20)) _exit(3);
    absl::StatusOr<std::vector<std::string>> v = Deserialize<std::vector<std::string>>(*bytes);
    if (v.ok()) _exit(4);
    if (!Is(v.status(), PyExc::kMemoryError)) _exit(5);
    if (v.status().message().find("out of memory decoding") == absl::string_view::npos) _exit(6);
    absl::StatusOr<std::vector<int64_t>> f = Deserialize<std::vector<int64_t>>(*flat);
    if (f.ok()) _exit(4);
    if (!Is(f.status(), PyExc::kMemoryError)) _exit(5);
    _exit(0);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  EXPECT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0) << "3: setup failed, 4: succeeded, 5: not MemoryError, 6: message";
}

}  // namespace
}  // namespace mp
