// Table of traced syscalls; see syscall_table.h.
#include "sources/syscall_table.h"

#include <sys/syscall.h>

#include <array>

#include "shared/rp_abi.h"

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452  // Linux 6.6; same number on every architecture
#endif

namespace rampart::sources {
namespace {

#define RP_SC(name, type) \
  TracedSyscall { #name, SYS_##name, type }

constexpr TracedSyscall kTable[] = {
#ifdef SYS_open
    RP_SC(open, RP_EV_OPEN),
    RP_SC(creat, RP_EV_OPEN),
    RP_SC(unlink, RP_EV_UNLINK),
    RP_SC(rmdir, RP_EV_UNLINK),
    RP_SC(rename, RP_EV_RENAME),
    RP_SC(chmod, RP_EV_CHMOD),
    RP_SC(chown, RP_EV_CHOWN),
    RP_SC(lchown, RP_EV_CHOWN),
#endif
    RP_SC(openat, RP_EV_OPEN),
    RP_SC(openat2, RP_EV_OPEN),
    RP_SC(truncate, RP_EV_OPEN),
    RP_SC(unlinkat, RP_EV_UNLINK),
    RP_SC(renameat, RP_EV_RENAME),
    RP_SC(renameat2, RP_EV_RENAME),
    RP_SC(fchmod, RP_EV_CHMOD),
    RP_SC(fchmodat, RP_EV_CHMOD),
    RP_SC(fchmodat2, RP_EV_CHMOD),
    RP_SC(fchown, RP_EV_CHOWN),
    RP_SC(fchownat, RP_EV_CHOWN),
    RP_SC(connect, RP_EV_CONNECT),
    RP_SC(accept, RP_EV_ACCEPT),
    RP_SC(accept4, RP_EV_ACCEPT),
    RP_SC(bind, RP_EV_BIND),
    RP_SC(listen, RP_EV_LISTEN),
    RP_SC(setuid, RP_EV_SETUID),
    RP_SC(setreuid, RP_EV_SETUID),
    RP_SC(setresuid, RP_EV_SETUID),
    RP_SC(setfsuid, RP_EV_SETUID),
    RP_SC(setgid, RP_EV_SETGID),
    RP_SC(setregid, RP_EV_SETGID),
    RP_SC(setresgid, RP_EV_SETGID),
    RP_SC(setfsgid, RP_EV_SETGID),
    RP_SC(capset, RP_EV_CAPSET),
    RP_SC(ptrace, RP_EV_PTRACE),
    RP_SC(process_vm_writev, RP_EV_PROCESS_VM_WRITEV),
    RP_SC(init_module, RP_EV_MODULE_LOAD),
    RP_SC(finit_module, RP_EV_MODULE_LOAD),
    RP_SC(bpf, RP_EV_BPF),
    RP_SC(mount, RP_EV_MOUNT),
    RP_SC(umount2, RP_EV_UMOUNT),
    RP_SC(unshare, RP_EV_UNSHARE),
    RP_SC(setns, RP_EV_SETNS),
    RP_SC(memfd_create, RP_EV_MEMFD_CREATE),
    RP_SC(io_uring_setup, RP_EV_IO_URING),
};

#undef RP_SC

}  // namespace

std::span<const TracedSyscall> traced_syscalls() { return kTable; }

std::string_view syscall_name(uint32_t nr) {
  // Indexed by number: this is looked up once per event.
  static const auto kByNr = [] {
    std::array<std::string_view, 1024> a{};
    for (const auto& s : kTable)
      if (s.nr < a.size()) a[s.nr] = s.name;
    return a;
  }();
  return nr < kByNr.size() ? kByNr[nr] : std::string_view{};
}

}  // namespace rampart::sources
