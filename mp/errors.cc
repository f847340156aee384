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
  // The Python class's bases among this table's rows (kException for a
  // direct subclass of Exception; a class the table lacks is skipped, as
  // UnicodeError between ValueError and UnicodeDecodeError). Two only for
  // io.UnsupportedOperation(OSError, ValueError); else both the same.
  PyExc base;
  PyExc base2;
};

using C = absl::StatusCode;
using E = PyExc;

// The table. Keep it in the enum's order.
const Row kTable[] = {
    {E::kAssertionError, "AssertionError", C::kFailedPrecondition, E::kException, E::kException},
    {E::kValueError, "ValueError", C::kInvalidArgument, E::kException, E::kException},
    {E::kTypeError, "TypeError", C::kInvalidArgument, E::kException, E::kException},
    {E::kTimeoutError, "multiprocessing.TimeoutError", C::kDeadlineExceeded, E::kProcessError, E::kProcessError},
    {E::kTimeoutExpired, "subprocess.TimeoutExpired", C::kDeadlineExceeded, E::kSubprocessError,
     E::kSubprocessError},
    {E::kQueueEmpty, "queue.Empty", C::kUnavailable, E::kException, E::kException},
    {E::kQueueFull, "queue.Full", C::kResourceExhausted, E::kException, E::kException},
    {E::kEOFError, "EOFError", C::kOutOfRange, E::kException, E::kException},
    {E::kOSError, "OSError", C::kUnknown, E::kException, E::kException},
    {E::kFileNotFoundError, "FileNotFoundError", C::kNotFound, E::kOSError, E::kOSError},
    {E::kPermissionError, "PermissionError", C::kPermissionDenied, E::kOSError, E::kOSError},
    {E::kBrokenPipeError, "BrokenPipeError", C::kUnavailable, E::kConnectionError, E::kConnectionError},
    {E::kChildProcessError, "ChildProcessError", C::kFailedPrecondition, E::kOSError, E::kOSError},
    {E::kCalledProcessError, "subprocess.CalledProcessError", C::kAborted, E::kSubprocessError,
     E::kSubprocessError},
    {E::kWorkerLostError, "WorkerLostError", C::kAborted, E::kException, E::kException},
    {E::kProcessError, "multiprocessing.ProcessError", C::kFailedPrecondition, E::kException, E::kException},
    {E::kRuntimeError, "RuntimeError", C::kInternal, E::kException, E::kException},
    {E::kUnpicklingError, "pickle.UnpicklingError", C::kDataLoss, E::kException, E::kException},
    {E::kMemoryError, "MemoryError", C::kResourceExhausted, E::kException, E::kException},
    {E::kBrokenBarrierError, "threading.BrokenBarrierError", C::kAborted, E::kRuntimeError, E::kRuntimeError},
    {E::kFileExistsError, "FileExistsError", C::kAlreadyExists, E::kOSError, E::kOSError},
    {E::kOwnerDiedError, "mp.OwnerDiedError", C::kAborted, E::kException, E::kException},
    {E::kSubprocessError, "subprocess.SubprocessError", C::kUnknown, E::kException, E::kException},
    {E::kLookupError, "LookupError", C::kInvalidArgument, E::kException, E::kException},
    {E::kUnicodeDecodeError, "UnicodeDecodeError", C::kDataLoss, E::kValueError, E::kValueError},
    {E::kUnicodeEncodeError, "UnicodeEncodeError", C::kInvalidArgument, E::kValueError, E::kValueError},
    {E::kUnsupportedOperation, "io.UnsupportedOperation", C::kFailedPrecondition, E::kOSError, E::kValueError},
    {E::kIndexError, "IndexError", C::kOutOfRange, E::kLookupError, E::kLookupError},
    {E::kOverflowError, "OverflowError", C::kOutOfRange, E::kArithmeticError, E::kArithmeticError},
    {E::kArithmeticError, "ArithmeticError", C::kOutOfRange, E::kException, E::kException},
    {E::kProcessLookupError, "ProcessLookupError", C::kNotFound, E::kOSError, E::kOSError},
    {E::kInterruptedError, "InterruptedError", C::kUnavailable, E::kOSError, E::kOSError},
    {E::kBlockingIOError, "BlockingIOError", C::kUnavailable, E::kOSError, E::kOSError},
    {E::kConnectionError, "ConnectionError", C::kUnavailable, E::kOSError, E::kOSError},
    {E::kConnectionResetError, "ConnectionResetError", C::kUnavailable, E::kConnectionError, E::kConnectionError},
    {E::kConnectionRefusedError, "ConnectionRefusedError", C::kUnavailable, E::kConnectionError,
     E::kConnectionError},
    {E::kConnectionAbortedError, "ConnectionAbortedError", C::kUnavailable, E::kConnectionError,
     E::kConnectionError},
    {E::kIsADirectoryError, "IsADirectoryError", C::kFailedPrecondition, E::kOSError, E::kOSError},
    {E::kNotADirectoryError, "NotADirectoryError", C::kFailedPrecondition, E::kOSError, E::kOSError},
    {E::kOSTimeoutError, "TimeoutError", C::kDeadlineExceeded, E::kOSError, E::kOSError},
    {E::kException, "Exception", C::kUnknown, E::kException, E::kException},
};
static_assert(sizeof(kTable) / sizeof(kTable[0]) == static_cast<size_t>(PyExc::kException) + 1,
              "one row per PyExc");

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
  // CPython's errno-to-subclass table (Objects/exceptions.c, PEP 3151).
  switch (errnum) {
    case ENOENT: exc = PyExc::kFileNotFoundError; break;
    case EACCES:
    case EPERM: exc = PyExc::kPermissionError; break;
    case EPIPE:
    case ESHUTDOWN: exc = PyExc::kBrokenPipeError; break;
    case ECHILD: exc = PyExc::kChildProcessError; break;
    case EEXIST: exc = PyExc::kFileExistsError; break;
    case ESRCH: exc = PyExc::kProcessLookupError; break;
    case EINTR: exc = PyExc::kInterruptedError; break;
    case EAGAIN:  // EWOULDBLOCK on Linux.
    case EALREADY:
    case EINPROGRESS: exc = PyExc::kBlockingIOError; break;
    case ECONNRESET: exc = PyExc::kConnectionResetError; break;
    case ECONNREFUSED: exc = PyExc::kConnectionRefusedError; break;
    case ECONNABORTED: exc = PyExc::kConnectionAbortedError; break;
    case EISDIR: exc = PyExc::kIsADirectoryError; break;
    case ENOTDIR: exc = PyExc::kNotADirectoryError; break;
    case ETIMEDOUT: exc = PyExc::kOSTimeoutError; break;
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

namespace {

// Whether Python's class `sub` is `super` or derives from it.
bool IsSubclass(PyExc sub, PyExc super) {
  if (sub == super) return true;
  if (sub == PyExc::kException) return false;
  const Row& row = RowOf(sub);
  return IsSubclass(row.base, super) || (row.base2 != row.base && IsSubclass(row.base2, super));
}

}  // namespace

bool Is(const absl::Status& status, PyExc exc) {
  std::string name = PythonException(status);
  if (name.empty()) return false;
  if (exc == PyExc::kException) return true;
  for (const Row& row : kTable) {
    if (row.name == name) return IsSubclass(row.exc, exc);
  }
  return false;  // A name from elsewhere (PyErrorFromParts) that mp has no row for.
}

}  // namespace mp
