// api tier: rampartctl (and a gRPC stub) against a real rampartd on the real
// kernel. Status and its matrix; a live exec stream; a verdict's evidence
// after a real rule hit; quarantine cutting a test process's loopback
// connect with EPERM and release restoring it; access control by
// SO_PEERCRED; a slow stream subscriber that misses events while the
// pipeline keeps going; a client written in Python (grpcio) against the proto.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <thread>

#include "api/prober.h"
#include "bpf/mounts.h"
#include "support/api_client.h"
#include "support/ctl.h"
#include "support/files.h"
#include "support/net.h"
#include "support/rampartd.h"
#include "support/workload.h"

using nlohmann::json;
using namespace rampart::testing;
using namespace std::chrono_literals;

TEST_CASE("rampartctl status shows the capability matrix and the mechanism per operation", "[api]") {
  Daemon d({.api = true});
  REQUIRE(d.ready());
  struct stat st {};
  REQUIRE(stat(d.socket().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto r = ctl(d.socket(), {"status"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("capability matrix:") != std::string::npos);
  CHECK(r.out.find("cgroup socket hooks") != std::string::npos);
  CHECK(r.out.find("BPF LSM") != std::string::npos);
  // One row per operation: "network" and its mechanism, whatever the column width.
  CHECK(std::regex_search(r.out, std::regex("\n *network +cgroup_sock_addr ")));

  auto j = ctl(d.socket(), {"--json", "status"});
  REQUIRE(j.code == 0);
  auto s = json::parse(j.out);
  CHECK(s["capabilities"].size() >= 10);
  std::set<std::string> ops;
  for (const auto& m : s["mechanisms"]) ops.insert(m["operation"].get<std::string>());
  CHECK(ops == std::set<std::string>{"network", "exec", "files", "privilege", "self_protection", "quarantine"});
  CHECK(s["policy_generation"] == "1");  // uint64 is a string in proto3 JSON
  CHECK(s["attached_programs"].size() > 0);
  bool exec_counted = false;
  for (const auto& e : s["events"])
    if (e["type"] == "exec") exec_counted = true;
  CHECK(exec_counted);
}

TEST_CASE("rampartctl events --follow --type exec shows a process the test starts", "[api]") {
  Daemon d({.api = true});
  REQUIRE(d.ready());
  std::string marker = d.dir() + "/rampart-api-marker";
  std::filesystem::copy_file("/bin/true", marker);
  chmod(marker.c_str(), 0755);
  std::string out = d.dir() + "/follow.txt";
  const std::string sock = d.socket();  // no malloc after fork
  pid_t follower = spawn_child([&] {
    int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    execl(RAMPARTCTL_PATH, RAMPARTCTL_PATH, "--socket", sock.c_str(), "events", "--follow", "--type", "exec", nullptr);
    return 127;
  });
  // Wait until the subscription is in place (the status counts it).
  auto stub = api_stub(d);
  for (int i = 0; i < 200; ++i) {
    grpc::ClientContext ctx;
    rampart::v1::GetStatusResponse st;
    if (stub->GetStatus(&ctx, {}, &st).ok() && st.streams().subscribers() == 1) break;
    std::this_thread::sleep_for(10ms);
  }
  auto child = run_child([&] {
    execl(marker.c_str(), marker.c_str(), nullptr);
    return 126;
  });
  std::string text;
  for (int i = 0; i < 200 && text.find(marker) == std::string::npos; ++i) {
    std::this_thread::sleep_for(10ms);
    text = slurp(out);
  }
  kill(follower, SIGINT);
  int st = 0;
  waitpid(follower, &st, 0);
  INFO(text);
  CHECK(text.find(marker) != std::string::npos);
  CHECK(text.find(" " + std::to_string(child.pid) + " ") != std::string::npos);
  CHECK(text.find("open ") == std::string::npos);  // filtered on the server
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
}

TEST_CASE("rampartctl verdict shows the evidence chain after a rule fires", "[api]") {
  Daemon d({.api = true});
  REQUIRE(d.ready());
  std::string ssh = d.dir() + "/home/.ssh";
  std::filesystem::create_directories(ssh);
  int go[2];
  REQUIRE(pipe(go) == 0);
  const std::string keys = ssh + "/authorized_keys";
  pid_t child = spawn_child([&] {
    close(go[1]);
    int fd = open(keys.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) close(fd);
    char c;
    return read(go[0], &c, 1) < 0 ? 1 : 0;  // stays alive until the test is done
  });
  close(go[0]);
  json v;
  for (int i = 0; i < 100; ++i) {
    auto r = ctl(d.socket(), {"--json", "verdict", std::to_string(child)});
    if (r.code == 0) {
      v = json::parse(r.out);
      if (v.value("tracked", false)) break;
    }
    std::this_thread::sleep_for(20ms);
  }
  auto text = ctl(d.socket(), {"verdict", std::to_string(child)});
  auto list = ctl(d.socket(), {"verdicts", "--min-level", "observe"});
  close(go[1]);
  waitpid(child, nullptr, 0);
  INFO(v.dump() << "\n" << text.out << text.err);
  REQUIRE(v.value("tracked", false));
  CHECK(v["score"] < 100);
  REQUIRE(v["evidence"].size() >= 1);
  CHECK(v["evidence"][0]["rule_id"] == "rampart.persistence.authorized_keys");
  CHECK(v["evidence"][0]["event_type"] == "open");
  CHECK(v["evidence"][0]["weight"] > 0);
  CHECK(v["ancestry"].size() >= 1);
  CHECK(v["ancestry"][0]["pid"] == getpid());
  CHECK(text.out.find("rampart.persistence.authorized_keys") != std::string::npos);
  CHECK(text.out.find("ancestry") != std::string::npos);

  CHECK(list.out.find(std::to_string(child)) != std::string::npos);
  auto missing = ctl(d.socket(), {"verdict", "4000000000"});
  CHECK(missing.code == 1);
  CHECK(missing.err.find("no process with pid 4000000000") != std::string::npos);
}

TEST_CASE("rampartctl quarantine makes a test process's next connect fail with EPERM, release restores it", "[api]") {
  Daemon d({.api = true});
  REQUIRE(d.ready());
  Listener l;
  Prober p(l.port());
  REQUIRE(p.connect_errno() == 0);

  auto q = ctl(d.socket(), {"quarantine", std::to_string(p.pid), "--reason", "api test"});
  INFO(q.out << q.err);
  REQUIRE(q.code == 0);
  CHECK(p.connect_errno() == EPERM);
  CHECK(p.connect_errno() == EPERM);
  auto v = json::parse(ctl(d.socket(), {"--json", "verdict", std::to_string(p.pid)}).out);
  CHECK(v["level"] == "LEVEL_QUARANTINE");
  CHECK(v["manual_quarantine"] == true);

  auto r = ctl(d.socket(), {"release", std::to_string(p.pid)});
  REQUIRE(r.code == 0);
  CHECK(p.connect_errno() == 0);

  // Both are audited with the caller's credentials.
  auto audits = audits_of(d, p.pid);
  for (const auto& e : audits) {
    CHECK(e["result"] == "ok");
    CHECK(e["peer"]["transport"] == "unix");
    CHECK(e["peer"]["uid"] == 0);
    CHECK(e["peer"]["pid"] > 0);
  }
  CHECK(audits.size() == 2);
  CHECK(ctl(d.socket(), {"quarantine", "1"}).code == 2);  // refused: init
  CHECK(ctl(d.socket(), {"quarantine", "4000000000"}).code == 1);
}

TEST_CASE("release also frees the children a quarantined process forked, but not one quarantined by hand", "[api]") {
  Daemon d({.api = true});
  REQUIRE(d.ready());
  Listener l;
  Prober p(l.port());
  REQUIRE(ctl(d.socket(), {"quarantine", std::to_string(p.pid)}).code == 0);
  REQUIRE(p.connect_errno() == EPERM);
  const pid_t child = p.fork_server();  // forked under quarantine: inherits it
  REQUIRE(child > 0);
  CHECK(p.connect_errno() == EPERM);

  SECTION("the child goes free with its parent") {
    auto r = ctl(d.socket(), {"release", std::to_string(p.pid)});
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("1 descendant") != std::string::npos);
    CHECK(p.connect_errno() == 0);
  }
  SECTION("a child quarantined on its own account stays quarantined") {
    REQUIRE(ctl(d.socket(), {"quarantine", std::to_string(child)}).code == 0);
    REQUIRE(ctl(d.socket(), {"release", std::to_string(p.pid)}).code == 0);
    CHECK(p.connect_errno() == EPERM);
    REQUIRE(ctl(d.socket(), {"release", std::to_string(child)}).code == 0);
    CHECK(p.connect_errno() == 0);
  }
}

TEST_CASE("access control: a peer that is not root and not in api.allowed_group gets PERMISSION_DENIED, logged",
          "[api]") {
  Daemon d({.api = true, .api_config = "  allowed_group: nogroup\n"});
  REQUIRE(d.ready());
  struct stat st {};
  REQUIRE(stat(d.socket().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0660);
  // Loosen the file mode: the credential check must hold on its own.
  chmod(d.socket().c_str(), 0666);
  // uid nobody, gid daemon (1), no supplementary groups: refused.
  auto refused = ctl(d.socket(), {"status"}, 65534, 1);
  INFO(refused.out << refused.err);
  CHECK(refused.code == 4);
  CHECK(refused.err.find("refused") != std::string::npos);
  CHECK(refused.err.find("uid 65534") != std::string::npos);
  // uid nobody in group nogroup: allowed.
  auto allowed = ctl(d.socket(), {"status"}, 65534, 65534);
  INFO(allowed.err);
  CHECK(allowed.code == 0);
  std::this_thread::sleep_for(50ms);
  bool audited = false;
  for (const auto& e : d.events())
    if (e["type"] == "audit" && e["action"] == "api_refused" && e["peer"]["uid"] == 65534 && e["peer"]["gid"] == 1)
      audited = true;
  CHECK(audited);
  CHECK(d.stderr_text().find("api_refused") != std::string::npos);
}

TEST_CASE("rampartctl explains an unreachable daemon and bad requests", "[api]") {
  auto r = ctl("/tmp/rampart-no-such-dir/rampart.sock", {"status"});
  CHECK(r.code == 3);
  CHECK(r.err.find("rampartd is not running at /tmp/rampart-no-such-dir/rampart.sock") != std::string::npos);
  CHECK(r.err.find("No such file or directory") != std::string::npos);
  CHECK(ctl("/x", {"frobnicate"}).code == 2);

  Daemon d({.api = true});
  REQUIRE(d.ready());
  auto stub = api_stub(d);
  {
    grpc::ClientContext ctx;
    rampart::v1::ValidatePolicyResponse out;
    auto s = stub->ValidatePolicy(&ctx, {}, &out);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message().find("text is empty") != std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    rampart::v1::ValidatePolicyRequest req;
    req.set_text(std::string(5 << 20, '#'));  // over api.max_message_kb
    rampart::v1::ValidatePolicyResponse out;
    auto s = stub->ValidatePolicy(&ctx, req, &out);
    CHECK(s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  {
    grpc::ClientContext ctx;
    rampart::v1::StreamEventsRequest req;
    req.add_types("no-such-type");
    auto reader = stub->StreamEvents(&ctx, req);
    rampart::v1::StreamEventsResponse msg;
    while (reader->Read(&msg)) {
    }
    auto s = reader->Finish();
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  auto bad = ctl(d.socket(), {"verdict", "0"});
  CHECK(bad.code == 2);
}

namespace {

// A CA, a server certificate for 127.0.0.1 and a client certificate it
// signed, and a client certificate from another CA, made with openssl.
struct Pki {
  TempDir tmp{"/tmp/rampart-pki-XXXXXX", 0700};  // private keys: for root only
  std::string dir = tmp.path();
  Pki() {
    const std::string script = R"(set -e; cd ")" + dir + R"(";
      gen() { openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" -keyout $1.key -out $1.pem 2>/dev/null; }
      sign() { openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout $1.key -out $1.csr 2>/dev/null;
               printf "subjectAltName=IP:127.0.0.1,DNS:localhost\n" > $1.ext;
               openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial -days 2 -extfile $1.ext -out $1.pem 2>/dev/null; }
      gen ca; gen rogue-ca; sign server ca; sign ops-laptop ca; sign intruder rogue-ca)";
    ok = std::system(("bash -c '" + std::regex_replace(script, std::regex("'"), "'\\''") + "'").c_str()) == 0;
  }
  std::string operator()(const std::string& f) const { return dir + "/" + f; }
  bool ok = false;
};

}  // namespace

TEST_CASE("TCP with mTLS: a client with a certificate from the CA is served and audited, others are not", "[api]") {
  Pki pki;
  REQUIRE(pki.ok);
  const std::string addr = "127.0.0.1:" + std::to_string(free_port());
  Daemon d({.api = true,
            .api_config = "  tcp:\n    address: \"" + addr + "\"\n    tls_cert: " + pki("server.pem") +
                          "\n    tls_key: " + pki("server.key") + "\n    tls_ca: " + pki("ca.pem") + "\n"});
  INFO(d.stderr_text());
  REQUIRE(d.ready());
  auto tcp = [&](const std::string& who, std::vector<std::string> args) {
    std::vector<std::string> all{"--address", addr, "--tls-ca", pki("ca.pem")};
    if (!who.empty()) all.insert(all.end(), {"--tls-cert", pki(who + ".pem"), "--tls-key", pki(who + ".key")});
    all.insert(all.end(), args.begin(), args.end());
    return ctl("/nonexistent.sock", all);
  };
  CtlResult st;
  for (int i = 0; i < 50 && st.code != 0; ++i, std::this_thread::sleep_for(100ms)) st = tcp("ops-laptop", {"status"});
  INFO(st.out << st.err);
  REQUIRE(st.code == 0);
  CHECK(st.out.find("mTLS") != std::string::npos);

  Listener l;
  Prober p(l.port());
  REQUIRE(tcp("ops-laptop", {"quarantine", std::to_string(p.pid), "--reason", "over tcp"}).code == 0);
  CHECK(p.connect_errno() == EPERM);

  // No client certificate, or one the CA did not sign: the handshake fails,
  // nothing is done.
  auto anon = tcp("", {"release", std::to_string(p.pid)});
  CHECK(anon.code == 3);
  auto rogue = tcp("intruder", {"release", std::to_string(p.pid)});
  CHECK(rogue.code == 3);
  CHECK(p.connect_errno() == EPERM);
  // Plain TCP to the TLS port gets nowhere either.
  CHECK(ctl("/nonexistent.sock", {"--address", addr, "--insecure", "release", std::to_string(p.pid)}).code == 3);
  CHECK(p.connect_errno() == EPERM);

  REQUIRE(tcp("ops-laptop", {"release", std::to_string(p.pid)}).code == 0);
  CHECK(p.connect_errno() == 0);
  auto audits = audits_of(d, p.pid);
  for (const auto& e : audits) {
    CHECK(e["peer"]["transport"] == "tcp");
    CHECK(e["peer"]["identity"] == "ops-laptop");
  }
  CHECK(audits.size() == 2);
}

namespace {

std::string pod_list(const std::vector<std::tuple<std::string, std::string, std::string>>& pods) {
  json items = json::array();
  for (const auto& [uid, name, app] : pods)
    items.push_back({{"metadata", {{"uid", uid}, {"name", name}, {"namespace", "shop"}, {"labels", {{"app", app}}}}}});
  return json{{"kind", "PodList"}, {"apiVersion", "v1"}, {"items", items}}.dump();
}

// A process in a kubelet-style pod cgroup (under a scratch directory) that
// runs /bin/true; returns its pid.
pid_t exec_in_pod(const std::string& cgroup_dir) {
  pid_t pid = spawn_child([&] {
    std::ofstream(cgroup_dir + "/cgroup.procs") << "0" << std::flush;
    execl("/bin/true", "true", nullptr);
    return 127;
  });
  waitpid(pid, nullptr, 0);
  return pid;
}

// fake_kubelet.py over HTTPS with the Pki's server certificate, serving
// DIR/pods.json to requests that carry `token`; stopped at scope exit.
class FakeKubelet {
 public:
  FakeKubelet(const std::string& dir, const std::string& token) : dir_(dir) {
    const std::string pods = dir + "/pods.json", cert = dir + "/server.pem", key = dir + "/server.key",
                      port = dir + "/port";
    pid_ = spawn_child([&] {
      execl("/usr/bin/python3", "python3", RAMPART_TEST_DIR "/api/fake_kubelet.py", pods.c_str(), token.c_str(),
            cert.c_str(), key.c_str(), port.c_str(), nullptr);
      return 127;
    });
    for (int i = 0; i < 100 && !std::filesystem::exists(port); ++i) std::this_thread::sleep_for(50ms);
  }
  ~FakeKubelet() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  std::string port() const { return slurp(dir_ + "/port"); }

 private:
  std::string dir_;
  pid_t pid_ = -1;
};

// The exec event of pid, waited for up to `wait`.
std::optional<json> exec_event(const Daemon& d, pid_t pid, std::chrono::milliseconds wait = 5s) {
  return d.wait_for_event([pid](const json& e) { return e["type"] == "exec" && e["proc"]["tgid"] == pid; }, wait);
}

}  // namespace

TEST_CASE("pod name, namespace and labels from the kubelet's /pods over HTTPS with a bearer token, cached", "[api]") {
  Pki pki;
  REQUIRE(pki.ok);
  const std::string uid_a = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", uid_b = "11111111-2222-3333-4444-555555555555";
  const std::string hex(64, 'c');
  std::string dir = pki.dir;
  write_file(dir + "/pods.json", pod_list({{uid_a, "checkout-7d9f", "checkout"}}));
  write_file(dir + "/token", "s3cret-token\n");
  FakeKubelet kubelet(dir, "s3cret-token");
  const std::string port = kubelet.port();
  REQUIRE(!port.empty());

  // Pod cgroups as the systemd cgroup driver names them, under a scratch directory.
  const std::string root = rampart::bpf::find_mount("cgroup2") + "/rampart-test-kubelet-" + std::to_string(getpid());
  auto pod_cgroup = [&](const std::string& uid) {
    std::string u = uid;
    std::replace(u.begin(), u.end(), '-', '_');
    std::string pod = root + "/kubepods-besteffort-pod" + u + ".slice";
    std::string ctr = pod + "/cri-containerd-" + hex + ".scope";
    std::filesystem::create_directories(ctr);
    return ctr;
  };
  const std::string cg_a = pod_cgroup(uid_a), cg_b = pod_cgroup(uid_b);
  struct Rm {
    std::vector<std::string> dirs;
    ~Rm() {
      for (const auto& d : dirs) rmdir(d.c_str());
    }
  } rm{{cg_a, std::filesystem::path(cg_a).parent_path(), cg_b, std::filesystem::path(cg_b).parent_path(), root}};

  Daemon d({.config = "kubernetes:\n  kubelet_url: https://127.0.0.1:" + port + "/pods\n  token_file: " + dir +
                      "/token\n  ca_file: " + dir + "/ca.pem\n  refresh_seconds: 300\n",
            .api = true});
  INFO(d.stderr_text());
  REQUIRE(d.ready());
  for (int i = 0; i < 100 && d.stderr_text().find("pods on this node") == std::string::npos; ++i)
    std::this_thread::sleep_for(50ms);
  REQUIRE(d.stderr_text().find("kubelet: 1 pods on this node") != std::string::npos);

  const pid_t a = exec_in_pod(cg_a);
  const std::optional<json> ev = exec_event(d, a);
  REQUIRE(ev);
  INFO(ev->dump());
  CHECK((*ev)["proc"]["pod_uid"] == uid_a);
  CHECK((*ev)["proc"]["container_id"] == hex);
  CHECK((*ev)["proc"]["pod"]["name"] == "checkout-7d9f");
  CHECK((*ev)["proc"]["pod"]["namespace"] == "shop");
  CHECK((*ev)["proc"]["pod"]["labels"]["app"] == "checkout");

  // A pod that started after the last list: its first event has only the
  // UID and asks for a refresh (at most one per 5 s); later events name it.
  write_file(dir + "/pods.json", pod_list({{uid_a, "checkout-7d9f", "checkout"}, {uid_b, "payments-5c", "payments"}}));
  const pid_t b1 = exec_in_pod(cg_b);
  const std::optional<json> first = exec_event(d, b1);
  REQUIRE(first);
  CHECK((*first)["proc"]["pod_uid"] == uid_b);
  std::optional<json> named;
  for (int i = 0; i < 80 && !named; ++i) {
    std::this_thread::sleep_for(200ms);
    auto e = exec_event(d, exec_in_pod(cg_b), 0ms);
    if (e && (*e)["proc"].contains("pod")) named = e;
  }
  REQUIRE(named);
  CHECK((*named)["proc"]["pod"]["name"] == "payments-5c");
  CHECK((*named)["proc"]["pod"]["labels"]["app"] == "payments");
}

TEST_CASE("a kubelet that refuses the token: logged with the RBAC hint, events still flow", "[api]") {
  Pki pki;
  REQUIRE(pki.ok);
  std::string dir = pki.dir;
  write_file(dir + "/pods.json", pod_list({}));
  write_file(dir + "/token", "wrong-token");
  FakeKubelet kubelet(dir, "right-token");
  Daemon d({.config = "kubernetes:\n  kubelet_url: https://127.0.0.1:" + kubelet.port() +
                      "/pods\n  token_file: " + dir + "/token\n  ca_file: " + dir + "/ca.pem\n",
            .api = true});
  INFO(d.stderr_text());
  REQUIRE(d.ready());
  for (int i = 0; i < 100 && d.stderr_text().find("HTTP 401") == std::string::npos; ++i)
    std::this_thread::sleep_for(50ms);
  CHECK(d.stderr_text().find("HTTP 401 (the token needs get on nodes/proxy") != std::string::npos);
  CHECK(ctl(d.socket(), {"status"}).code == 0);
}

TEST_CASE("a slow stream subscriber misses events and is told, while the pipeline keeps delivering", "[api]") {
  Daemon d({.api = true, .api_config = "  stream_queue: 64\n"});
  REQUIRE(d.ready());
  auto stub = api_stub(d);
  grpc::ClientContext slow_ctx;
  rampart::v1::StreamEventsRequest req;
  req.add_types("open");
  auto slow = stub->StreamEvents(&slow_ctx, req);
  slow->WaitForInitialMetadata();  // subscribed; from here on it reads nothing for seconds

  auto delivered_opens = [&] {
    grpc::ClientContext ctx;
    rampart::v1::GetStatusResponse st;
    REQUIRE(stub->GetStatus(&ctx, {}, &st).ok());
    for (const auto& e : st.events())
      if (e.type() == "open") return std::make_pair(e.delivered(), st.streams().missed());
    return std::make_pair(uint64_t{0}, uint64_t{0});
  };
  // Flood: about 2 s of open() calls from a child.
  pid_t flood = spawn_child([] {
    auto end = std::chrono::steady_clock::now() + 2s;
    while (std::chrono::steady_clock::now() < end)
      for (int i = 0; i < 1000; ++i) close(open("/dev/null", O_RDONLY | O_CLOEXEC));
    return 0;
  });
  std::this_thread::sleep_for(500ms);
  auto [d1, m1] = delivered_opens();
  std::this_thread::sleep_for(700ms);
  auto [d2, m2] = delivered_opens();
  waitpid(flood, nullptr, 0);
  INFO("delivered " << d1 << " -> " << d2 << ", missed " << m1 << " -> " << m2);
  CHECK(d2 > d1 + 10000);  // the pipeline did not wait for the slow client
  CHECK(m2 > m1);

  // Now it reads: its backlog, then a gap message before the next event it gets.
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop) {
      close(open("/dev/null", O_RDONLY | O_CLOEXEC));
      std::this_thread::sleep_for(5ms);
    }
  });
  rampart::v1::StreamEventsResponse msg;
  uint64_t missed = 0, events = 0;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (missed == 0 && std::chrono::steady_clock::now() < deadline && slow->Read(&msg)) {
    if (msg.has_gap())
      missed = msg.gap().missed();
    else
      ++events;
  }
  stop = true;
  trickle.join();
  slow_ctx.TryCancel();
  INFO("read " << events << " events before the gap");
  CHECK(missed > 0);
}

TEST_CASE("a second client: Python grpcio against the proto, and gRPC reflection", "[api]") {
  if (access("/usr/bin/python3", X_OK) != 0) {
    WARN("no /usr/bin/python3: skipped");
    return;
  }
  Daemon d({.api = true});
  REQUIRE(d.ready());
  std::string cmd = "/usr/bin/python3 " RAMPART_TEST_DIR "/api/python_client.py " RAMPART_PY_GEN " " + d.socket() +
                    " > " + d.dir() + "/py.txt 2>&1";
  int rc = std::system(cmd.c_str());
  INFO(slurp(d.dir() + "/py.txt"));
  CHECK(rc == 0);
  CHECK(slurp(d.dir() + "/py.txt").find("python client: ok") != std::string::npos);
}
