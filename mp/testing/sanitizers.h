// Test support: what the sanitizer runtime of this build rules out.

#ifndef MP_TESTING_SANITIZERS_H_
#define MP_TESTING_SANITIZERS_H_

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

namespace mp::testing {

// Which sanitizer this build has. GCC defines __SANITIZE_*__; clang answers
// __has_feature.
#if defined(__has_feature)
#define MP_TESTING_HAS_FEATURE(x) __has_feature(x)
#else
#define MP_TESTING_HAS_FEATURE(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || MP_TESTING_HAS_FEATURE(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
// ThreadSanitizer reports "dup thread with used id" for a thread created in
// a forked child of a process that had threads: the child's first pthread_t
// is the stack of one of the parent's threads, which its copy of TSan's
// registry still holds.
#if defined(__SANITIZE_THREAD__) || MP_TESTING_HAS_FEATURE(thread_sanitizer)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif
#undef MP_TESTING_HAS_FEATURE

// AddressSanitizer and ThreadSanitizer reserve terabytes of address space at
// start-up, so a test cannot apply RLIMIT_AS (`ulimit -v`) meaningfully.
inline constexpr bool kSanitizerReservesAddressSpace = kAddressSanitizer || kThreadSanitizer;

// Sets the soft RLIMIT_AS (`ulimit -v`) to this process's current address
// space plus `headroom` bytes, so that allocations past that fail. Tests call
// it in a forked child. Returns false if the limit could not be set. Useless
// where kSanitizerReservesAddressSpace.
inline bool LimitAddressSpace(long headroom) {
  long pages = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return false;
  bool read = std::fscanf(f, "%ld", &pages) == 1;
  std::fclose(f);
  if (!read) return false;
  struct rlimit lim;
  if (::getrlimit(RLIMIT_AS, &lim) != 0) return false;
  lim.rlim_cur = static_cast<rlim_t>(pages * ::sysconf(_SC_PAGESIZE) + headroom);
  return ::setrlimit(RLIMIT_AS, &lim) == 0;
}

// UndefinedBehaviorSanitizer's vptr check reads memory through a pipe it
// opens on the spot, so with the descriptor table full (EMFILE tests) every
// virtual call is reported as "invalid vptr". GCC has no macro for
// -fsanitize=undefined: .bazelrc's ubsan config defines MP_UBSAN.
#if defined(MP_UBSAN)
inline constexpr bool kSanitizerNeedsFreeFds = true;
#else
inline constexpr bool kSanitizerNeedsFreeFds = false;
#endif

}  // namespace mp::testing

#endif  // MP_TESTING_SANITIZERS_H_
