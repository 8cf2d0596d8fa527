// bpf tier: network enforcement in the kernel. A policed child in a scratch
// cgroup connects and binds for real; the assertions are on what the child
// saw (EPERM or success) and on the enforce events the kernel emitted.
// Enforcement is scoped: the hooks attach to the scratch cgroup only, and
// only the children the test assigns a policy to are refused anything.
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <functional>

#include "support/net.h"
#include "support/workload.h"

using rampart::testing::KernelSession;
using rampart::testing::Listener;
using rampart::testing::Record;
using rampart::testing::run_policed_child;
using rampart::testing::ScratchCgroup;

namespace {

constexpr uint32_t kPolicy = 7;

// connect() to loopback:port; returns 0 or the errno.
int connect_errno(uint16_t port, int family = AF_INET) {
  int s = socket(family, SOCK_STREAM, 0);
  int rc;
  if (family == AF_INET) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    rc = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  } else {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    a.sin6_port = htons(port);
    rc = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  }
  int err = rc == 0 ? 0 : errno;
  close(s);
  return err;
}

// Exit code of a child encodes two results: (first errno) * 16 + second errno class.
int code(int err) { return err == 0 ? 0 : err == EPERM ? 1 : 2; }

// A policy that allows connects to 127.0.0.1:port (and [::1]:port) only.
void install_policy(rampart::bpf::Programs& p, uint8_t mode, uint16_t allowed_port) {
  rp_policy_rule rule{};
  rule.mode = mode;
  rule.restrict_connect = 1;
  REQUIRE(p.set_policy_rule(kPolicy, rule));
  rp_port_set ports{};
  ports.n = 1;
  ports.r[0] = {allowed_port, allowed_port};
  const uint8_t v4[4] = {127, 0, 0, 1};
  REQUIRE(p.add_net4(rampart::enforce::NetList::kAllow, kPolicy, v4, 32, ports));
  uint8_t v6[16] = {};
  v6[15] = 1;
  REQUIRE(p.add_net6(rampart::enforce::NetList::kAllow, kPolicy, v6, 128, ports));
}

const Record* enforce_event(KernelSession& k, pid_t pid, uint16_t port) {
  return k.wait_for([&](const Record& r) {
    return r.type() == RP_EV_ENFORCE && r.proc().tgid == static_cast<uint32_t>(pid) &&
           r.as<rp_enforce_event>().port == port;
  });
}

}  // namespace

TEST_CASE("enforce mode: a connect to a denied 127.0.0.1 port fails with EPERM and an allowed one succeeds", "[bpf]") {
  ScratchCgroup cg;
  KernelSession k(cg.path());
  REQUIRE(k.programs().network_enforcement());
  Listener allowed, denied;
  install_policy(k.programs(), RP_MODE_ENFORCE, allowed.port());

  auto child = run_policed_child(
      cg, [&](pid_t pid) { REQUIRE(k.programs().assign_process(pid, kPolicy)); },
      [&] { return code(connect_errno(allowed.port())) * 4 + code(connect_errno(denied.port())); });
  REQUIRE(WIFEXITED(child.status));
  CHECK(WEXITSTATUS(child.status) / 4 == 0);  // allowed: connected
  CHECK(WEXITSTATUS(child.status) % 4 == 1);  // denied: EPERM

  const Record* e = enforce_event(k, child.pid, denied.port());
  REQUIRE(e != nullptr);
  const auto& ev = e->as<rp_enforce_event>();
  CHECK(ev.op == RP_EV_CONNECT);
  CHECK(ev.action == RP_ACT_DENIED);
  CHECK(ev.mechanism == RP_MECH_CGROUP_SOCK);
  CHECK(ev.reason == RP_REASON_NOT_ALLOWED);
  CHECK(ev.policy_id == kPolicy);
  CHECK(ev.family == 4);
  CHECK(std::memcmp(ev.addr, "\x7f\x00\x00\x01", 4) == 0);
  CHECK(enforce_event(k, child.pid, allowed.port()) == nullptr);
}

TEST_CASE("enforce mode over IPv6: [::1] on a denied port fails with EPERM", "[bpf]") {
  ScratchCgroup cg;
  KernelSession k(cg.path());
  Listener allowed(AF_INET6), denied(AF_INET6);
  install_policy(k.programs(), RP_MODE_ENFORCE, allowed.port());
  auto child = run_policed_child(
      cg, [&](pid_t pid) { REQUIRE(k.programs().assign_process(pid, kPolicy)); },
      [&] { return code(connect_errno(allowed.port(), AF_INET6)) * 4 + code(connect_errno(denied.port(), AF_INET6)); });
  CHECK(WEXITSTATUS(child.status) == 1);  // allowed 0, denied EPERM
  const Record* e = enforce_event(k, child.pid, denied.port());
  REQUIRE(e != nullptr);
  CHECK(e->as<rp_enforce_event>().family == 6);
}

TEST_CASE("processes outside the policy are untouched, even in the same cgroup", "[bpf]") {
  ScratchCgroup cg;
  KernelSession k(cg.path());
  Listener allowed, denied;
  install_policy(k.programs(), RP_MODE_ENFORCE, allowed.port());
  auto child = run_policed_child(
      cg, [](pid_t) {}, [&] { return code(connect_errno(denied.port())); });
  CHECK(WEXITSTATUS(child.status) == 0);
  CHECK(enforce_event(k, child.pid, denied.port()) == nullptr);
}

TEST_CASE("audit mode lets the connect through and reports a would-deny", "[bpf]") {
  ScratchCgroup cg;
  KernelSession k(cg.path());
  Listener allowed, denied;
  install_policy(k.programs(), RP_MODE_AUDIT, allowed.port());
  auto child = run_policed_child(
      cg, [&](pid_t pid) { REQUIRE(k.programs().assign_process(pid, kPolicy)); },
      [&] { return code(connect_errno(denied.port())); });
  CHECK(WEXITSTATUS(child.status) == 0);
  const Record* e = enforce_event(k, child.pid, denied.port());
  REQUIRE(e != nullptr);
  CHECK(e->as<rp_enforce_event>().action == RP_ACT_WOULD_DENY);
}

TEST_CASE("a quarantine verdict cuts the network, and a child forked after it inherits it in the kernel", "[bpf]") {
  ScratchCgroup cg;
  KernelSession k(cg.path());
  Listener open_port;  // no policy restricts it: only the verdict can refuse
  auto child = run_policed_child(
      cg,
      [&](pid_t pid) {
        rp_verdict v{3, RP_V_DENY_NET};
        REQUIRE(k.programs().set_verdict(pid, v));
      },
      [&] {
        int self = code(connect_errno(open_port.port()));
        pid_t grandchild = fork();
        if (grandchild == 0) _exit(code(connect_errno(open_port.port())));
        int st = 0;
        waitpid(grandchild, &st, 0);
        return self * 4 + WEXITSTATUS(st);
      });
  CHECK(WEXITSTATUS(child.status) / 4 == 1);  // the process itself: EPERM
  CHECK(WEXITSTATUS(child.status) % 4 == 1);  // its child: EPERM too
  const Record* e = enforce_event(k, child.pid, open_port.port());
  REQUIRE(e != nullptr);
  CHECK(e->as<rp_enforce_event>().reason == RP_REASON_VERDICT);
}

TEST_CASE("bind outside the policy's listen ports fails with EPERM", "[bpf]") {
  ScratchCgroup cg;
  KernelSession k(cg.path());
  // Two free ports, found by binding and releasing them.
  Listener a, b;
  uint16_t ok_port = a.port(), bad_port = b.port();
  a.close();
  b.close();
  rp_policy_rule rule{};
  rule.mode = RP_MODE_ENFORCE;
  rule.restrict_bind = 1;
  rule.n_listen = 1;
  rule.listen[0] = {ok_port, ok_port};
  REQUIRE(k.programs().set_policy_rule(kPolicy, rule));
  auto bind_errno = [](uint16_t port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    int rc = bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    int err = rc == 0 ? 0 : errno;
    close(s);
    return err;
  };
  auto child = run_policed_child(
      cg, [&](pid_t pid) { REQUIRE(k.programs().assign_process(pid, kPolicy)); },
      [&] { return code(bind_errno(ok_port)) * 4 + code(bind_errno(bad_port)); });
  CHECK(WEXITSTATUS(child.status) == 1);  // allowed port bound, the other EPERM
  const Record* e = enforce_event(k, child.pid, bad_port);
  REQUIRE(e != nullptr);
  CHECK(e->as<rp_enforce_event>().op == RP_EV_BIND);
}

namespace {

// A policed child (policy kPolicy in `mode`, ptrace forbidden) runs `attempt`
// against a sleeping target; returns the child's result and its enforce event.
std::pair<rampart::testing::ChildResult, const Record*> ptrace_attempt(KernelSession& k, const ScratchCgroup& cg,
                                                                       uint8_t mode,
                                                                       const std::function<int(pid_t)>& attempt) {
  rp_policy_rule rule{};
  rule.mode = mode;
  rule.deny_priv = RP_PRIV_PTRACE;
  REQUIRE(k.programs().set_policy_rule(kPolicy, rule));
  pid_t target = rampart::testing::spawn_child([] {
    pause();
    return 0;
  });
  auto tracer = run_policed_child(
      cg, [&](pid_t pid) { REQUIRE(k.programs().assign_process(pid, kPolicy)); }, [&] { return attempt(target); });
  // The target outlives its would-be tracer in both modes.
  CHECK(kill(target, 0) == 0);
  kill(target, SIGKILL);
  waitpid(target, nullptr, 0);
  const Record* e = k.wait_for(
      [&](const Record& r) { return r.type() == RP_EV_ENFORCE && r.proc().tgid == static_cast<uint32_t>(tracer.pid); });
  return {tracer, e};
}

}  // namespace

TEST_CASE("a ptrace attach by a policed process kills it and the event names the mechanism", "[bpf]") {
  ScratchCgroup cg;
  KernelSession k(cg.path());
  auto [tracer, e] = ptrace_attempt(k, cg, RP_MODE_ENFORCE, [](pid_t target) {
    ptrace(PTRACE_ATTACH, target, nullptr, nullptr);
    return 0;  // not reached when the kill lands on the way back to user mode
  });
  CHECK(WIFSIGNALED(tracer.status));
  CHECK(WTERMSIG(tracer.status) == SIGKILL);
  REQUIRE(e != nullptr);
  const auto& ev = e->as<rp_enforce_event>();
  CHECK(ev.op == RP_EV_PTRACE);
  CHECK(ev.mechanism == RP_MECH_SIGKILL);
  CHECK(ev.action == RP_ACT_KILLED);
  CHECK(ev.policy_id == kPolicy);
}

TEST_CASE("in audit mode the same ptrace attach goes through and is reported as would-deny", "[bpf]") {
  ScratchCgroup cg;
  KernelSession k(cg.path());
  auto [tracer, e] = ptrace_attempt(k, cg, RP_MODE_AUDIT, [](pid_t target) {
    if (ptrace(PTRACE_ATTACH, target, nullptr, nullptr) != 0) return 1;
    waitpid(target, nullptr, 0);
    ptrace(PTRACE_DETACH, target, nullptr, nullptr);
    return 0;
  });
  REQUIRE(WIFEXITED(tracer.status));
  CHECK(WEXITSTATUS(tracer.status) == 0);
  REQUIRE(e != nullptr);
  CHECK(e->as<rp_enforce_event>().action == RP_ACT_WOULD_DENY);
}

namespace {

// A deny rule for 127.0.0.1:port with `action`, under a policy that restricts
// nothing else (no allow-list): only the deny rule can refuse.
void install_deny_rule(rampart::bpf::Programs& p, uint8_t mode, uint16_t port, uint32_t action) {
  rp_policy_rule rule{};
  rule.mode = mode;
  rule.has_net_deny = 1;
  REQUIRE(p.set_policy_rule(kPolicy, rule));
  rp_port_set ports{};
  ports.n = 1;
  ports.action = action;
  ports.r[0] = {port, port};
  const uint8_t v4[4] = {127, 0, 0, 0};
  REQUIRE(p.add_net4(rampart::enforce::NetList::kDeny, kPolicy, v4, 8, ports));
}

}  // namespace

TEST_CASE("a network deny rule refuses its port with EPERM while other ports stay open", "[bpf]") {
  ScratchCgroup cg;
  KernelSession k(cg.path());
  Listener open_port, denied;
  install_deny_rule(k.programs(), RP_MODE_ENFORCE, denied.port(), RP_NET_DENY);
  auto child = run_policed_child(
      cg, [&](pid_t pid) { REQUIRE(k.programs().assign_process(pid, kPolicy)); },
      [&] { return code(connect_errno(open_port.port())) * 4 + code(connect_errno(denied.port())); });
  REQUIRE(WIFEXITED(child.status));
  CHECK(WEXITSTATUS(child.status) == 1);  // the open port connected, the denied one got EPERM
  const Record* e = enforce_event(k, child.pid, denied.port());
  REQUIRE(e != nullptr);
  CHECK(e->as<rp_enforce_event>().action == RP_ACT_DENIED);
  CHECK(e->as<rp_enforce_event>().reason == RP_REASON_DENY_RULE);
  CHECK(enforce_event(k, child.pid, open_port.port()) == nullptr);
}

TEST_CASE("a network deny rule with action alert connects and reports a would-deny", "[bpf]") {
  ScratchCgroup cg;
  KernelSession k(cg.path());
  Listener watched;
  install_deny_rule(k.programs(), RP_MODE_ENFORCE, watched.port(), RP_NET_ALERT);
  auto child = run_policed_child(
      cg, [&](pid_t pid) { REQUIRE(k.programs().assign_process(pid, kPolicy)); },
      [&] { return code(connect_errno(watched.port())); });
  REQUIRE(WIFEXITED(child.status));
  CHECK(WEXITSTATUS(child.status) == 0);
  const Record* e = enforce_event(k, child.pid, watched.port());
  REQUIRE(e != nullptr);
  CHECK(e->as<rp_enforce_event>().action == RP_ACT_WOULD_DENY);
  CHECK(e->as<rp_enforce_event>().reason == RP_REASON_DENY_RULE);
}

TEST_CASE("namespace, mount and bpf() under a policy that forbids them kill the caller", "[bpf]") {
  ScratchCgroup cg;
  KernelSession k(cg.path());
  struct Case {
    uint8_t priv;
    uint32_t op;
    std::function<int()> attempt;
  };
  const Case cases[] = {
      {RP_PRIV_NS, RP_EV_UNSHARE, [] { return unshare(CLONE_NEWUTS); }},
      // A bind mount of a path onto itself in a private mount namespace would
      // need a namespace first; a refused mount (bad source) is enough: the
      // kill does not depend on the result.
      {RP_PRIV_MOUNT, RP_EV_MOUNT, [] { return mount("rampart-none", "/nonexistent-rampart", "tmpfs", 0, nullptr); }},
      {RP_PRIV_BPF, RP_EV_BPF,
       [] {
         union bpf_attr attr {};  // BPF_PROG_LOAD of nothing: refused with EINVAL
         return static_cast<int>(syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof(attr)));
       }},
  };
  for (const auto& c : cases) {
    rp_policy_rule rule{};
    rule.mode = RP_MODE_ENFORCE;
    rule.deny_priv = c.priv;
    REQUIRE(k.programs().set_policy_rule(kPolicy, rule));
    auto child = run_policed_child(
        cg, [&](pid_t pid) { REQUIRE(k.programs().assign_process(pid, kPolicy)); },
        [&] {
          c.attempt();
          return 0;
        });
    INFO("operation " << c.op);
    CHECK(WIFSIGNALED(child.status));
    CHECK(WTERMSIG(child.status) == SIGKILL);
    const Record* e = k.wait_for([&](const Record& r) {
      return r.type() == RP_EV_ENFORCE && r.proc().tgid == static_cast<uint32_t>(child.pid);
    });
    REQUIRE(e != nullptr);
    CHECK(e->as<rp_enforce_event>().op == c.op);
    CHECK(e->as<rp_enforce_event>().mechanism == RP_MECH_SIGKILL);
  }
}
