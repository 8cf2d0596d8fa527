// Unit tests for the API's pure parts: the stream fan-out (bounded queues,
// exact gap counts, filters), the api: config section's validation, and the
// policy-error parser.
#include <catch2/catch.hpp>

#include "api/event_hub.h"
#include "api/server.h"
#include "config/config.h"
#include "shared/rp_abi.h"

using namespace rampart;

namespace {

api::EventFacts ev(uint32_t type, uint32_t tgid, std::string_view json = "{}") {
  api::EventFacts e;
  e.type = type;
  e.pid = e.tgid = tgid;
  e.json = json;
  return e;
}

auto no_policy = [] { return std::string_view("default"); };
auto no_level = [] { return uint8_t{0}; };

}  // namespace

TEST_CASE("a full subscriber queue drops, counts, and reports the gap on the next event it gets", "[api]") {
  api::EventHub hub;
  auto sub = std::make_shared<api::Subscriber>(api::EventFilter{}, 16);
  hub.subscribe(sub);
  for (uint32_t i = 0; i < 20; ++i) hub.publish(ev(RP_EV_EXEC, i), no_policy, no_level);
  CHECK(sub->missed() == 4);
  std::vector<api::QueuedEvent> out;
  REQUIRE(sub->pop(out, 100) == 16);
  for (const auto& q : out) CHECK(q.missed_before == 0);
  hub.publish(ev(RP_EV_EXEC, 99), no_policy, no_level);
  out.clear();
  REQUIRE(sub->pop(out, 100) == 1);
  CHECK(out[0].tgid == 99);
  CHECK(out[0].missed_before == 4);
  CHECK(hub.missed() == 4);
  CHECK(hub.sent() == 17);
  hub.unsubscribe(sub.get());
  CHECK(!hub.active());
  CHECK(hub.missed() == 4);  // kept after the subscriber leaves
}

TEST_CASE("stream filters: type, tgid, container prefix, policy and level", "[api]") {
  api::EventHub hub;
  api::EventFilter f;
  f.types.set(RP_EV_CONNECT);
  f.tgid = 7;
  auto typed = std::make_shared<api::Subscriber>(f, 16);
  api::EventFilter g;
  g.policy = "web";
  g.min_level = 3;
  auto judged = std::make_shared<api::Subscriber>(g, 16);
  hub.subscribe(typed);
  hub.subscribe(judged);
  int policy_calls = 0;
  auto policy = [&] {
    ++policy_calls;
    return std::string_view("web");
  };
  hub.publish(ev(RP_EV_CONNECT, 7), policy, [] { return uint8_t{3}; });
  hub.publish(ev(RP_EV_EXEC, 7), policy, [] { return uint8_t{1}; });
  hub.publish(
      ev(RP_EV_CONNECT, 8), [] { return std::string_view("db"); }, [] { return uint8_t{4}; });
  std::vector<api::QueuedEvent> out;
  CHECK(typed->pop(out, 10) == 1);
  out.clear();
  CHECK(judged->pop(out, 10) == 1);
  CHECK(policy_calls == 2);  // once per event at most

  api::EventFilter c;
  c.container_prefix = "abcdef012345";
  auto box = std::make_shared<api::Subscriber>(c, 16);
  hub.subscribe(box);
  auto in_box = ev(RP_EV_OPEN, 1);
  in_box.container_id = "abcdef0123456789";
  hub.publish(in_box, no_policy, no_level);
  hub.publish(ev(RP_EV_OPEN, 2), no_policy, no_level);
  out.clear();
  CHECK(box->pop(out, 10) == 1);
}

TEST_CASE("api config: defaults, TCP needs mTLS unless insecure, errors name file:line:col", "[api][config]") {
  auto def = config::defaults();
  CHECK(def.api.socket == "/run/rampart/rampart.sock");
  CHECK(def.api.allowed_group.empty());
  CHECK(def.api.tcp_address.empty());
  CHECK(def.api.stream_queue == 4096);

  auto plain = config::parse("api:\n  tcp:\n    address: 127.0.0.1:50051\n", "r.yaml");
  REQUIRE(!plain);
  CHECK(plain.error().what().find("r.yaml:3:14: 'api.tcp.address'") != std::string::npos);
  CHECK(plain.error().what().find("insecure") != std::string::npos);

  auto insecure = config::parse("api:\n  tcp:\n    address: 127.0.0.1:50051\n    insecure: true\n", "r.yaml");
  REQUIRE(insecure);
  CHECK(insecure->api.insecure);

  auto tls = config::parse(
      "api:\n  tcp:\n    address: \"[::1]:50051\"\n    tls_cert: /c.pem\n    tls_key: /k.pem\n    tls_ca: /ca.pem\n",
      "r.yaml");
  REQUIRE(tls);
  CHECK(tls->api.tls_ca == "/ca.pem");

  auto both = config::parse("api:\n  tcp:\n    address: h:1\n    insecure: true\n    tls_ca: /ca.pem\n", "r.yaml");
  CHECK(!both);
  auto port = config::parse("api:\n  tcp:\n    address: nowhere\n    insecure: true\n", "r.yaml");
  REQUIRE(!port);
  CHECK(port.error().what().find("must be host:port") != std::string::npos);
  auto group = config::parse("api:\n  allowed_group: no-such-group-here\n", "r.yaml");
  REQUIRE(!group);
  CHECK(group.error().what().find("r.yaml:2:18: 'api.allowed_group': no group named") != std::string::npos);
  auto rel = config::parse("api:\n  socket: rampart.sock\n", "r.yaml");
  CHECK(!rel);
  auto off = config::parse("api:\n  socket: \"\"\n", "r.yaml");
  REQUIRE(off);
  CHECK(off->api.socket.empty());
  auto key = config::parse("api:\n  sockets: /x\n", "r.yaml");
  REQUIRE(!key);
  CHECK(key.error().what().find("unknown key 'api.sockets'") != std::string::npos);
}

TEST_CASE("policy loader errors reach the API structured: file, line, column, field, message", "[api]") {
  std::vector<policy::Diagnostic> diags;
  auto set = policy::PolicySet::load_text(
      "apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: web\nspec:\n  selector:\n"
      "    uids: [33]\n  mode: enforced\n  allow:\n    exec: [\"/usr/bin/*\"]\n    colour: blue\n",
      "/p/a.yaml", &diags);
  REQUIRE(!set);
  google::protobuf::RepeatedPtrField<v1::PolicyError> errors;
  api::to_proto(diags, &errors);
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].file() == "/p/a.yaml");
  CHECK(errors[0].line() == 8);
  CHECK(errors[0].column() == 9);
  CHECK(errors[0].field() == "spec.mode");
  CHECK(errors[0].message().find("'spec.mode' must be one of") == 0);
  CHECK(errors[1].line() == 11);
  CHECK(errors[1].field() == "spec.allow.colour");
  CHECK(errors[1].message().find("unknown field 'spec.allow.colour'") == 0);
  // The error's text is the same diagnostics, one "file:line:col: message" line each.
  CHECK(set.error().what() == diags[0].str() + "\n" + diags[1].str());
  // A message without a place (the kernel refused a write) has no position.
  errors.Clear();
  api::to_proto({policy::Diagnostic{{}, "policy_map update: No space left on device", {}}}, &errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line() == 0);
  CHECK(errors[0].file().empty());
}

TEST_CASE("stream queues report their size and bytes, and a full one keeps its oldest events", "[api]") {
  api::EventHub hub;
  CHECK(hub.approx_bytes() == 0);
  auto sub = std::make_shared<api::Subscriber>(api::EventFilter{}, 16);
  hub.subscribe(sub);
  const size_t empty = hub.approx_bytes();
  CHECK(empty >= 16 * sizeof(api::QueuedEvent));
  CHECK(hub.capacity() == 16);
  const std::string json(1000, 'x');
  for (uint32_t i = 0; i < 20; ++i) hub.publish(ev(RP_EV_EXEC, i, json), no_policy, no_level);
  CHECK(hub.queued() == 16);
  CHECK(hub.approx_bytes() == empty + 16 * json.size());
  std::vector<api::QueuedEvent> out;
  REQUIRE(sub->pop(out, 4) == 4);
  CHECK(out.front().tgid == 0);  // the queue drops new events when full, not the queued ones
  CHECK(hub.queued() == 12);
  CHECK(hub.approx_bytes() == empty + 12 * json.size());
  sub->pop(out, 100);
  CHECK(hub.approx_bytes() == empty);
}
