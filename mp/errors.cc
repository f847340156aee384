#include "mp/errors.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace mp {
namespace {

constexpr char kPayloadUrl[] = "type.mp.dev/python_exception";

struct Row {
  PyExc exc;
  absl::string_view name;
  absl::StatusCode code;
  bool is_os_error;  // A subclass of OSError.
};

// The table. Keep it in the enum's order.
const Row kTable[] = {
    {PyExc::kAssertionError, "AssertionError", absl::StatusCode::kFailedPrecondition, false},
    {PyExc::kValueError, "ValueError", absl::StatusCode::kInvalidArgument, false},
    {PyExc::kTypeError, "TypeError", absl::StatusCode::kInvalidArgument, false},
    {PyExc::kTimeoutError, "multiprocessing.TimeoutError", absl::StatusCode::kDeadlineExceeded, false},
    {PyExc::kTimeoutExpired, "subprocess.TimeoutExpired", absl::StatusCode::kDeadlineExceeded, false},
    {PyExc::kQueueEmpty, "queue.Empty", absl::StatusCode::kUnavailable, false},
    {PyExc::kQueueFull, "queue.Full", absl::StatusCode::kResourceExhausted, false},
    {PyExc::kEOFError, "EOFError", absl::StatusCode::kOutOfRange, false},
    {PyExc::kOSError, "OSError", absl::StatusCode::kUnknown, true},
    {PyExc::kFileNotFoundError, "FileNotFoundError", absl::StatusCode::kNotFound, true},
    {PyExc::kPermissionError, "PermissionError", absl::StatusCode::kPermissionDenied, true},
    {PyExc::kBrokenPipeError, "BrokenPipeError", absl::StatusCode::kUnavailable, true},
    {PyExc::kChildProcessError, "ChildProcessError", absl::StatusCode::kFailedPrecondition, true},
    {PyExc::kCalledProcessError, "subprocess.CalledProcessError", absl::StatusCode::kAborted, false},
    {PyExc::kWorkerLostError, "WorkerLostError", absl::StatusCode::kAborted, false},
    {PyExc::kProcessError, "multiprocessing.ProcessError", absl::StatusCode::kFailedPrecondition, false},
    {PyExc::kRuntimeError, "RuntimeError", absl::StatusCode::kInternal, false},
    {PyExc::kUnpicklingError, "pickle.UnpicklingError", absl::StatusCode::kDataLoss, false},
    {PyExc::kMemoryError, "MemoryError", absl::StatusCode::kResourceExhausted, false},
    {PyExc::kBrokenBarrierError, "threading.BrokenBarrierError", absl::StatusCode::kAborted, false},
    {PyExc::kFileExistsError, "FileExistsError", absl::StatusCode::kAlreadyExists, true},
    {PyExc::kOwnerDiedError, "mp.OwnerDiedError", absl::StatusCode::kAborted, false},
    {PyExc::kSubprocessError, "subprocess.SubprocessError", absl::StatusCode::kUnknown, false},
    {PyExc::kLookupError, "LookupError", absl::StatusCode::kInvalidArgument, false},
    {PyExc::kUnicodeDecodeError, "UnicodeDecodeError", absl::StatusCode::kDataLoss, false},
    {PyExc::kUnicodeEncodeError, "UnicodeEncodeError", absl::StatusCode::kInvalidArgument, false},
    {PyExc::kUnsupportedOperation, "io.UnsupportedOperation", absl::StatusCode::kFailedPrecondition, true},
    {PyExc::kIndexError, "IndexError", absl::StatusCode::kOutOfRange, false},
    {PyExc::kOverflowError, "OverflowError", absl::StatusCode::kOutOfRange, false},
    {PyExc::kArithmeticError, "ArithmeticError", absl::StatusCode::kOutOfRange, false},
    {PyExc::kException, "Exception", absl::StatusCode::kUnknown, false},
};

const Row& RowOf(PyExc exc) { return kTable[static_cast<int>(exc)]; }

// Python's short name, as printed in messages ("Empty", not "queue.Empty"),
// matches how CPython's traceback prints the exception's qualified name.
absl::string_view ShortName(absl::string_view name) {
  auto dot = name.rfind('.');
  return dot == absl::string_view::npos ? name : name.substr(dot + 1);
}

absl::Status WithPayload(absl::Status status, absl::string_view name) {
  status.SetPayload(kPayloadUrl, absl::Cord(name));
  return status;
}

}  // namespace

absl::string_view PyExcName(PyExc exc) { return RowOf(exc).name; }

absl::StatusCode PyExcCode(PyExc exc) { return RowOf(exc).code; }

absl::Status PyError(PyExc exc, absl::string_view message) {
  const Row& row = RowOf(exc);
  return WithPayload(absl::Status(row.code, absl::StrCat(ShortName(row.name), ": ", message)),
                     row.name);
}

absl::Status PyOSError(int errnum, absl::string_view context) {
  PyExc exc = PyExc::kOSError;
  switch (errnum) {
    case ENOENT: exc = PyExc::kFileNotFoundError; break;
    case EACCES:
    case EPERM: exc = PyExc::kPermissionError; break;
    case EPIPE:
    case ESHUTDOWN: exc = PyExc::kBrokenPipeError; break;
    case ECHILD: exc = PyExc::kChildProcessError; break;
    case EEXIST: exc = PyExc::kFileExistsError; break;
    default: break;
  }
  std::string message = absl::StrCat(RowOf(exc).name, ": [Errno ", errnum, "] ",
                                     std::strerror(errnum));
  if (!context.empty()) absl::StrAppend(&message, ": ", context);
  absl::Status status = absl::ErrnoToStatus(errnum, "");
  return WithPayload(absl::Status(status.code(), message), RowOf(exc).name);
}

absl::Status PyErrorFromParts(absl::StatusCode code, absl::string_view python_exception,
                              absl::string_view message) {
  absl::Status status(code, message);
  if (python_exception.empty() || status.ok()) return status;
  return WithPayload(std::move(status), python_exception);
}

std::string PythonException(const absl::Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  return payload ? std::string(*payload) : std::string();
}

bool Is(const absl::Status& status, PyExc exc) {
  std::string name = PythonException(status);
  if (name.empty()) return false;
  if (name == RowOf(exc).name) return true;
  if (exc != PyExc::kOSError) return false;
  for (const Row& row : kTable) {
    if (row.name == name) return row.is_os_error;
  }
  return false;
}

}  // namespace mp
