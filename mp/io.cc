#include "mp/io.h"

#include <errno.h>
#include <iconv.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "mp/errors.h"
#include "mp/internal/fd.h"

namespace mp::io {
namespace {

using mp::internal::UniqueFd;

constexpr size_t kBufferSize = 8192;  // io.DEFAULT_BUFFER_SIZE
constexpr size_t kReadChunk = 64 * 1024;
const iconv_t kNoIconv = reinterpret_cast<iconv_t>(-1);  // iconv_open's failure.

absl::Status Closed() { return PyError(PyExc::kValueError, "I/O operation on closed file."); }

// An encoding's name without case, '-' or '_': Python's codec lookup
// ignores them ("UTF-8", "utf_8", "utf8"; "latin-1", "latin1"), iconv's
// aliases mostly carry one spelling.
std::string Squeezed(absl::string_view encoding) {
  std::string n;
  for (char c : encoding) {
    if (c != '-' && c != '_') n.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return n;
}

bool IsUtf8(absl::string_view encoding) { return Squeezed(encoding) == "utf8"; }

// iconv for `to` <- `from`, one of which is `encoding` (tried as given, then
// squeezed).
iconv_t OpenIconv(const std::string& encoding, bool decode) {
  for (const std::string& name : {encoding, Squeezed(encoding)}) {
    iconv_t cd = decode ? iconv_open("UTF-8", name.c_str()) : iconv_open(name.c_str(), "UTF-8");
    if (cd != reinterpret_cast<iconv_t>(-1)) return cd;
  }
  return reinterpret_cast<iconv_t>(-1);
}

// The length of the UTF-8 sequence starting at s[0], or 0 if s does not
// start with a valid one; -1 if it is a valid beginning cut off by the end.
// Overlong forms, surrogates and code points past U+10FFFF are invalid, as
// Python's codec has them.
int Utf8Length(absl::string_view s) {
  auto b = [&s](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  int n;
  unsigned char lo = 0x80, hi = 0xBF;  // Bounds of the second byte.
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // No surrogates.
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (int i = 1; i < n; ++i) {
    if (static_cast<size_t>(i) >= s.size()) return -1;
    const unsigned char lo_i = i == 1 ? lo : 0x80, hi_i = i == 1 ? hi : 0xBF;
    if (b(i) < lo_i || b(i) > hi_i) return 0;
  }
  return n;
}

// How many code points `s` (valid UTF-8) holds.
size_t CountChars(absl::string_view s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// The byte length of the first `chars` code points of `s` (valid UTF-8).
size_t CharsToBytes(absl::string_view s, size_t chars) {
  size_t i = 0;
  for (; i < s.size() && chars > 0; --chars) {
    const int n = Utf8Length(s.substr(i));
    i += n > 0 ? static_cast<size_t>(n) : 1;
  }
  return std::min(i, s.size());
}

}  // namespace

struct File::State {
  UniqueFd fd;
  Mode mode = Mode::kRead;
  std::optional<std::string> encoding;
  iconv_t cd = kNoIconv;  // For an encoding other than UTF-8.

  // Reading: bytes not yet decoded (an incomplete character), and what is
  // ready (decoded, newlines translated), consumed from `pos`.
  std::string raw;
  std::string ready;
  size_t pos = 0;
  bool pending_cr = false;
  bool eof = false;

  // Writing.
  std::string wbuf;

  ~State() {
    if (cd != kNoIconv) iconv_close(cd);
  }
  bool text() const { return encoding.has_value(); }
  absl::string_view available() const { return absl::string_view(ready).substr(pos); }
  size_t AvailableUnits() const { return text() ? CountChars(available()) : available().size(); }
  // Bytes of available() that hold `units` bytes/characters.
  size_t UnitsToBytes(size_t units) const {
    return text() ? CharsToBytes(available(), units) : std::min(units, available().size());
  }
  std::string Take(size_t bytes) {
    if (pos == 0 && bytes == ready.size()) return std::exchange(ready, std::string());  // No copy.
    std::string out(available().substr(0, bytes));
    pos += out.size();
    if (pos == ready.size()) {
      ready.clear();
      pos = 0;
    }
    return out;
  }
  absl::Status Decode(absl::string_view chunk, bool final);
  void AppendTranslated(absl::string_view text, bool final);
  absl::Status Fill();
  absl::Status WriteRaw(absl::string_view bytes);
};

// Universal newlines: "\r\n" and "\r" become "\n". A "\r" at the end of a
// chunk waits for the next one, which may start with its "\n".
void File::State::AppendTranslated(absl::string_view text, bool final) {
  for (char c : text) {
    if (pending_cr) {
      pending_cr = false;
      ready.push_back('\n');
      if (c == '\n') continue;
    }
    if (c == '\r') {
      pending_cr = true;
    } else {
      ready.push_back(c);
    }
  }
  if (final && pending_cr) {
    pending_cr = false;
    ready.push_back('\n');
  }
}

absl::Status File::State::Decode(absl::string_view chunk, bool final) {
  if (!text()) {
    ready.append(chunk.data(), chunk.size());
    return absl::OkStatus();
  }
  raw.append(chunk.data(), chunk.size());
  std::string decoded;
  size_t used = 0;
  if (cd == kNoIconv) {
    while (used < raw.size()) {
      int n = Utf8Length(absl::string_view(raw).substr(used));
      if (n < 0 && !final) break;  // The rest of the character is still to come.
      if (n <= 0) {
        return PyError(PyExc::kUnicodeDecodeError,
                       absl::StrFormat("'utf-8' codec can't decode byte 0x%02x in position %d: %s",
                                       static_cast<unsigned char>(raw[used]), used,
                                       n < 0 ? "unexpected end of data" : "invalid start or continuation byte"));
      }
      used += static_cast<size_t>(n);
    }
    decoded = raw.substr(0, used);
  } else {
    char* in = raw.data();
    size_t in_left = raw.size();
    decoded.resize(raw.size() * 4 + 16);
    char* out = decoded.data();
    size_t out_left = decoded.size();
    while (in_left > 0) {
      if (iconv(cd, &in, &in_left, &out, &out_left) != static_cast<size_t>(-1)) break;
      if (errno == E2BIG) {
        size_t done = decoded.size() - out_left;
        decoded.resize(decoded.size() * 2);
        out = decoded.data() + done;
        out_left = decoded.size() - done;
        continue;
      }
      if (errno == EINVAL && !final) break;  // Incomplete at the end.
      return PyError(PyExc::kUnicodeDecodeError,
                     absl::StrFormat("'%s' codec can't decode byte 0x%02x in position %d: %s", *encoding,
                                     static_cast<unsigned char>(*in), in - raw.data(),
                                     errno == EINVAL ? "unexpected end of data" : "illegal multibyte sequence"));
    }
    used = raw.size() - in_left;
    decoded.resize(decoded.size() - out_left);
  }
  raw.erase(0, used);
  AppendTranslated(decoded, final);
  return absl::OkStatus();
}

absl::Status File::State::Fill() {
  char chunk[kReadChunk];
  ssize_t n;
  do {
    n = ::read(fd.get(), chunk, sizeof chunk);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return PyOSError(errno, "read");
  if (pos > 0 && pos >= ready.size() / 2) {
    ready.erase(0, pos);
    pos = 0;
  }
  if (n == 0) eof = true;
  return Decode(absl::string_view(chunk, static_cast<size_t>(n)), /*final=*/n == 0);
}

absl::Status File::State::WriteRaw(absl::string_view bytes) {
  mp::internal::SigpipeGuard sigpipe;
  absl::Status s = mp::internal::WriteFull(fd.get(), bytes.data(), bytes.size());
  if (Is(s, PyExc::kBrokenPipeError)) sigpipe.Caused();
  return s;
}

File::File() : state_(std::make_unique<State>()) {}
File::File(std::unique_ptr<State> state) : state_(std::move(state)) {}
File::File(File&&) noexcept = default;
File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    (void)Close();
    state_ = std::move(other.state_);
  }
  return *this;
}
File::~File() {
  if (state_) (void)Close();
}

absl::StatusOr<File> File::FromFd(int fd, Mode mode, std::optional<std::string> encoding) {
  auto state = std::make_unique<State>();
  state->fd.reset(fd);
  state->mode = mode;
  if (encoding && !IsUtf8(*encoding)) {
    state->cd = OpenIconv(*encoding, mode == Mode::kRead);
    if (state->cd == kNoIconv) return PyError(PyExc::kLookupError, absl::StrCat("unknown encoding: ", *encoding));
  }
  state->encoding = std::move(encoding);
  return File(std::move(state));
}

bool File::closed() const { return !state_ || !state_->fd.valid(); }
bool File::readable() const { return !closed() && state_->mode == Mode::kRead; }
bool File::writable() const { return !closed() && state_->mode == Mode::kWrite; }
std::optional<std::string> File::encoding() const { return state_ ? state_->encoding : std::nullopt; }

absl::StatusOr<int> File::fileno() const {
  if (closed()) return PyError(PyExc::kValueError, "I/O operation on closed file");
  return state_->fd.get();
}

absl::StatusOr<std::string> File::Encode(absl::string_view data) const {
  if (!state_->text()) return std::string(data);
  if (state_->cd == kNoIconv) {
    for (size_t i = 0; i < data.size();) {
      int n = Utf8Length(data.substr(i));
      if (n <= 0) {
        return PyError(PyExc::kUnicodeEncodeError,
                       absl::StrFormat("'utf-8' codec can't encode byte 0x%02x in position %d: not valid UTF-8",
                                       static_cast<unsigned char>(data[i]), i));
      }
      i += static_cast<size_t>(n);
    }
    return std::string(data);
  }
  std::string out(data.size() * 4 + 16, '\0');
  char* in = const_cast<char*>(data.data());
  size_t in_left = data.size();
  char* o = out.data();
  size_t out_left = out.size();
  iconv(state_->cd, nullptr, nullptr, nullptr, nullptr);
  while (in_left > 0 && iconv(state_->cd, &in, &in_left, &o, &out_left) == static_cast<size_t>(-1)) {
    if (errno != E2BIG) {
      return PyError(PyExc::kUnicodeEncodeError,
                     absl::StrFormat("'%s' codec can't encode character in position %d", *state_->encoding,
                                     CountChars(data.substr(0, static_cast<size_t>(in - data.data())))));
    }
    size_t done = out.size() - out_left;
    out.resize(out.size() * 2);
    o = out.data() + done;
    out_left = out.size() - done;
  }
  out.resize(out.size() - out_left);
  return out;
}

absl::StatusOr<size_t> File::Write(absl::string_view data) {
  if (closed()) return Closed();
  if (state_->mode != Mode::kWrite) return PyError(PyExc::kUnsupportedOperation, "not writable");
  absl::StatusOr<std::string> bytes = Encode(data);
  if (!bytes.ok()) return bytes.status();
  State& s = *state_;
  if (s.wbuf.size() + bytes->size() > kBufferSize) {
    if (absl::Status st = Flush(); !st.ok()) return st;
  }
  if (bytes->size() >= kBufferSize) {
    if (absl::Status st = s.WriteRaw(*bytes); !st.ok()) return st;
  } else {
    s.wbuf += *bytes;
  }
  return s.text() ? CountChars(data) : data.size();
}

absl::Status File::Flush() {
  if (closed()) return Closed();
  if (state_->mode != Mode::kWrite || state_->wbuf.empty()) return absl::OkStatus();
  // Dropped even when the write fails, as a BufferedWriter whose raw
  // stream broke cannot be flushed again.
  std::string bytes = std::exchange(state_->wbuf, std::string());
  return state_->WriteRaw(bytes);
}

absl::StatusOr<std::string> File::Read(int64_t size) {
  if (closed()) return Closed();
  if (state_->mode != Mode::kRead) return PyError(PyExc::kUnsupportedOperation, "not readable");
  State& s = *state_;
  while (!s.eof && (size < 0 || s.AvailableUnits() < static_cast<size_t>(size))) {
    if (absl::Status st = s.Fill(); !st.ok()) return st;
  }
  return s.Take(size < 0 ? s.available().size() : s.UnitsToBytes(static_cast<size_t>(size)));
}

absl::StatusOr<std::string> File::ReadLine(int64_t size) {
  if (closed()) return Closed();
  if (state_->mode != Mode::kRead) return PyError(PyExc::kUnsupportedOperation, "not readable");
  State& s = *state_;
  for (;;) {
    absl::string_view have = s.available();
    size_t limit = size < 0 ? have.size() : s.UnitsToBytes(static_cast<size_t>(size));
    size_t nl = have.substr(0, limit).find('\n');
    if (nl != absl::string_view::npos) return s.Take(nl + 1);
    if (s.eof || (size >= 0 && s.AvailableUnits() >= static_cast<size_t>(size))) return s.Take(limit);
    if (absl::Status st = s.Fill(); !st.ok()) return st;
  }
}

absl::StatusOr<std::vector<std::string>> File::ReadLines() {
  std::vector<std::string> lines;
  for (;;) {
    absl::StatusOr<std::string> line = ReadLine();
    if (!line.ok()) return line.status();
    if (line->empty()) return lines;
    lines.push_back(*std::move(line));
  }
}

absl::Status File::Close() {
  if (closed()) return absl::OkStatus();
  absl::Status s = Flush();
  state_->fd.reset();
  return s;
}

absl::StatusOr<bool> File::ReadOnce() {
  if (closed()) return Closed();
  if (state_->eof) return false;
  if (absl::Status st = state_->Fill(); !st.ok()) return st;
  return !state_->eof;
}

std::string File::Peek() const { return state_ ? std::string(state_->available()) : std::string(); }

}  // namespace mp::io
