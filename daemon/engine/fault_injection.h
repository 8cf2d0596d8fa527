// Fault injection for the tests that need a daemon misbehaving on purpose.
// Only the test build of rampartd (rampartd_faults, whose copy of
// fault_injection.cpp is compiled with RAMPART_FAULT_INJECTION) reads the
// variables; the shipped rampartd links the copy that ignores them, so no
// environment can slow its enforcement down.
#pragma once

#include <cstdint>

#include "util/result.h"

namespace rampart::engine {

// RAMPART_FAULT_GUARD_DELAY_MS: every fanotify decision first sleeps this
// long, as a stalled decision thread would. 0: off (always, in rampartd).
Result<uint32_t> guard_fault_delay_ms();

}  // namespace rampart::engine
