#include "mp/lock.h"

namespace mp {

absl::StatusOr<Lock> Lock::Create() {
  absl::StatusOr<internal::LockCore> core = internal::LockCore::Create(false);
  if (!core.ok()) return core.status();
  return Lock(*std::move(core));
}

absl::StatusOr<RLock> RLock::Create() {
  absl::StatusOr<internal::LockCore> core = internal::LockCore::Create(true);
  if (!core.ok()) return core.status();
  return RLock(*std::move(core));
}

}  // namespace mp
