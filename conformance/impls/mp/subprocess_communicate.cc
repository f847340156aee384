// The seed's Popen.communicate program, with mp. Prints what the seed's code
// prints: print(output.decode('utf-8')) adds a newline after the output.
#include <cstdio>
#include <string>

#include "mp/subprocess.h"

namespace sp = mp::subprocess;

int main() {
  std::printf("$ nslookup\n");
  absl::StatusOr<sp::Popen> p = sp::Popen::Start(
      {"nslookup"}, {.std_in = sp::kPipe, .std_out = sp::kPipe, .std_err = sp::kPipe});
  if (!p.ok()) {
    std::fprintf(stderr, "%s\n", std::string(p.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<sp::Output> out = p->Communicate("set q=mx\npython.org\nexit\n");
  if (!out.ok()) {
    std::fprintf(stderr, "%s\n", std::string(out.status().message()).c_str());
    return 1;
  }
  std::printf("%s\n", out->std_out.c_str());
  std::printf("Exit code: %d\n", *p->returncode());
  return 0;
}
