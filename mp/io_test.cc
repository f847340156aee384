#include "mp/io.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "mp/errors.h"
#include "mp/internal/fd.h"

namespace mp::io {
namespace {

// A pipe whose read end is a File, and whose write end the test writes raw.
struct ReadEnd {
  File file;
  internal::UniqueFd writer;
};

ReadEnd Reader(std::optional<std::string> encoding = std::nullopt) {
  absl::StatusOr<internal::PipeFds> p = internal::MakePipe();
  EXPECT_TRUE(p.ok());
  absl::StatusOr<File> f = File::FromFd(p->read.release(), File::Mode::kRead, std::move(encoding));
  EXPECT_TRUE(f.ok()) << f.status();
  return ReadEnd{*std::move(f), std::move(p->write)};
}

// A pipe whose write end is a File, and whose read end is non-blocking.
struct WriteEnd {
  File file;
  internal::UniqueFd reader;
  std::string Drain() {
    std::string got;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(reader.get(), buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
    return got;
  }
};

WriteEnd Writer(std::optional<std::string> encoding = std::nullopt) {
  absl::StatusOr<internal::PipeFds> p = internal::MakePipe(O_NONBLOCK);
  EXPECT_TRUE(p.ok());
  absl::StatusOr<File> f = File::FromFd(p->write.release(), File::Mode::kWrite, std::move(encoding));
  EXPECT_TRUE(f.ok()) << f.status();
  return WriteEnd{*std::move(f), std::move(p->read)};
}

void Send(const ReadEnd& r, absl::string_view bytes) {
  ASSERT_TRUE(internal::WriteFull(r.writer.get(), bytes.data(), bytes.size()).ok());
}

TEST(FileTest, WritesWaitInTheBufferUntilFlushAsABufferedWriter) {
  WriteEnd w = Writer();
  EXPECT_EQ(*w.file.Write("abc"), 3u);
  EXPECT_EQ(w.Drain(), "");
  ASSERT_TRUE(w.file.Flush().ok());
  EXPECT_EQ(w.Drain(), "abc");
  std::string big(20000, 'x');  // More than the 8 KiB buffer: written at once.
  EXPECT_EQ(*w.file.Write(big), big.size());
  EXPECT_EQ(w.Drain(), big);
}

TEST(FileTest, CloseFlushesAndTheReaderSeesEof) {
  WriteEnd w = Writer();
  ASSERT_TRUE(w.file.Write("last").ok());
  ASSERT_TRUE(w.file.Close().ok());
  EXPECT_TRUE(w.file.closed());
  EXPECT_EQ(w.Drain(), "last");
  char c;
  EXPECT_EQ(::read(w.reader.get(), &c, 1), 0) << "EOF";
  EXPECT_TRUE(w.file.Close().ok()) << "idempotent";
}

TEST(FileTest, ReadOfNBytesWaitsForNOrEof) {
  ReadEnd r = Reader();
  std::thread writer([&r] {
    Send(r, "ab");
    ::usleep(20000);
    Send(r, "cdef");
    r.writer.reset();
  });
  EXPECT_EQ(*r.file.Read(3), "abc");
  EXPECT_EQ(*r.file.Read(), "def");
  EXPECT_EQ(*r.file.Read(), "") << "EOF";
  writer.join();
}

TEST(FileTest, ReadLineKeepsTheNewlineAndGivesEmptyAtEof) {
  ReadEnd r = Reader();
  Send(r, "one\ntwo\nthree");
  r.writer.reset();
  EXPECT_EQ(*r.file.ReadLine(), "one\n");
  EXPECT_EQ(*r.file.ReadLine(2), "tw");
  EXPECT_EQ(*r.file.ReadLines(), (std::vector<std::string>{"o\n", "three"}));
  EXPECT_EQ(*r.file.ReadLine(), "");
}

TEST(FileTest, TextModeTranslatesNewlinesAcrossReads) {
  ReadEnd r = Reader("utf-8");
  std::thread writer([&r] {
    Send(r, "a\r");  // The "\n" of this "\r\n" comes in the next read.
    ::usleep(20000);
    Send(r, "\nb\rc\r");
    r.writer.reset();
  });
  EXPECT_EQ(*r.file.ReadLines(), (std::vector<std::string>{"a\n", "b\n", "c\n"}));
  writer.join();
}

TEST(FileTest, TextModeDecodesIntoUtf8AndCountsCharacters) {
  ReadEnd r = Reader("latin-1");
  Send(r, "caf\xe9!");
  r.writer.reset();
  EXPECT_EQ(*r.file.Read(4), "caf\xc3\xa9");
  EXPECT_EQ(*r.file.Read(), "!");
  EXPECT_EQ(r.file.encoding(), "latin-1");
}

TEST(FileTest, Utf8CharacterSplitAcrossReadsIsReassembled) {
  ReadEnd r = Reader("UTF-8");
  std::thread writer([&r] {
    Send(r, "\xe2\x82");  // The euro sign, cut after two of its three bytes.
    ::usleep(20000);
    Send(r, "\xac");
    r.writer.reset();
  });
  EXPECT_EQ(*r.file.Read(1), "\xe2\x82\xac");
  writer.join();
}

TEST(FileTest, InvalidBytesInTextModeAreUnicodeDecodeError) {
  ReadEnd r = Reader("utf-8");
  Send(r, "ok\xff");
  r.writer.reset();
  absl::StatusOr<std::string> got = r.file.Read();
  EXPECT_TRUE(Is(got.status(), PyExc::kUnicodeDecodeError)) << got.status();
  EXPECT_EQ(got.status().message(),
            "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 2: invalid start or "
            "continuation byte");
  ReadEnd cut = Reader("utf-8");
  Send(cut, "\xe2\x82");
  cut.writer.reset();
  EXPECT_TRUE(Is(cut.file.Read().status(), PyExc::kUnicodeDecodeError)) << "EOF inside a character";
}

TEST(FileTest, TextModeEncodesWhatIsWritten) {
  WriteEnd w = Writer("latin-1");
  EXPECT_EQ(*w.file.Write("caf\xc3\xa9"), 4u) << "characters, as Python counts";
  ASSERT_TRUE(w.file.Flush().ok());
  EXPECT_EQ(w.Drain(), "caf\xe9");
  EXPECT_TRUE(Is(w.file.Write("\xe2\x82\xac").status(), PyExc::kUnicodeEncodeError)) << "no euro in latin-1";
  WriteEnd utf8 = Writer("utf-8");
  EXPECT_TRUE(Is(utf8.file.Write("\xff").status(), PyExc::kUnicodeEncodeError));
}

TEST(FileTest, UnknownEncodingIsLookupError) {
  absl::StatusOr<internal::PipeFds> p = internal::MakePipe();
  ASSERT_TRUE(p.ok());
  absl::StatusOr<File> f = File::FromFd(p->read.release(), File::Mode::kRead, "no-such-codec");
  EXPECT_TRUE(Is(f.status(), PyExc::kLookupError)) << f.status();
  EXPECT_EQ(f.status().message(), "LookupError: unknown encoding: no-such-codec");
}

TEST(FileTest, ClosedAndWrongWayUseAreErrors) {
  ReadEnd r = Reader();
  EXPECT_TRUE(Is(r.file.Write("x").status(), PyExc::kUnsupportedOperation));
  EXPECT_TRUE(Is(r.file.Write("x").status(), PyExc::kOSError)) << "UnsupportedOperation is an OSError";
  ASSERT_TRUE(r.file.Close().ok());
  EXPECT_EQ(r.file.Read().status().message(), "ValueError: I/O operation on closed file.");
  EXPECT_TRUE(Is(r.file.fileno().status(), PyExc::kValueError));
  WriteEnd w = Writer();
  EXPECT_TRUE(Is(w.file.Read().status(), PyExc::kUnsupportedOperation));
}

TEST(FileTest, WritingToAGoneReaderIsBrokenPipeError) {
  WriteEnd w = Writer();
  w.reader.reset();
  ASSERT_TRUE(w.file.Write("lost").ok());
  absl::Status s = w.file.Close();
  EXPECT_TRUE(Is(s, PyExc::kBrokenPipeError)) << s;
  EXPECT_TRUE(w.file.closed()) << "closed even so";
}

}  // namespace
}  // namespace mp::io
