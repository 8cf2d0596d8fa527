// bpf tier: the real programs in the real kernel. Each test runs a real
// action in a child process and asserts the event the kernel emitted for it:
// the right process, parent, path, address and result.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <string>

#include "support/files.h"
#include "support/workload.h"

using rampart::sources::fixed_str;
using rampart::testing::KernelSession;
using rampart::testing::Record;
using rampart::testing::run_child;
using rampart::testing::spawn_child;
using rampart::testing::TempDir;

namespace {

auto of_type_and_tgid(uint32_t type, pid_t tgid) {
  return [type, tgid](const Record& r) { return r.type() == type && r.proc().tgid == static_cast<uint32_t>(tgid); };
}

std::vector<std::string> argv_of(const rp_exec_event& e) {
  std::vector<std::string> out;
  rampart::sources::for_each_arg(e, [&out](std::string_view arg) { out.emplace_back(arg); });
  return out;
}

}  // namespace

TEST_CASE("exec, fork and exit of a child carry the file, argv, parent and exit code", "[bpf]") {
  KernelSession k;
  auto child = run_child([] {
    char* const argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"), const_cast<char*>("exit 7"), nullptr};
    execv("/bin/sh", argv);
    return 126;
  });
  REQUIRE(WEXITSTATUS(child.status) == 7);

  const Record* fork = k.wait_for([&](const Record& r) {
    return r.type() == RP_EV_FORK && r.as<rp_fork_event>().child_tgid == static_cast<uint32_t>(child.pid);
  });
  REQUIRE(fork != nullptr);
  CHECK(fork->proc().tgid == static_cast<uint32_t>(getpid()));

  const Record* exec = k.wait_for(of_type_and_tgid(RP_EV_EXEC, child.pid));
  REQUIRE(exec != nullptr);
  const auto& e = exec->as<rp_exec_event>();
  CHECK(fixed_str(e.filename) == "/bin/sh");
  CHECK(exec->proc().ppid == static_cast<uint32_t>(getpid()));
  CHECK(argv_of(e) == std::vector<std::string>{"sh", "-c", "exit 7"});
  CHECK(e.argc == 3);
  CHECK((e.hdr.flags & RP_F_FILELESS) == 0);
  CHECK(exec->proc().start_ns == fork->as<rp_fork_event>().child_start_ns);

  const Record* exit = k.wait_for(of_type_and_tgid(RP_EV_EXIT, child.pid));
  REQUIRE(exit != nullptr);
  CHECK(exit->as<rp_exit_event>().exit_code == static_cast<uint32_t>(child.status));
  CHECK(((exit->as<rp_exit_event>().exit_code >> 8) & 0xff) == 7);
}

TEST_CASE("argv longer than the bound is cut and flagged", "[bpf]") {
  KernelSession k;
  std::string long_arg(RP_ARGS_MAX + 100, 'a');
  auto child = run_child([&] {
    char* const argv[] = {const_cast<char*>("true"), long_arg.data(), nullptr};
    execv("/bin/true", argv);
    return 126;
  });
  const Record* exec = k.wait_for(of_type_and_tgid(RP_EV_EXEC, child.pid));
  REQUIRE(exec != nullptr);
  const auto& e = exec->as<rp_exec_event>();
  CHECK((e.hdr.flags & RP_F_ARGS_TRUNCATED) != 0);
  CHECK(e.args_len == RP_ARGS_MAX);
  CHECK(e.argc == 2);
}

TEST_CASE("open events carry the absolute path, flags and result", "[bpf]") {
  KernelSession k;
  const TempDir dir("/tmp/rampart-bpf-XXXXXX");
  std::string file = dir.path() + "/secret.txt";

  auto child = run_child([&] {
    int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (fd < 0) return 1;
    close(fd);
    // relative to the cwd: the event must still name the absolute path
    if (chdir(dir.path().c_str()) != 0) return 2;
    fd = openat(AT_FDCWD, "secret.txt", O_RDONLY);
    if (fd < 0) return 3;
    close(fd);
    // relative to a directory fd
    int dfd = open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
    fd = openat(dfd, "missing.txt", O_RDONLY);
    close(dfd);
    return fd < 0 && errno == ENOENT ? 0 : 4;
  });
  REQUIRE(WEXITSTATUS(child.status) == 0);

  auto opens_of = [&](const std::string& path) {
    return [&, path](const Record& r) {
      return r.type() == RP_EV_OPEN && r.proc().tgid == static_cast<uint32_t>(child.pid) &&
             fixed_str(r.as<rp_file_event>().path) == path;
    };
  };
  const Record* created = k.wait_for(opens_of(file));
  REQUIRE(created != nullptr);
  const auto& c = created->as<rp_file_event>();
  CHECK(c.result >= 0);
  CHECK((c.flags & O_CREAT) != 0);
  CHECK((c.flags & O_ACCMODE) == O_WRONLY);
  CHECK(c.mode == 0640);
  CHECK((c.hdr.flags & RP_F_PATH_RESOLVED) == 0);

  auto reads = k.all(opens_of(file));
  REQUIRE(reads.size() == 2);
  const auto& rel = reads[1]->as<rp_file_event>();
  CHECK((rel.hdr.flags & RP_F_PATH_RESOLVED) != 0);
  CHECK(rel.result >= 0);
  CHECK(rel.dirfd == AT_FDCWD);

  const Record* missing = k.wait_for(opens_of(dir.path() + "/missing.txt"));
  REQUIRE(missing != nullptr);
  CHECK(missing->as<rp_file_event>().result == -ENOENT);
  CHECK((missing->as<rp_file_event>().hdr.flags & RP_F_PATH_RESOLVED) != 0);
}

TEST_CASE("unlink, rename, chmod with the setuid bit and chown are seen", "[bpf]") {
  KernelSession k;
  const TempDir dir("/tmp/rampart-bpf-XXXXXX");
  std::string a = dir.path() + "/a", b = dir.path() + "/b";
  auto child = run_child([&] {
    close(open(a.c_str(), O_WRONLY | O_CREAT, 0600));
    if (rename(a.c_str(), b.c_str()) != 0) return 1;
    if (chmod(b.c_str(), 04755) != 0) return 2;
    if (chown(b.c_str(), 65534, 65534) != 0) return 3;
    return unlink(b.c_str()) == 0 ? 0 : 4;
  });
  REQUIRE(WEXITSTATUS(child.status) == 0);

  const Record* ren = k.wait_for(of_type_and_tgid(RP_EV_RENAME, child.pid));
  REQUIRE(ren != nullptr);
  CHECK(fixed_str(ren->as<rp_rename_event>().path) == a);
  CHECK(fixed_str(ren->as<rp_rename_event>().path2) == b);
  CHECK(ren->as<rp_rename_event>().result == 0);

  const Record* chm = k.wait_for(of_type_and_tgid(RP_EV_CHMOD, child.pid));
  REQUIRE(chm != nullptr);
  CHECK(fixed_str(chm->as<rp_file_event>().path) == b);
  CHECK((chm->as<rp_file_event>().mode & S_ISUID) != 0);

  const Record* cho = k.wait_for(of_type_and_tgid(RP_EV_CHOWN, child.pid));
  REQUIRE(cho != nullptr);
  CHECK(cho->as<rp_file_event>().uid == 65534);
  CHECK(cho->as<rp_file_event>().gid == 65534);

  const Record* unl = k.wait_for(of_type_and_tgid(RP_EV_UNLINK, child.pid));
  REQUIRE(unl != nullptr);
  CHECK(fixed_str(unl->as<rp_file_event>().path) == b);
  CHECK(unl->as<rp_file_event>().result == 0);
}

TEST_CASE("connect to a 127.0.0.1 listener, and its bind, listen and accept", "[bpf]") {
  KernelSession k;
  int srv = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(listen(srv, 8) == 0);
  socklen_t len = sizeof(addr);
  getsockname(srv, reinterpret_cast<sockaddr*>(&addr), &len);
  uint16_t port = ntohs(addr.sin_port);

  auto child = run_child([&] {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int rc = connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    close(s);
    return rc == 0 ? 0 : 1;
  });
  REQUIRE(WEXITSTATUS(child.status) == 0);
  int conn = accept(srv, nullptr, nullptr);
  REQUIRE(conn >= 0);
  close(conn);
  close(srv);

  const Record* c = k.wait_for(of_type_and_tgid(RP_EV_CONNECT, child.pid));
  REQUIRE(c != nullptr);
  const auto& n = c->as<rp_net_event>();
  CHECK(n.family == RP_AF_INET);
  CHECK(n.remote_port == port);
  CHECK(std::memcmp(n.remote_addr, "\x7f\x00\x00\x01", 4) == 0);
  CHECK(n.result == 0);
  CHECK(n.sock_type == SOCK_STREAM);
  CHECK(n.local_port != 0);

  const Record* b = k.wait_for(of_type_and_tgid(RP_EV_BIND, getpid()));
  REQUIRE(b != nullptr);
  CHECK(b->as<rp_net_event>().local_port == 0);  // bound to an ephemeral port
  const Record* l = k.wait_for(of_type_and_tgid(RP_EV_LISTEN, getpid()));
  REQUIRE(l != nullptr);
  CHECK(l->as<rp_net_event>().local_port == port);
  CHECK(l->as<rp_net_event>().backlog == 8);
  const Record* a = k.wait_for(of_type_and_tgid(RP_EV_ACCEPT, getpid()));
  REQUIRE(a != nullptr);
  CHECK(a->as<rp_net_event>().local_port == port);
  CHECK(a->as<rp_net_event>().remote_port == n.local_port);
  CHECK(a->as<rp_net_event>().result >= 0);
}

TEST_CASE("a refused IPv6 connect carries [::1], the port and ECONNREFUSED", "[bpf]") {
  KernelSession k;
  auto child = run_child([] {
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    a.sin6_port = htons(1);  // nothing listens on port 1
    int rc = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    close(s);
    return rc < 0 && errno == ECONNREFUSED ? 0 : 1;
  });
  REQUIRE(WEXITSTATUS(child.status) == 0);
  const Record* c = k.wait_for(of_type_and_tgid(RP_EV_CONNECT, child.pid));
  REQUIRE(c != nullptr);
  const auto& n = c->as<rp_net_event>();
  CHECK(n.family == RP_AF_INET6);
  CHECK(n.remote_port == 1);
  CHECK(std::memcmp(n.remote_addr, &in6addr_loopback, 16) == 0);
  CHECK(n.result == -ECONNREFUSED);
}

TEST_CASE("setuid drops to nobody and the event shows the new uid", "[bpf]") {
  KernelSession k;
  auto child = run_child([] { return setuid(65534) == 0 ? 0 : 1; });
  REQUIRE(WEXITSTATUS(child.status) == 0);
  const Record* s = k.wait_for(of_type_and_tgid(RP_EV_SETUID, child.pid));
  REQUIRE(s != nullptr);
  const auto& e = s->as<rp_syscall_event>();
  CHECK(e.args[0] == 65534);
  CHECK(e.result == 0);
  CHECK(s->proc().uid == 65534);
  CHECK(s->proc().euid == 65534);
}

TEST_CASE("ptrace attach names the target", "[bpf]") {
  KernelSession k;
  pid_t target = spawn_child([] {
    pause();
    return 0;
  });
  auto tracer = run_child([&] {
    if (ptrace(PTRACE_ATTACH, target, nullptr, nullptr) != 0) return 1;
    waitpid(target, nullptr, 0);
    ptrace(PTRACE_DETACH, target, nullptr, nullptr);
    return 0;
  });
  kill(target, SIGKILL);
  waitpid(target, nullptr, 0);
  REQUIRE(WEXITSTATUS(tracer.status) == 0);

  const Record* p = k.wait_for(of_type_and_tgid(RP_EV_PTRACE, tracer.pid));
  REQUIRE(p != nullptr);
  const auto& e = p->as<rp_syscall_event>();
  CHECK(e.args[0] == PTRACE_ATTACH);
  CHECK(e.args[1] == static_cast<uint64_t>(target));
  CHECK(e.result == 0);
}

TEST_CASE("exec from a memfd is flagged fileless, with the memfd's name", "[bpf]") {
  KernelSession k;
  auto child = run_child([] {
    int mfd = static_cast<int>(syscall(SYS_memfd_create, "rp-payload", 0));
    int src = open("/bin/true", O_RDONLY);
    struct stat st {};
    fstat(src, &st);
    if (mfd < 0 || src < 0 || sendfile(mfd, src, nullptr, st.st_size) != st.st_size) return 1;
    char* const argv[] = {const_cast<char*>("payload"), nullptr};
    char* const envp[] = {nullptr};
    fexecve(mfd, argv, envp);
    return 2;
  });
  REQUIRE(WEXITSTATUS(child.status) == 0);

  const Record* m = k.wait_for(of_type_and_tgid(RP_EV_MEMFD_CREATE, child.pid));
  REQUIRE(m != nullptr);
  CHECK(fixed_str(m->as<rp_syscall_event>().aux) == "rp-payload");
  CHECK(m->as<rp_syscall_event>().result >= 0);

  const Record* exec = k.wait_for(of_type_and_tgid(RP_EV_EXEC, child.pid));
  REQUIRE(exec != nullptr);
  const auto& e = exec->as<rp_exec_event>();
  CHECK((e.hdr.flags & RP_F_FILELESS) != 0);
  CHECK((e.hdr.flags & RP_F_MEMFD) != 0);
  CHECK((e.hdr.flags & RP_F_EXECVEAT_EMPTY) != 0);
  CHECK(fixed_str(e.exe_name) == "memfd:rp-payload");
  CHECK(e.exe_nlink == 0);
}

TEST_CASE("unshare and refused mount and umount calls carry namespace and target", "[bpf]") {
  KernelSession k;
  const TempDir dir("/tmp/rampart-bpf-XXXXXX");
  // Mounts that the kernel refuses (no such filesystem type, not a mount
  // point): the attempt is the event, and nothing is mounted on the host.
  auto child = run_child([&] {
    if (unshare(CLONE_NEWNS) != 0) return 1;
    if (mount("rp-src", dir.path().c_str(), "rampartfs-none", MS_NOSUID, nullptr) == 0 || errno != ENODEV) return 2;
    return umount2(dir.path().c_str(), 0) != 0 && errno == EINVAL ? 0 : 3;
  });
  REQUIRE(WEXITSTATUS(child.status) == 0);

  const Record* u = k.wait_for(of_type_and_tgid(RP_EV_UNSHARE, child.pid));
  REQUIRE(u != nullptr);
  CHECK(u->as<rp_syscall_event>().args[0] == CLONE_NEWNS);
  CHECK(u->as<rp_syscall_event>().result == 0);
  // Events are emitted at syscall exit: unshare's already names the new
  // namespace, which is not this test process's.
  struct stat ns {};
  REQUIRE(stat("/proc/self/ns/mnt", &ns) == 0);
  CHECK(u->proc().mntns != ns.st_ino);

  const Record* m = k.wait_for(of_type_and_tgid(RP_EV_MOUNT, child.pid));
  REQUIRE(m != nullptr);
  const auto& me = m->as<rp_syscall_event>();
  CHECK(fixed_str(me.str) == dir.path());
  CHECK(fixed_str(me.aux) == "rampartfs-none");
  CHECK((me.args[0] & MS_NOSUID) != 0);
  CHECK(me.result == -ENODEV);
  CHECK(m->proc().mntns == u->proc().mntns);

  const Record* um = k.wait_for(of_type_and_tgid(RP_EV_UMOUNT, child.pid));
  REQUIRE(um != nullptr);
  CHECK(fixed_str(um->as<rp_syscall_event>().str) == dir.path());
  CHECK(um->as<rp_syscall_event>().result == -EINVAL);
}

TEST_CASE("bpf() and a refused finit_module are seen with their arguments", "[bpf]") {
  KernelSession k;
  auto child = run_child([] {
    union bpf_attr attr {};
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    int map = static_cast<int>(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr)));
    if (map < 0) return 1;
    close(map);
    // Not a module: the kernel refuses it (ENOEXEC), but the attempt is the event.
    int fd = open("/etc/hostname", O_RDONLY);
    long rc = syscall(SYS_finit_module, fd, "", 0);
    return rc < 0 ? 0 : 2;
  });
  REQUIRE(WEXITSTATUS(child.status) == 0);

  const Record* b = k.wait_for(of_type_and_tgid(RP_EV_BPF, child.pid));
  REQUIRE(b != nullptr);
  CHECK(b->as<rp_syscall_event>().args[0] == BPF_MAP_CREATE);
  CHECK(b->as<rp_syscall_event>().args[1] == BPF_MAP_TYPE_ARRAY);
  CHECK(b->as<rp_syscall_event>().result >= 0);

  const Record* m = k.wait_for(of_type_and_tgid(RP_EV_MODULE_LOAD, child.pid));
  REQUIRE(m != nullptr);
  CHECK(fixed_str(m->as<rp_syscall_event>().str) == "/etc/hostname");
  CHECK(m->as<rp_syscall_event>().result < 0);
}

TEST_CASE("every record carries the caller's identity and the stats count it", "[bpf]") {
  KernelSession k;
  auto child = run_child([] {
    close(open("/etc/hostname", O_RDONLY));
    return 0;
  });
  const Record* o = k.wait_for(of_type_and_tgid(RP_EV_OPEN, child.pid));
  REQUIRE(o != nullptr);
  const rp_proc& p = o->proc();
  CHECK(p.pid == static_cast<uint32_t>(child.pid));
  CHECK(p.ppid == static_cast<uint32_t>(getpid()));
  CHECK(p.uid == getuid());
  CHECK(p.euid == geteuid());
  CHECK(p.gid == getgid());
  CHECK(p.cgroup_id != 0);
  struct stat ns {};
  REQUIRE(stat("/proc/self/ns/mnt", &ns) == 0);
  CHECK(p.mntns == ns.st_ino);
  CHECK(p.start_ns != 0);
  CHECK(o->view().hdr->ts_ns >= p.start_ns);

  auto stats = k.programs().read_stats();
  REQUIRE(stats.has_value());
  CHECK((*stats)[RP_EV_OPEN].total.emitted >= 1);
  CHECK((*stats)[RP_EV_OPEN].total.dropped == 0);
}
