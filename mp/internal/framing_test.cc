#include "mp/internal/framing.h"

#include <algorithm>
#include <map>
#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "mp/errors.h"

namespace mp::internal {
namespace {

std::string Encode(uint64_t n) {
  char out[kMaxFrameHeader];
  return std::string(out, EncodeFrameHeader(n, out));
}

TEST(FramingTest, HeaderMatchesPythonStruct) {
  // Expected bytes from CPython: struct.pack("!i", n) and
  // struct.pack("!i", -1) + struct.pack("!Q", n).
  const std::map<uint64_t, std::string> expected = {
      {0, "00000000"},
      {5, "00000005"},
      {0x7fffffff, "7fffffff"},
      {0x80000000, "ffffffff0000000080000000"},
      {(uint64_t{4} << 30) + 123, "ffffffff000000010000007b"},
  };
  for (const auto& [n, hex] : expected) EXPECT_EQ(absl::BytesToHexString(Encode(n)), hex) << n;
}

TEST(FramingTest, DecodeInvertsEncode) {
  for (uint64_t n : {uint64_t{0}, uint64_t{1}, uint64_t{255}, uint64_t{0x7fffffff}, uint64_t{0x80000000},
                     uint64_t{1} << 40, ~uint64_t{0}}) {
    std::string bytes = Encode(n) + "body";
    FrameHeader h = DecodeFrameHeader(bytes);
    ASSERT_EQ(h.state, FrameHeader::State::kComplete) << n;
    EXPECT_EQ(h.header_size, bytes.size() - 4) << n;
    EXPECT_EQ(h.body_size, n);
  }
}

TEST(FramingTest, PartialHeaderAsksForTheWholeHeader) {
  std::string short_header = Encode(7);
  for (size_t have = 0; have < 4; ++have) {
    FrameHeader h = DecodeFrameHeader(absl::string_view(short_header).substr(0, have));
    EXPECT_EQ(h.state, FrameHeader::State::kNeedMore) << have;
    EXPECT_EQ(h.header_size, kShortFrameHeader) << have;
  }
  std::string long_header = Encode(uint64_t{1} << 33);
  for (size_t have = 4; have < 12; ++have) {
    FrameHeader h = DecodeFrameHeader(absl::string_view(long_header).substr(0, have));
    EXPECT_EQ(h.state, FrameHeader::State::kNeedMore) << have;
    EXPECT_EQ(h.header_size, kLongFrameHeader) << have;
  }
}

TEST(FramingTest, NegativeLengthOtherThanMinusOneIsBad) {
  for (std::string hex : {"80000000", "fffffffe", "deadbeef"}) {
    FrameHeader h = DecodeFrameHeader(absl::HexStringToBytes(hex));
    EXPECT_EQ(h.state, FrameHeader::State::kBad) << hex;
  }
}

// Reads from `stream`, as read_full from a pipe holding those bytes.
absl::StatusOr<FrameHeader> ReadFrom(absl::string_view& stream) {
  return ReadFrameHeader([&stream](char* data, size_t size) -> absl::StatusOr<size_t> {
    size_t n = std::min(size, stream.size());
    std::copy_n(stream.data(), n, data);
    stream.remove_prefix(n);
    return n;
  });
}

TEST(FramingTest, ReadFrameHeaderReadsNoByteOfTheBody) {
  for (uint64_t n : {uint64_t{3}, uint64_t{1} << 35}) {
    std::string bytes = Encode(n) + "body";
    absl::string_view stream = bytes;
    absl::StatusOr<FrameHeader> h = ReadFrom(stream);
    ASSERT_TRUE(h.ok()) << h.status();
    EXPECT_EQ(h->body_size, n);
    EXPECT_EQ(stream, "body");
  }
}

TEST(FramingTest, ReadFrameHeaderAtEndOfStreamIsEOFError) {
  absl::string_view stream;
  EXPECT_TRUE(Is(ReadFrom(stream).status(), PyExc::kEOFError));
}

TEST(FramingTest, ReadFrameHeaderCutOffIsTruncatedMessage) {
  for (std::string cut : {Encode(5).substr(0, 3), Encode(uint64_t{1} << 35).substr(0, 7)}) {
    absl::string_view stream = cut;
    absl::Status s = ReadFrom(stream).status();
    EXPECT_EQ(s.message(), "OSError: got end of file during message") << s;
  }
}

TEST(FramingTest, ReadFrameHeaderReportsABadLength) {
  std::string bad = absl::HexStringToBytes("80000001");
  absl::string_view stream = bad;
  absl::StatusOr<FrameHeader> h = ReadFrom(stream);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->state, FrameHeader::State::kBad);
}

TEST(FramingTest, ReadFrameHeaderPassesReadErrorsOn) {
  absl::StatusOr<FrameHeader> h = ReadFrameHeader(
      [](char*, size_t) -> absl::StatusOr<size_t> { return absl::InternalError("boom"); });
  EXPECT_EQ(h.status(), absl::InternalError("boom"));
}

}  // namespace
}  // namespace mp::internal
