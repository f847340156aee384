// The fault-suite cases of issue 19 (synchronization and shared state under
// kills); each returns "" or why the trial missed its defined outcome. They
// are listed in fault_suite.cc's case table; their outcomes are written above
// each in sync_cases.cc.

#ifndef TOOLS_FAULTS_SYNC_CASES_H_
#define TOOLS_FAULTS_SYNC_CASES_H_

#include <string>

namespace mp::faults {

std::string LockHolderKills(int trial);
std::string BarrierPartyKills(int trial);
std::string ShmCreatorKills(int trial);

}  // namespace mp::faults

#endif  // TOOLS_FAULTS_SYNC_CASES_H_
