// BpfKernel: see bpf_kernel.h.
#include "engine/bpf_kernel.h"

#include <signal.h>

#include <cerrno>

namespace rampart::engine {

bool BpfKernel::kill(uint32_t tgid, uint64_t start_ns) { return proc_.signal_if_same(tgid, start_ns, SIGKILL); }

bool BpfKernel::alive(uint32_t tgid) const { return !(::kill(static_cast<pid_t>(tgid), 0) != 0 && errno == ESRCH); }

}  // namespace rampart::engine
