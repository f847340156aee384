#include "mp/internal/stdio.h"

#include <stdio_ext.h>

#include <atomic>
#include <cstdio>
#include <ext/stdio_sync_filebuf.h>
#include <iostream>
#include <ostream>

namespace mp::internal {
namespace {

// Whether `buf` is libstdc++'s buffer for a stream synchronised with stdio
// (the default), which writes straight through to its FILE and holds nothing
// of its own. The answer for the last buffer seen is kept, so that a child
// asks the (read-only) cache and runs no RTTI code: every page of code a
// child runs is one more fault.
bool WritesThroughToStdio(std::streambuf* buf, std::atomic<std::streambuf*>& known) {
  if (buf == known.load(std::memory_order_relaxed)) return true;
  if (dynamic_cast<__gnu_cxx::stdio_sync_filebuf<char>*>(buf) == nullptr) return false;
  known.store(buf, std::memory_order_relaxed);
  return true;
}

// Any other buffer (sync_with_stdio(false), a user's rdbuf) is flushed the
// C++ way; flushing a write-through one would only call fflush().
void FlushOstream(std::ostream& os, std::atomic<std::streambuf*>& known) {
  std::streambuf* buf = os.rdbuf();
  if (buf != nullptr && !WritesThroughToStdio(buf, known)) os.flush();
}

// Whether `f` holds output, read from the buffer pointers without locking
// the stream (as __fpending does, inline for glibc's byte streams).
bool Pending(FILE* f) {
#ifdef __GLIBC__
  if (f->_mode <= 0) return f->_IO_write_ptr > f->_IO_write_base;
#endif
  return __fpending(f) > 0;
}

std::atomic<std::streambuf*> g_cout_sync{nullptr}, g_cerr_sync{nullptr}, g_clog_sync{nullptr};

}  // namespace

void FlushStdStreams() {
  FlushOstream(std::cout, g_cout_sync);
  FlushOstream(std::cerr, g_cerr_sync);
  FlushOstream(std::clog, g_clog_sync);
  for (FILE* f : {stdout, stderr}) {
    if (f != nullptr && Pending(f)) std::fflush(f);
  }
}

}  // namespace mp::internal
