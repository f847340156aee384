#include "mp/internal/pool_wire.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "mp/errors.h"
#include "mp/internal/framing.h"
#include "mp/serialize.h"

namespace mp::internal {
namespace {

void NoOp(uintptr_t, absl::string_view, TaskOutput&) {}
void Other(uintptr_t, absl::string_view, TaskOutput&) {}

TEST(TaskRecordTest, WrittenRecordsReadBack) {
  std::string frame;
  TaskRecordWriter a(&frame, &NoOp, 42);
  a.record()->append("args");
  a.Finish();
  TaskRecordWriter b(&frame, &Other, 0);
  b.Finish();
  absl::string_view rest = frame;
  TaskRecordView v;
  ASSERT_TRUE(NextTaskRecord(&rest, &v));
  EXPECT_EQ(v.trampoline, &NoOp);
  EXPECT_EQ(v.fn, 42u);
  EXPECT_EQ(v.args, "args");
  ASSERT_TRUE(NextTaskRecord(&rest, &v));
  EXPECT_EQ(v.trampoline, &Other);
  EXPECT_EQ(v.args, "");
  EXPECT_FALSE(NextTaskRecord(&rest, &v));
}

TEST(TaskRecordTest, ArgumentsSentAfterTheRecordCountInItsLength) {
  std::string frame;
  TaskRecordWriter a(&frame, &NoOp, 0);
  a.Finish(/*sent_after=*/3);
  frame += "xyz";
  absl::string_view rest = frame;
  TaskRecordView v;
  ASSERT_TRUE(NextTaskRecord(&rest, &v));
  EXPECT_EQ(v.args, "xyz");
}

TEST(TaskRecordTest, TruncatedRecordIsNotRead) {
  std::string frame;
  TaskRecordWriter a(&frame, &NoOp, 0);
  a.record()->append("args");
  a.Finish();
  for (size_t n = 0; n < frame.size(); ++n) {
    absl::string_view cut = absl::string_view(frame).substr(0, n);
    TaskRecordView v;
    EXPECT_FALSE(NextTaskRecord(&cut, &v)) << n;
  }
}

// A result stream of two frames: an OK value, an error status, a raised
// exception; then a flat array of 1000 int64s (which may go in place).
struct Stream {
  std::string bytes;
  std::vector<int64_t> numbers;
};

std::string Frame(int64_t busy, const std::string& records) {
  std::string body(reinterpret_cast<const char*>(&busy), sizeof busy);
  body += records;
  char header[kMaxFrameHeader];
  return std::string(header, EncodeFrameHeader(body.size(), header)) + body;
}

Stream MakeStream() {
  Stream s;
  std::string records;
  TaskOutput out(&records);
  size_t start = out.BeginOk();
  records += "value";
  out.EndOk(start);
  out.Failed(PyError(PyExc::kValueError, "bad"));
  out.Raised(CaughtException{"std::runtime_error", "boom", true, PyError(PyExc::kRuntimeError, "boom")});
  s.bytes = Frame(300, records);
  for (int64_t i = 0; i < 1000; ++i) s.numbers.push_back(i * i);
  std::string second;
  TaskOutput out2(&second);
  start = out2.BeginOk();
  (void)SerializeTo(s.numbers, out2.buffer());
  out2.EndOk(start);
  s.bytes += Frame(50, second);
  return s;
}

// What the parser saw, as text, and the in-place bytes.
struct Seen {
  std::vector<std::string> events;
  std::vector<int64_t> in_place;
};

// Feeds `stream` to a parser at most `step` bytes per read; `in_place`
// says whether the flat array may go in place.
Seen Parse(const std::string& stream, size_t step, bool in_place) {
  using Event = ResultStreamParser::Event;
  ResultStreamParser parser;
  Seen seen;
  size_t fed = 0;
  int records = 0;
  for (;;) {
    Event e = parser.Next(in_place && records == 3);
    switch (e.kind) {
      case Event::kNeed: {
        if (fed == stream.size()) return seen;
        size_t n = std::min({step, e.size, stream.size() - fed});
        std::copy_n(stream.data() + fed, n, e.dst);
        fed += n;
        parser.Received(n);
        break;
      }
      case Event::kRecord:
        ++records;
        seen.events.push_back(absl::StrCat("record ", static_cast<int>(e.result), " ", e.code, " ",
                                           absl::CEscape(e.payload)));
        break;
      case Event::kInPlace:
        ++records;
        seen.events.push_back(absl::StrCat("in place ", e.count, " ", e.bytes));
        seen.in_place.resize(e.count);
        parser.ReadInPlace(reinterpret_cast<char*>(seen.in_place.data()));
        break;
      case Event::kInPlaceDone:
        seen.events.push_back("in place done");
        break;
      case Event::kFrameEnd:
        seen.events.push_back(absl::StrCat("frame end ", e.busy_ns, " ", e.records));
        break;
      case Event::kCorrupt:
        seen.events.push_back("corrupt");
        return seen;
    }
  }
}

TEST(ResultStreamParserTest, AnyFragmentationGivesTheSameRecords) {
  Stream s = MakeStream();
  Seen whole = Parse(s.bytes, s.bytes.size(), false);
  std::string numbers = *Serialize(s.numbers);
  ASSERT_EQ(whole.events.size(), 6u);
  EXPECT_EQ(whole.events[0], "record 0 0 value");
  EXPECT_EQ(whole.events[1],
            absl::StrCat("record 2 ", static_cast<int>(absl::StatusCode::kInvalidArgument),
                         " ValueError\\000ValueError: bad"));
  EXPECT_EQ(whole.events[2], absl::StrCat("record 1 ", static_cast<int>(absl::StatusCode::kInternal),
                                          " RuntimeError\\000RuntimeError: boom\\000std::runtime_error\\000boom"));
  EXPECT_EQ(whole.events[3], "frame end 300 3");
  EXPECT_EQ(whole.events[4], "record 0 0 " + absl::CEscape(numbers));
  EXPECT_EQ(whole.events[5], "frame end 50 1");
  for (size_t step : {1, 2, 3, 7, 9, 16, 100, 4096}) {
    EXPECT_EQ(Parse(s.bytes, step, false).events, whole.events) << step;
  }
}

TEST(ResultStreamParserTest, FlatArrayGoesInPlaceUnderAnyFragmentation) {
  Stream s = MakeStream();
  for (size_t step : {1, 5, 17, 1000, 1 << 20}) {
    Seen seen = Parse(s.bytes, step, true);
    ASSERT_EQ(seen.events.size(), 7u) << step;
    EXPECT_EQ(seen.events[4], "in place 1000 8000") << step;
    EXPECT_EQ(seen.events[5], "in place done") << step;
    EXPECT_EQ(seen.events[6], "frame end 50 1") << step;
    EXPECT_EQ(seen.in_place, s.numbers) << step;
  }
}

TEST(ResultStreamParserTest, DeclinedInPlaceIsAnOrdinaryRecord) {
  Stream s = MakeStream();
  using Event = ResultStreamParser::Event;
  ResultStreamParser parser;
  size_t fed = 0;
  std::vector<std::string> payloads;
  for (;;) {
    Event e = parser.Next(true);
    if (e.kind == Event::kNeed) {
      if (fed == s.bytes.size()) break;
      size_t n = std::min<size_t>({3, e.size, s.bytes.size() - fed});
      std::copy_n(s.bytes.data() + fed, n, e.dst);
      fed += n;
      parser.Received(n);
    } else if (e.kind == Event::kInPlace) {
      parser.Decline();
    } else if (e.kind == Event::kRecord) {
      payloads.emplace_back(e.payload);
    }
  }
  ASSERT_EQ(payloads.size(), 4u);
  EXPECT_EQ(payloads[3], *Serialize(s.numbers));
}

TEST(ResultStreamParserTest, RecordOverrunningItsFrameIsSkippedWithTheFrame) {
  std::string records;
  TaskOutput out(&records);
  size_t start = out.BeginOk();
  records += "abc";
  out.EndOk(start);
  records.resize(records.size() - 1);  // The record claims one byte more.
  std::string stream = Frame(1, records);
  TaskOutput good(&records);
  records.clear();
  start = good.BeginOk();
  records += "ok";
  good.EndOk(start);
  stream += Frame(2, records);
  Seen seen = Parse(stream, 4, false);
  EXPECT_EQ(seen.events, (std::vector<std::string>{"frame end 1 0", "record 0 0 ok", "frame end 2 1"}));
}

TEST(ResultStreamParserTest, BadFrameHeaderIsCorrupt) {
  Seen seen = Parse(std::string("\x80\x00\x00\x01", 4) + std::string(16, 'x'), 64, false);
  EXPECT_EQ(seen.events, std::vector<std::string>{"corrupt"});
}

TEST(DecodeTaskErrorTest, RaisedAndStatusRecordsBecomeTheirErrors) {
  std::string records;
  TaskOutput out(&records);
  out.Raised(CaughtException{"Oops", "boom", true, PyError(PyExc::kValueError, "boom")});
  absl::string_view payload = absl::string_view(records).substr(kResultRecordHeader);
  absl::Status raised = DecodeTaskError(ResultKind::kRaised, static_cast<uint32_t>(absl::StatusCode::kInvalidArgument),
                                        payload, "task #3 (apply_async of f)");
  EXPECT_TRUE(Is(raised, PyExc::kValueError)) << raised;
  EXPECT_EQ(raised.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(raised.message(), "ValueError: boom (Oops raised in task #3 (apply_async of f))");
  std::optional<RemoteExceptionParts> remote = RemoteExceptionOf(raised);
  ASSERT_TRUE(remote.has_value());
  EXPECT_EQ(remote->type, "Oops");
  EXPECT_EQ(remote->what, "boom");
  records.clear();
  out.Failed(PyError(PyExc::kQueueEmpty, "nothing"));
  payload = absl::string_view(records).substr(kResultRecordHeader);
  absl::Status failed = DecodeTaskError(ResultKind::kStatus, static_cast<uint32_t>(absl::StatusCode::kUnavailable),
                                        payload, "task #4 (map of g)");
  EXPECT_TRUE(Is(failed, PyExc::kQueueEmpty));
  EXPECT_EQ(failed.message(), "Empty: nothing (in task #4 (map of g))");
  EXPECT_FALSE(RemoteExceptionOf(failed).has_value());
}

}  // namespace
}  // namespace mp::internal
