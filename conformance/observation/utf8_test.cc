#include "conformance/observation/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace conformance {
namespace {

size_t Len(const std::string& s) { return Utf8SequenceLength(s, 0); }

TEST(Utf8Test, ValidSequencesOfEachLength) {
  EXPECT_EQ(Len("\xc3\xa9"), 2u);          // U+00E9
  EXPECT_EQ(Len("\xe2\x82\xac"), 3u);      // U+20AC
  EXPECT_EQ(Len("\xef\xbf\xbd"), 3u);      // U+FFFD
  EXPECT_EQ(Len("\xf0\x9f\x98\x80"), 4u);  // U+1F600
  EXPECT_EQ(Len("\xf4\x8f\xbf\xbf"), 4u);  // U+10FFFF, the last
  EXPECT_EQ(Utf8SequenceLength("a\xc3\xa9", 1), 2u);
}

TEST(Utf8Test, AsciiIsNotAMultiByteSequence) {
  EXPECT_EQ(Len("a"), 0u);
  EXPECT_EQ(Len(std::string(1, '\0')), 0u);
}

TEST(Utf8Test, BytesThatCannotLeadAreRefused) {
  for (int c : {0x80, 0xbf, 0xc0, 0xc1, 0xf5, 0xf8, 0xfc, 0xfe, 0xff}) {
    std::string s(1, static_cast<char>(c));
    s += "\x80\x80\x80";
    EXPECT_EQ(Len(s), 0u) << std::hex << c;
  }
}

TEST(Utf8Test, OverlongSurrogateAndOutOfRangeFormsAreRefused) {
  EXPECT_EQ(Len("\xc0\xaf"), 0u);          // '/' in two bytes
  EXPECT_EQ(Len("\xe0\x80\xaf"), 0u);      // '/' in three
  EXPECT_EQ(Len("\xe0\x9f\xbf"), 0u);      // U+07FF in three
  EXPECT_EQ(Len("\xf0\x80\x80\xaf"), 0u);  // '/' in four
  EXPECT_EQ(Len("\xf0\x8f\xbf\xbf"), 0u);  // U+FFFF in four
  EXPECT_EQ(Len("\xed\xa0\x80"), 0u);      // U+D800
  EXPECT_EQ(Len("\xed\xbf\xbf"), 0u);      // U+DFFF
  EXPECT_EQ(Len("\xf4\x90\x80\x80"), 0u);  // U+110000
}

TEST(Utf8Test, TruncatedOrBrokenSequencesAreRefused) {
  EXPECT_EQ(Len("\xe2\x82"), 0u);
  EXPECT_EQ(Len("\xf0\x9f\x98"), 0u);
  EXPECT_EQ(Len("\xc3" "a"), 0u);
  EXPECT_EQ(Len("\xe2\x28\xa1"), 0u);
}

}  // namespace
}  // namespace conformance
