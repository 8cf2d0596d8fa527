// rampartctl: the command-line client of rampartd's gRPC API. Readable
// tables by default, --json for scripts. Every error says what failed and
// what to do about it; the exit codes are documented in --help and the
// README. The command line is parsed by CLI11: every command answers --help.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "format.h"
#include "rampart/v1/rampart.grpc.pb.h"
#include "util/file.h"
#include "util/number.h"

namespace {

using namespace rampart;
using rampart::cli::level_name;

constexpr const char* kDefaultSocket = "/run/rampart/rampart.sock";

constexpr const char* kDescription = "rampartctl: talks to rampartd over its gRPC API.";

constexpr const char* kFooter = R"(rampartctl COMMAND --help shows a command's arguments.

levels: observe, alert, deny, quarantine, kill

exit codes:
  0  success
  1  the daemon answered with an error (unknown pid, internal error, ...)
  2  usage error, or a request rampartd found invalid (bad argument, too large)
  3  rampartd cannot be reached (not running, wrong socket or address)
  4  permission denied (not root and not in api.allowed_group; or TLS refused)
  5  invalid policy (validate or reload found errors; nothing was changed)
  6  the kernel refused a write: a quarantine not yet in force (rampartd
     retries it), or a reload refused (the running policies stay))";

enum Exit { kOk = 0, kFailed = 1, kUsage = 2, kUnreachable = 3, kDenied = 4, kInvalidPolicy = 5, kKernelRefused = 6 };

struct Options {
  std::string socket;
  std::string address;
  std::string tls_cert, tls_key, tls_ca;
  bool insecure = false;
  bool json = false;
  int timeout_s = 30;
};

// command: where the help to read is ("policy reload"), or "" for the top.
int usage_error(const std::string& msg, const std::string& command = "") {
  std::cerr << "rampartctl: " << msg << "\n(see rampartctl " << (command.empty() ? "" : command + " ") << "--help)\n";
  return kUsage;
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
  if (c.json())
    print_json(r);
  else
    cli::print_status(std::cout, r);
  return kOk;
}

volatile sig_atomic_t g_interrupted = 0;

// What `events` asked for; filled in by the command line.
struct EventsArgs {
  v1::StreamEventsRequest req;
  bool follow = false;
  uint32_t count = 10;
};

int cmd_events(Client& c, const EventsArgs& a) {
  const auto& req = a.req;
  const bool follow = a.follow;
  const uint64_t count = a.count;
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
    if (c.json())
      std::cout << msg.event().json() << "\n";
    else
      cli::print_event_line(std::cout, msg.event());
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

int cmd_verdict(Client& c, uint32_t pid) {
  grpc::ClientContext ctx;
  c.prepare(ctx);
  v1::GetVerdictRequest req;
  req.set_pid(pid);
  v1::Verdict v;
  auto s = c.stub().GetVerdict(&ctx, req, &v);
  if (!s.ok()) return c.failed("verdict " + std::to_string(pid), s);
  if (c.json())
    print_json(v);
  else
    cli::print_verdict(std::cout, v);
  return kOk;
}

int cmd_verdicts(Client& c, const v1::ListVerdictsRequest& req) {
  grpc::ClientContext ctx;
  c.prepare(ctx);
  v1::ListVerdictsResponse r;
  auto s = c.stub().ListVerdicts(&ctx, req, &r);
  if (!s.ok()) return c.failed("verdicts", s);
  if (c.json())
    print_json(r);
  else
    cli::print_verdicts(std::cout, r);
  return kOk;
}

// quarantine or release.
int cmd_process(Client& c, const std::string& cmd, const v1::ProcessRequest& req) {
  const uint32_t pid = req.pid();
  grpc::ClientContext ctx;
  c.prepare(ctx);
  v1::ProcessActionResponse r;
  auto s = cmd == "quarantine" ? c.stub().Quarantine(&ctx, req, &r) : c.stub().Release(&ctx, req, &r);
  if (!s.ok()) return c.failed(cmd + " " + std::to_string(pid), s);
  if (c.json())
    print_json(r);
  else
    std::cout << "pid " << r.pid() << ": " << r.message() << " (level " << level_name(r.level()) << ")\n";
  return r.pending() ? kKernelRefused : kOk;
}

// What `policy` and `profile` asked for; filled in by the command line.
struct SubArgs {
  std::string sub;                  // list, validate, reload, show, ...
  std::string operand;              // FILE, DIR or NAME, if given
  std::string file;                 // policy reload --file
  v1::ProfileActionRequest action;  // profile promote / rollback
};

int cmd_policy(Client& c, const SubArgs& a) {
  const std::string& sub = a.sub;
  if (sub == "list") {
    grpc::ClientContext ctx;
    c.prepare(ctx);
    v1::ListPoliciesResponse r;
    auto s = c.stub().ListPolicies(&ctx, {}, &r);
    if (!s.ok()) return c.failed("policy list", s);
    if (c.json())
      print_json(r);
    else
      cli::print_policies(std::cout, r);
    return kOk;
  }
  if (sub == "validate") {
    const std::string& file = a.operand;
    auto text = read_text_file(file);
    if (!text) return usage_error(text.error().what());
    v1::ValidatePolicyRequest req;
    req.set_text(*text);
    req.set_source(file);
    grpc::ClientContext ctx;
    c.prepare(ctx);
    v1::ValidatePolicyResponse r;
    auto s = c.stub().ValidatePolicy(&ctx, req, &r);
    if (!s.ok()) return c.failed("policy validate " + file, s);
    if (c.json()) {
      print_json(r);
    } else if (r.valid()) {
      std::cout << file << ": valid (" << r.policies_size() << " policies:";
      for (const auto& n : r.policies()) std::cout << " " << n;
      std::cout << ")\n";
    } else {
      std::cerr << file << ": invalid\n";
      cli::print_errors(std::cerr, r.errors());
    }
    return r.valid() ? kOk : kInvalidPolicy;
  }
  // reload
  v1::ReloadPoliciesRequest req;
  if (!a.file.empty()) {
    auto text = read_text_file(a.file);
    if (!text) return usage_error(text.error().what());
    req.set_text(*text);
    if (req.text().empty()) return usage_error(a.file + " is empty");
    req.set_source(a.file);
  } else if (!a.operand.empty()) {
    char buf[PATH_MAX];
    std::string dir = a.operand;
    if (realpath(dir.c_str(), buf)) dir = buf;  // the daemon resolves nothing relative to our cwd
    req.set_dir(dir);
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

int cmd_profile(Client& c, const SubArgs& a) {
  const std::string& sub = a.sub;
  grpc::ClientContext ctx;
  c.prepare(ctx);
  if (sub == "list" || sub == "status") {
    v1::ProfileRequest req;
    if (!a.operand.empty()) req.set_name(a.operand);
    v1::ListProfilesResponse r;
    auto s = c.stub().ProfileStatus(&ctx, req, &r);
    if (!s.ok()) return c.failed("profile " + sub, s);
    if (c.json())
      print_json(r);
    else
      cli::print_profiles(std::cout, r, sub == "status");
    return kOk;
  }
  if (sub == "show" || sub == "export") {
    v1::ProfileRequest req;
    req.set_name(a.operand);
    if (sub == "export") {
      v1::ExportProfileResponse r;
      auto s = c.stub().ExportProfile(&ctx, req, &r);
      if (!s.ok()) return c.failed("profile export " + a.operand, s);
      if (c.json())
        print_json(r);
      else
        std::cout << r.yaml();
      return kOk;
    }
    v1::GetProfileResponse r;
    auto s = c.stub().GetProfile(&ctx, req, &r);
    if (!s.ok()) return c.failed("profile show " + a.operand, s);
    if (c.json())
      print_json(r);
    else
      cli::print_profile(std::cout, r);
    return kOk;
  }
  // promote, rollback
  const v1::ProfileActionRequest& req = a.action;
  v1::ProfileActionResponse r;
  auto s = sub == "promote" ? c.stub().PromoteProfile(&ctx, req, &r) : c.stub().RollbackProfile(&ctx, req, &r);
  if (!s.ok()) return c.failed("profile " + sub + " " + req.name(), s);
  if (c.json())
    print_json(r);
  else
    std::cout << "profile " << r.name() << ": " << r.message() << "\n";
  return kOk;
}

// Options whose text parse_number turns into a value; the error names the
// option, the value and the range.
CLI::Option* add_number(CLI::App* app, const std::string& name, uint32_t lo, uint32_t hi,
                        std::function<void(uint32_t)> set, const std::string& help) {
  return app->add_option_function<std::string>(
      name,
      [name, lo, hi, set](const std::string& text) {
        auto v = parse_number<uint32_t>(text, lo, hi);
        if (!v) throw CLI::ValidationError(name, v.error().message);
        set(*v);
      },
      help);
}

// The PID operand of verdict, quarantine and release.
CLI::Option* add_pid(CLI::App* cmd, std::function<void(uint32_t)> set) {
  return cmd
      ->add_option_function<std::string>(
          "PID",
          [set](const std::string& text) {
            auto v = parse_number<uint32_t>(text, 1, UINT32_MAX);
            if (!v) throw CLI::ValidationError("'" + text + "' is not a process id (a number > 0)");
            set(*v);
          },
          "the process id")
      ->required();
}

CLI::Option* add_level(CLI::App* cmd, std::function<void(v1::Level)> set, const std::string& help) {
  return cmd
      ->add_option_function<std::string>(
          "--min-level",
          [set](const std::string& text) {
            v1::Level l;
            if (!cli::parse_level(text, &l))
              throw CLI::ValidationError("--min-level",
                                         "unknown level '" + text + "' (observe, alert, deny, quarantine, kill)");
            set(l);
          },
          help)
      ->type_name("LEVEL");
}

// Operands are named by what they are (PID, FILE): no "TEXT" after the name in --help.
void plain_operands(CLI::App* app) {
  for (CLI::Option* o : app->get_options([](CLI::Option* o) { return o->get_positional(); })) o->type_name("");
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) plain_operands(sub);
}

// A parse error as rampartctl reports it: prefixed with the command it
// stopped in ("policy reload: ..."), whose --help the hint points to. CLI11
// says "A subcommand is required" without the word it did not know; this
// names it, and the commands there are.
int parse_failed(CLI::App& app, const CLI::ParseError& e) {
  CLI::App* at = &app;
  while (!at->get_subcommands().empty()) at = at->get_subcommands().front();
  std::string command;
  for (const CLI::App* a = at; a != &app; a = a->get_parent())
    command = a->get_name() + (command.empty() ? "" : " " + command);
  const std::string where = command.empty() ? "" : command + ": ";
  if (dynamic_cast<const CLI::ExtrasError*>(&e) && !app.remaining(true).empty())
    return usage_error(where + "unknown argument '" + app.remaining(true).front() + "'", command);
  if (!dynamic_cast<const CLI::RequiredError*>(&e) || at->get_require_subcommand_min() == 0 ||
      !at->get_subcommands().empty())
    return usage_error(where + e.what(), command);
  std::string known;
  for (const CLI::App* sub : at->get_subcommands([](CLI::App*) { return true; }))
    known += (known.empty() ? "" : ", ") + sub->get_name();
  for (const auto& word : app.remaining(true))
    if (!word.empty() && word[0] != '-')
      return usage_error(where + "unknown command '" + word + "' (" + known + ")", command);
  return usage_error(where + "no command given (" + known + ")", command);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  const char* env = std::getenv("RAMPART_SOCKET");
  o.socket = env && *env ? env : kDefaultSocket;

  CLI::App app(kDescription, "rampartctl");
  app.get_formatter()->label("Usage", "usage");
  app.get_formatter()->column_width(30);
  app.set_help_flag("-h,--help", "this text");  // before the commands: each one inherits it
  app.fallthrough();                            // global options may follow the command too
  app.require_subcommand(1);
  app.add_option("--socket", o.socket,
                 "rampartd's Unix socket (default $RAMPART_SOCKET or " + std::string(kDefaultSocket) + ")")
      ->type_name("PATH");
  app.add_option("--address", o.address,
                 "use TCP instead (mTLS: --tls-cert, --tls-key, --tls-ca; or --insecure for a plain-TCP listener)")
      ->type_name("HOST:PORT");
  app.add_option("--tls-cert", o.tls_cert, "client certificate (PEM) for --address")->type_name("FILE");
  app.add_option("--tls-key", o.tls_key, "its private key (PEM)")->type_name("FILE");
  app.add_option("--tls-ca", o.tls_ca, "the CA that signed rampartd's certificate (PEM)")->type_name("FILE");
  app.add_flag("--insecure", o.insecure, "plain TCP to --address (a listener with api.tcp.insecure)");
  app.add_flag("--json", o.json, "machine-readable output: one JSON object (events: one per line)");
  add_number(
      &app, "--timeout", 1, INT_MAX, [&o](uint32_t s) { o.timeout_s = static_cast<int>(s); },
      "give up on a call after S seconds (default 30)")
      ->type_name("S");

  auto* status = app.add_subcommand(
      "status", "version, uptime, capability matrix, enforcement mechanisms, counters, policy generation");

  EventsArgs ev;
  std::vector<std::string> types;
  auto* events =
      app.add_subcommand("events", "live events: the next N (default 10), or with --follow until interrupted");
  events->add_flag("-f,--follow", ev.follow, "until interrupted");
  add_number(
      events, "--count", 1, UINT32_MAX, [&ev](uint32_t n) { ev.count = n; }, "the next N events (default 10)")
      ->type_name("N");
  events->add_option("--type", types, "only these types; may repeat or take a comma list (exec,connect)")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->type_name("T");
  add_number(
      events, "--pid", 1, UINT32_MAX, [&ev](uint32_t p) { ev.req.set_pid(p); }, "only this thread")
      ->type_name("P");
  add_number(
      events, "--tgid", 1, UINT32_MAX, [&ev](uint32_t p) { ev.req.set_tgid(p); }, "only this process")
      ->type_name("P");
  events
      ->add_option_function<std::string>(
          "--container", [&ev](const std::string& id) { ev.req.set_container_id(id); },
          "only this container (full id or a prefix of at least 12 hex digits)")
      ->type_name("ID");
  events
      ->add_option_function<std::string>(
          "--policy", [&ev](const std::string& name) { ev.req.set_policy(name); }, "only processes under this policy")
      ->type_name("NAME");
  add_level(
      events, [&ev](v1::Level l) { ev.req.set_min_level(l); }, "only processes at this level or worse");

  uint32_t verdict_pid = 0;
  auto* verdict = app.add_subcommand("verdict", "score, level, policy, evidence chain, ancestry of a process");
  add_pid(verdict, [&verdict_pid](uint32_t p) { verdict_pid = p; });

  v1::ListVerdictsRequest verdicts_req;
  verdicts_req.set_min_level(v1::LEVEL_ALERT);
  auto* verdicts = app.add_subcommand("verdicts", "processes with a score of their own");
  add_level(
      verdicts, [&verdicts_req](v1::Level l) { verdicts_req.set_min_level(l); },
      "the lowest level listed (default alert)");

  SubArgs pol;
  auto* policy = app.add_subcommand("policy", "list | validate FILE | reload [DIR] | reload --file FILE");
  policy->require_subcommand(1);
  policy->add_subcommand("list", "the policies in force");
  policy->add_subcommand("validate", "check a policy file without loading it")
      ->add_option("FILE", pol.operand, "the policy file")
      ->required();
  auto* reload = policy->add_subcommand(
      "reload", "load the policy directory atomically; the running policies stay if anything is invalid");
  auto* dir = reload->add_option("DIR", pol.operand, "the policy directory (default: the configured one)");
  reload->add_option("--file", pol.file, "load one file's text as the whole set")->type_name("FILE")->excludes(dir);

  SubArgs prof;
  bool force = false;
  std::string reason;
  auto* profile = app.add_subcommand("profile", "learned profiles: list | show | export | promote | rollback | status");
  profile->require_subcommand(1);
  profile->add_subcommand("list", "learned profiles: stage, items, stability; corrupt files that were set aside");
  profile->add_subcommand("show", "one profile, every item with its counts")
      ->add_option("NAME", prof.operand, "the profile")
      ->required();
  profile->add_subcommand("export", "the profile as a policy (YAML, mode enforce)")
      ->add_option("NAME", prof.operand, "the profile")
      ->required();
  auto* promote =
      profile->add_subcommand("promote", "learning -> shadow (needs a stable profile, or --force); shadow -> enforce");
  promote->add_option("NAME", prof.operand, "the profile")->required();
  promote->add_flag("--force", force, "promote a profile that is not stable yet");
  promote->add_option("--reason", reason, "why (audited)")->type_name("TEXT");
  auto* rollback = profile->add_subcommand("rollback", "back to audit (the profile still scores)");
  rollback->add_option("NAME", prof.operand, "the profile")->required();
  rollback->add_option("--reason", reason, "why (audited)")->type_name("TEXT");
  profile->add_subcommand("status", "stage and shadow would-deny counts per rule")
      ->add_option("NAME", prof.operand, "only this profile");

  v1::ProcessRequest proc;
  auto* quarantine = app.add_subcommand("quarantine", "cut a process's network in the kernel");
  auto* release = app.add_subcommand("release", "lift a process's verdict and reset its score");
  for (auto* cmd : {quarantine, release}) {
    add_pid(cmd, [&proc](uint32_t p) { proc.set_pid(p); });
    cmd->add_option_function<std::string>(
           "--reason", [&proc](const std::string& r) { proc.set_reason(r); }, "why (audited)")
        ->type_name("TEXT");
  }
  app.footer(kFooter);  // after the commands, so that only the top-level help carries it
  plain_operands(&app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // the help of the command given, on stdout, exit 0
  } catch (const CLI::ParseError& e) {
    return parse_failed(app, e);
  }
  for (const auto& t : types)
    if (!t.empty()) ev.req.add_types(t);

  Client c(o);
  if (int rc = c.connect(); rc != kOk) return rc;
  if (*status) return cmd_status(c);
  if (*events) return cmd_events(c, ev);
  if (*verdict) return cmd_verdict(c, verdict_pid);
  if (*verdicts) return cmd_verdicts(c, verdicts_req);
  if (*policy) {
    pol.sub = policy->get_subcommands().front()->get_name();
    return cmd_policy(c, pol);
  }
  if (*profile) {
    prof.sub = profile->get_subcommands().front()->get_name();
    prof.action.set_name(prof.operand);
    prof.action.set_force(force);
    prof.action.set_reason(reason);
    return cmd_profile(c, prof);
  }
  return cmd_process(c, *quarantine ? "quarantine" : "release", proc);
}
