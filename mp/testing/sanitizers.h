// Test support: what the sanitizer runtime of this build rules out.

#ifndef MP_TESTING_SANITIZERS_H_
#define MP_TESTING_SANITIZERS_H_

namespace mp::testing {

// AddressSanitizer and ThreadSanitizer reserve terabytes of address space at
// start-up, so a test cannot apply RLIMIT_AS (`ulimit -v`) meaningfully.
// GCC defines __SANITIZE_*__; clang answers __has_feature.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitizerReservesAddressSpace = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitizerReservesAddressSpace = true;
#else
inline constexpr bool kSanitizerReservesAddressSpace = false;
#endif
#else
inline constexpr bool kSanitizerReservesAddressSpace = false;
#endif

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
