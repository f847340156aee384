// Private: flushing the standard streams around a fork without touching
// memory that has nothing to flush.
//
// After fork(2) every writable page is copy-on-write in both processes: the
// first write to a page, in the parent as in the child, costs a page fault
// (and a copy in the child). Locking a stdio stream writes its lock word, so
// fflush(NULL) costs a fault per page of stream structures even when nothing
// is buffered, in the parent on every Start() and in every child at its end.
// On a VM where faults are slow that was most of Process start-up's cost over
// a raw fork. So this reads first (the buffer pointers) and locks only a
// stream that holds output.
//
// Thread-safety: thread-safe; a stream that another thread writes meanwhile is
// flushed or not, as with any unlocked check.

#ifndef MP_INTERNAL_STDIO_H_
#define MP_INTERNAL_STDIO_H_

namespace mp::internal {

// Flushes what std::cout, std::cerr, std::clog, stdout and stderr hold, and
// only those: CPython's util._flush_std_streams(), which popen_fork calls
// before it forks and _bootstrap calls as the child ends. Other FILE streams
// are not flushed: a Process child never flushes them either (it ends with
// _exit), so what they buffered is written once, by the parent.
void FlushStdStreams();

}  // namespace mp::internal

#endif  // MP_INTERNAL_STDIO_H_
