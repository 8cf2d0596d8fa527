// Unit tests for PendingWrites: what rampartd keeps when the kernel refuses
// a verdict or policy-assignment write, and when it tries again.
#include "enforce/pending_writes.h"

#include <catch2/catch.hpp>

using rampart::enforce::PendingWrite;
using rampart::enforce::PendingWrites;
using rampart::enforce::WriteKind;

namespace {

constexpr uint64_t kMs = 1'000'000;

PendingWrite verdict(uint32_t tgid, uint32_t level, const std::string& why = "score") {
  PendingWrite w;
  w.kind = WriteKind::kVerdict;
  w.tgid = tgid;
  w.verdict = rp_verdict{level, RP_V_DENY_NET};
  w.why = why;
  w.error = "updating verdict_map: Argument list too long";
  return w;
}

PendingWrite assignment(uint32_t tgid, const std::string& policy) {
  PendingWrite w;
  w.kind = WriteKind::kAssignment;
  w.tgid = tgid;
  w.policy = policy;
  w.why = "reload";
  return w;
}

}  // namespace

TEST_CASE("a refused write is due after 100 ms, then backs off doubling up to 2 s", "[pending]") {
  PendingWrites p;
  REQUIRE(p.failed(verdict(42, 3), 0));
  CHECK(p.size() == 1);
  CHECK(p.due(99 * kMs).empty());
  auto due = p.due(100 * kMs);
  REQUIRE(due.size() == 1);
  CHECK(due[0].tgid == 42);
  CHECK(due[0].attempts == 1);
  CHECK(due[0].verdict.level == 3);

  // Each failed retry doubles the wait: 200, 400, 800, 1600, then 2000 ms.
  uint64_t now = 100 * kMs;
  for (uint64_t wait : {200, 400, 800, 1600, 2000, 2000}) {
    p.retried(p.due(now)[0], false, "still full", now);
    CHECK(p.due(now + wait * kMs - 1).empty());
    now += wait * kMs;
    REQUIRE(p.due(now).size() == 1);
  }
  CHECK(p.find(WriteKind::kVerdict, 42)->error == "still full");
  CHECK(p.counters().failed == 7);

  p.retried(p.due(now)[0], true, "", now);
  CHECK(p.size() == 0);
  CHECK(p.counters().recovered == 1);
  CHECK_FALSE(p.next_due_ns());
}

TEST_CASE("the latest wanted value per process and kind is what is retried", "[pending]") {
  PendingWrites p;
  p.failed(verdict(7, 2), 0);
  p.failed(verdict(7, 3, "api quarantine"), 50 * kMs);  // a newer verdict, refused too
  p.failed(assignment(7, "web"), 50 * kMs);             // another map: kept beside it
  CHECK(p.size() == 2);
  const auto* v = p.find(WriteKind::kVerdict, 7);
  REQUIRE(v);
  CHECK(v->verdict.level == 3);
  CHECK(v->why == "api quarantine");
  CHECK(v->attempts == 2);  // continues the count
  CHECK(v->first_ns == 0);  // and the age
  CHECK(p.oldest_ns() == 0u);
  CHECK(p.any_for("reload"));
  CHECK_FALSE(p.any_for("fork inheritance"));

  // A newer write that lands (a release) makes the pending one moot.
  p.landed(WriteKind::kVerdict, 7);
  CHECK_FALSE(p.find(WriteKind::kVerdict, 7));
  CHECK(p.counters().superseded == 1);
  p.landed(WriteKind::kVerdict, 7);  // nothing pending: not counted again
  CHECK(p.counters().superseded == 1);

  // A retry outcome for a write made moot meanwhile changes nothing.
  p.retried(verdict(7, 3), true, "", 200 * kMs);
  CHECK(p.counters().recovered == 0);
}

TEST_CASE("an exited process abandons its pending writes, and a full set keeps what it has", "[pending]") {
  PendingWrites p(2);
  REQUIRE(p.failed(verdict(1, 3), 0));
  REQUIRE(p.failed(assignment(1, "db"), 0));
  CHECK_FALSE(p.failed(verdict(2, 3), 0));  // full: not kept, counted
  CHECK(p.counters().overflow == 1);
  CHECK(p.failed(verdict(1, 4), 10 * kMs));  // but a newer value for a kept one replaces it
  CHECK(p.size() == 2);

  auto gone = p.exited(1);
  CHECK(gone.size() == 2);
  CHECK(p.size() == 0);
  CHECK(p.counters().abandoned == 2);
  CHECK(p.exited(1).empty());
}

TEST_CASE("due lists the writes in the order they fall due", "[pending]") {
  PendingWrites p;
  p.failed(verdict(3, 3), 30 * kMs);
  p.failed(verdict(1, 3), 10 * kMs);
  p.failed(verdict(2, 3), 20 * kMs);
  CHECK(p.next_due_ns() == 110 * kMs);
  auto due = p.due(200 * kMs);
  REQUIRE(due.size() == 3);
  CHECK(due[0].tgid == 1);
  CHECK(due[1].tgid == 2);
  CHECK(due[2].tgid == 3);
  CHECK(std::string(rampart::enforce::write_kind_map(WriteKind::kAssignment)) == "proc_policy_map");
}
