// -----------------------------------------------------------------------------
// File: errors.h
// -----------------------------------------------------------------------------
//
// mp reports errors as absl::Status, never as exceptions across a fork. Each
// error stands for the Python exception that CPython raises in the same
// situation. This file is the one table that maps each such exception to an
// absl::StatusCode; every mp error is built through it, so:
//
//   * the message starts with the Python exception's name
//     ("ValueError: process object is closed"), and
//   * the exception's name is attached as a payload, so callers can branch on
//     it without parsing text: `mp::PythonException(status) == "queue.Empty"`.
//
// A child's exit status is data, not an error (see exit_status.h); only the
// checked variants (CheckCall, CheckOutput, Run with check) turn it into one.
//
// Thread-safety: everything here is thread-safe.
//
// Example:
//
//   absl::Status s = mp::PyError(mp::PyExc::kValueError, "process object is closed");
//   // s.code() == absl::StatusCode::kInvalidArgument
//   // s.message() == "ValueError: process object is closed"
//   // mp::PythonException(s) == "ValueError"

#ifndef MP_ERRORS_H_
#define MP_ERRORS_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace mp {

// The Python exceptions mp's errors stand for.
enum class PyExc {
  kAssertionError,      // FailedPrecondition: API misuse CPython asserts on.
  kValueError,          // InvalidArgument: a bad argument or a closed object.
  kTypeError,           // InvalidArgument: a value that cannot be serialized.
  kTimeoutError,        // DeadlineExceeded: multiprocessing.TimeoutError.
  kTimeoutExpired,      // DeadlineExceeded: subprocess.TimeoutExpired.
  kQueueEmpty,          // Unavailable: queue.Empty.
  kQueueFull,           // ResourceExhausted: queue.Full.
  kEOFError,            // OutOfRange: the peer closed the connection.
  kOSError,             // (errno's code, via absl::ErrnoToStatus).
  kFileNotFoundError,   // NotFound.
  kPermissionError,     // PermissionDenied.
  kBrokenPipeError,     // Unavailable: the peer is gone.
  kChildProcessError,   // FailedPrecondition: waiting on a process not ours.
  kCalledProcessError,  // Aborted: a checked child exited non-zero.
  kWorkerLostError,     // Aborted: a pool worker died mid-task.
  kProcessError,        // FailedPrecondition: multiprocessing.ProcessError.
  kRuntimeError,        // Internal: an invariant of mp itself broke.
  kUnpicklingError,     // DataLoss: a message that does not decode.
  kMemoryError,         // ResourceExhausted: an allocation failed.
  kBrokenBarrierError,  // Aborted: threading.BrokenBarrierError.
  kFileExistsError,     // AlreadyExists: EEXIST (a SharedMemory name in use).
  // Aborted: mp's own, with no Python counterpart (CPython deadlocks
  // there): a lock's previous holder died holding it. The caller HOLDS the
  // lock when it gets this error (as with EOWNERDEAD): see mp/lock.h.
  kOwnerDiedError,
  kSubprocessError,     // Unknown: subprocess.SubprocessError (a preexec_fn raised).
  kLookupError,         // InvalidArgument: e.g. an unknown encoding.
  kUnicodeDecodeError,  // DataLoss: bytes that are not valid in the encoding.
  kUnicodeEncodeError,  // InvalidArgument: text the encoding cannot express.
  kUnsupportedOperation,  // FailedPrecondition: io.UnsupportedOperation (an OSError).
  // OutOfRange: an index past a shared Array's end; and what a pool task's
  // std::out_of_range stands for (pool.h), as the next three:
  kIndexError,
  kOverflowError,       // OutOfRange: std::overflow_error, std::range_error.
  kArithmeticError,     // OutOfRange: std::underflow_error.
  // The rest of the OSError subclasses PyOSError picks by errno (PEP 3151),
  // each with absl::ErrnoToStatus's code for its errno.
  kProcessLookupError,      // NotFound: ESRCH.
  kInterruptedError,        // Unavailable: EINTR.
  kBlockingIOError,         // Unavailable: EAGAIN, EALREADY, EINPROGRESS.
  kConnectionError,         // Unavailable: the base of the next three and BrokenPipeError.
  kConnectionResetError,    // Unavailable: ECONNRESET.
  kConnectionRefusedError,  // Unavailable: ECONNREFUSED.
  kConnectionAbortedError,  // Unavailable: ECONNABORTED.
  kIsADirectoryError,       // FailedPrecondition: EISDIR.
  kNotADirectoryError,      // FailedPrecondition: ENOTDIR.
  // DeadlineExceeded: ETIMEDOUT. The builtin TimeoutError, an OSError; not
  // kTimeoutError, which is multiprocessing.TimeoutError.
  kOSTimeoutError,
  kException,           // Unknown: any other exception. Keep it last.
};

// The Python name of `exc`, e.g. "queue.Empty" or "ValueError".
absl::string_view PyExcName(PyExc exc);

// The status code `exc` maps to. kOSError maps to kUnknown here; use
// PyOSError, which takes the code from errno.
absl::StatusCode PyExcCode(PyExc exc);

// An error standing for `exc`, with message "<Name>: <message>".
absl::Status PyError(PyExc exc, absl::string_view message);

// An OSError for `errnum`, as CPython raises it: the subclass the errno
// selects, as CPython's table (PEP 3151) does (FileNotFoundError for ENOENT,
// PermissionError for EACCES/EPERM, BrokenPipeError for EPIPE/ESHUTDOWN,
// ProcessLookupError for ESRCH, TimeoutError for ETIMEDOUT, ...; OSError
// itself for the rest), a code from absl::ErrnoToStatus, and
// "[Errno N] strerror: context" in the message.
absl::Status PyOSError(int errnum, absl::string_view context);

// An error with `code` and `message` that stands for the Python exception
// `python_exception` (a name as PythonException() returns it; "" for none):
// rebuilds an error that crossed a process boundary as (code, name, text).
absl::Status PyErrorFromParts(absl::StatusCode code, absl::string_view python_exception,
                              absl::string_view message);

// The Python exception `status` stands for ("queue.Empty"), or "" for OK and
// for statuses mp did not make.
std::string PythonException(const absl::Status& status);

// True if `status` stands for `exc` or a subclass of it, as `except exc:`
// would catch it: kOSError matches FileNotFoundError, kSubprocessError
// matches TimeoutExpired and CalledProcessError, kProcessError matches
// multiprocessing.TimeoutError, kValueError matches the Unicode errors and
// io.UnsupportedOperation, kLookupError matches IndexError, kException
// matches every error mp made. Only mp's own statuses match anything.
bool Is(const absl::Status& status, PyExc exc);

}  // namespace mp

#endif  // MP_ERRORS_H_
