// Unit tests for the trust-scoring engine: the score arithmetic (hits,
// weight overrides, clamping, exact fractional decay), the response ladder,
// the level-changed flag the caller mirrors into the kernel map, fork
// inheritance, exit, and the evidence and process bounds.
#include <catch2/catch.hpp>
#include <string>

#include "score/trust.h"

using rampart::policy::Scoring;
using rampart::score::Evidence;
using rampart::score::Level;
using rampart::score::level_name;
using rampart::score::TrustEngine;
using rampart::score::Verdict;

namespace {

constexpr uint64_t kSec = 1'000'000'000;
constexpr uint64_t kMin = 60 * kSec;
constexpr uint64_t kT0 = 1000 * kSec;  // an arbitrary boot-clock start

Evidence ev(std::string rule, uint32_t weight, std::string detail = "") {
  return Evidence{0, std::move(rule), weight, "file_open", std::move(detail)};
}

// Default thresholds (80/60/40/10) and no decay unless a test sets it.
Scoring no_decay() {
  Scoring s;
  s.decay_per_minute = 0;
  return s;
}

}  // namespace

TEST_CASE("score level names", "[unit]") {
  CHECK(std::string(level_name(Level::kObserve)) == "observe");
  CHECK(std::string(level_name(Level::kAlert)) == "alert");
  CHECK(std::string(level_name(Level::kDeny)) == "deny");
  CHECK(std::string(level_name(Level::kQuarantine)) == "quarantine");
  CHECK(std::string(level_name(Level::kKill)) == "kill");
}

TEST_CASE("score a tracked process starts at 100 and observe", "[unit]") {
  TrustEngine e;
  CHECK_FALSE(e.verdict(42, kT0).has_value());
  Verdict v = e.track(42, kT0, no_decay(), "web");
  CHECK(v.score == 100);
  CHECK(v.level == Level::kObserve);
  CHECK_FALSE(v.level_changed);
  CHECK(v.policy == "web");
  CHECK(v.evidence.empty());
  REQUIRE(e.verdict(42, kT0).has_value());
  CHECK(e.verdict(42, kT0)->score == 100);
  CHECK(e.size() == 1);
}

TEST_CASE("score a single hit subtracts its weight and records the evidence", "[unit]") {
  TrustEngine e;
  Verdict v = e.hit(7, kT0, ev("suspicious-read", 15, "/etc/passwd"), no_decay(), "default");
  CHECK(v.tgid == 7);
  CHECK(v.score == 85);
  CHECK(v.level == Level::kObserve);
  CHECK(v.policy == "default");
  REQUIRE(v.evidence.size() == 1);
  CHECK(v.evidence[0].rule_id == "suspicious-read");
  CHECK(v.evidence[0].weight == 15);
  CHECK(v.evidence[0].ts_ns == kT0);  // 0 in the hit means the hit's time
  CHECK(v.evidence[0].detail == "/etc/passwd");
  CHECK(v.as_of_ns == kT0);
}

TEST_CASE("score a policy weight override wins over the evidence weight", "[unit]") {
  TrustEngine e;
  Scoring s = no_decay();
  s.weights["shadow-read"] = 35;
  Verdict v = e.hit(7, kT0, ev("shadow-read", 10), s);
  CHECK(v.score == 65);
  REQUIRE(v.evidence.size() == 1);
  CHECK(v.evidence[0].weight == 35);  // the weight actually applied
  // Other rules keep their own weight.
  v = e.hit(7, kT0, ev("other", 10), s);
  CHECK(v.score == 55);
}

TEST_CASE("score the ladder crosses each custom threshold in order", "[unit]") {
  TrustEngine e;
  Scoring s = no_decay();
  s.thresholds = {90, 70, 50, 20};
  struct Step {
    uint32_t weight;
    int score;
    Level level;
    bool changed;
  };
  // Each threshold is inclusive: a score equal to it takes that level.
  const Step steps[] = {
      {9, 91, Level::kObserve, false}, {1, 90, Level::kAlert, true},       {19, 71, Level::kAlert, false},
      {1, 70, Level::kDeny, true},     {20, 50, Level::kQuarantine, true}, {29, 21, Level::kQuarantine, false},
      {1, 20, Level::kKill, true},     {5, 15, Level::kKill, false},
  };
  for (const Step& st : steps) {
    INFO("weight " << st.weight << " to score " << st.score);
    Verdict v = e.hit(1, kT0, ev("r", st.weight), s);
    CHECK(v.score == st.score);
    CHECK(v.level == st.level);
    CHECK(v.level_changed == st.changed);
  }
}

TEST_CASE("score decay regains points per minute up to the hit", "[unit]") {
  TrustEngine e;
  Scoring s;
  s.decay_per_minute = 5;
  e.hit(1, kT0, ev("r", 50), s);  // 50
  REQUIRE(e.verdict(1, kT0)->score == 50);
  CHECK(e.verdict(1, kT0 + 1 * kMin)->score == 55);
  CHECK(e.verdict(1, kT0 + 4 * kMin)->score == 70);
  // The hit decays first (3 minutes: +15), then subtracts.
  Verdict v = e.hit(1, kT0 + 3 * kMin, ev("r", 10), s);
  CHECK(v.score == 55);
  CHECK(v.as_of_ns == kT0 + 3 * kMin);
}

TEST_CASE("score fractional decay is not lost between calls", "[unit]") {
  TrustEngine e;
  Scoring s;
  s.decay_per_minute = 5;
  e.hit(1, kT0, ev("r", 10), s);  // 90
  // Each 30 s step regains 2.5 points: reported rounded down, kept exactly.
  Verdict v = e.hit(1, kT0 + 30 * kSec, ev("r", 0), s);
  CHECK(v.score == 92);
  v = e.hit(1, kT0 + 60 * kSec, ev("r", 0), s);
  CHECK(v.score == 95);
  // tick() decays in place in many small steps: 120 steps of 0.5 s at
  // 5/min is 5 points, exactly as one 60 s step.
  TrustEngine f;
  f.hit(2, kT0, ev("r", 10), s);
  for (int i = 1; i <= 120; ++i) f.tick(kT0 + i * (kSec / 2));
  CHECK(f.verdict(2, kT0 + 60 * kSec)->score == 95);
  // One point per minute in 1 s reads: no point before the minute is up.
  Scoring slow;
  slow.decay_per_minute = 1;
  TrustEngine g;
  g.hit(3, kT0, ev("r", 10), slow);
  for (int i = 1; i < 60; ++i) CHECK(g.hit(3, kT0 + i * kSec, ev("r", 0), slow).score == 90);
  CHECK(g.hit(3, kT0 + 60 * kSec, ev("r", 0), slow).score == 91);
}

TEST_CASE("score decay never exceeds 100", "[unit]") {
  TrustEngine e;
  Scoring s;
  s.decay_per_minute = 5;
  e.hit(1, kT0, ev("r", 10), s);
  CHECK(e.verdict(1, kT0 + 60 * kMin)->score == 100);
  // Huge gaps and rates do not overflow.
  CHECK(e.verdict(1, UINT64_MAX)->score == 100);
  Scoring fast;
  fast.decay_per_minute = UINT32_MAX;
  e.hit(2, kT0, ev("r", 100), fast);
  CHECK(e.verdict(2, kT0 + 10 * kMin)->score == 100);
  // A timestamp that goes backwards neither decays nor moves the clock back.
  e.hit(3, kT0, ev("r", 20), s);
  CHECK(e.hit(3, kT0 - kMin, ev("r", 0), s).score == 80);
  CHECK(e.verdict(3, kT0 + kMin)->score == 85);
}

TEST_CASE("score is clamped at 0", "[unit]") {
  TrustEngine e;
  Verdict v = e.hit(1, kT0, ev("r", 70), no_decay());
  v = e.hit(1, kT0, ev("r", 70), no_decay());
  CHECK(v.score == 0);
  CHECK(v.level == Level::kKill);
  v = e.hit(1, kT0, ev("r", UINT32_MAX), no_decay());
  CHECK(v.score == 0);
  // Clamped means the excess is not owed: one minute at 5/min is 5 points.
  Scoring s;
  s.decay_per_minute = 5;
  CHECK(e.hit(1, kT0, ev("r", 0), s).score == 0);
  CHECK(e.verdict(1, kT0 + kMin)->score == 5);
}

TEST_CASE("score level_changed is true only when the level changes", "[unit]") {
  TrustEngine e;
  Scoring s;
  s.decay_per_minute = 10;
  Verdict v = e.hit(1, kT0, ev("r", 5), s);  // 95 observe
  CHECK_FALSE(v.level_changed);
  v = e.hit(1, kT0, ev("r", 20), s);  // 75 alert
  CHECK(v.level_changed);
  CHECK(v.previous_level == Level::kObserve);
  v = e.hit(1, kT0, ev("r", 5), s);  // 70 alert
  CHECK_FALSE(v.level_changed);
  CHECK(v.previous_level == Level::kAlert);
  v = e.hit(1, kT0, ev("r", 15), s);  // 55 deny
  CHECK(v.level_changed);
  CHECK(v.level == Level::kDeny);

  // Reads never report a change, even when decay has moved the level.
  auto r = e.verdict(1, kT0 + 1 * kMin);  // 65: alert
  REQUIRE(r.has_value());
  CHECK(r->level == Level::kAlert);
  CHECK_FALSE(r->level_changed);
  // tick() reports the drop once, then nothing.
  auto changed = e.tick(kT0 + 1 * kMin);
  REQUIRE(changed.size() == 1);
  CHECK(changed[0].tgid == 1);
  CHECK(changed[0].level == Level::kAlert);
  CHECK(changed[0].previous_level == Level::kDeny);
  CHECK(changed[0].level_changed);
  CHECK(e.tick(kT0 + 1 * kMin + kSec).empty());
  // A hit after a long quiet spell can move the level down: 65 + 40 → 100, - 5.
  v = e.hit(1, kT0 + 5 * kMin, ev("r", 5), s);
  CHECK(v.score == 95);
  CHECK(v.level == Level::kObserve);
  CHECK(v.level_changed);
}

TEST_CASE("score track adopts new thresholds and reports a level change", "[unit]") {
  TrustEngine e;
  e.hit(1, kT0, ev("r", 25), no_decay());  // 75 alert under the defaults
  Scoring strict = no_decay();
  strict.thresholds = {95, 90, 80, 70};
  Verdict v = e.track(1, kT0, strict, "strict");
  CHECK(v.score == 75);
  CHECK(v.level == Level::kQuarantine);
  CHECK(v.level_changed);
  CHECK(v.policy == "strict");
}

TEST_CASE("score a forked child inherits a share of its parent's distrust", "[unit]") {
  TrustEngine e;
  Scoring s = no_decay();
  s.inherit_percent = 50;
  e.hit(10, kT0, ev("r", 60), s, "web");  // parent at 40: quarantine
  Verdict c = e.on_fork(10, 11, kT0 + kSec, s);
  CHECK(c.tgid == 11);
  CHECK(c.score == 70);  // 100 - 50% of 60
  CHECK(c.level == Level::kAlert);
  CHECK(c.level_changed);  // a new child is observe in the kernel map until told
  CHECK(c.policy == "web");
  REQUIRE(c.evidence.size() == 1);
  CHECK(c.evidence[0].rule_id == "rampart.inherited");
  CHECK(c.evidence[0].weight == 30);
  CHECK(c.evidence[0].event_type == "fork");
  CHECK(c.evidence[0].detail.find("inherited from PID 10") != std::string::npos);
  CHECK(c.evidence[0].ts_ns == kT0 + kSec);
  // The parent is unchanged and its evidence is not copied.
  CHECK(e.verdict(10, kT0 + kSec)->score == 40);
  CHECK(e.verdict(10, kT0 + kSec)->evidence.size() == 1);
  CHECK(e.size() == 2);

  SECTION("rounding is down on the inherited distrust") {
    s.inherit_percent = 33;
    Verdict d = e.on_fork(10, 12, kT0, s);  // 33% of 60 = 19.8 → 19
    CHECK(d.score == 81);
  }
  SECTION("the parent's decay up to the fork counts") {
    s.decay_per_minute = 10;
    e.track(10, kT0 + kSec, s);                               // the parent now decays at 10 per minute
    Verdict d = e.on_fork(10, 12, kT0 + kSec + 2 * kMin, s);  // parent 60: 50% of 40
    CHECK(d.score == 80);
  }
  SECTION("zero percent inherits nothing") {
    s.inherit_percent = 0;
    Verdict d = e.on_fork(10, 12, kT0, s);
    CHECK(d.score == 100);
    CHECK_FALSE(d.level_changed);
  }
  SECTION("a child of an untracked parent stays untracked at 100") {
    Verdict d = e.on_fork(99, 12, kT0, s);
    CHECK(d.score == 100);
    CHECK(d.level == Level::kObserve);
    CHECK_FALSE(d.level_changed);
    CHECK_FALSE(e.verdict(12, kT0).has_value());
  }
}

TEST_CASE("score exit forgets the process", "[unit]") {
  TrustEngine e;
  e.hit(5, kT0, ev("r", 50), no_decay());
  REQUIRE(e.verdict(5, kT0).has_value());
  e.on_exit(5);
  CHECK_FALSE(e.verdict(5, kT0).has_value());
  CHECK(e.size() == 0);
  e.on_exit(5);  // twice is harmless
  // A new process under the same pid starts clean.
  CHECK(e.hit(5, kT0, ev("r", 10), no_decay()).score == 90);
}

TEST_CASE("score evidence is bounded and keeps the most recent", "[unit]") {
  TrustEngine e(TrustEngine::Limits{16, 4});
  Verdict v;
  for (int i = 0; i < 10; ++i) v = e.hit(1, kT0 + i, ev("rule-" + std::to_string(i), 1), no_decay());
  CHECK(v.score == 90);  // every hit counts even when its evidence is dropped
  REQUIRE(v.evidence.size() == 4);
  CHECK(v.evidence_dropped == 6);
  CHECK(v.evidence.front().rule_id == "rule-6");
  CHECK(v.evidence.back().rule_id == "rule-9");
}

TEST_CASE("score process bound evicts the most trusted and counts it", "[unit]") {
  TrustEngine e(TrustEngine::Limits{3, 32});
  Scoring s = no_decay();
  e.hit(1, kT0, ev("r", 50), s);      // 50
  e.hit(2, kT0, ev("r", 10), s);      // 90
  e.hit(3, kT0, ev("r", 30), s);      // 70
  e.hit(4, kT0 + 1, ev("r", 60), s);  // full: 2 (90) goes
  CHECK(e.size() == 3);
  CHECK(e.evictions() == 1);
  CHECK_FALSE(e.verdict(2, kT0).has_value());
  CHECK(e.verdict(1, kT0).has_value());
  CHECK(e.verdict(3, kT0).has_value());

  SECTION("a process at baseline goes first, the least recently touched") {
    e.on_exit(4);
    e.track(5, kT0 + 2, s);
    e.track(6, kT0 + 3, s);  // full: 5 and 6 are at 100; 5 is older
    CHECK(e.evictions() == 2);
    CHECK_FALSE(e.verdict(5, kT0).has_value());
    CHECK(e.verdict(6, kT0).has_value());
  }
  SECTION("the ranking uses the score after decay") {
    // 1 decays fast (50 → 100 in 5 minutes); 3 stays at 70.
    Scoring fast;
    fast.decay_per_minute = 10;
    e.hit(1, kT0 + 2, ev("r", 0), fast);
    e.hit(7, kT0 + 5 * kMin, ev("r", 5), s);
    CHECK(e.evictions() == 2);
    CHECK_FALSE(e.verdict(1, kT0).has_value());
    CHECK(e.verdict(3, kT0).has_value());
  }
  SECTION("a fork at the bound never loses the parent's distrust") {
    // All three are below 100; 3 (70) is the most trusted and goes.
    Verdict c = e.on_fork(4, 8, kT0 + 2, s);  // parent 4 at 40
    CHECK(c.score == 70);
    CHECK(e.evictions() == 2);
    CHECK(e.verdict(4, kT0).has_value());
    CHECK(e.verdict(8, kT0).has_value());
  }
}

TEST_CASE("score list filters by minimum level and sorts most suspicious first", "[unit]") {
  TrustEngine e;
  Scoring s;
  s.decay_per_minute = 10;
  e.hit(1, kT0, ev("r", 5), s);   // 95 observe
  e.hit(2, kT0, ev("r", 30), s);  // 70 alert
  e.hit(3, kT0, ev("r", 45), s);  // 55 deny
  e.hit(4, kT0, ev("r", 95), s);  // 5 kill
  auto all = e.list(Level::kObserve, kT0);
  REQUIRE(all.size() == 4);
  CHECK(all[0].tgid == 4);
  CHECK(all[3].tgid == 1);
  auto deny = e.list(Level::kDeny, kT0);
  REQUIRE(deny.size() == 2);
  CHECK(deny[0].tgid == 4);
  CHECK(deny[1].tgid == 3);
  CHECK(e.list(Level::kQuarantine, kT0).size() == 1);
  // With decay applied: one minute later 3 is at 65 (alert).
  auto later = e.list(Level::kDeny, kT0 + kMin);
  REQUIRE(later.size() == 1);
  CHECK(later[0].tgid == 4);
  CHECK(later[0].score == 15);
  CHECK(later[0].level == Level::kQuarantine);
}

TEST_CASE("score evidence is bounded per process and counted, and the memory follows", "[unit]") {
  TrustEngine e(TrustEngine::Limits{4, 3});
  Scoring s = no_decay();
  const size_t empty = e.approx_bytes();
  for (int i = 0; i < 5; ++i) e.hit(1, kT0 + i, ev("rule-" + std::to_string(i), 1), s);
  CHECK(e.evidence_entries() == 3);
  CHECK(e.evidence_dropped() == 2);
  CHECK(e.limit() == 4);
  const size_t one = e.approx_bytes();
  CHECK(one > empty);
  e.hit(2, kT0, ev("r", 1), s);
  CHECK(e.evidence_entries() == 4);
  e.on_exit(1);
  CHECK(e.evidence_entries() == 1);
  CHECK(e.approx_bytes() < one);
}
