// The counter registry, no privileges: the stats JSON nested from each
// counter's path, the Prometheus text with its labels, and lookup by name.
#include "ops/counters.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace rampart;
using ops::Counters;

namespace {

// A registry shaped like the daemon's: per-type counters (one of them only
// in the stats line), a per-type-and-CPU array, an unlabelled gauge, a
// counter with two labels and none in the stats, and one that has no
// samples at the moment (its family must not be rendered).
struct Fixture {
  uint64_t delivered_exec = 3, delivered_open = 5, rule_hits = 7;
  bool guard = false;
  int refreshed = 0;
  Counters c;

  Fixture() {
    c.on_read([this] { ++refreshed; });
    c.define({"events_total",
              "Events delivered to the output, by type.",
              Counters::Kind::kCounter,
              {"type"},
              "events.<type>.delivered"},
             [this] {
               return std::vector<Counters::Sample>{{{"exec"}, delivered_exec}, {{"open"}, delivered_open}};
             });
    c.define({"dropped_per_cpu",
              "Dropped, by type and CPU.",
              Counters::Kind::kCounter,
              {"type", "cpu"},
              "events.<type>.dropped_per_cpu[]",
              false},
             [] {
               return std::vector<Counters::Sample>{
                   {{"exec", "0"}, uint64_t{1}}, {{"exec", "1"}, uint64_t{2}}, {{"open", "0"}, uint64_t{4}}};
             });
    c.define({"rule_hits_total", "Rule hits.", Counters::Kind::kCounter, {}, "trust.rule_hits"},
             [this] { return Counters::one(rule_hits); });
    c.define({"trust_tracked_processes", "Tracked.", Counters::Kind::kGauge, {}, "trust.tracked"},
             [] { return Counters::one(uint64_t{2}); });
    c.define({"enforcement_total", "Enforce events.", Counters::Kind::kCounter, {"mechanism", "action"}}, [] {
      return std::vector<Counters::Sample>{{{"lsm", "denied"}, uint64_t{9}}, {{"kill", "killed"}, uint64_t{1}}};
    });
    c.define({"uptime_seconds", "Uptime.", Counters::Kind::kGauge}, [] { return Counters::one(1.5); });
    c.define({"perm_guard_decisions_total", "Decisions.", Counters::Kind::kCounter, {}, "perm_guard.decisions"},
             [this]() -> std::vector<Counters::Sample> {
               if (!guard) return {};
               return Counters::one(uint64_t{11});
             });
  }

  nlohmann::json json() const {
    std::string out;
    outputs::JsonWriter w(out);
    w.begin_object();
    c.read().write_json(w);
    w.end_object();
    return nlohmann::json::parse(out);
  }
};

}  // namespace

TEST_CASE("counters: the stats JSON nests each counter at its path, labels naming objects") {
  Fixture f;
  auto j = f.json();
  CHECK(j == nlohmann::json::parse(R"({
    "events": {"exec": {"delivered": 3, "dropped_per_cpu": [1, 2]},
               "open": {"delivered": 5, "dropped_per_cpu": [4]}},
    "trust": {"rule_hits": 7, "tracked": 2}})"));
  // Objects keep the order their first counter gave them.
  std::string out;
  outputs::JsonWriter w(out);
  w.begin_object();
  f.c.read().write_json(w);
  w.end_object();
  CHECK(out.find("\"events\"") < out.find("\"trust\""));
  CHECK(out.find("\"delivered\":3") < out.find("\"dropped_per_cpu\""));

  // A counter with samples now appears; one without leaves no empty object.
  CHECK(!j.contains("perm_guard"));
  f.guard = true;
  CHECK(f.json()["perm_guard"] == nlohmann::json::parse(R"({"decisions": 11})"));
  // Values are read afresh each time, after the refresh hook.
  f.rule_hits = 8;
  CHECK(f.json()["trust"]["rule_hits"] == 8);
  CHECK(f.refreshed == 4);
}

TEST_CASE("counters: /metrics renders each exported family with its labels, kind and help") {
  Fixture f;
  ops::MetricsText m;
  f.c.read().write_metrics(m);
  CHECK(m.text() ==
        "# HELP rampart_events_total Events delivered to the output, by type.\n"
        "# TYPE rampart_events_total counter\n"
        "rampart_events_total{type=\"exec\"} 3\n"
        "rampart_events_total{type=\"open\"} 5\n"
        "# HELP rampart_rule_hits_total Rule hits.\n"
        "# TYPE rampart_rule_hits_total counter\n"
        "rampart_rule_hits_total 7\n"
        "# HELP rampart_trust_tracked_processes Tracked.\n"
        "# TYPE rampart_trust_tracked_processes gauge\n"
        "rampart_trust_tracked_processes 2\n"
        "# HELP rampart_enforcement_total Enforce events.\n"
        "# TYPE rampart_enforcement_total counter\n"
        "rampart_enforcement_total{mechanism=\"lsm\",action=\"denied\"} 9\n"
        "rampart_enforcement_total{mechanism=\"kill\",action=\"killed\"} 1\n"
        "# HELP rampart_uptime_seconds Uptime.\n"
        "# TYPE rampart_uptime_seconds gauge\n"
        "rampart_uptime_seconds 1.5\n");
  // The stats-only counter and the one without samples are not there.
  CHECK(m.text().find("dropped_per_cpu") == std::string::npos);
  CHECK(m.text().find("perm_guard") == std::string::npos);
}

TEST_CASE("counters: lookup by name sums the samples, or those with the given labels") {
  Fixture f;
  const auto s = f.c.read();
  CHECK(s.value("rule_hits_total") == 7);
  CHECK(s.value("events_total") == 8);
  CHECK(s.value("events_total", {{"type", "open"}}) == 5);
  CHECK(s.value("dropped_per_cpu", {{"type", "exec"}}) == 3);
  CHECK(s.value("dropped_per_cpu", {{"type", "exec"}, {"cpu", "1"}}) == 2);
  CHECK(s.value("events_total", {{"type", "nope"}}) == 0);
  CHECK(s.value("perm_guard_decisions_total") == 0);  // defined, no samples now
  CHECK(s.samples("enforcement_total").size() == 2);
  CHECK_THROWS_AS(s.value("rule_hits"), std::logic_error);
}

TEST_CASE("counters: a name is defined once, with at most two labels") {
  Counters c;
  c.define({"a_total", "A.", Counters::Kind::kCounter}, [] { return Counters::one(uint64_t{1}); });
  CHECK_THROWS_AS(c.define({"a_total", "Again.", Counters::Kind::kCounter}, [] { return Counters::one(uint64_t{1}); }),
                  std::logic_error);
  CHECK_THROWS_AS(
      c.define({"b_total", "B.", Counters::Kind::kCounter, {"x", "y", "z"}}, [] { return Counters::one(uint64_t{1}); }),
      std::logic_error);
  CHECK(c.size() == 1);
}
