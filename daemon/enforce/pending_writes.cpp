#include "enforce/pending_writes.h"

#include <algorithm>

namespace rampart::enforce {

const char* write_kind_map(WriteKind k) { return k == WriteKind::kVerdict ? "verdict_map" : "proc_policy_map"; }

uint64_t PendingWrites::backoff_ns(uint32_t attempts) {
  uint64_t ns = kFirstRetryNs;
  for (uint32_t i = 1; i < attempts && ns < kMaxRetryNs; ++i) ns *= 2;
  return std::min(ns, kMaxRetryNs);
}

bool PendingWrites::failed(PendingWrite w, uint64_t now_ns) {
  ++counters_.failed;
  auto it = pending_.find({w.kind, w.tgid});
  if (it == pending_.end()) {
    if (pending_.size() >= limit_) {
      ++counters_.overflow;
      return false;
    }
    w.attempts = 1;
    w.first_ns = now_ns;
  } else {
    w.attempts = it->second.attempts + 1;
    w.first_ns = it->second.first_ns;
  }
  w.next_ns = now_ns + backoff_ns(w.attempts);
  pending_[{w.kind, w.tgid}] = std::move(w);
  return true;
}

void PendingWrites::landed(WriteKind kind, uint32_t tgid) {
  if (pending_.erase({kind, tgid})) ++counters_.superseded;
}

std::vector<PendingWrite> PendingWrites::due(uint64_t now_ns) const {
  std::vector<PendingWrite> out;
  for (const auto& [key, w] : pending_)
    if (w.next_ns <= now_ns) out.push_back(w);
  std::sort(out.begin(), out.end(), [](const PendingWrite& a, const PendingWrite& b) { return a.next_ns < b.next_ns; });
  return out;
}

void PendingWrites::retried(const PendingWrite& w, bool ok, const std::string& error, uint64_t now_ns) {
  auto it = pending_.find({w.kind, w.tgid});
  if (it == pending_.end()) return;  // made moot meanwhile
  if (ok) {
    pending_.erase(it);
    ++counters_.recovered;
    return;
  }
  ++counters_.failed;
  ++it->second.attempts;
  it->second.error = error;
  it->second.next_ns = now_ns + backoff_ns(it->second.attempts);
}

std::vector<PendingWrite> PendingWrites::exited(uint32_t tgid) {
  std::vector<PendingWrite> out;
  for (WriteKind k : {WriteKind::kVerdict, WriteKind::kAssignment}) {
    auto it = pending_.find({k, tgid});
    if (it == pending_.end()) continue;
    out.push_back(std::move(it->second));
    pending_.erase(it);
  }
  counters_.abandoned += out.size();
  return out;
}

std::optional<uint64_t> PendingWrites::next_due_ns() const {
  std::optional<uint64_t> best;
  for (const auto& [key, w] : pending_)
    if (!best || w.next_ns < *best) best = w.next_ns;
  return best;
}

std::optional<uint64_t> PendingWrites::oldest_ns() const {
  std::optional<uint64_t> best;
  for (const auto& [key, w] : pending_)
    if (!best || w.first_ns < *best) best = w.first_ns;
  return best;
}

bool PendingWrites::any_for(const std::string& why) const {
  return std::any_of(pending_.begin(), pending_.end(), [&](const auto& kv) { return kv.second.why == why; });
}

const PendingWrite* PendingWrites::find(WriteKind kind, uint32_t tgid) const {
  auto it = pending_.find({kind, tgid});
  return it == pending_.end() ? nullptr : &it->second;
}

}  // namespace rampart::enforce
