// The syscalls Rampart traces at sys_exit: for each, the BPF handler program
// (sys_exit_<name>) and the syscall number on this architecture. Syscalls the
// architecture lacks (open, chmod, ... on arm64) are simply not listed.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace rampart::sources {

struct TracedSyscall {
  std::string_view name;  // the handler is sys_exit_<name>
  uint32_t nr;
  uint32_t event_type;  // RP_EV_* it produces
};

std::span<const TracedSyscall> traced_syscalls();
// Name of a traced syscall number, "" if not traced.
std::string_view syscall_name(uint32_t nr);

}  // namespace rampart::sources
