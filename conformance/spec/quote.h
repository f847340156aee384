// Private to the parser: how an error message quotes what a spec says.

#ifndef CONFORMANCE_SPEC_QUOTE_H_
#define CONFORMANCE_SPEC_QUOTE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace conformance {

// At most 60 bytes of `s`, anything unprintable as an escape (`\x01`), so
// that garbage input cannot write control bytes to the terminal or fill it.
std::string QuoteForError(absl::string_view s);

}  // namespace conformance

#endif  // CONFORMANCE_SPEC_QUOTE_H_
