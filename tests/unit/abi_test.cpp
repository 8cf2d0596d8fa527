// Pins the kernel/user ABI of bpf/shared/rp_abi.h at compile time: the size of
// every record, the offset and type of every field, and that every record
// opens with rp_event_hdr followed by rp_proc. The numbers below are written
// out by hand on purpose: if one of these asserts fires, the layout changed,
// and that must be a conscious decision (bump RP_ABI_VERSION, then update the
// numbers here), never a side effect. The TEST_CASEs check the same facts at
// run time where they go through the decoder's tables, and let the suite
// list this file as a test.
#include <catch2/catch.hpp>
#include <cstddef>
#include <type_traits>

#include "shared/rp_abi.h"
#include "sources/decoder.h"

namespace {

// Every record type and map value: plain, copyable bytes with one layout.
template <typename T>
constexpr bool kPlain =
    std::is_standard_layout_v<T>&& std::is_trivially_copyable_v<T>&& std::is_trivially_default_constructible_v<T>;

// A field of struct S named F has type T and sits at byte O.
#define RP_FIELD(S, F, T, O)                                                 \
  static_assert(std::is_same_v<decltype(S::F), T>, #S "." #F " is not " #T); \
  static_assert(offsetof(S, F) == (O), #S "." #F " moved: that is an ABI change")

// Every record: plain, 8-byte aligned and sized, header first, proc next.
#define RP_RECORD(S, SIZE)                                                       \
  static_assert(kPlain<S>, #S " must be plain data");                            \
  static_assert(sizeof(S) == (SIZE), #S " changed size: that is an ABI change"); \
  static_assert(sizeof(S) % 8 == 0, #S " size must be a multiple of 8");         \
  static_assert(alignof(S) == 8, #S " must be 8-byte aligned");                  \
  RP_FIELD(S, hdr, rp_event_hdr, 0);                                             \
  RP_FIELD(S, proc, rp_proc, kHdrSize)

// ---- Expected sizes, computed by hand for RP_ABI_VERSION 1. ----
static_assert(RP_ABI_VERSION == 1, "ABI version bumped: recheck every number in this file");
constexpr size_t kHdrSize = 24;
constexpr size_t kProcSize = 64;
constexpr size_t kExecSize = 920;
constexpr size_t kForkSize = 104;
constexpr size_t kExitSize = 96;
constexpr size_t kFileSize = 384;
constexpr size_t kRenameSize = 616;
constexpr size_t kNetSize = 152;
constexpr size_t kSyscallSize = 424;
constexpr size_t kStatsSize = 40;
constexpr size_t kEnforceSize = 376;

// Array lengths are ABI too.
static_assert(RP_COMM_LEN == 16);
static_assert(RP_PATH_MAX == 256);
static_assert(RP_ARGS_MAX == 512);
static_assert(RP_AUX_LEN == 32);

// Type numbers are ABI: never renumbered, only appended.
static_assert(RP_EV_EXEC == 1 && RP_EV_FORK == 2 && RP_EV_EXIT == 3 && RP_EV_OPEN == 4);
static_assert(RP_EV_UNLINK == 5 && RP_EV_RENAME == 6 && RP_EV_CHMOD == 7 && RP_EV_CHOWN == 8);
static_assert(RP_EV_CONNECT == 9 && RP_EV_ACCEPT == 10 && RP_EV_BIND == 11 && RP_EV_LISTEN == 12);
static_assert(RP_EV_SETUID == 13 && RP_EV_SETGID == 14 && RP_EV_CAPSET == 15 && RP_EV_PTRACE == 16);
static_assert(RP_EV_PROCESS_VM_WRITEV == 17 && RP_EV_MODULE_LOAD == 18 && RP_EV_BPF == 19);
static_assert(RP_EV_MOUNT == 20 && RP_EV_UMOUNT == 21 && RP_EV_UNSHARE == 22 && RP_EV_SETNS == 23);
static_assert(RP_EV_MEMFD_CREATE == 24 && RP_EV_ENFORCE == 25 && RP_EV_IO_URING == 26 && RP_EV_MAX == 27);

// The fixed-width types are what they claim to be.
static_assert(sizeof(__u8) == 1 && sizeof(__u16) == 2 && sizeof(__u32) == 4 && sizeof(__u64) == 8);
static_assert(sizeof(__s32) == 4 && sizeof(__s64) == 8);

// ---- rp_event_hdr ----
static_assert(kPlain<rp_event_hdr>);
static_assert(sizeof(rp_event_hdr) == kHdrSize);
static_assert(alignof(rp_event_hdr) == 8);
RP_FIELD(rp_event_hdr, type, __u32, 0);
RP_FIELD(rp_event_hdr, size, __u32, 4);
RP_FIELD(rp_event_hdr, ts_ns, __u64, 8);
RP_FIELD(rp_event_hdr, flags, __u32, 16);
RP_FIELD(rp_event_hdr, cpu, __u32, 20);

// ---- rp_proc ----
static_assert(kPlain<rp_proc>);
static_assert(sizeof(rp_proc) == kProcSize);
static_assert(sizeof(rp_proc) % 8 == 0);
RP_FIELD(rp_proc, pid, __u32, 0);
RP_FIELD(rp_proc, tgid, __u32, 4);
RP_FIELD(rp_proc, ppid, __u32, 8);
RP_FIELD(rp_proc, uid, __u32, 12);
RP_FIELD(rp_proc, gid, __u32, 16);
RP_FIELD(rp_proc, euid, __u32, 20);
RP_FIELD(rp_proc, egid, __u32, 24);
RP_FIELD(rp_proc, mntns, __u32, 28);
RP_FIELD(rp_proc, cgroup_id, __u64, 32);
RP_FIELD(rp_proc, start_ns, __u64, 40);
RP_FIELD(rp_proc, comm, char[RP_COMM_LEN], 48);

// ---- rp_exec_event ----
RP_RECORD(rp_exec_event, kExecSize);
RP_FIELD(rp_exec_event, old_pid, __u32, 88);
RP_FIELD(rp_exec_event, argc, __u32, 92);
RP_FIELD(rp_exec_event, args_len, __u32, 96);
RP_FIELD(rp_exec_event, exe_nlink, __u32, 100);
RP_FIELD(rp_exec_event, exe_ino, __u64, 104);
RP_FIELD(rp_exec_event, exe_dev, __u32, 112);
RP_FIELD(rp_exec_event, _pad0, __u32, 116);
RP_FIELD(rp_exec_event, exe_name, char[RP_AUX_LEN], 120);
RP_FIELD(rp_exec_event, filename, char[RP_PATH_MAX], 152);
RP_FIELD(rp_exec_event, args, char[RP_ARGS_MAX], 408);

// ---- rp_fork_event ----
RP_RECORD(rp_fork_event, kForkSize);
RP_FIELD(rp_fork_event, child_pid, __u32, 88);
RP_FIELD(rp_fork_event, child_tgid, __u32, 92);
RP_FIELD(rp_fork_event, child_start_ns, __u64, 96);

// ---- rp_exit_event ----
RP_RECORD(rp_exit_event, kExitSize);
RP_FIELD(rp_exit_event, exit_code, __u32, 88);
RP_FIELD(rp_exit_event, _pad0, __u32, 92);

// ---- rp_file_event ----
RP_RECORD(rp_file_event, kFileSize);
RP_FIELD(rp_file_event, result, __s64, 88);
RP_FIELD(rp_file_event, syscall_nr, __u32, 96);
RP_FIELD(rp_file_event, flags, __u32, 100);
RP_FIELD(rp_file_event, mode, __u32, 104);
RP_FIELD(rp_file_event, uid, __u32, 108);
RP_FIELD(rp_file_event, gid, __u32, 112);
RP_FIELD(rp_file_event, dirfd, __s32, 116);
RP_FIELD(rp_file_event, policy_id, __u32, 120);
RP_FIELD(rp_file_event, _pad0, __u32, 124);
RP_FIELD(rp_file_event, path, char[RP_PATH_MAX], 128);

// ---- rp_rename_event ----
RP_RECORD(rp_rename_event, kRenameSize);
RP_FIELD(rp_rename_event, result, __s64, 88);
RP_FIELD(rp_rename_event, syscall_nr, __u32, 96);
RP_FIELD(rp_rename_event, flags, __u32, 100);
RP_FIELD(rp_rename_event, path, char[RP_PATH_MAX], 104);
RP_FIELD(rp_rename_event, path2, char[RP_PATH_MAX], 360);

// ---- rp_net_event ----
static_assert(RP_AF_INET == 2 && RP_AF_INET6 == 10);
RP_RECORD(rp_net_event, kNetSize);
RP_FIELD(rp_net_event, result, __s64, 88);
RP_FIELD(rp_net_event, syscall_nr, __u32, 96);
RP_FIELD(rp_net_event, fd, __s32, 100);
RP_FIELD(rp_net_event, family, __u16, 104);
RP_FIELD(rp_net_event, sock_type, __u16, 106);
RP_FIELD(rp_net_event, local_port, __u16, 108);
RP_FIELD(rp_net_event, remote_port, __u16, 110);
RP_FIELD(rp_net_event, local_addr, __u8[16], 112);
RP_FIELD(rp_net_event, remote_addr, __u8[16], 128);
RP_FIELD(rp_net_event, backlog, __u32, 144);
RP_FIELD(rp_net_event, _pad0, __u32, 148);

// ---- rp_syscall_event ----
RP_RECORD(rp_syscall_event, kSyscallSize);
RP_FIELD(rp_syscall_event, result, __s64, 88);
RP_FIELD(rp_syscall_event, syscall_nr, __u32, 96);
RP_FIELD(rp_syscall_event, _pad0, __u32, 100);
RP_FIELD(rp_syscall_event, args, __u64[4], 104);
RP_FIELD(rp_syscall_event, aux, char[RP_AUX_LEN], 136);
RP_FIELD(rp_syscall_event, str, char[RP_PATH_MAX], 168);

// ---- rp_enforce_event ----
RP_RECORD(rp_enforce_event, kEnforceSize);
RP_FIELD(rp_enforce_event, op, __u32, 88);
RP_FIELD(rp_enforce_event, policy_id, __u32, 92);
RP_FIELD(rp_enforce_event, mechanism, __u8, 96);
RP_FIELD(rp_enforce_event, action, __u8, 97);
RP_FIELD(rp_enforce_event, reason, __u8, 98);
RP_FIELD(rp_enforce_event, family, __u8, 99);
RP_FIELD(rp_enforce_event, port, __u16, 100);
RP_FIELD(rp_enforce_event, _pad0, __u16, 102);
RP_FIELD(rp_enforce_event, addr, __u8[16], 104);
RP_FIELD(rp_enforce_event, path, char[RP_PATH_MAX], 120);

// ---- enforcement map keys and values (shared with the kernel like records) ----
static_assert(kPlain<rp_policy_rule> && sizeof(rp_policy_rule) == 8 + 4 * RP_MAX_LISTEN);
static_assert(kPlain<rp_port_set> && sizeof(rp_port_set) == 8 + 4 * RP_MAX_PORT_RANGES);
static_assert(kPlain<rp_net4_key> && sizeof(rp_net4_key) == 12);
static_assert(kPlain<rp_net6_key> && sizeof(rp_net6_key) == 24);
static_assert(kPlain<rp_verdict> && sizeof(rp_verdict) == 8);
static_assert(kPlain<rp_exe_key> && sizeof(rp_exe_key) == 16);

// ---- rp_stats (per-CPU map value) ----
static_assert(kPlain<rp_stats>);
static_assert(sizeof(rp_stats) == kStatsSize);
RP_FIELD(rp_stats, emitted, __u64, 0);
RP_FIELD(rp_stats, filtered, __u64, 8);
RP_FIELD(rp_stats, dropped, __u64, 16);
RP_FIELD(rp_stats, errors, __u64, 24);
RP_FIELD(rp_stats, rate_limited, __u64, 32);

// ---- rp_loss (loss_map value) ----
static_assert(kPlain<rp_loss> && sizeof(rp_loss) == 64);
RP_FIELD(rp_loss, dropped, __u64, 0);
RP_FIELD(rp_loss, rate_limited, __u64, 8);
RP_FIELD(rp_loss, first_ns, __u64, 16);
RP_FIELD(rp_loss, last_ns, __u64, 24);
RP_FIELD(rp_loss, cgroup_id, __u64, 32);
RP_FIELD(rp_loss, tgid, __u32, 40);
RP_FIELD(rp_loss, types, __u32, 44);
static_assert(offsetof(rp_loss, comm) == 48);
// Every rate-limited type fits the 32-bit masks, and none of the types that must never be limited is in it.
static_assert(RP_EV_MAX <= 32);
static_assert((RP_RATE_LIMITED_TYPES &
               ((1u << RP_EV_EXEC) | (1u << RP_EV_FORK) | (1u << RP_EV_EXIT) | (1u << RP_EV_ENFORCE))) == 0);

#undef RP_RECORD
#undef RP_FIELD

// The struct each type is decoded as, by the ABI comments in rp_abi.h.
size_t expected_size(uint32_t type) {
  switch (type) {
    case RP_EV_EXEC:
      return kExecSize;
    case RP_EV_FORK:
      return kForkSize;
    case RP_EV_EXIT:
      return kExitSize;
    case RP_EV_OPEN:
    case RP_EV_UNLINK:
    case RP_EV_CHMOD:
    case RP_EV_CHOWN:
      return kFileSize;
    case RP_EV_RENAME:
      return kRenameSize;
    case RP_EV_CONNECT:
    case RP_EV_ACCEPT:
    case RP_EV_BIND:
    case RP_EV_LISTEN:
      return kNetSize;
    case RP_EV_SETUID:
    case RP_EV_SETGID:
    case RP_EV_CAPSET:
    case RP_EV_PTRACE:
    case RP_EV_PROCESS_VM_WRITEV:
    case RP_EV_MODULE_LOAD:
    case RP_EV_BPF:
    case RP_EV_MOUNT:
    case RP_EV_UMOUNT:
    case RP_EV_UNSHARE:
    case RP_EV_SETNS:
    case RP_EV_IO_URING:
    case RP_EV_MEMFD_CREATE:
      return kSyscallSize;
    case RP_EV_ENFORCE:
      return kEnforceSize;
    default:
      return 0;
  }
}

}  // namespace

TEST_CASE("ABI record layouts are pinned", "[unit]") {
  // The static_asserts above are the test; restated here so a report shows it.
  CHECK(sizeof(rp_event_hdr) == kHdrSize);
  CHECK(sizeof(rp_proc) == kProcSize);
  CHECK(sizeof(rp_exec_event) == kExecSize);
  CHECK(sizeof(rp_fork_event) == kForkSize);
  CHECK(sizeof(rp_exit_event) == kExitSize);
  CHECK(sizeof(rp_file_event) == kFileSize);
  CHECK(sizeof(rp_rename_event) == kRenameSize);
  CHECK(sizeof(rp_net_event) == kNetSize);
  CHECK(sizeof(rp_syscall_event) == kSyscallSize);
  CHECK(sizeof(rp_stats) == kStatsSize);
}

TEST_CASE("record_size matches the ABI struct of every event type", "[unit]") {
  using rampart::sources::record_size;
  for (uint32_t type = 1; type < RP_EV_MAX; ++type) {
    INFO("type " << type << " (" << rampart::sources::event_type_name(type) << ")");
    CHECK(expected_size(type) != 0);
    CHECK(record_size(type) == expected_size(type));
  }
  CHECK(record_size(0) == 0);
  CHECK(record_size(RP_EV_MAX) == 0);
  CHECK(record_size(RP_EV_MAX + 1) == 0);
  CHECK(record_size(~0u) == 0);
}
