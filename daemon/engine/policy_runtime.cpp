// The policy runtime; see policy_runtime.h.
//
// How a reload stays atomic. Kernel policy ids come in two banks: ids
// 1..kBank and kBank+1..2*kBank. The set in force lives in one bank; a
// reload:
//   1. parses and validates the new set completely: any error, and nothing
//      changes;
//   2. moves processes still left on the other bank (from two reloads ago)
//      to the set in force, then stages the new set into that bank in every
//      mechanism: the BPF policy maps (rules, allow/deny networks, exe
//      assignments), the LSM path rules, a fanotify guard beside the old
//      one. The running set's entries are untouched, and every process
//      still points at them;
//   3. swaps the userspace state (policy set, names, violations);
//   4. flips each process's assignment (proc_policy_map) from its old id to
//      the new policy's id: one map update per process, so a process is
//      under its old policy or its new one, never under none. Processes the
//      kernel forks mid-flip inherit either id and are caught by a second
//      sweep; exe assignments the new set no longer has are deleted;
//   5. commits every mechanism: the old fanotify guard stops, unless a
//      process could not be moved (then it guards that process until its
//      retried write lands). The old bank's rules stay in the kernel until
//      the next reload overwrites them, so a straggler on an old id is
//      governed by the old policy, never by nothing.
// A failure in 2 aborts every staged mechanism: the set in force stays.
#include "engine/policy_runtime.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>

#include "engine/act.h"
#include "engine/learner.h"
#include "ops/log.h"
#include "util/clock.h"
#include "util/number.h"

namespace rampart::engine {
namespace {

// The compiler's MapWriter with every policy id moved into one bank.
class BankWriter : public enforce::MapWriter {
 public:
  BankWriter(enforce::MapWriter& maps, uint32_t base) : maps_(maps), base_(base) {}
  Result<void> set_policy_rule(uint32_t id, const rp_policy_rule& rule) override {
    if (auto r = check(id); !r) return r;
    return maps_.set_policy_rule(base_ + id, rule);
  }
  Result<void> add_net4(enforce::NetList list, uint32_t id, const uint8_t (&addr)[4], uint8_t prefix_len,
                        const rp_port_set& ports) override {
    if (auto r = check(id); !r) return r;
    return maps_.add_net4(list, base_ + id, addr, prefix_len, ports);
  }
  Result<void> add_net6(enforce::NetList list, uint32_t id, const uint8_t (&addr)[16], uint8_t prefix_len,
                        const rp_port_set& ports) override {
    if (auto r = check(id); !r) return r;
    return maps_.add_net6(list, base_ + id, addr, prefix_len, ports);
  }
  Result<void> assign_exe(const rp_exe_key& exe, uint32_t id) override {
    if (auto r = check(id); !r) return r;
    return maps_.assign_exe(exe, base_ + id);
  }
  Result<void> assign_process(uint32_t tgid, uint32_t id) override {
    return maps_.assign_process(tgid, id ? base_ + id : 0);
  }
  Result<void> assign_cgroup(uint64_t cgroup_id, uint32_t id) override {
    return maps_.assign_cgroup(cgroup_id, id ? base_ + id : 0);
  }
  Result<void> set_verdict(uint32_t tgid, const rp_verdict& v) override { return maps_.set_verdict(tgid, v); }

 private:
  Result<void> check(uint32_t id) const {
    if (id == 0 || id > kBank)
      return fail("too many policies: at most " + std::to_string(kBank) + " (policy id " + std::to_string(id) + ")");
    return {};
  }
  enforce::MapWriter& maps_;
  uint32_t base_;
};

// name → the policy document as parsed, for telling what a reload changed.
std::map<std::string, std::string> fingerprints_of(const policy::PolicySet& set) {
  std::map<std::string, std::string> out;
  for (const auto& p : set.policies()) out[p.name] = p.fingerprint;
  return out;
}

std::vector<uint32_t> live_pids() {
  std::vector<uint32_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (auto pid = parse_number<uint32_t>(e->d_name, 1, UINT32_MAX)) out.push_back(*pid);
  }
  closedir(d);
  return out;
}

std::vector<enforce::GuardRule> guard_rules_for(const policy::PolicySet& set, uint32_t base) {
  std::vector<enforce::GuardRule> rules(base);  // indexed by kernel id - 1: this bank's ids start past the base
  for (const auto& p : set.policies()) rules.push_back(enforce::guard_rule(p));
  return rules;
}

}  // namespace

// The BPF policy maps as a mechanism: a bank of policy ids.
class MapBank final : public Mechanism {
 public:
  explicit MapBank(PolicyRuntime& rt) : rt_(rt) {}
  const char* name() const override { return "policy maps"; }

  Result<void> stage(Candidate& next) override {
    base_ = next.base;
    if (auto r = rt_.kernel_.clear_policy_ids(base_ + 1, base_ + kBank, false); !r)
      return fail("clearing policy bank: " + r.error().what());
    staged_ = true;
    auto compiled = install(next.set, base_);
    if (!compiled) return fail("installing policies: " + compiled.error().what());
    next.compiled = std::move(*compiled);
    return {};
  }
  void commit(bool) override { staged_ = false; }
  void abort() override {
    if (!staged_) return;
    staged_ = false;
    // A process that exec'd a selected file meanwhile got an id of the
    // attempt: back to the set in force, before and after the attempt's
    // entries go (an exec in between may pick one up).
    const std::vector<std::string> attempt_names = rt_.kernel_names_;
    auto move_back = [&] {
      for (const auto& [tgid, id] : rt_.kernel_.process_policies())
        if (id > base_ && id <= base_ + kBank)
          (void)rt_.act_->write_assignment(
              tgid, rt_.remap(rt_.set_, rt_.compiled_, tgid, id <= attempt_names.size() ? attempt_names[id - 1] : ""),
              "reload rollback");
    };
    move_back();
    if (auto r = rt_.kernel_.clear_policy_ids(base_ + 1, base_ + kBank, false); !r)
      ops::log_line("error: rolling back a failed reload: " + r.error().what());
    for (uint32_t i = 0; i < kBank; ++i) rt_.kernel_names_[base_ + i].clear();
    // Restores exe assignments the attempt overwrote.
    if (auto r = install(rt_.set_, rt_.base_); !r)
      ops::log_line("error: rolling back a failed reload: restoring the policies in force: " + r.error().what());
    move_back();
  }

 private:
  Result<enforce::Compiled> install(const policy::PolicySet& set, uint32_t base) {
    BankWriter writer(rt_.kernel_.maps(), base);
    auto compiled = enforce::install(set, writer, enforce::stat_exe, rt_.path_rules_);
    if (!compiled) return compiled;
    auto& names = rt_.kernel_names_;
    if (names.size() < 2 * kBank) names.resize(2 * kBank);
    for (uint32_t i = 0; i < kBank; ++i) names[base + i].clear();
    for (size_t i = 0; i < compiled->names.size(); ++i) names[base + i] = compiled->names[i];
    return compiled;
  }

  PolicyRuntime& rt_;
  uint32_t base_ = 0;
  bool staged_ = false;
};

PolicyRuntime::PolicyRuntime(Kernel& kernel) : kernel_(kernel), map_bank_(std::make_unique<MapBank>(*this)) {
  mechanisms_.push_back(map_bank_.get());
  kernel_names_.resize(2 * kBank);
}

PolicyRuntime::~PolicyRuntime() = default;

const policy::Policy& PolicyRuntime::by_id(uint32_t id) const {
  const auto& all = set_.policies();
  id -= std::min(id, base_);  // kernel ids are offset by the bank in use
  return id >= 1 && id <= all.size() ? all[id - 1] : set_.fallback();
}

const policy::Policy& PolicyRuntime::select(const pipeline::ProcessInfo& info) const {
  return set_.select({info.exe, info.cgroup_path, info.container.id, info.container.pod_uid, info.uid});
}

const policy::Policy& PolicyRuntime::governing(const sources::EventView& ev,
                                               const pipeline::ProcessTable& table) const {
  const rp_proc& p = ev.proc();
  // An open says which policy its opener had.
  if (ev.type() == RP_EV_OPEN && ev.as<rp_file_event>().policy_id) return by_id(ev.as<rp_file_event>().policy_id);
  const policy::Policy& pol = governing(p.tgid);
  if (!pol.builtin || ev.type() != RP_EV_EXEC) return pol;
  // A process that exited before its exec was read has left the kernel's
  // map: it was under its own policy if one selects it, else its parent's.
  const auto* info = table.find(p.tgid);
  if (!info) return pol;
  const policy::Policy& own = select(*info);
  return own.builtin ? governing(p.ppid) : own;
}

uint32_t PolicyRuntime::kernel_id(const std::string& name) const {
  uint32_t id = compiled_.id_of(name);
  return id ? base_ + id : 0;
}

rp_enforce_event PolicyRuntime::rebased(const rp_enforce_event& e) const {
  rp_enforce_event r = e;
  bool current = e.policy_id > base_ && e.policy_id <= base_ + compiled_.names.size();
  r.policy_id = current ? e.policy_id - base_ : 0;  // an old bank's straggler costs nothing
  return r;
}

void PolicyRuntime::connect(Act& act, const pipeline::ProcessTable& table, Learner& learner) {
  act_ = &act;
  table_ = &table;
  learner_ = &learner;
}

void PolicyRuntime::adopt_pinned_state() {
  bool in_low = false;
  for (const auto& [tgid, id] : kernel_.process_policies()) in_low = in_low || (id >= 1 && id <= kBank);
  base_ = in_low ? kBank : 0;
}

void PolicyRuntime::drop_stale_assignments() {
  const uint32_t other = base_ == 0 ? kBank : 0;
  if (auto r = kernel_.clear_policy_ids(other + 1, other + kBank, /*exe_only=*/true); !r)
    ops::log_line("warning: dropping the previous rampartd's executable assignments: " + r.error().what());
}

void PolicyRuntime::set_initial(policy::PolicySet set, std::map<std::string, std::string> files, std::string source) {
  set_ = std::move(set);
  if (learner_) learner_->set_sources(learner_->overlay(set_));
  violations_ = score::Violations(set_);
  files_ = std::move(files);
  source_ = std::move(source);
  fingerprints_ = fingerprints_of(set_);
  if (learner_)
    for (const auto& [name, src] : learner_->sources()) fingerprints_[name] = src.fingerprint;
}

Result<void> PolicyRuntime::stage_all(Candidate& next, size_t& staged) {
  for (staged = 0; staged < mechanisms_.size(); ++staged)
    if (auto r = mechanisms_[staged]->stage(next); !r) {
      ++staged;  // a failed stage may have half-done its part: abort it too
      return r;
    }
  return {};
}

void PolicyRuntime::abort_staged(size_t staged) {
  while (staged) mechanisms_[--staged]->abort();
}

void PolicyRuntime::swap_in(Candidate& next, policy::PolicySet set) {
  set_ = std::move(set);
  compiled_ = std::move(next.compiled);
  base_ = next.base;
  guard_rules_ = std::move(next.guard_rules);
  // With BPF LSM, file_open decides every open in the kernel: nothing is
  // left to check after the fact.
  any_file_rules_ = !path_rules_ && std::any_of(guard_rules_.begin(), guard_rules_.end(),
                                                [](const enforce::GuardRule& r) { return r.has_file_rules(); });
  violations_ = score::Violations(set_);
}

Result<void> PolicyRuntime::install_initial() {
  Candidate c{set_, base_, {}, guard_rules_for(set_, base_), {}};
  size_t staged = 0;
  if (auto r = stage_all(c, staged); !r) {
    abort_staged(staged);
    return r;
  }
  policy::PolicySet set = std::move(set_);
  swap_in(c, std::move(set));
  for (auto* m : mechanisms_) m->commit(false);
  for (const auto& note : compiled_.notes) ops::log_line("note: " + note);
  for (const auto& note : c.notes) ops::log_line("note: " + note);
  return {};
}

std::string PolicyRuntime::remap(const policy::PolicySet& set, const enforce::Compiled& compiled, uint32_t tgid,
                                 const std::string& old_name) const {
  if (const auto* info = table_->find(tgid)) {
    const policy::Policy& p =
        set.select({info->exe, info->cgroup_path, info->container.id, info->container.pod_uid, info->uid});
    if (!p.builtin) return p.name;
  }
  return compiled.id_of(old_name) ? old_name : std::string();
}

void PolicyRuntime::after_write_retries() {
  if (!act_->pending().any_for("reload"))
    for (auto* m : mechanisms_) m->stragglers_gone();
}

std::string ReloadResult::errors_text() const {
  std::string out;
  for (const auto& d : errors) out += (out.empty() ? "" : "\n") + d.str();
  return out;
}

ReloadResult PolicyRuntime::reload(const std::string& dir, const std::string& text, const std::string& source,
                                   bool keep_deleted) {
  const uint64_t t0 = boot_now_ns();
  ReloadResult out;
  out.generation = generation_;
  auto done = [&](std::string error, bool kernel) {
    if (!error.empty()) out.errors.push_back({{}, std::move(error), {}});
    out.kernel_refused = kernel;
    out.duration_ns = boot_now_ns() - t0;
    return out;
  };

  // 1. Parse and validate, completely, before anything changes.
  std::map<std::string, std::string> files;  // path → text, of a directory load
  Result<policy::PolicySet> loaded = text.empty() ? policy::PolicySet::load_dir(dir, &files, {}, &out.errors)
                                                  : policy::PolicySet::load_text(text, source, &out.errors);
  // A file of the set in force that is gone from the directory: its
  // policies stay (a deleted file must not switch enforcement off), with an
  // alert, until an explicit reload (API, SIGHUP) confirms the removal.
  std::map<std::string, std::string> kept;
  if (loaded && text.empty() && keep_deleted && dir == source_) {
    for (const auto& [path, old_text] : files_) {
      struct stat st {};
      if (!files.count(path) && lstat(path.c_str(), &st) != 0 && errno == ENOENT) kept.emplace(path, old_text);
    }
    if (!kept.empty()) {
      std::map<std::string, std::string> with_kept;
      if (auto combined = policy::PolicySet::load_dir(dir, &with_kept, kept, &out.errors)) {
        loaded = std::move(combined);
        files = std::move(with_kept);
      } else {
        // Its policies are defined again elsewhere (a file renamed or split): nothing to keep.
        ops::log_line("policy files deleted, and their policies defined again in " + dir + ": nothing kept (" +
                      combined.error().what().substr(0, combined.error().what().find('\n')) + ")");
        kept.clear();
        out.errors.clear();
      }
    }
  }
  if (!loaded) {
    // A directory that cannot be listed has no place: its error is the message.
    return done(out.errors.empty() ? loaded.error().what() : std::string(), false);
  }
  policy::PolicySet next = std::move(*loaded);
  auto learn_sources = learner_->overlay(next);  // learned profiles in their policies' places
  if (next.policies().size() > kBank)
    return done(
        "too many policies: " + std::to_string(next.policies().size()) + " (at most " + std::to_string(kBank) + ")",
        false);
  const uint32_t old_base = base_;
  const uint32_t new_base = old_base == 0 ? kBank : 0;
  auto name_of = [&](uint32_t id) { return kernel_names_.size() >= id ? kernel_names_[id - 1] : std::string(); };

  // 2. Stragglers still in the bank we are about to reuse go to the set in
  //    force. One that cannot be moved stops the reload: emptying the bank
  //    under it would leave it with no policy at all.
  for (const auto& [tgid, id] : kernel_.process_policies()) {
    if (id <= new_base || id > new_base + kBank) continue;
    if (auto r = act_->write_assignment(tgid, remap(set_, compiled_, tgid, name_of(id)), "reload"); !r)
      return done("moving pid " + std::to_string(tgid) + " off the policy bank to reuse: " + r.error().what() +
                      "; nothing changed",
                  true);
  }
  for (auto* m : mechanisms_) m->stragglers_gone();  // no process is left on the bank they kept
  Candidate c{next, new_base, {}, guard_rules_for(next, new_base), {}};
  size_t staged = 0;
  if (auto r = stage_all(c, staged); !r) {
    abort_staged(staged);
    return done(r.error().what() + "; the policies in force are unchanged", true);
  }

  // 3. Userspace state.
  policy::PolicySet old_set = std::move(set_);
  swap_in(c, std::move(next));
  learner_->set_sources(std::move(learn_sources));

  // 4. The flip: every process on an old id moves to its new policy's id. A
  //    refused write leaves that process on its old id, whose rules stay in
  //    the kernel, and is retried until it lands.
  auto in_old = [&](uint32_t id) { return id > old_base && id <= old_base + kBank; };
  for (int pass = 0; pass < 3; ++pass) {
    size_t moved = 0;
    for (const auto& [tgid, id] : kernel_.process_policies()) {
      if (!in_old(id) || act_->pending().find(enforce::WriteKind::kAssignment, tgid)) continue;
      (void)act_->write_assignment(tgid, remap(set_, compiled_, tgid, name_of(id)), "reload");
      ++moved;
    }
    if (pass == 0) {
      // Exe assignments the new set did not overwrite belong to the old one.
      (void)kernel_.clear_policy_ids(old_base + 1, old_base + kBank, /*exe_only=*/true);
      // Processes the new set selects that had no policy before.
      for (uint32_t tgid : live_pids())
        if (table_->find(tgid) && kernel_.policy_of(tgid) == 0) act_->assign_selected(tgid, *this);
    } else if (moved == 0) {
      break;
    }
  }
  // 5. Commit: what only the old set needed goes, unless a process could
  //    not be moved (then it stays until that process has moved).
  const bool stragglers = act_->pending().any_for("reload");
  for (auto* m : mechanisms_) m->commit(stragglers);

  // What changed.
  // Compared as parsed; a learn policy as it was written, not as its
  // profile's stage put it in place.
  auto prints = fingerprints_of(set_);
  for (const auto& [name, src] : learner_->sources()) prints[name] = src.fingerprint;
  std::set<std::string> before, after;
  for (const auto& p : old_set.policies()) before.insert(p.name);
  for (const auto& p : set_.policies()) after.insert(p.name);
  for (const auto& n : after) {
    if (!before.count(n))
      out.added.push_back(n);
    else if (fingerprints_[n] != prints[n])
      out.changed.push_back(n);
    else
      ++out.unchanged;
  }
  for (const auto& n : before)
    if (!after.count(n)) out.removed.push_back(n);
  fingerprints_ = std::move(prints);
  source_ = text.empty() ? dir : source;
  for (const auto& [path, t] : kept)
    if (!kept_files_.count(path) && kept_alert_) {
      std::vector<std::string> names;
      for (const auto& p : set_.policies())
        if (p.pos.file == path) names.push_back(p.name);
      kept_alert_(path, names);
    }
  for (const auto& path : kept_files_)
    if (!kept.count(path))
      ops::log_line("the policies of deleted file " + path + " are no longer in force (" + source + ")");
  kept_files_.clear();
  for (const auto& [path, t] : kept) {
    kept_files_.insert(path);
    out.notes.push_back("kept: " + path +
                        " was deleted; its policies stay in force until `rampartctl policy reload` or SIGHUP");
  }
  files_ = std::move(files);
  ++generation_;
  out.applied = true;
  out.generation = generation_;
  for (const auto& n : compiled_.notes) out.notes.push_back(n);
  for (const auto& n : c.notes) out.notes.push_back(n);
  out.duration_ns = boot_now_ns() - t0;
  return out;
}

}  // namespace rampart::engine
