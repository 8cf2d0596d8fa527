// rampartctl: the command-line client of rampartd's gRPC API. Readable
// tables by default, --json for scripts. Every error says what failed and
// what to do about it; the exit codes are documented in the usage text and
// the README.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <algorithm>
#include <climits>
#include <optional>
#include <thread>
#include <sstream>
#include <string>
#include <vector>

#include "format.h"
#include "rampart/v1/rampart.grpc.pb.h"
#include "util/file.h"

namespace {

using namespace rampart;
using rampart::cli::level_name;

constexpr const char* kDefaultSocket = "/run/rampart/rampart.sock";

constexpr const char* kUsageText = R"(usage: rampartctl [options] COMMAND [args]

Talks to rampartd over its gRPC API.

commands:
  status                        version, uptime, capability matrix, enforcement
                                mechanisms, counters, policy generation
  events [--follow] [--count N] [--type T]... [--pid P] [--tgid P]
         [--container ID] [--policy NAME] [--min-level L]
                                live events (the next N, default 10; --follow:
                                until interrupted). --type may repeat or take a
                                comma list (exec,connect)
  verdict PID                   score, level, policy, evidence chain, ancestry
  verdicts [--min-level L]      processes with a score of their own (default: alert)
  policy list                   the policies in force
  policy validate FILE          check a policy file without loading it
  policy reload [DIR]           load the policy directory (default: the
                                configured one) atomically; --file F loads one
                                file's text as the whole set
  profile list                  learned profiles: stage, items, stability;
                                corrupt profile files that were set aside
  profile show NAME             one profile, every item with its counts
  profile export NAME           the profile as a policy (YAML, mode enforce)
  profile promote NAME [--force] [--reason R]
                                learning -> shadow (needs a stable profile, or
                                --force); shadow -> enforce
  profile rollback NAME [--reason R]
                                back to audit (the profile still scores)
  profile status [NAME]         stage and shadow would-deny counts per rule
  quarantine PID [--reason R]   cut a process's network in the kernel
  release PID [--reason R]      lift its verdict and reset its score

options:
  --socket PATH     rampartd's Unix socket (default $RAMPART_SOCKET or
                    /run/rampart/rampart.sock)
  --address H:P     use TCP instead (mTLS: --tls-cert, --tls-key, --tls-ca;
                    or --insecure for a plain-TCP listener)
  --json            machine-readable output: one JSON object (events: one per line)
  --timeout S       give up on a call after S seconds (default 30)
  -h, --help        this text

levels: observe, alert, deny, quarantine, kill

exit codes:
  0  success
  1  the daemon answered with an error (unknown pid, internal error, ...)
  2  usage error, or a request rampartd found invalid (bad argument, too large)
  3  rampartd cannot be reached (not running, wrong socket or address)
  4  permission denied (not root and not in api.allowed_group; or TLS refused)
  5  invalid policy (validate or reload found errors; nothing was changed)
  6  the kernel refused a write: a quarantine not yet in force (rampartd
     retries it), or a reload refused (the running policies stay)
)";

enum Exit { kOk = 0, kFailed = 1, kUsage = 2, kUnreachable = 3, kDenied = 4, kInvalidPolicy = 5, kKernelRefused = 6 };

struct Options {
  std::string socket;
  std::string address;
  std::string tls_cert, tls_key, tls_ca;
  bool insecure = false;
  bool json = false;
  int timeout_s = 30;
};

int usage_error(const std::string& msg) {
  std::cerr << "rampartctl: " << msg << "\n(see rampartctl --help)\n";
  return kUsage;
}

bool parse_u32(const std::string& s, uint32_t* out) {
  if (s.empty() || s.size() > 10 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  unsigned long long v = std::stoull(s);
  if (v > 0xffffffffULL) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

void print_json(const google::protobuf::Message& m) {
  std::string s;
  google::protobuf::util::JsonPrintOptions o;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &s, o);
  std::cout << s << "\n";
}

class Client {
 public:
  explicit Client(Options o) : opts_(std::move(o)) {}

  // Sets up the channel (gRPC connects on the first call). Returns an exit code, or kOk.
  int connect() {
    std::string target;
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (!opts_.address.empty()) {
      target = opts_.address;
      where_ = "rampartd at " + opts_.address;
      if (opts_.insecure) {
        creds = grpc::InsecureChannelCredentials();
      } else {
        if (opts_.tls_ca.empty())
          return usage_error("--address needs --tls-ca (and --tls-cert, --tls-key for mTLS), or --insecure");
        grpc::SslCredentialsOptions ssl;
        for (auto [path, what, into] : {std::tuple{&opts_.tls_ca, "--tls-ca", &ssl.pem_root_certs},
                                        std::tuple{&opts_.tls_cert, "--tls-cert", &ssl.pem_cert_chain},
                                        std::tuple{&opts_.tls_key, "--tls-key", &ssl.pem_private_key}}) {
          if (path->empty()) continue;
          auto text = read_text_file(*path, what);
          if (!text) return usage_error(text.error().what());
          *into = std::move(*text);
        }
        creds = grpc::SslCredentials(ssl);
      }
    } else {
      where_ = "rampartd at " + opts_.socket;
      target = "unix:" + opts_.socket;
      creds = grpc::InsecureChannelCredentials();  // a local socket: the daemon checks SO_PEERCRED
    }
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    channel_ = grpc::CreateCustomChannel(target, creds, args);
    stub_ = v1::Rampart::NewStub(channel_);
    return kOk;
  }

  v1::Rampart::Stub& stub() { return *stub_; }
  void prepare(grpc::ClientContext& ctx, bool stream = false) const {
    if (!stream) ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(opts_.timeout_s));
  }

  // Maps a failed call to a message and an exit code.
  int failed(const std::string& what, const grpc::Status& s) const {
    std::string msg = s.error_message();
    switch (s.error_code()) {
      case grpc::StatusCode::UNAVAILABLE:
        // On the Unix socket, a connect of our own tells exactly what is wrong.
        if (opts_.address.empty())
          if (int rc = probe_socket(); rc != kOk) return rc;
        std::cerr << "rampartctl: " << what << ": cannot reach " << where_ << " (" << msg
                  << "); is rampartd running? start it with `rampartd` (or `systemctl start rampartd`)\n";
        return kUnreachable;
      case grpc::StatusCode::PERMISSION_DENIED:
      case grpc::StatusCode::UNAUTHENTICATED:
        std::cerr << "rampartctl: " << what << ": " << msg
                  << "\n  run rampartctl as root, or as a member of the group in rampartd's api.allowed_group\n";
        return kDenied;
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        std::cerr << "rampartctl: " << what << ": no answer from " << where_ << " within " << opts_.timeout_s
                  << " s (try --timeout)\n";
        return kUnreachable;
      case grpc::StatusCode::INVALID_ARGUMENT:
        std::cerr << "rampartctl: " << what << ": " << msg << "\n";
        return kUsage;
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        std::cerr << "rampartctl: " << what << ": " << msg
                  << "\n  the request is larger than rampartd accepts (api.max_message_kb)\n";
        return kUsage;
      default:
        std::cerr << "rampartctl: " << what << ": " << msg << "\n";
        return kFailed;
    }
  }

  bool json() const { return opts_.json; }

 private:
  // Connects once to rampartd's socket; prints why that fails. Returns an exit code, or kOk.
  int probe_socket() const {
    const std::string& path = opts_.socket;
    sockaddr_un addr{};
    if (path.size() >= sizeof(addr.sun_path)) return usage_error("--socket path too long: " + path);
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return kUnreachable;
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    int err = errno;
    close(fd);
    if (rc == 0) return kOk;
    std::string e = std::strerror(err);
    if (err == ENOENT) {
      std::cerr << "rampartctl: rampartd is not running at " << path << " (connect: " << e
                << "); start it with `rampartd` (or `systemctl start rampartd`), or give its api.socket with "
                   "--socket\n";
      return kUnreachable;
    }
    if (err == EACCES || err == EPERM) {
      std::cerr << "rampartctl: permission denied connecting to " << path << " (connect: " << e
                << "); run as root, or as a member of rampartd's api.allowed_group\n";
      return kDenied;
    }
    if (err == ECONNREFUSED) {
      std::cerr << "rampartctl: nothing is listening on " << path << " (connect: " << e
                << "); rampartd has stopped and left its socket behind; start it with `rampartd`\n";
      return kUnreachable;
    }
    std::cerr << "rampartctl: cannot connect to rampartd at " << path << " (connect: " << e << ")\n";
    return kUnreachable;
  }

  Options opts_;
  std::string where_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Rampart::Stub> stub_;
};

int cmd_status(Client& c) {
  grpc::ClientContext ctx;
  c.prepare(ctx);
  v1::GetStatusResponse r;
  auto s = c.stub().GetStatus(&ctx, {}, &r);
  if (!s.ok()) return c.failed("status", s);
  if (c.json()) print_json(r);
  else cli::print_status(std::cout, r);
  return kOk;
}

volatile sig_atomic_t g_interrupted = 0;

int cmd_events(Client& c, const std::vector<std::string>& args) {
  v1::StreamEventsRequest req;
  bool follow = false;
  uint64_t count = 10;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    std::string v;
    if (a == "--follow" || a == "-f") {
      follow = true;
    } else if (a == "--type" && value(&v)) {
      std::stringstream ss(v);
      std::string t;
      while (std::getline(ss, t, ','))
        if (!t.empty()) req.add_types(t);
    } else if (a == "--pid" && value(&v)) {
      uint32_t pid;
      if (!parse_u32(v, &pid)) return usage_error("--pid needs a number, got '" + v + "'");
      req.set_pid(pid);
    } else if (a == "--tgid" && value(&v)) {
      uint32_t pid;
      if (!parse_u32(v, &pid)) return usage_error("--tgid needs a number, got '" + v + "'");
      req.set_tgid(pid);
    } else if (a == "--container" && value(&v)) {
      req.set_container_id(v);
    } else if (a == "--policy" && value(&v)) {
      req.set_policy(v);
    } else if (a == "--min-level" && value(&v)) {
      v1::Level l;
      if (!cli::parse_level(v, &l)) return usage_error("unknown level '" + v + "' (observe, alert, deny, quarantine, kill)");
      req.set_min_level(l);
    } else if (a == "--count" && value(&v)) {
      uint32_t n;
      if (!parse_u32(v, &n) || n == 0) return usage_error("--count needs a positive number, got '" + v + "'");
      count = n;
    } else {
      return usage_error("events: unknown or incomplete argument '" + a + "'");
    }
  }
  grpc::ClientContext ctx;
  c.prepare(ctx, true);
  auto reader = c.stub().StreamEvents(&ctx, req);
  // Ctrl-C ends the stream cleanly.
  static grpc::ClientContext* active = nullptr;
  active = &ctx;
  std::thread watcher([] {
    while (active) {
      if (g_interrupted) {
        active->TryCancel();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  signal(SIGINT, [](int) { g_interrupted = 1; });
  signal(SIGTERM, [](int) { g_interrupted = 1; });
  if (!c.json() && !follow) std::cerr << "(waiting for " << count << " events; --follow for a live tail)\n";
  v1::StreamEventsResponse msg;
  uint64_t seen = 0;
  while ((follow || seen < count) && reader->Read(&msg)) {
    if (msg.has_gap()) {
      if (c.json())
        std::cout << R"({"type":"gap","missed":)" << msg.gap().missed() << R"(,"missed_total":)"
                  << msg.gap().missed_total() << "}\n";
      else
        std::cout << "-- missed " << msg.gap().missed() << " events (this client read too slowly; "
                  << msg.gap().missed_total() << " in all) --\n";
      continue;
    }
    ++seen;
    if (c.json()) std::cout << msg.event().json() << "\n";
    else cli::print_event_line(std::cout, msg.event());
    if (follow) std::cout.flush();
  }
  std::cout.flush();
  // Cancel only a stream we stopped reading; one the server ended carries its status.
  const bool stopped_early = g_interrupted || (!follow && seen >= count);
  if (stopped_early) ctx.TryCancel();
  auto s = reader->Finish();
  active = nullptr;
  watcher.join();
  if (g_interrupted || (!follow && seen >= count)) return kOk;
  if (!s.ok() && s.error_code() != grpc::StatusCode::CANCELLED) return c.failed("events", s);
  return kOk;
}

int cmd_verdict(Client& c, const std::vector<std::string>& args) {
  uint32_t pid;
  if (args.size() != 1) return usage_error("verdict needs one PID");
  if (!parse_u32(args[0], &pid) || pid == 0)
    return usage_error("verdict: '" + args[0] + "' is not a process id (a number > 0)");
  grpc::ClientContext ctx;
  c.prepare(ctx);
  v1::GetVerdictRequest req;
  req.set_pid(pid);
  v1::Verdict v;
  auto s = c.stub().GetVerdict(&ctx, req, &v);
  if (!s.ok()) return c.failed("verdict " + args[0], s);
  if (c.json()) print_json(v);
  else cli::print_verdict(std::cout, v);
  return kOk;
}

int cmd_verdicts(Client& c, const std::vector<std::string>& args) {
  v1::ListVerdictsRequest req;
  req.set_min_level(v1::LEVEL_ALERT);
  for (size_t i = 0; i < args.size(); ++i) {
    v1::Level l;
    if (args[i] == "--min-level" && i + 1 < args.size() && cli::parse_level(args[i + 1], &l)) {
      req.set_min_level(l);
      ++i;
    } else {
      return usage_error("verdicts: unknown argument '" + args[i] + "' (--min-level LEVEL)");
    }
  }
  grpc::ClientContext ctx;
  c.prepare(ctx);
  v1::ListVerdictsResponse r;
  auto s = c.stub().ListVerdicts(&ctx, req, &r);
  if (!s.ok()) return c.failed("verdicts", s);
  if (c.json()) print_json(r);
  else cli::print_verdicts(std::cout, r);
  return kOk;
}

int cmd_process(Client& c, const std::string& cmd, const std::vector<std::string>& args) {
  v1::ProcessRequest req;
  uint32_t pid = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--reason" && i + 1 < args.size()) req.set_reason(args[++i]);
    else if (pid == 0 && parse_u32(args[i], &pid) && pid > 0) req.set_pid(pid);
    else if (pid == 0 && args[i][0] != '-')
      return usage_error(cmd + ": '" + args[i] + "' is not a process id (a number > 0)");
    else return usage_error(cmd + ": unexpected argument '" + args[i] + "'");
  }
  if (pid == 0) return usage_error(cmd + " needs a PID");
  grpc::ClientContext ctx;
  c.prepare(ctx);
  v1::ProcessActionResponse r;
  auto s = cmd == "quarantine" ? c.stub().Quarantine(&ctx, req, &r) : c.stub().Release(&ctx, req, &r);
  if (!s.ok()) return c.failed(cmd + " " + std::to_string(pid), s);
  if (c.json()) print_json(r);
  else std::cout << "pid " << r.pid() << ": " << r.message() << " (level " << level_name(r.level()) << ")\n";
  return r.pending() ? kKernelRefused : kOk;
}

int cmd_policy(Client& c, const std::vector<std::string>& args) {
  if (args.empty()) return usage_error("policy needs list, validate FILE or reload [DIR]");
  const std::string& sub = args[0];
  if (sub == "list" && args.size() == 1) {
    grpc::ClientContext ctx;
    c.prepare(ctx);
    v1::ListPoliciesResponse r;
    auto s = c.stub().ListPolicies(&ctx, {}, &r);
    if (!s.ok()) return c.failed("policy list", s);
    if (c.json()) print_json(r);
    else cli::print_policies(std::cout, r);
    return kOk;
  }
  if (sub == "validate" && args.size() == 2) {
    auto text = read_text_file(args[1]);
    if (!text) return usage_error(text.error().what());
    v1::ValidatePolicyRequest req;
    req.set_text(*text);
    req.set_source(args[1]);
    grpc::ClientContext ctx;
    c.prepare(ctx);
    v1::ValidatePolicyResponse r;
    auto s = c.stub().ValidatePolicy(&ctx, req, &r);
    if (!s.ok()) return c.failed("policy validate " + args[1], s);
    if (c.json()) {
      print_json(r);
    } else if (r.valid()) {
      std::cout << args[1] << ": valid (" << r.policies_size() << " policies:";
      for (const auto& n : r.policies()) std::cout << " " << n;
      std::cout << ")\n";
    } else {
      std::cerr << args[1] << ": invalid\n";
      cli::print_errors(std::cerr, r.errors());
    }
    return r.valid() ? kOk : kInvalidPolicy;
  }
  if (sub == "reload" && args.size() <= 3) {
    v1::ReloadPoliciesRequest req;
    if (args.size() == 3 && args[1] == "--file") {
      auto text = read_text_file(args[2]);
      if (!text) return usage_error(text.error().what());
      req.set_text(*text);
      if (req.text().empty()) return usage_error(args[2] + " is empty");
      req.set_source(args[2]);
    } else if (args.size() == 2) {
      char buf[PATH_MAX];
      std::string dir = args[1];
      if (realpath(dir.c_str(), buf)) dir = buf;  // the daemon resolves nothing relative to our cwd
      req.set_dir(dir);
    } else if (args.size() != 1) {
      return usage_error("policy reload [DIR] | policy reload --file FILE");
    }
    grpc::ClientContext ctx;
    c.prepare(ctx);
    v1::ReloadPoliciesResponse r;
    auto s = c.stub().ReloadPolicies(&ctx, req, &r);
    if (!s.ok()) return c.failed("policy reload", s);
    if (c.json()) {
      print_json(r);
    } else if (r.applied()) {
      cli::print_reload(std::cout, r);
    } else {
      std::cerr << "reload " << (r.kernel_refused() ? "refused by the kernel" : "rejected")
                << ", the running policies (generation " << r.generation() << ") stay in force:\n";
      cli::print_errors(std::cerr, r.errors());
      if (r.retry_in_ms())
        std::cerr << "rampartd retries the reload of its policy directory in " << r.retry_in_ms() << " ms\n";
    }
    return r.applied() ? kOk : r.kernel_refused() ? kKernelRefused : kInvalidPolicy;
  }
  return usage_error("policy needs list, validate FILE or reload [DIR]");
}

int cmd_profile(Client& c, const std::vector<std::string>& args) {
  const char* kUsage = "profile needs list, show NAME, export NAME, promote NAME, rollback NAME or status [NAME]";
  if (args.empty()) return usage_error(kUsage);
  const std::string& sub = args[0];
  grpc::ClientContext ctx;
  c.prepare(ctx);
  if ((sub == "list" && args.size() == 1) || (sub == "status" && args.size() <= 2)) {
    v1::ProfileRequest req;
    if (args.size() == 2) req.set_name(args[1]);
    v1::ListProfilesResponse r;
    auto s = c.stub().ProfileStatus(&ctx, req, &r);
    if (!s.ok()) return c.failed("profile " + sub, s);
    if (c.json()) print_json(r);
    else cli::print_profiles(std::cout, r, sub == "status");
    return kOk;
  }
  if ((sub == "show" || sub == "export") && args.size() == 2) {
    v1::ProfileRequest req;
    req.set_name(args[1]);
    if (sub == "export") {
      v1::ExportProfileResponse r;
      auto s = c.stub().ExportProfile(&ctx, req, &r);
      if (!s.ok()) return c.failed("profile export " + args[1], s);
      if (c.json()) print_json(r);
      else std::cout << r.yaml();
      return kOk;
    }
    v1::GetProfileResponse r;
    auto s = c.stub().GetProfile(&ctx, req, &r);
    if (!s.ok()) return c.failed("profile show " + args[1], s);
    if (c.json()) print_json(r);
    else cli::print_profile(std::cout, r);
    return kOk;
  }
  if ((sub == "promote" || sub == "rollback") && args.size() >= 2) {
    v1::ProfileActionRequest req;
    for (size_t i = 1; i < args.size(); ++i) {
      if (args[i] == "--force" && sub == "promote") req.set_force(true);
      else if (args[i] == "--reason" && i + 1 < args.size()) req.set_reason(args[++i]);
      else if (req.name().empty() && args[i][0] != '-') req.set_name(args[i]);
      else return usage_error("profile " + sub + ": unexpected argument '" + args[i] + "'");
    }
    if (req.name().empty()) return usage_error("profile " + sub + " needs a NAME");
    v1::ProfileActionResponse r;
    auto s = sub == "promote" ? c.stub().PromoteProfile(&ctx, req, &r) : c.stub().RollbackProfile(&ctx, req, &r);
    if (!s.ok()) return c.failed("profile " + sub + " " + req.name(), s);
    if (c.json()) print_json(r);
    else std::cout << "profile " << r.name() << ": " << r.message() << "\n";
    return kOk;
  }
  return usage_error(kUsage);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  const char* env = std::getenv("RAMPART_SOCKET");
  o.socket = env && *env ? env : kDefaultSocket;
  std::vector<std::string> rest;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (!rest.empty()) {
      rest.push_back(a);  // after the command: its own arguments (--json still global)
      if (a == "--json") {
        o.json = true;
        rest.pop_back();
      }
      continue;
    }
    if (a == "-h" || a == "--help") {
      std::cout << kUsageText;
      return kOk;
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--insecure") {
      o.insecure = true;
    } else if (a == "--socket") {
      if (!value(&o.socket)) return usage_error("--socket needs a path");
    } else if (a == "--address") {
      if (!value(&o.address)) return usage_error("--address needs host:port");
    } else if (a == "--tls-cert") {
      if (!value(&o.tls_cert)) return usage_error("--tls-cert needs a file");
    } else if (a == "--tls-key") {
      if (!value(&o.tls_key)) return usage_error("--tls-key needs a file");
    } else if (a == "--tls-ca") {
      if (!value(&o.tls_ca)) return usage_error("--tls-ca needs a file");
    } else if (a == "--timeout") {
      uint32_t t;
      if (!value(&v) || !parse_u32(v, &t) || t == 0) return usage_error("--timeout needs seconds");
      o.timeout_s = static_cast<int>(t);
    } else if (!a.empty() && a[0] == '-') {
      return usage_error("unknown option '" + a + "'");
    } else {
      rest.push_back(a);
    }
  }
  if (rest.empty()) return usage_error("no command given");
  const std::string cmd = rest[0];
  std::vector<std::string> args(rest.begin() + 1, rest.end());
  static const char* kCommands[] = {"status", "events", "verdict", "verdicts", "policy", "profile", "quarantine", "release"};
  if (std::find(std::begin(kCommands), std::end(kCommands), cmd) == std::end(kCommands))
    return usage_error("unknown command '" + cmd + "'");

  Client c(o);
  if (int rc = c.connect(); rc != kOk) return rc;
  if (cmd == "status") return args.empty() ? cmd_status(c) : usage_error("status takes no arguments");
  if (cmd == "events") return cmd_events(c, args);
  if (cmd == "verdict") return cmd_verdict(c, args);
  if (cmd == "verdicts") return cmd_verdicts(c, args);
  if (cmd == "policy") return cmd_policy(c, args);
  if (cmd == "profile") return cmd_profile(c, args);
  return cmd_process(c, cmd, args);
}
