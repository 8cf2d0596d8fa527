// The mechanism table of the status report; see status.h.
#include "edges/status.h"

#include "enforce/file_rules.h"

namespace rampart::edges {

std::vector<MechanismUse> describe_mechanisms(const policy::PolicySet& set, const MechanismInputs& in) {
  std::vector<MechanismUse> out;
  auto mech = [&out](const char* op, const std::string& how, const std::string& detail) {
    out.push_back({op, how, detail});
  };
  bool any_exec = false, any_files = false, any_priv = false, any_enforce = false, any_sha256 = false;
  for (const auto& p : set.policies()) {
    const auto g = enforce::guard_rule(p);
    any_exec = any_exec || g.has_exec_rules();
    any_files = any_files || g.has_file_rules();
    any_enforce = any_enforce || g.enforce;
    any_sha256 = any_sha256 || !g.exec_deny_sha256.empty();
    any_priv = any_priv || !p.allow.setuid || !p.allow.capset || !p.allow.ptrace || !p.allow.module_load ||
               !p.allow.bpf || !p.allow.mount || !p.allow.namespaces || !p.allow.io_uring;
  }
  mech("network", in.network ? "cgroup_sock_addr" : "none",
       in.network ? "connect, sendmsg and bind refused with EPERM by cgroup hooks"
                  : "enforcement.network is off or cgroup v2 is missing");
  if (!in.hooks.empty()) {
    const std::string& how = in.hooks;
    const char* hook_word = how == "bpf_lsm" ? "LSM hooks" : "security_*() (fmod_ret)";
    mech("exec", how,
         std::string("bprm_check_security: a denied exec fails with EPERM; deny rules hold by identity (hard links, "
                     "renames)") +
             (any_sha256 ? "; deny rules on contents (sha256:) are NOT enforced in the kernel hooks" : ""));
    mech("files", how,
         "file_open: a denied open fails with EPERM, read and write told apart; deny rules by identity too (hard "
         "links, bind mounts, renames)");
    mech("privilege", how,
         std::string("ptrace, module loading, mount and bpf() refused with EPERM in ") + hook_word +
             "; setuid, capset, unshare, setns, io_uring_setup and umount: bpf_send_signal(SIGKILL) at the syscall");
    mech("self_protection", how,
         "no other process may signal or ptrace rampartd, get an fd to its maps, programs or links, or reach into "
         "its pin dir, or write the kill, freeze and limit files of its cgroup and their ancestors (its "
         "supervisor, known by pid and start time, and pid 1 may stop it); not covered: a move into another cgroup "
         "first, and its pins once it has exited");
  } else {
    const bool exec = in.guard && (any_exec || any_enforce);
    mech("exec", exec ? "fanotify" : "none",
         exec ? "FAN_OPEN_EXEC_PERM: a denied exec fails with EPERM; deny rules hold by identity (hard links, "
                "renames) and by contents (copies, sha256:)"
              : "no policy restricts exec and none is in enforce mode");
    mech("files", in.guard && any_files ? "fanotify" : "none",
         in.guard && any_files ? "FAN_OPEN_PERM on marked paths (EPERM), deny rules by identity too (hard links, "
                                 "bind mounts, renames); elsewhere a violating open is killed after the fact"
                               : "no policy restricts files");
    mech("privilege", "sigkill",
         any_priv ? "bpf_send_signal(SIGKILL) at the syscall: the syscall itself may complete"
                  : "no policy forbids a privilege operation");
    mech("self_protection", "none", "no BPF LSM: rampartd, its maps and programs are not protected from root");
  }
  mech("quarantine",
       !in.network     ? "none"
       : in.socket_cut ? "cgroup_sock_addr+cgroup_skb"
                       : "cgroup_sock_addr",
       !in.network ? "needs the cgroup hooks"
       : in.socket_cut
           ? "a quarantined process's connect, sendmsg and bind fail with EPERM, and every packet of the sockets it "
             "already has is dropped, both ways; its execs and sensitive opens too where exec and files are enforced"
           : "a quarantined process's connect, sendmsg and bind fail with EPERM (its existing sockets keep working: "
             "no cgroup skb hooks); its execs and sensitive opens too where exec and files are enforced");
  return out;
}

}  // namespace rampart::edges
