// libFuzzer target: the gRPC request handlers, fed protobuf messages. The
// first byte picks the method; the rest is parsed as that method's request
// (whatever protobuf makes of arbitrary bytes) and sent through an
// in-process channel to the real ApiServer, whose handlers validate it and
// hand it to a backend on an Asio loop, as in rampartd. The backend here
// answers like the daemon does for processes it does not know. Every
// answer must be a status a client is documented to get; anything else, or
// a crash, is a finding.
#include <google/protobuf/stubs/logging.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <thread>

#include "api/server.h"
#include "rampart/v1/rampart.grpc.pb.h"

namespace {

using namespace rampart;
namespace v1 = rampart::v1;

struct Backend final : api::Backend {
  grpc::Status get_status(v1::GetStatusResponse* out) override {
    out->set_version("fuzz");
    return grpc::Status::OK;
  }
  grpc::Status get_verdict(uint32_t pid, v1::Verdict* out) override { return unknown(pid, out); }
  grpc::Status list_verdicts(v1::Level, v1::ListVerdictsResponse*) override { return grpc::Status::OK; }
  grpc::Status quarantine(const v1::ProcessRequest& r, const api::Peer&, v1::ProcessActionResponse* o) override {
    return unknown(r.pid(), o);
  }
  grpc::Status release(const v1::ProcessRequest& r, const api::Peer&, v1::ProcessActionResponse* o) override {
    return unknown(r.pid(), o);
  }
  grpc::Status list_policies(v1::ListPoliciesResponse*) override { return grpc::Status::OK; }
  grpc::Status reload_policies(const v1::ReloadPoliciesRequest& r, const api::Peer&,
                               v1::ReloadPoliciesResponse* out) override {
    out->set_applied(false);
    return r.text().empty() && r.dir().empty() ? grpc::Status::OK
                                               : grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "fuzz");
  }
  // Profiles: the daemon answers NOT_FOUND for a name that is no learn policy.
  grpc::Status list_profiles(const std::string& name, v1::ListProfilesResponse*) override {
    return name.empty() ? grpc::Status::OK : grpc::Status(grpc::StatusCode::NOT_FOUND, "no profile " + name);
  }
  grpc::Status get_profile(const std::string& name, v1::GetProfileResponse*) override { return no_profile(name); }
  grpc::Status export_profile(const std::string& name, v1::ExportProfileResponse*) override { return no_profile(name); }
  grpc::Status promote_profile(const v1::ProfileActionRequest& r, const api::Peer&,
                               v1::ProfileActionResponse*) override {
    return no_profile(r.name());
  }
  grpc::Status rollback_profile(const v1::ProfileActionRequest& r, const api::Peer&,
                                v1::ProfileActionResponse*) override {
    return no_profile(r.name());
  }
  static grpc::Status no_profile(const std::string& name) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no profile " + name);
  }
  void peer_refused(const api::Peer&, const std::string&) override {}
  template <typename T>
  static grpc::Status unknown(uint32_t pid, T*) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no process " + std::to_string(pid));
  }
};

struct World {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::thread loop{[this] { io.run(); }};
  Backend backend;
  api::EventHub hub;
  std::unique_ptr<api::ApiServer> server;
  std::unique_ptr<v1::Rampart::Stub> stub;
  World() {
    config::ApiConfig cfg;
    cfg.socket = "/tmp/rampart-fuzz-api-" + std::to_string(getpid()) + ".sock";
    auto s = api::ApiServer::start(cfg, io, backend, hub, [](const std::string&) {});
    if (!s) std::abort();
    server = std::move(*s);
    stub = v1::Rampart::NewStub(server->in_process_channel());
  }
};

World& world() {
  static World* w = new World;  // never destroyed: libFuzzer exits without unwinding
  return *w;
}

// Bytes that are not a valid message (bad wire format, or a string field
// that is not UTF-8) never reach a handler: gRPC's deserializer refuses them
// first. Those inputs are skipped; every other one is sent.
struct NotAMessage {};
template <typename Req>
Req parse(const uint8_t* data, size_t size) {
  Req r;
  if (!r.ParseFromArray(data, static_cast<int>(size))) throw NotAMessage{};
  return r;
}

void expect(const grpc::Status& s, std::initializer_list<grpc::StatusCode> allowed) {
  for (auto c : allowed)
    if (s.error_code() == c) return;
  std::fprintf(stderr, "unexpected status %d: %s\n", s.error_code(), s.error_message().c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  World& w = world();
  const uint8_t method = data[0] % 15;
  ++data;
  --size;
  google::protobuf::LogSilencer quiet;  // the refusals above are expected, not news
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(method == 8 ? 5 : 2000));
  using C = grpc::StatusCode;
  try {
    switch (method) {
      case 0: {
        v1::GetStatusResponse out;
        expect(w.stub->GetStatus(&ctx, parse<v1::GetStatusRequest>(data, size), &out), {C::OK});
        break;
      }
      case 1: {
        v1::Verdict out;
        expect(w.stub->GetVerdict(&ctx, parse<v1::GetVerdictRequest>(data, size), &out),
               {C::INVALID_ARGUMENT, C::NOT_FOUND});
        break;
      }
      case 2: {
        v1::ListVerdictsResponse out;
        expect(w.stub->ListVerdicts(&ctx, parse<v1::ListVerdictsRequest>(data, size), &out), {C::OK});
        break;
      }
      case 3:
      case 4: {
        v1::ProcessActionResponse out;
        auto req = parse<v1::ProcessRequest>(data, size);
        auto s = method == 3 ? w.stub->Quarantine(&ctx, req, &out) : w.stub->Release(&ctx, req, &out);
        expect(s, {C::INVALID_ARGUMENT, C::NOT_FOUND});
        break;
      }
      case 5: {
        v1::ListPoliciesResponse out;
        expect(w.stub->ListPolicies(&ctx, parse<v1::ListPoliciesRequest>(data, size), &out), {C::OK});
        break;
      }
      case 6: {
        v1::ValidatePolicyResponse out;
        auto s = w.stub->ValidatePolicy(&ctx, parse<v1::ValidatePolicyRequest>(data, size), &out);
        expect(s, {C::OK, C::INVALID_ARGUMENT});
        // An invalid policy always comes with at least one error to show.
        if (s.ok() && !out.valid() && out.errors_size() == 0) std::abort();
        break;
      }
      case 7: {
        v1::ReloadPoliciesResponse out;
        expect(w.stub->ReloadPolicies(&ctx, parse<v1::ReloadPoliciesRequest>(data, size), &out),
               {C::OK, C::INVALID_ARGUMENT, C::FAILED_PRECONDITION});
        break;
      }
      case 8: {
        auto reader = w.stub->StreamEvents(&ctx, parse<v1::StreamEventsRequest>(data, size));
        v1::StreamEventsResponse msg;
        while (reader->Read(&msg)) {
        }
        expect(reader->Finish(), {C::INVALID_ARGUMENT, C::DEADLINE_EXCEEDED, C::OK});
        break;
      }
      case 9: {
        v1::ListProfilesResponse out;
        expect(w.stub->ListProfiles(&ctx, parse<v1::ListProfilesRequest>(data, size), &out), {C::OK});
        break;
      }
      case 10: {
        v1::ListProfilesResponse out;
        expect(w.stub->ProfileStatus(&ctx, parse<v1::ProfileRequest>(data, size), &out), {C::OK, C::NOT_FOUND});
        break;
      }
      case 11: {
        v1::GetProfileResponse out;
        expect(w.stub->GetProfile(&ctx, parse<v1::ProfileRequest>(data, size), &out),
               {C::INVALID_ARGUMENT, C::NOT_FOUND});
        break;
      }
      case 12: {
        v1::ExportProfileResponse out;
        expect(w.stub->ExportProfile(&ctx, parse<v1::ProfileRequest>(data, size), &out),
               {C::INVALID_ARGUMENT, C::NOT_FOUND});
        break;
      }
      case 13:
      case 14: {
        v1::ProfileActionResponse out;
        auto req = parse<v1::ProfileActionRequest>(data, size);
        auto s = method == 13 ? w.stub->PromoteProfile(&ctx, req, &out) : w.stub->RollbackProfile(&ctx, req, &out);
        expect(s, {C::INVALID_ARGUMENT, C::NOT_FOUND});
        break;
      }
    }
  } catch (const NotAMessage&) {
  }
  return 0;
}
