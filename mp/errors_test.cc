#include "mp/errors.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace mp {
namespace {

TEST(ErrorsTest, PyErrorNamesTheExceptionInMessageAndPayload) {
  absl::Status s = PyError(PyExc::kValueError, "process object is closed");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "ValueError: process object is closed");
  EXPECT_EQ(PythonException(s), "ValueError");
  EXPECT_TRUE(Is(s, PyExc::kValueError));
  EXPECT_FALSE(Is(s, PyExc::kOSError));
}

TEST(ErrorsTest, QualifiedNamesPrintShortInMessage) {
  absl::Status s = PyError(PyExc::kQueueEmpty, "");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(PythonException(s), "queue.Empty");
  EXPECT_EQ(s.message(), "Empty: ");
  EXPECT_EQ(PyError(PyExc::kQueueFull, "x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(PyError(PyExc::kTimeoutExpired, "x").code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(ErrorsTest, OSErrorPicksSubclassFromErrno) {
  absl::Status s = PyOSError(ENOENT, "'nslookupx'");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(PythonException(s), "FileNotFoundError");
  EXPECT_EQ(s.message(), "FileNotFoundError: [Errno 2] No such file or directory: 'nslookupx'");
  EXPECT_TRUE(Is(s, PyExc::kOSError));
  EXPECT_TRUE(Is(s, PyExc::kFileNotFoundError));
  EXPECT_EQ(PythonException(PyOSError(EACCES, "")), "PermissionError");
  EXPECT_EQ(PythonException(PyOSError(EPIPE, "")), "BrokenPipeError");
  EXPECT_EQ(PythonException(PyOSError(EMFILE, "")), "OSError");
  EXPECT_EQ(PyOSError(EMFILE, "").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(PythonException(PyOSError(EEXIST, "")), "FileExistsError");
  EXPECT_TRUE(Is(PyOSError(EEXIST, ""), PyExc::kOSError));
}

TEST(ErrorsTest, BrokenBarrierAndOwnerDiedAreNotOSErrors) {
  EXPECT_EQ(PyError(PyExc::kBrokenBarrierError, "m").message(), "BrokenBarrierError: m");
  EXPECT_EQ(PythonException(PyError(PyExc::kOwnerDiedError, "m")), "mp.OwnerDiedError");
  EXPECT_FALSE(Is(PyError(PyExc::kOwnerDiedError, "m"), PyExc::kOSError));
}

TEST(ErrorsTest, ForeignStatusHasNoPythonException) {
  EXPECT_EQ(PythonException(absl::OkStatus()), "");
  EXPECT_EQ(PythonException(absl::InternalError("x")), "");
  EXPECT_FALSE(Is(absl::InternalError("x"), PyExc::kOSError));
}

TEST(ErrorsTest, EveryExceptionHasANameAndDistinctRow) {
  for (int i = 0; i <= static_cast<int>(PyExc::kException); ++i) {
    PyExc e = static_cast<PyExc>(i);
    EXPECT_FALSE(PyExcName(e).empty()) << i;
    EXPECT_TRUE(Is(PyError(e, "m"), e)) << PyExcName(e);
  }
}

// CPython picks OSError's subclass from errno with one table (PEP 3151,
// Objects/exceptions.c); PyOSError follows it, with absl's code for the
// errno, which is also the row's code (so PyError(exc) agrees with it).
TEST(ErrorsTest, OSErrorSubclassForEachErrnoIsCPythons) {
  const struct {
    int errnum;
    const char* name;
    PyExc exc;
    // Whether the row's code is this errno's. Not where a class has errnos
    // of several codes (the row has its first errno's, EAGAIN's), nor for
    // BrokenPipeError (kUnavailable, the code mp's own "peer is gone"
    // errors have always had), nor OSError itself.
    bool rows_code = true;
  } kCPython[] = {
      {ENOENT, "FileNotFoundError", PyExc::kFileNotFoundError},
      {EACCES, "PermissionError", PyExc::kPermissionError},
      {EPERM, "PermissionError", PyExc::kPermissionError},
      {EPIPE, "BrokenPipeError", PyExc::kBrokenPipeError, false},
      {ESHUTDOWN, "BrokenPipeError", PyExc::kBrokenPipeError, false},
      {ECHILD, "ChildProcessError", PyExc::kChildProcessError},
      {EEXIST, "FileExistsError", PyExc::kFileExistsError},
      {ESRCH, "ProcessLookupError", PyExc::kProcessLookupError},
      {EINTR, "InterruptedError", PyExc::kInterruptedError},
      {EAGAIN, "BlockingIOError", PyExc::kBlockingIOError},
      {EWOULDBLOCK, "BlockingIOError", PyExc::kBlockingIOError},
      {EALREADY, "BlockingIOError", PyExc::kBlockingIOError, false},
      {EINPROGRESS, "BlockingIOError", PyExc::kBlockingIOError, false},
      {ECONNRESET, "ConnectionResetError", PyExc::kConnectionResetError},
      {ECONNREFUSED, "ConnectionRefusedError", PyExc::kConnectionRefusedError},
      {ECONNABORTED, "ConnectionAbortedError", PyExc::kConnectionAbortedError},
      {EISDIR, "IsADirectoryError", PyExc::kIsADirectoryError},
      {ENOTDIR, "NotADirectoryError", PyExc::kNotADirectoryError},
      {ETIMEDOUT, "TimeoutError", PyExc::kOSTimeoutError},
      {EMFILE, "OSError", PyExc::kOSError, false},
      {EIO, "OSError", PyExc::kOSError, false},
  };
  for (const auto& c : kCPython) {
    absl::Status s = PyOSError(c.errnum, "ctx");
    EXPECT_EQ(PythonException(s), c.name) << c.errnum;
    EXPECT_EQ(PyExcName(c.exc), c.name);
    EXPECT_TRUE(Is(s, c.exc)) << c.name;
    EXPECT_TRUE(Is(s, PyExc::kOSError)) << c.name;
    EXPECT_EQ(s.code(), absl::ErrnoToStatus(c.errnum, "").code()) << c.name;
    if (c.rows_code) {
      EXPECT_EQ(PyExcCode(c.exc), s.code()) << c.name;
    }
  }
}

// Is() answers as `except X:` would, over Python's class hierarchy.
TEST(ErrorsTest, IsMatchesSubclassesAsExceptDoes) {
  auto err = [](PyExc e) { return PyError(e, "m"); };
  EXPECT_TRUE(Is(err(PyExc::kTimeoutExpired), PyExc::kSubprocessError));
  EXPECT_TRUE(Is(err(PyExc::kCalledProcessError), PyExc::kSubprocessError));
  EXPECT_TRUE(Is(err(PyExc::kTimeoutError), PyExc::kProcessError));
  EXPECT_TRUE(Is(err(PyExc::kBrokenPipeError), PyExc::kConnectionError));
  EXPECT_TRUE(Is(err(PyExc::kConnectionResetError), PyExc::kConnectionError));
  EXPECT_TRUE(Is(err(PyExc::kBrokenPipeError), PyExc::kOSError));
  EXPECT_TRUE(Is(err(PyExc::kUnicodeDecodeError), PyExc::kValueError));
  EXPECT_TRUE(Is(err(PyExc::kUnicodeEncodeError), PyExc::kValueError));
  EXPECT_TRUE(Is(err(PyExc::kUnsupportedOperation), PyExc::kOSError));
  EXPECT_TRUE(Is(err(PyExc::kUnsupportedOperation), PyExc::kValueError));
  EXPECT_TRUE(Is(err(PyExc::kIndexError), PyExc::kLookupError));
  EXPECT_TRUE(Is(err(PyExc::kOverflowError), PyExc::kArithmeticError));
  EXPECT_TRUE(Is(err(PyExc::kBrokenBarrierError), PyExc::kRuntimeError));
  // multiprocessing.TimeoutError and the builtin TimeoutError are unrelated.
  EXPECT_FALSE(Is(err(PyExc::kTimeoutError), PyExc::kOSTimeoutError));
  EXPECT_FALSE(Is(err(PyExc::kTimeoutError), PyExc::kOSError));
  EXPECT_FALSE(Is(PyOSError(ETIMEDOUT, ""), PyExc::kTimeoutError));
  EXPECT_FALSE(Is(PyOSError(ETIMEDOUT, ""), PyExc::kProcessError));
  // Not up the other way, nor sideways.
  EXPECT_FALSE(Is(err(PyExc::kSubprocessError), PyExc::kTimeoutExpired));
  EXPECT_FALSE(Is(err(PyExc::kOSError), PyExc::kFileNotFoundError));
  EXPECT_FALSE(Is(err(PyExc::kFileNotFoundError), PyExc::kConnectionError));
  EXPECT_FALSE(Is(err(PyExc::kValueError), PyExc::kOSError));
  EXPECT_FALSE(Is(err(PyExc::kQueueEmpty), PyExc::kTimeoutError));
  EXPECT_FALSE(Is(err(PyExc::kLookupError), PyExc::kIndexError));
  // Every error mp made is an Exception; a foreign status is nothing.
  for (int i = 0; i <= static_cast<int>(PyExc::kException); ++i) {
    EXPECT_TRUE(Is(err(static_cast<PyExc>(i)), PyExc::kException)) << i;
  }
  EXPECT_TRUE(Is(PyErrorFromParts(absl::StatusCode::kUnknown, "KeyError", "k"), PyExc::kException));
  EXPECT_FALSE(Is(PyErrorFromParts(absl::StatusCode::kUnknown, "KeyError", "k"), PyExc::kLookupError));
  EXPECT_FALSE(Is(absl::UnknownError("x"), PyExc::kException));
}

}  // namespace
}  // namespace mp
