// One round of the queue fault injection: two producers and two consumers
// share a small Queue; one producer and one consumer are SIGKILLed at random
// points. Used by mp/queue_fault_test.cc and //tools/faults:fault_suite.
//
// Defined outcome: the survivors finish (no deadlock, even when a victim died
// holding one of the queue's locks); no committed message is corrupted,
// duplicated or reordered per producer; every message a surviving producer
// committed is received, except at most one per killed consumer (got, then
// killed before it could record it).

#ifndef MP_TESTING_QUEUE_KILL_ROUND_H_
#define MP_TESTING_QUEUE_KILL_ROUND_H_

#include <cstdint>
#include <string>

namespace mp::testing {

struct QueueKillRound {
  std::string failure;  // "" if the round met the defined outcome.
  int lost_to_killed_consumer = 0;
};

// Runs one round; `seed` picks the kill points.
QueueKillRound RunQueueKillRound(uint32_t seed);

}  // namespace mp::testing

#endif  // MP_TESTING_QUEUE_KILL_ROUND_H_
