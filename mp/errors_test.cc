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

}  // namespace
}  // namespace mp
