// Writes one valid record per common event type into a directory: the seed
// corpus of the decoder fuzz target (tests/fuzz/corpus/decoder). Re-run when
// the ABI changes: scripts/fuzz.sh --seeds.
#include <linux/types.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "shared/rp_abi.h"
template <typename T>
void write(const char* dir, const char* name, T rec) {
  std::string p = std::string(dir) + "/" + name;
  FILE* f = fopen(p.c_str(), "wb");
  fwrite(&rec, sizeof(rec), 1, f);
  fclose(f);
}
template <typename T>
T base(uint32_t type) {
  T r{};
  r.hdr.type = type;
  r.hdr.size = sizeof(T);
  r.hdr.ts_ns = 123456789;
  r.proc.pid = r.proc.tgid = 42;
  r.proc.ppid = 1;
  std::strcpy(r.proc.comm, "bash");
  return r;
}
int main(int, char** argv) {
  const char* d = argv[1];
  auto ex = base<rp_exec_event>(RP_EV_EXEC);
  std::strcpy(ex.filename, "/usr/bin/ls");
  const char args[] = "ls\0-la\0/tmp";
  std::memcpy(ex.args, args, sizeof(args));
  ex.args_len = sizeof(args);
  ex.argc = 3;
  write(d, "exec", ex);
  auto fk = base<rp_fork_event>(RP_EV_FORK);
  fk.child_tgid = 43;
  write(d, "fork", fk);
  auto xt = base<rp_exit_event>(RP_EV_EXIT);
  write(d, "exit", xt);
  auto op = base<rp_file_event>(RP_EV_OPEN);
  std::strcpy(op.path, "/etc/shadow");
  op.flags = 0x241;
  op.policy_id = 1;
  write(d, "open", op);
  auto rn = base<rp_rename_event>(RP_EV_RENAME);
  std::strcpy(rn.path, "/var/log/a");
  write(d, "rename", rn);
  auto cn = base<rp_net_event>(RP_EV_CONNECT);
  cn.family = RP_AF_INET;
  cn.remote_addr[0] = 127;
  cn.remote_addr[3] = 1;
  cn.remote_port = 80;
  write(d, "connect", cn);
  auto sc = base<rp_syscall_event>(RP_EV_PTRACE);
  sc.args[0] = 16;
  write(d, "ptrace", sc);
  auto en = base<rp_enforce_event>(RP_EV_ENFORCE);
  en.op = RP_EV_OPEN;
  en.mechanism = RP_MECH_LSM;
  en.action = RP_ACT_DENIED;
  std::strcpy(en.path, "/etc/shadow");
  write(d, "enforce", en);
  return 0;
}
