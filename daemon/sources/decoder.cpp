// Checked decoding of kernel records; see decoder.h.
#include "sources/decoder.h"

#include <array>

namespace rampart::sources {
namespace {

struct TypeInfo {
  const char* name;
  size_t size;
};

// Indexed by RP_EV_*. One row per type: its name in JSON and its layout.
constexpr std::array<TypeInfo, RP_EV_MAX> kTypes = [] {
  std::array<TypeInfo, RP_EV_MAX> t{};
  t[0] = {"unknown", 0};
  t[RP_EV_EXEC] = {"exec", sizeof(rp_exec_event)};
  t[RP_EV_FORK] = {"fork", sizeof(rp_fork_event)};
  t[RP_EV_EXIT] = {"exit", sizeof(rp_exit_event)};
  t[RP_EV_OPEN] = {"open", sizeof(rp_file_event)};
  t[RP_EV_UNLINK] = {"unlink", sizeof(rp_file_event)};
  t[RP_EV_RENAME] = {"rename", sizeof(rp_rename_event)};
  t[RP_EV_CHMOD] = {"chmod", sizeof(rp_file_event)};
  t[RP_EV_CHOWN] = {"chown", sizeof(rp_file_event)};
  t[RP_EV_CONNECT] = {"connect", sizeof(rp_net_event)};
  t[RP_EV_ACCEPT] = {"accept", sizeof(rp_net_event)};
  t[RP_EV_BIND] = {"bind", sizeof(rp_net_event)};
  t[RP_EV_LISTEN] = {"listen", sizeof(rp_net_event)};
  t[RP_EV_SETUID] = {"setuid", sizeof(rp_syscall_event)};
  t[RP_EV_SETGID] = {"setgid", sizeof(rp_syscall_event)};
  t[RP_EV_CAPSET] = {"capset", sizeof(rp_syscall_event)};
  t[RP_EV_PTRACE] = {"ptrace", sizeof(rp_syscall_event)};
  t[RP_EV_PROCESS_VM_WRITEV] = {"process_vm_writev", sizeof(rp_syscall_event)};
  t[RP_EV_MODULE_LOAD] = {"module_load", sizeof(rp_syscall_event)};
  t[RP_EV_BPF] = {"bpf", sizeof(rp_syscall_event)};
  t[RP_EV_MOUNT] = {"mount", sizeof(rp_syscall_event)};
  t[RP_EV_UMOUNT] = {"umount", sizeof(rp_syscall_event)};
  t[RP_EV_UNSHARE] = {"unshare", sizeof(rp_syscall_event)};
  t[RP_EV_SETNS] = {"setns", sizeof(rp_syscall_event)};
  t[RP_EV_MEMFD_CREATE] = {"memfd_create", sizeof(rp_syscall_event)};
  t[RP_EV_ENFORCE] = {"enforce", sizeof(rp_enforce_event)};
  t[RP_EV_IO_URING] = {"io_uring", sizeof(rp_syscall_event)};
  return t;
}();

}  // namespace

const char* decode_error_name(DecodeError e) {
  switch (e) {
    case DecodeError::kTooShort:
      return "too_short";
    case DecodeError::kUnknownType:
      return "unknown_type";
    case DecodeError::kSizeMismatch:
      return "size_mismatch";
    case DecodeError::kBadField:
      return "bad_field";
  }
  return "unknown";
}

size_t record_size(uint32_t type) { return type < RP_EV_MAX ? kTypes[type].size : 0; }

const char* event_type_name(uint32_t type) {
  return type < RP_EV_MAX && kTypes[type].size ? kTypes[type].name : "unknown";
}

uint32_t event_type_from_name(std::string_view name) {
  for (uint32_t t = 1; t < RP_EV_MAX; ++t)
    if (kTypes[t].size && name == kTypes[t].name) return t;
  return 0;
}

tl::expected<EventView, DecodeError> decode(const void* data, size_t len) {
  if (data == nullptr || len < sizeof(rp_event_hdr)) return tl::unexpected(DecodeError::kTooShort);
  rp_event_hdr hdr;
  std::memcpy(&hdr, data, sizeof(hdr));
  size_t want = record_size(hdr.type);
  if (want == 0) return tl::unexpected(DecodeError::kUnknownType);
  if (hdr.size != want || len < want) return tl::unexpected(DecodeError::kSizeMismatch);

  EventView v{static_cast<const rp_event_hdr*>(data)};
  if (hdr.type == RP_EV_EXEC) {
    const auto& e = v.as<rp_exec_event>();
    if (e.args_len > RP_ARGS_MAX) return tl::unexpected(DecodeError::kBadField);
  }
  return v;
}

}  // namespace rampart::sources
