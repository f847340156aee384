// Test support: every test that links //testing:gtest_main is checked,
// after it ends, for file descriptors it leaked and children it left behind
// (zombies or still running). A leak fails the test that caused it.

#ifndef TESTING_LEAK_CHECK_H_
#define TESTING_LEAK_CHECK_H_

#include <map>
#include <string>

namespace test_support {

// fd number -> what /proc/self/fd says it refers to.
std::map<int, std::string> OpenFds();

// Reaps or kills every child of this process; returns a description of each
// one found ("zombie 123 (exited with 0)", "running 124 (killed)"), or "".
std::string ReapLeftoverChildren();

}  // namespace test_support

#endif  // TESTING_LEAK_CHECK_H_
