// Linked into the tests that call Run(): loads the BPF observer before any
// test starts. Its fds stay open for the life of the process (tracer.h), so
// loaded inside a test they would look like that test's leak to the fd check
// of //testing:gtest_main.

#include "conformance/runner/tracer.h"
#include "gtest/gtest.h"

namespace conformance {
namespace {

class BpfEnvironment : public ::testing::Environment {
  void SetUp() override { (void)LoadBpfObserver(); }  // Where it cannot load, Run() falls back to ptrace.
};

const ::testing::Environment* const kBpfEnvironment = ::testing::AddGlobalTestEnvironment(new BpfEnvironment);

}  // namespace
}  // namespace conformance
