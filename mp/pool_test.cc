#include "mp/pool.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <new>
#include <atomic>
#include <cstdlib>
#include <numeric>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "mp/testing/sanitizers.h"
#include "mp/errors.h"
#include "mp/os.h"
#include "mp/process.h"

namespace mp {
namespace {

// The value of `r`, which the test expects to be OK (it aborts otherwise).
template <typename T>
T Ok(absl::StatusOr<T> r) {
  EXPECT_TRUE(r.ok()) << r.status();
  return *std::move(r);
}

// Whether `text` contains `part`, printing both when it does not.
::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (absl::StrContains(text, part)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

int AddOne(int x) { return x + 1; }
int Mul(int a, int b) { return a * b; }
int Throws(int x) { throw std::runtime_error(absl::StrCat("boom ", x)); }
int ThrowsInvalidArgument(int x) { throw std::invalid_argument(absl::StrCat("bad ", x)); }
int ThrowsInt(int x) { throw x; }
int ExitsWorker(int code) { throw SystemExit{code}; }
int ThrowsSystemError(int) { throw std::system_error(ENOENT, std::generic_category(), "no file"); }
absl::Status BadStatus(int) { return PyError(PyExc::kValueError, "bad value"); }
absl::StatusOr<int> MaybeHalf(int x) {
  if (x % 2) return PyError(PyExc::kValueError, absl::StrCat(x, " is odd"));
  return x / 2;
}
pid_t MyPid(int) { return ::getpid(); }
std::string SleepThenName(int ms) {
  ::usleep(ms * 1000);
  return std::string("slept");
}
int SleepForever(int) {
  for (;;) ::pause();
}
int AbortTask(int) { std::abort(); }
int SleepMs(int ms) {
  ::usleep(ms * 1000);
  return ms;
}

// A type whose serialization fails at run time: cereal's save throws.
struct Unserializable {
  template <class Archive>
  void serialize(Archive&) const {
    throw std::runtime_error("refusing to serialize");
  }
};
Unserializable MakeUnserializable(int) { return {}; }
int TakesUnserializable(Unserializable) { return 0; }

bool StdinIsDevNull(int) {
  struct stat st;
  return ::fstat(0, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3;
}

int g_initialized = 0;
int InitCount(int) { return g_initialized; }

TEST(PoolTest, ApplyAndApplyAsync) {
  Pool pool(2);
  ASSERT_TRUE(pool.status().ok()) << pool.status();
  EXPECT_EQ(pool.Apply(AddOne, std::tuple(41)).value(), 42);
  EXPECT_EQ(pool.Apply(Mul, std::tuple(6, 7)).value(), 42);
  EXPECT_EQ(pool.Apply([] { return std::string("hi"); }).value(), "hi");
  AsyncResult<int> r = Ok(pool.ApplyAsync([](int x) { return x * 2; }, std::tuple(21)));
  EXPECT_EQ(r.Get().value(), 42);
  EXPECT_TRUE(r.Ready());
  EXPECT_TRUE(r.Successful().value());
  ASSERT_TRUE(pool.Close().ok());
  ASSERT_TRUE(pool.Join().ok());
}

TEST(PoolTest, ManyApplyAsyncResultsAreAllCorrect) {
  Pool pool(3);
  std::vector<AsyncResult<int>> results;
  for (int i = 0; i < 20000; ++i) results.push_back(Ok(pool.ApplyAsync(AddOne, std::tuple(i))));
  for (int i = 0; i < 20000; ++i) ASSERT_EQ(results[i].Get().value(), i + 1);
  ASSERT_TRUE(pool.Close().ok());
  ASSERT_TRUE(pool.Join().ok());
}

TEST(PoolTest, WorkersAreNamedChildrenAndSpreadTheWork) {
  Pool pool(2);
  std::vector<pid_t> pids = pool.WorkerPids();
  ASSERT_EQ(pids.size(), 2u);
  std::vector<AsyncResult<pid_t>> results;
  for (int i = 0; i < 4; ++i) results.push_back(Ok(pool.ApplyAsync([](int ms) {
    ::usleep(ms * 1000);
    return ::getpid();
  }, std::tuple(300))));
  std::set<pid_t> seen;
  for (auto& r : results) seen.insert(r.Get().value());
  EXPECT_EQ(seen, std::set<pid_t>(pids.begin(), pids.end()));
  int named = 0;
  for (const Process& p : ActiveChildren()) {
    if (absl::StartsWith(p.name(), "ForkPoolWorker-")) ++named;
    EXPECT_TRUE(p.daemon());
  }
  EXPECT_EQ(named, 2);
  ASSERT_TRUE(pool.Close().ok());
  ASSERT_TRUE(pool.Join().ok());
  EXPECT_TRUE(ActiveChildren().empty());
}

TEST(PoolTest, MapUsesDefaultChunksizeAndKeepsOrder) {
  Pool pool(2);
  std::vector<int> items(1000);
  std::iota(items.begin(), items.end(), 0);
  absl::StatusOr<std::vector<int>> out = pool.Map(AddOne, items);
  ASSERT_TRUE(out.ok()) << out.status();
  for (int i = 0; i < 1000; ++i) ASSERT_EQ((*out)[i], i + 1);
  EXPECT_EQ(pool.Map(AddOne, items, 7).value(), *out);
  EXPECT_TRUE(pool.Map(AddOne, std::vector<int>{}).value().empty());
  std::vector<std::string> words = {"a", "bb", "ccc"};
  EXPECT_EQ(pool.Map([](const std::string& s) { return s.size(); }, words).value(),
            (std::vector<size_t>{1, 2, 3}));
}

int64_t Cube(int64_t x) { return x * x * x; }
int64_t Widen(int x) { return int64_t{x} << 20; }
float Halve(double x) { return static_cast<float>(x / 2); }
uint8_t Flip(uint8_t x) { return static_cast<uint8_t>(~x); }

// Plain numbers take the fast path: chunks written from the items, results
// computed into place and read into the result vector. Chunk sizes around
// each threshold (small results through the output buffer, >= 4 KB as bulk,
// >= 32 KB read in place), values wider and narrower than the items, 1- and
// 8-byte types at odd offsets, a last short chunk.
TEST(PoolTest, MapOfPlainNumbersIsExactForEveryChunkSize) {
  Pool pool(3);
  std::vector<int64_t> i64(300001);
  std::iota(i64.begin(), i64.end(), -1000);
  std::vector<int> ints(300001);
  std::iota(ints.begin(), ints.end(), -7);
  std::vector<double> doubles(100003);
  for (size_t i = 0; i < doubles.size(); ++i) doubles[i] = 0.5 * static_cast<double>(i);
  std::vector<uint8_t> bytes(70001);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7);
  for (size_t chunksize : {size_t{0}, size_t{1}, size_t{7}, size_t{511}, size_t{5000}, size_t{100000}}) {
    SCOPED_TRACE(chunksize);
    absl::StatusOr<std::vector<int64_t>> cubes = pool.Map(Cube, i64, chunksize);
    ASSERT_TRUE(cubes.ok()) << cubes.status();
    ASSERT_EQ(cubes->size(), i64.size());
    for (size_t i = 0; i < i64.size(); ++i) ASSERT_EQ((*cubes)[i], Cube(i64[i])) << i;
    absl::StatusOr<std::vector<int64_t>> wide = pool.Map(Widen, ints, chunksize);
    ASSERT_TRUE(wide.ok()) << wide.status();
    for (size_t i = 0; i < ints.size(); ++i) ASSERT_EQ((*wide)[i], Widen(ints[i])) << i;
    absl::StatusOr<std::vector<float>> halves = pool.Map(Halve, doubles, chunksize);
    ASSERT_TRUE(halves.ok()) << halves.status();
    for (size_t i = 0; i < doubles.size(); ++i) ASSERT_EQ((*halves)[i], Halve(doubles[i])) << i;
    absl::StatusOr<std::vector<uint8_t>> flipped = pool.Map(Flip, bytes, chunksize);
    ASSERT_TRUE(flipped.ok()) << flipped.status();
    for (size_t i = 0; i < bytes.size(); ++i) ASSERT_EQ((*flipped)[i], Flip(bytes[i])) << i;
    // A lambda, which the chunk loop inlines.
    absl::StatusOr<std::vector<int>> twice = pool.Map([](int x) { return 2 * x; }, ints, chunksize);
    ASSERT_TRUE(twice.ok()) << twice.status();
    for (size_t i = 0; i < ints.size(); ++i) ASSERT_EQ((*twice)[i], 2 * ints[i]) << i;
    // StatusOr results take the checked loop.
    absl::StatusOr<std::vector<int>> halved =
        pool.Map([](int x) -> absl::StatusOr<int> { return x / 2; }, ints, chunksize);
    ASSERT_TRUE(halved.ok()) << halved.status();
    for (size_t i = 0; i < ints.size(); ++i) ASSERT_EQ((*halved)[i], ints[i] / 2) << i;
  }
}

// MapAsync returns before the chunks are sent, and the caller may then
// change or free the items: the pool works from its own copy.
TEST(PoolTest, MapAsyncDoesNotReadTheCallersItemsAfterReturning) {
  Pool pool(2);
  // Far more than the pipes hold, so most chunks are still unsent when
  // MapAsync returns.
  auto items = std::make_unique<std::vector<int>>(4 << 20);
  std::iota(items->begin(), items->end(), 0);
  AsyncResult<std::vector<int>> r = Ok(pool.MapAsync(AddOne, *items));
  std::fill(items->begin(), items->end(), -1);
  items.reset();
  absl::StatusOr<std::vector<int>> out = r.Get();
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), size_t{4 << 20});
  for (int i = 0; i < (4 << 20); ++i) ASSERT_EQ((*out)[i], i + 1) << i;
}

// Counts, across processes, the tasks that ran (a MAP_SHARED page made
// before the pool forks its workers).
std::atomic<int64_t>* g_ran = nullptr;

int ThrowAtZeroElseCount(int x) {
  if (x == 0) throw std::runtime_error("zero");
  // Later than the error, most likely: the map must wait for this anyway.
  if (x % 4096 == 1) ::usleep(20000);
  g_ran->fetch_add(1, std::memory_order_relaxed);
  return x;
}

// As CPython's (3.8+), a failed map is ready only once every chunk has run
// ("only consider the result ready once all jobs are done"): it returns the
// first error, and none of its tasks is still running or waiting to run, so
// the pool holds no reference to the items it was lent.
TEST(PoolTest, MapFailsWithTheFirstErrorOnlyOnceEveryChunkHasRun) {
  void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(page, MAP_FAILED);
  g_ran = new (page) std::atomic<int64_t>(0);
  // 1-item chunks, many per worker; 1M-item chunks (4 MB), which overflow
  // the 1 MB pipes, so chunks wait half-written in the pool.
  for (auto [n, chunksize] : {std::pair<size_t, size_t>{1000, 1}, std::pair<size_t, size_t>{8 << 20, 1 << 20}}) {
    SCOPED_TRACE(chunksize);
    g_ran->store(0);
    Pool pool(2);
    std::vector<int> items(n);
    std::iota(items.begin(), items.end(), 0);
    absl::StatusOr<std::vector<int>> out = pool.Map(ThrowAtZeroElseCount, items, chunksize);
    ASSERT_FALSE(out.ok());
    EXPECT_TRUE(Is(out.status(), PyExc::kRuntimeError)) << out.status();
    EXPECT_TRUE(Contains(std::string(out.status().message()), "RuntimeError: zero (std::runtime_error raised in"));
    // The items of every chunk but the failed one's ran before Map returned.
    EXPECT_EQ(g_ran->load(), static_cast<int64_t>(n - chunksize));
    // The pool holds no reference to `items`: ASan would see it read them
    // after this.
    std::fill(items.begin(), items.end(), -1);
    items = {};
    ASSERT_TRUE(pool.Close().ok());
    ASSERT_TRUE(pool.Join().ok());
    EXPECT_EQ(g_ran->load(), static_cast<int64_t>(n - chunksize));
  }
  g_ran = nullptr;
  ASSERT_EQ(::munmap(page, 4096), 0);
}

int KillSelfAt1234567(int x) {
  if (x == 1234567) ::raise(SIGKILL);
  return x + 1;
}

// A worker killed in the middle of a map of plain numbers fails the map with
// WorkerLostError; the pool replaces it and maps correctly after.
TEST(PoolTest, KilledWorkerDuringAMapOfNumbersFailsTheMapAndThePoolGoesOn) {
  Pool pool(2);
  std::vector<int> items(2 << 20);
  std::iota(items.begin(), items.end(), 0);
  std::vector<pid_t> before = pool.WorkerPids();
  absl::StatusOr<std::vector<int>> out = pool.Map(KillSelfAt1234567, items);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(Is(out.status(), PyExc::kWorkerLostError)) << out.status();
  EXPECT_TRUE(Contains(std::string(out.status().message()), "killed by signal 9 (SIGKILL) while running task #"));
  for (int round = 0; round < 2; ++round) {
    absl::StatusOr<std::vector<int>> again = pool.Map(AddOne, items);
    ASSERT_TRUE(again.ok()) << again.status();
    for (size_t i = 0; i < items.size(); ++i) ASSERT_EQ((*again)[i], items[i] + 1) << i;
  }
  std::vector<pid_t> after = pool.WorkerPids();
  ASSERT_EQ(after.size(), 2u);
  EXPECT_TRUE(after != before);
  ASSERT_TRUE(pool.Close().ok());
  ASSERT_TRUE(pool.Join().ok());
}

// A worker stuck on a long chunk has its queued chunks taken back and run
// by the other; they are sent again from the lent items.
TEST(PoolTest, MapOfNumbersSurvivesChunksTakenBackFromAStuckWorker) {
  Pool pool(2);
  std::vector<int> warm(20000);
  ASSERT_TRUE(pool.Map(AddOne, warm, 1).ok());
  std::vector<int> items(60, 1);
  items[0] = 1500;
  absl::StatusOr<std::vector<int>> out = pool.Map(SleepMs, items, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, items);
}

TEST(PoolTest, MapAsyncCallbackRunsInTheParent) {
  Pool pool(2);
  std::atomic<pid_t> callback_pid{0};
  std::atomic<size_t> callback_size{0};
  AsyncResult<std::vector<int>> r = Ok(pool.MapAsync(
      AddOne, std::vector<int>{1, 2, 3}, 0, [&](const std::vector<int>& v) {
        callback_pid = ::getpid();
        callback_size = v.size();
      }));
  EXPECT_EQ(r.Get().value(), (std::vector<int>{2, 3, 4}));
  ASSERT_TRUE(pool.Close().ok());
  ASSERT_TRUE(pool.Join().ok());  // Callbacks have run once join returns.
  EXPECT_EQ(callback_pid.load(), ::getpid());
  EXPECT_EQ(callback_size.load(), 3u);
}

TEST(PoolTest, ApplyAsyncCallbackAndErrorCallbackRunInTheParent) {
  Pool pool(2);
  std::atomic<int> value{0};
  std::atomic<pid_t> pid{0};
  std::string error;
  std::mutex mu;
  auto ok = Ok(pool.ApplyAsync(AddOne, std::tuple(1), [&](const int& v) {
    value = v;
    pid = ::getpid();
  }));
  auto bad = Ok(pool.ApplyAsync(Throws, std::tuple(2), nullptr, [&](const absl::Status& s) {
    std::lock_guard<std::mutex> lock(mu);
    error = std::string(s.message());
  }));
  EXPECT_TRUE(ok.Wait(absl::Seconds(30)));
  EXPECT_TRUE(bad.Wait(absl::Seconds(30)));
  ASSERT_TRUE(pool.Close().ok());
  ASSERT_TRUE(pool.Join().ok());
  EXPECT_EQ(value.load(), 2);
  EXPECT_EQ(pid.load(), ::getpid());
  EXPECT_TRUE(Contains(error, "boom 2"));
}

TEST(PoolTest, StarmapAppliesTuples) {
  Pool pool(2);
  std::vector<std::tuple<int, int>> items = {{1, 2}, {3, 4}, {5, 6}};
  EXPECT_EQ(pool.Starmap(Mul, items).value(), (std::vector<int>{2, 12, 30}));
  EXPECT_EQ(Ok(pool.StarmapAsync(Mul, items, 1)).Get().value(), (std::vector<int>{2, 12, 30}));
}

TEST(PoolTest, ShortTasksDoNotWaitBehindALongOne) {
  Pool pool(2);
  AsyncResult<int> slow = Ok(pool.ApplyAsync(SleepMs, std::tuple(5000)));
  std::vector<AsyncResult<int>> quick;
  for (int i = 0; i < 40; ++i) quick.push_back(Ok(pool.ApplyAsync(SleepMs, std::tuple(1))));
  for (auto& r : quick) EXPECT_EQ(r.Get(absl::Seconds(60)).value(), 1);
  // Had any quick task been stuck behind the slow one, it would have
  // finished after it.
  EXPECT_FALSE(slow.Ready());
  ASSERT_TRUE(pool.Terminate().ok());
}

TEST(PoolTest, ImapYieldsInOrder) {
  Pool pool(3);
  // Earlier items sleep longer, so they finish last.
  std::vector<int> items = {300, 200, 100, 0, 50};
  ImapIterator<int> it = Ok(pool.Imap(SleepMs, items));
  std::vector<int> got;
  for (;;) {
    absl::StatusOr<std::optional<int>> v = it.Next(absl::Seconds(60));
    ASSERT_TRUE(v.ok()) << v.status();
    if (!*v) break;
    got.push_back(**v);
  }
  EXPECT_EQ(got, items);
}

TEST(PoolTest, ImapUnorderedYieldsEveryResultOnce) {
  Pool pool(3);
  std::vector<int> items(200);
  std::iota(items.begin(), items.end(), 0);
  ImapIterator<int> it = Ok(pool.ImapUnordered(AddOne, items, 7));
  std::multiset<int> got;
  while (true) {
    absl::StatusOr<std::optional<int>> v = it.Next(absl::Seconds(60));
    ASSERT_TRUE(v.ok()) << v.status();
    if (!*v) break;
    got.insert(**v);
  }
  std::multiset<int> want;
  for (int i : items) want.insert(i + 1);
  EXPECT_EQ(got, want);
}

TEST(PoolTest, ImapReportsAFailingItemAndContinues) {
  Pool pool(2);
  ImapIterator<int> it = Ok(pool.Imap(MaybeHalf, std::vector<int>{2, 3, 4}));
  EXPECT_EQ(it.Next().value(), 1);
  absl::StatusOr<std::optional<int>> bad = it.Next();
  EXPECT_TRUE(Is(bad.status(), PyExc::kValueError)) << bad.status();
  EXPECT_EQ(it.Next().value(), 2);
  EXPECT_EQ(it.Next().value(), std::nullopt);
}

TEST(PoolTest, ImapOfUnserializableItemsEndsWithErrors) {
  Pool pool(1);
  ImapIterator<int> it =
      Ok(pool.Imap([](const Unserializable&) { return 1; }, std::vector<Unserializable>(2)));
  EXPECT_TRUE(Is(it.Next(absl::Seconds(10)).status(), PyExc::kTypeError));
  EXPECT_TRUE(Is(it.Next(absl::Seconds(10)).status(), PyExc::kTypeError));
  EXPECT_EQ(it.Next(absl::Seconds(10)).value(), std::nullopt);
}

// CPython's imap takes any iterable, a generator too, and reads it as it
// goes. mp's reads any input range lazily, and stays at most 2 * processes()
// chunks ahead of the reader, so even an endless input works.
TEST(PoolTest, ImapReadsAnyRangeLazilyWithBackPressure) {
  Pool pool(2);
  int pulled = 0;
  auto endless = std::views::iota(0) | std::views::transform([&pulled](int i) {
                   ++pulled;
                   return i;
                 });
  absl::StatusOr<ImapIterator<int>> it = pool.Imap(AddOne, endless);
  ASSERT_TRUE(it.ok()) << it.status();
  EXPECT_LE(pulled, 4) << "read ahead of the reader";
  for (int i = 0; i < 100; ++i) ASSERT_EQ(it->Next(absl::Seconds(30)).value(), i + 1);
  EXPECT_LE(pulled, 104);
  ::usleep(50 * 1000);
  EXPECT_LE(pulled, 104) << "the pool kept reading while nobody read results";
}

TEST(PoolTest, ImapIsARangeOfResults) {
  Pool pool(2);
  absl::StatusOr<ImapIterator<int>> it = pool.Imap(MaybeHalf, std::vector<int>{2, 3, 4}, 1);
  ASSERT_TRUE(it.ok());
  std::vector<std::string> seen;
  for (const absl::StatusOr<int>& v : *it) seen.push_back(v.ok() ? std::to_string(*v) : PythonException(v.status()));
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "ValueError", "2"}));
  absl::StatusOr<ImapIterator<int>> unordered = pool.ImapUnordered(AddOne, std::views::iota(0, 50), 7);
  ASSERT_TRUE(unordered.ok());
  std::set<int> got;
  for (const absl::StatusOr<int>& v : *unordered) got.insert(v.value());
  EXPECT_EQ(got.size(), 50u);
  EXPECT_EQ(*got.rbegin(), 50);
}

TEST(PoolTest, ImapEndsWithErrorsWhenThePoolGoesAway) {
  absl::StatusOr<ImapIterator<int>> it = absl::UnknownError("unset");
  {
    Pool pool(1);
    it = pool.Imap(AddOne, std::views::iota(0));
    ASSERT_TRUE(it.ok());
    ASSERT_EQ(it->Next(absl::Seconds(30)).value(), 1);
  }
  int errors = 0;
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<std::optional<int>> v = it->Next(absl::Seconds(30));
    if (v.ok() && !v->has_value()) break;
    if (!v.ok()) {
      EXPECT_TRUE(Is(v.status(), PyExc::kProcessError) || Is(v.status(), PyExc::kValueError)) << v.status();
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_EQ(it->Next(absl::Seconds(30)).value(), std::nullopt) << "ended";
}

// CPython re-raises a task's own exception in the parent, with the remote
// traceback as its cause; mp gives the Python exception the C++ type stands
// for, naming the task, with the C++ type and what() attached.
TEST(PoolTest, ThrowingTaskRaisesItsExceptionTypeInTheParent) {
  Pool pool(2);
  AsyncResult<int> r = Ok(pool.ApplyAsync(ThrowsInvalidArgument, std::tuple(7)));
  absl::StatusOr<int> v = r.Get();
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(Is(v.status(), PyExc::kValueError)) << v.status();
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(std::string(v.status().message()),
                       "ValueError: bad 7 (std::invalid_argument raised in task #"));
  EXPECT_TRUE(Contains(std::string(v.status().message()), "apply_async of int (*)(int)"));
  std::optional<RemoteException> remote = GetRemoteException(v.status());
  ASSERT_TRUE(remote.has_value());
  EXPECT_EQ(remote->type, "std::invalid_argument");
  EXPECT_EQ(remote->what, "bad 7");
  EXPECT_FALSE(r.Successful().value());
  absl::Status runtime = pool.Apply(Throws, std::tuple(1)).status();
  EXPECT_TRUE(Is(runtime, PyExc::kRuntimeError)) << runtime;
  EXPECT_EQ(GetRemoteException(runtime)->what, "boom 1");
  EXPECT_TRUE(Is(pool.Apply(ThrowsInt, std::tuple(1)).status(), PyExc::kException));
  EXPECT_TRUE(Is(pool.Apply(ThrowsSystemError, std::tuple(1)).status(), PyExc::kFileNotFoundError));
  // The pool keeps working; a map fails with its first chunk's exception.
  EXPECT_EQ(pool.Apply(AddOne, std::tuple(1)).value(), 2);
  EXPECT_TRUE(Is(pool.Map(Throws, std::vector<int>{1, 2, 3}).status(), PyExc::kRuntimeError));
  EXPECT_FALSE(GetRemoteException(pool.Apply(BadStatus, std::tuple(1)).status()).has_value())
      << "a returned error status was not thrown";
}

// CPython 3.13's Pool() starts os.process_cpu_count() workers: the CPUs this
// process may run on, not all the machine's.
TEST(PoolTest, DefaultSizeIsTheProcessCpuCountAsInCPython313) {
  if (CpuCount() < 2) GTEST_SKIP() << "needs two CPUs to leave one out";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    if (::sched_setaffinity(0, sizeof one, &one) != 0) _exit(2);
    if (ProcessCpuCount() != 1) _exit(3);
    Pool pool;
    _exit(pool.processes() == 1 ? 0 : 4);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0) << "2: setup, 3: ProcessCpuCount, 4: the pool's size";
  EXPECT_EQ(ProcessCpuCount(), CpuCount()) << "this test's own affinity is unrestricted";
}

// sys.exit in a CPython pool task ends its worker (and the pool loses the
// task); mp::SystemExit does the same, and the task fails as lost.
TEST(PoolTest, SystemExitInATaskEndsItsWorkerAsSysExitDoes) {
  Pool pool(1);
  std::vector<pid_t> before = pool.WorkerPids();
  absl::Status s = pool.Apply(ExitsWorker, std::tuple(3)).status();
  EXPECT_TRUE(Is(s, PyExc::kWorkerLostError)) << s;
  EXPECT_TRUE(Contains(std::string(s.message()), "exited with 3")) << s;
  EXPECT_EQ(pool.Apply(AddOne, std::tuple(1)).value(), 2) << "the worker was replaced";
  EXPECT_NE(pool.WorkerPids(), before);
}

// Workers are Processes: their stdin is /dev/null, as CPython's.
TEST(PoolTest, WorkerStdinIsDevNullAsInCPython) {
  Pool pool(1);
  EXPECT_EQ(pool.Apply(StdinIsDevNull, std::tuple(0)).value(), true);
}

TEST(PoolTest, ErrorStatusKeepsCodeAndExceptionAndNamesTheTask) {
  Pool pool(2);
  absl::StatusOr<None> v = pool.Apply(BadStatus, std::tuple(1));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Is(v.status(), PyExc::kValueError)) << v.status();
  EXPECT_TRUE(Contains(std::string(v.status().message()), "ValueError: bad value (in task #"));
  EXPECT_EQ(pool.Apply(MaybeHalf, std::tuple(4)).value(), 2);
  EXPECT_TRUE(Is(pool.Apply(MaybeHalf, std::tuple(3)).status(), PyExc::kValueError));
}

TEST(PoolTest, UnserializableResultIsTypeErrorAndPoolGoesOn) {
  Pool pool(1);
  absl::StatusOr<Unserializable> v = pool.Apply(MakeUnserializable, std::tuple(1));
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(Is(v.status(), PyExc::kTypeError)) << v.status();
  EXPECT_EQ(pool.Apply(AddOne, std::tuple(1)).value(), 2);
}

TEST(PoolTest, UnserializableArgumentIsTypeErrorAndPoolGoesOn) {
  Pool pool(1);
  std::string error;
  AsyncResult<int> r = Ok(pool.ApplyAsync([](Unserializable) { return 1; }, std::tuple(Unserializable{}), nullptr,
                                       [&](const absl::Status& s) { error = std::string(s.message()); }));
  EXPECT_TRUE(Is(r.Get().status(), PyExc::kTypeError)) << r.Get().status();
  EXPECT_TRUE(Contains(error, "TypeError"));
  EXPECT_TRUE(Is(pool.Map([](const Unserializable&) { return 1; }, std::vector<Unserializable>(3)).status(),
                 PyExc::kTypeError));
  EXPECT_EQ(pool.Apply(AddOne, std::tuple(1)).value(), 2);
}

TEST(PoolTest, GetTimesOutWithTimeoutError) {
  Pool pool(1);
  AsyncResult<std::string> r = Ok(pool.ApplyAsync(SleepThenName, std::tuple(500)));
  absl::StatusOr<std::string> v = r.Get(absl::Milliseconds(10));
  EXPECT_TRUE(Is(v.status(), PyExc::kTimeoutError)) << v.status();
  EXPECT_FALSE(r.Ready());
  EXPECT_TRUE(Is(r.Successful().status(), PyExc::kValueError));
  EXPECT_FALSE(r.Wait(absl::Milliseconds(1)));
  EXPECT_EQ(r.Get(absl::Seconds(60)).value(), "slept");
}

// The write end of a pipe a task uses to say it has started (workers are
// forks, so they inherit it).
int g_started_fd = -1;
int SignalThenSleepForever(int) {
  char c = 's';
  (void)!::write(g_started_fd, &c, 1);
  for (;;) ::pause();
}

TEST(PoolTest, KilledWorkerFailsItsTaskWithPidAndSignalAndIsReplaced) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  g_started_fd = fds[1];
  {
    Pool pool(1);
    pid_t target = pool.WorkerPids().at(0);
    AsyncResult<int> victim = Ok(pool.ApplyAsync(SignalThenSleepForever, std::tuple(0)));
    // Queued behind the victim on the same worker: must survive its death.
    std::vector<AsyncResult<int>> others;
    for (int i = 0; i < 50; ++i) others.push_back(Ok(pool.ApplyAsync(AddOne, std::tuple(i))));
    char c;
    ASSERT_EQ(::read(fds[0], &c, 1), 1);
    ASSERT_TRUE(Kill(target, SIGKILL).ok());
    absl::StatusOr<int> v = victim.Get(absl::Seconds(60));
    ASSERT_FALSE(v.ok());
    EXPECT_TRUE(Is(v.status(), PyExc::kWorkerLostError)) << v.status();
    EXPECT_TRUE(Contains(std::string(v.status().message()), absl::StrCat("(pid ", target, ")")));
    EXPECT_TRUE(Contains(std::string(v.status().message()), "killed by signal 9 (SIGKILL) while running task #"));
    EXPECT_TRUE(Contains(std::string(v.status().message()), "ForkPoolWorker-"));
    for (int i = 0; i < 50; ++i) EXPECT_EQ(others[i].Get(absl::Seconds(60)).value(), i + 1);
    // A replacement serves new tasks.
    for (int i = 0; i < 100; ++i) ASSERT_EQ(pool.Apply(AddOne, std::tuple(i)).value(), i + 1);
    std::vector<pid_t> after = pool.WorkerPids();
    ASSERT_EQ(after.size(), 1u);
    EXPECT_NE(after[0], target);
    ASSERT_TRUE(pool.Close().ok());
    ASSERT_TRUE(pool.Join().ok());
  }
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(PoolTest, AbortingWorkerFailsOnlyItsTaskAndJoinReturns) {
  Pool pool(2);
  std::vector<AsyncResult<int>> results;
  for (int i = 0; i < 20; ++i) {
    results.push_back(Ok(i == 5 ? pool.ApplyAsync(AbortTask, std::tuple(i)) : pool.ApplyAsync(SleepMs, std::tuple(5))));
  }
  ASSERT_TRUE(pool.Close().ok());
  ASSERT_TRUE(pool.Join().ok());
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<int> v = results[i].Get(absl::Seconds(1));
    if (i == 5) {
      EXPECT_TRUE(Is(v.status(), PyExc::kWorkerLostError)) << v.status();
      EXPECT_TRUE(Contains(std::string(v.status().message()), "SIGABRT"));
    } else {
      EXPECT_EQ(v.value(), 5);
    }
  }
}

TEST(PoolTest, TerminateFailsPendingTasks) {
  Pool pool(1);
  std::vector<AsyncResult<int>> results;
  for (int i = 0; i < 5; ++i) results.push_back(Ok(pool.ApplyAsync(SleepForever, std::tuple(i))));
  ASSERT_TRUE(pool.Terminate().ok());
  for (auto& r : results) {
    absl::StatusOr<int> v = r.Get(absl::Seconds(10));
    EXPECT_TRUE(Is(v.status(), PyExc::kProcessError)) << v.status();
  }
  EXPECT_TRUE(pool.Join().ok());
  EXPECT_TRUE(Is(pool.ApplyAsync(AddOne, std::tuple(1)).status(), PyExc::kValueError));
  EXPECT_TRUE(ActiveChildren().empty());
}

TEST(PoolTest, DestructorTerminates) {
  std::vector<pid_t> pids;
  {
    Pool pool(2);
    pids = pool.WorkerPids();
    ASSERT_TRUE(pool.ApplyAsync(SleepForever, std::tuple(0)).ok());
  }
  EXPECT_TRUE(ActiveChildren().empty());
}

// CPython's apply_async, map_async, starmap_async, imap and imap_unordered
// raise ValueError("Pool not running") at the call and never call the
// callbacks.
TEST(PoolTest, SubmittingToAClosedPoolFailsAtTheCallAsCPython) {
  Pool pool(1);
  EXPECT_TRUE(Is(pool.Join(), PyExc::kValueError)) << "join before close";
  ASSERT_TRUE(pool.Close().ok());
  int callbacks = 0;
  auto count = [&callbacks](const auto&) { ++callbacks; };
  absl::StatusOr<AsyncResult<int>> a = pool.ApplyAsync(AddOne, std::tuple(1), count, count);
  EXPECT_TRUE(Is(a.status(), PyExc::kValueError)) << a.status();
  EXPECT_EQ(a.status().message(), "ValueError: Pool not running");
  EXPECT_TRUE(Is(pool.MapAsync(AddOne, std::vector<int>{1}, 0, count, count).status(), PyExc::kValueError));
  EXPECT_TRUE(Is(pool.StarmapAsync(Mul, std::vector<std::tuple<int, int>>{{1, 2}}, 0, count, count).status(),
                 PyExc::kValueError));
  EXPECT_TRUE(Is(pool.Imap(AddOne, std::vector<int>{1}).status(), PyExc::kValueError));
  EXPECT_TRUE(Is(pool.ImapUnordered(AddOne, std::vector<int>{1}).status(), PyExc::kValueError));
  EXPECT_TRUE(Is(pool.Apply(AddOne, std::tuple(1)).status(), PyExc::kValueError));
  EXPECT_TRUE(Is(pool.Map(AddOne, std::vector<int>{1}).status(), PyExc::kValueError));
  // Arguments that cannot be serialized do not hide it.
  EXPECT_TRUE(Is(pool.ApplyAsync(TakesUnserializable, std::tuple(Unserializable{})).status(), PyExc::kValueError));
  EXPECT_EQ(callbacks, 0);
  ASSERT_TRUE(pool.Join().ok());
}

TEST(PoolTest, BadArgumentsAreValueErrors) {
  EXPECT_TRUE(Is(Pool::Create({.processes = -1}).status(), PyExc::kValueError));
  EXPECT_TRUE(Is(Pool::Create({.processes = 1, .maxtasksperchild = -1}).status(), PyExc::kValueError));
  Pool bad(PoolOptions{.processes = -2});
  EXPECT_TRUE(Is(bad.ApplyAsync(AddOne, std::tuple(1)).status(), PyExc::kValueError));
}

TEST(PoolTest, MaxTasksPerChildReplacesWorkers) {
  Pool pool(PoolOptions{.processes = 2, .maxtasksperchild = 3});
  std::set<pid_t> pids;
  std::vector<AsyncResult<pid_t>> results;
  for (int i = 0; i < 30; ++i) results.push_back(Ok(pool.ApplyAsync(MyPid, std::tuple(i))));
  std::map<pid_t, int> per_pid;
  for (auto& r : results) ++per_pid[r.Get(absl::Seconds(60)).value()];
  EXPECT_GE(per_pid.size(), 10u);
  for (auto& [pid, n] : per_pid) EXPECT_LE(n, 3) << pid;
  ASSERT_TRUE(pool.Close().ok());
  ASSERT_TRUE(pool.Join().ok());
}

TEST(PoolTest, InitializerRunsOncePerWorker) {
  Pool pool(PoolOptions{.processes = 2, .initializer = [] { ++g_initialized; }});
  std::vector<AsyncResult<int>> results;
  for (int i = 0; i < 100; ++i) results.push_back(Ok(pool.ApplyAsync(InitCount, std::tuple(i))));
  for (auto& r : results) EXPECT_EQ(r.Get().value(), 1);
  EXPECT_EQ(g_initialized, 0);  // Not in the parent.
}

TEST(PoolTest, LargeArgumentsAndResultsCross) {
  Pool pool(2);
  std::string big(5 << 20, 'x');
  absl::StatusOr<size_t> n = pool.Apply([](const std::string& s) { return s.size(); }, std::tuple(big));
  EXPECT_EQ(n.value(), big.size());
  absl::StatusOr<std::string> back = pool.Apply([](int k) { return std::string(k, 'y'); }, std::tuple(3 << 20));
  EXPECT_EQ(back.value().size(), 3u << 20);
}

// With no address space left for the handler thread's stack, std::thread
// throws; the pool must report RuntimeError (as CPython's "can't start new
// thread") and reap the workers it started, not abort. Run in a child so the
// limit cannot hurt the test binary.
TEST(PoolTest, NoThreadForTheHandlerIsRuntimeErrorAndLeavesNoWorker) {
  if (mp::testing::kSanitizerReservesAddressSpace) {
    GTEST_SKIP() << "sanitizers reserve terabytes of address space: RLIMIT_AS cannot be applied";
  }
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Earlier tests' threads left stacks in glibc's cache, which a new thread
    // reuses without mapping anything: hold them all with parked threads.
    std::atomic<bool> release{false};
    std::vector<std::thread> parked;
    for (int i = 0; i < 64; ++i) {
      parked.emplace_back([&release] {
        while (!release.load()) ::usleep(1000);
      });
    }
    if (!testing::LimitAddressSpace(1 << 20)) _exit(3);
    {
      Pool pool(2);
      if (pool.status().ok()) _exit(4);
      if (!Is(pool.status(), PyExc::kRuntimeError)) _exit(5);
      if (!absl::StrContains(pool.status().message(), "can't start new thread")) _exit(6);
    }
    int ws;
    if (::waitpid(-1, &ws, WNOHANG) != -1 || errno != ECHILD) _exit(7);
    _exit(0);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus)) << "the child was killed by signal " << WTERMSIG(wstatus);
  EXPECT_EQ(WEXITSTATUS(wstatus), 0) << "2/3: setup, 4: pool started, 5: not RuntimeError, 6: message, 7: worker left";
}

}  // namespace
}  // namespace mp
