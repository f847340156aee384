// The one UTF-8 validator of the judge: what the checker shows in reports,
// the suite writes to JUnit and the runner writes to timelines all decide
// "is this text?" the same way, strictly (RFC 3629).
//
// Thread-safety: pure functions.

#ifndef CONFORMANCE_OBSERVATION_UTF8_H_
#define CONFORMANCE_OBSERVATION_UTF8_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace conformance {

// The length (2 to 4) of the valid multi-byte UTF-8 sequence that starts at
// s[i], or 0: an ASCII byte (not a multi-byte sequence), a byte that cannot
// start one (continuation bytes, 0xC0, 0xC1, 0xF5-0xFF), a truncated
// sequence, or an overlong, surrogate (U+D800-DFFF) or out-of-range
// (> U+10FFFF) encoding.
size_t Utf8SequenceLength(absl::string_view s, size_t i);

}  // namespace conformance

#endif  // CONFORMANCE_OBSERVATION_UTF8_H_
