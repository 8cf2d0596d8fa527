// Fault injection, compiled in only with RAMPART_FAULT_INJECTION; see fault_injection.h.
#include "engine/fault_injection.h"

#include <cstdlib>
#include <string>

#include "ops/log.h"
#include "util/number.h"

namespace rampart::engine {

#ifdef RAMPART_FAULT_INJECTION

Result<uint32_t> guard_fault_delay_ms() {
  const char* delay = std::getenv("RAMPART_FAULT_GUARD_DELAY_MS");
  if (!delay) return 0;
  auto ms = parse_number<uint32_t>(delay, 0, 60'000);
  if (!ms) return fail("RAMPART_FAULT_GUARD_DELAY_MS " + ms.error().what());
  ops::log_line("warning: fault injection: every exec/file decision is delayed by " + std::to_string(*ms) +
                " ms (RAMPART_FAULT_GUARD_DELAY_MS)");
  return *ms;
}

#else

Result<uint32_t> guard_fault_delay_ms() { return 0; }

#endif

}  // namespace rampart::engine
