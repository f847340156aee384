// ThreadSanitizer suppressions, compiled into every binary that links
// //mp/internal:tsan_suppressions: every test (through //mp/testing:gtest_main)
// and any library whose mechanism TSan cannot model (so that its benchmark
// binaries are covered too). Compiled in rather than passed as
// TSAN_OPTIONS=suppressions=FILE: a test's sandbox has no stable path to a
// file outside its runfiles. Unused without -fsanitize=thread.
//
// Each entry is a limitation of TSan, not a tolerated race; say which.

extern "C" __attribute__((visibility("default"), used)) const char* __tsan_default_suppressions() {
  return
      // Process-shared robust mutexes in shared memory (the Queue's ring,
      // mp/internal/shm_queue): TSan models each mutex per process, so one
      // locked or released by another process (or recovered with
      // EOWNERDEAD after its owner died) looks like "unlock of an unlocked
      // mutex" here.
      "mutex:mp::internal::ShmQueue::\n"
      // The same mutexes as locked through mp/internal/shm_sync.
      "mutex:mp::internal::LockRobustMutex\n"
      "mutex:mp::internal::LockCore::\n"
      "mutex:mp::Barrier::\n";
}
