// The seed's subprocess.call program, with mp. Prints what the seed's code
// prints; nslookup's own output goes straight to the inherited stdout.
//
// Order: "$ nslookup ..." is written before nslookup starts, because
// mp::subprocess flushes stdio before it spawns (as mp::Fork does). CPython
// does not flush: with stdout a pipe or file and PYTHONUNBUFFERED unset, its
// line is block-buffered and lands after nslookup's output.
#include <cstdio>
#include <string>

#include "mp/subprocess.h"

int main() {
  std::printf("$ nslookup www.python.org\n");
  absl::StatusOr<int> r = mp::subprocess::Call({"nslookup", "www.python.org"});
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", std::string(r.status().message()).c_str());
    return 1;
  }
  std::printf("Exit code: %d\n", *r);
  return 0;
}
