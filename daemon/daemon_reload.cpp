// Atomic policy hot reload, triggered by the API, by SIGHUP and by changes
// in the policy directory (inotify, debounced).
//
// How a reload stays atomic. Kernel policy ids come in two banks: ids
// 1..kBank and kBank+1..2*kBank. The set in force lives in one bank; a
// reload:
//   1. parses and validates the new set completely: any error, and nothing
//      changes;
//   2. empties the other bank (left over from two reloads ago) and compiles
//      the new set into it: rules, allow/deny networks, exe assignments. The
//      running set's maps are untouched, and every process still points at
//      them;
//   3. swaps the userspace state (policy set, names, violations) and starts a
//      fanotify guard for the new bank; the old guard keeps answering for
//      processes still on old ids;
//   4. flips each process's assignment (proc_policy_map) from its old id to
//      the new policy's id: one map update per process, so a process is
//      under its old policy or its new one, never under none. Processes the
//      kernel forks mid-flip inherit either id and are caught by a second
//      sweep; exe assignments the new set no longer has are deleted;
//   5. stops the old fanotify guard. The old bank's rules stay in the kernel
//      until the next reload overwrites them, so a straggler still on an old
//      id is governed by the old policy, never by nothing.
// A failure in 2 or 3 (a map full, fanotify refusing a mark) rolls back to
// the set in force. Everything runs on the pipeline's loop thread.
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <dirent.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "api/server.h"
#include "daemon.h"
#include "outputs/json_writer.h"
#include "util/clock.h"

namespace rampart {
namespace {

constexpr uint32_t kBank = (RP_MAX_POLICIES - 1) / 2;  // policies per bank

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

// name → the policy document's YAML, for telling what a reload changed.
std::map<std::string, std::string> fingerprints_of_text(const std::string& text) {
  std::map<std::string, std::string> out;
  try {
    for (const auto& doc : YAML::LoadAll(text)) {
      if (!doc.IsMap() || !doc["metadata"] || !doc["metadata"]["name"]) continue;
      out[doc["metadata"]["name"].as<std::string>()] = YAML::Dump(doc);
    }
  } catch (const YAML::Exception&) {
  }
  return out;
}

std::map<std::string, std::string> fingerprints_of_files(const std::map<std::string, std::string>& texts) {
  std::map<std::string, std::string> out;
  for (const auto& [path, text] : texts) out.merge(fingerprints_of_text(text));
  return out;
}

std::vector<uint32_t> live_pids() {
  std::vector<uint32_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    unsigned long pid = std::strtoul(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0') out.push_back(static_cast<uint32_t>(pid));
  }
  closedir(d);
  return out;
}

}  // namespace

void Daemon::adopt_pinned_state() {
  if (!programs_->reused_maps()) return;
  bool in_low = false;
  for (const auto& [tgid, id] : programs_->process_policies()) in_low = in_low || (id >= 1 && id <= kBank);
  policy_base_ = in_low ? kBank : 0;
  log("took over the enforcement state a previous rampartd pinned in " + opts_.config.pin_dir + " (" +
      std::to_string(programs_->reused_maps()) + " maps, " + std::to_string(programs_->process_policies().size()) +
      " policed processes); its programs stayed attached until ours were");
}

void Daemon::drop_stale_assignments() {
  if (!programs_->reused_maps()) return;
  const uint32_t other = policy_base_ == 0 ? kBank : 0;
  if (auto r = programs_->clear_policy_ids(other + 1, other + kBank, /*exe_only=*/true); !r)
    log("warning: dropping the previous rampartd's executable assignments: " + r.error().what());
}

uint32_t Daemon::policy_kernel_id(const std::string& name) const {
  uint32_t id = compiled_.id_of(name);
  return id ? policy_base_ + id : 0;
}

rp_enforce_event Daemon::rebased(const rp_enforce_event& e) const {
  rp_enforce_event r = e;
  bool current = e.policy_id > policy_base_ && e.policy_id <= policy_base_ + compiled_.names.size();
  r.policy_id = current ? e.policy_id - policy_base_ : 0;  // an old bank's straggler costs nothing
  return r;
}

Result<enforce::Compiled> Daemon::install_bank(const policy::PolicySet& set, uint32_t base) {
  BankWriter writer(*programs_, base);
  auto compiled = enforce::install(set, writer, enforce::stat_exe, lsm_ != nullptr);
  if (!compiled) return compiled;
  // BPF LSM path rules, keyed by kernel id: the bank's old rules go first.
  if (lsm_) {
    if (auto r = lsm_->remove_path_rules(base + 1, base + kBank); !r)
      return fail("clearing path rules: " + r.error().what());
    for (const auto& [id, entries] : compiled->paths)
      if (auto r = lsm_->add_path_rules(base + id, entries); !r) return fail("installing path rules: " + r.error().what());
  }
  if (kernel_names_.size() < 2 * kBank) kernel_names_.resize(2 * kBank);
  for (uint32_t i = 0; i < kBank; ++i) kernel_names_[base + i].clear();
  for (size_t i = 0; i < compiled->names.size(); ++i) kernel_names_[base + i] = compiled->names[i];
  return compiled;
}

v1::ReloadPoliciesResponse Daemon::reload(const std::string& dir, const std::string& text, const std::string& source,
                                          bool keep_deleted) {
  const uint64_t t0 = boot_now_ns();
  v1::ReloadPoliciesResponse out;
  out.set_generation(policy_generation_);

  // 1. Parse and validate, completely, before anything changes.
  std::map<std::string, std::string> files;  // path → text, of a directory load
  Result<policy::PolicySet> loaded = text.empty() ? policy::PolicySet::load_dir(dir, &files)
                                                  : policy::PolicySet::load_text(text, source);
  // A file of the set in force that is gone from the directory: its
  // policies stay (a deleted file must not switch enforcement off), with an
  // alert, until an explicit reload (API, SIGHUP) confirms the removal.
  std::map<std::string, std::string> kept;
  if (loaded && text.empty() && keep_deleted && dir == policy_source_) {
    for (const auto& [path, old_text] : policy_files_) {
      struct stat st {};
      if (!files.count(path) && lstat(path.c_str(), &st) != 0 && errno == ENOENT) kept.emplace(path, old_text);
    }
    if (!kept.empty()) {
      std::map<std::string, std::string> with_kept;
      if (auto combined = policy::PolicySet::load_dir(dir, &with_kept, kept)) {
        loaded = std::move(combined);
        files = std::move(with_kept);
      } else {
        // Its policies are defined again elsewhere (a file renamed or split): nothing to keep.
        log("policy files deleted, and their policies defined again in " + dir + ": nothing kept (" +
            combined.error().what().substr(0, combined.error().what().find('\n')) + ")");
        kept.clear();
      }
    }
  }
  if (!loaded) {
    api::parse_policy_errors(loaded.error().what(), out.mutable_errors());
    out.set_duration_ns(boot_now_ns() - t0);
    return out;
  }
  policy::PolicySet next = std::move(*loaded);
  auto learn_sources = overlay_profiles(next);  // learned profiles in their policies' places (daemon_learn.cpp)
  if (next.policies().size() > kBank) {
    auto* e = out.add_errors();
    e->set_message("too many policies: " + std::to_string(next.policies().size()) + " (at most " +
                   std::to_string(kBank) + ")");
    return out;
  }
  const uint32_t old_base = policy_base_;
  const uint32_t new_base = old_base == 0 ? kBank : 0;
  // The policy a process goes to under `set` (policies_, whose ids
  // policy_kernel_id gives): the one that selects it, else the one it had
  // by name (inherited from a selected parent), else none ("").
  auto remap = [&](const policy::PolicySet& set, const enforce::Compiled& compiled, uint32_t tgid,
                   const std::string& old_name) -> std::string {
    if (const auto* info = table_.find(tgid)) {
      policy::Subject s{info->exe, info->cgroup_path, info->container.id, info->container.pod_uid, info->uid};
      const policy::Policy& p = set.select(s);
      if (!p.builtin) return p.name;
    }
    return compiled.id_of(old_name) ? old_name : std::string();
  };
  auto name_of = [&](uint32_t id) { return kernel_names_.size() >= id ? kernel_names_[id - 1] : std::string(); };
  // A refused kernel write leaves the set in force as it was; a reload of
  // the policy directory is then tried again later (schedule_reload_retry).
  auto kernel_failure = [&](const std::string& what) {
    api::parse_policy_errors(what, out.mutable_errors());
    out.set_kernel_refused(true);
    if (text.empty() && dir == opts_.config.policy_dir) out.set_retry_in_ms(schedule_reload_retry());
    out.set_duration_ns(boot_now_ns() - t0);
    return out;
  };

  // 2. Stragglers still in the bank we are about to reuse go to the set in
  //    force; then the bank is emptied and the new set compiled into it. One
  //    that cannot be moved stops the reload: emptying the bank under it
  //    would leave it with no policy at all.
  for (const auto& [tgid, id] : programs_->process_policies()) {
    if (id <= new_base || id > new_base + kBank) continue;
    if (auto r = write_assignment(tgid, remap(policies_, compiled_, tgid, name_of(id)), "reload"); !r)
      return kernel_failure("moving pid " + std::to_string(tgid) + " off the policy bank to reuse: " +
                            r.error().what() + "; nothing changed");
  }
  straggler_guard_.reset();  // no process is left on the bank it guarded
  auto rollback_bank = [&] {
    // A process that exec'd a selected file meanwhile got an id of the
    // attempt: back to the set in force, before and after the attempt's
    // entries go (an exec in between may pick one up).
    const std::vector<std::string> attempt_names = kernel_names_;
    auto move_back = [&] {
      for (const auto& [tgid, id] : programs_->process_policies())
        if (id > new_base && id <= new_base + kBank)
          (void)write_assignment(tgid,
                                 remap(policies_, compiled_, tgid, id <= attempt_names.size() ? attempt_names[id - 1] : ""),
                                 "reload rollback");
    };
    move_back();
    if (auto r = programs_->clear_policy_ids(new_base + 1, new_base + kBank); !r)
      log("error: rolling back a failed reload: " + r.error().what());
    for (uint32_t i = 0; i < kBank; ++i) kernel_names_[new_base + i].clear();
    // Restores exe assignments the attempt overwrote.
    if (auto r = install_bank(policies_, old_base); !r)
      log("error: rolling back a failed reload: restoring the policies in force: " + r.error().what());
    move_back();
  };
  if (auto r = programs_->clear_policy_ids(new_base + 1, new_base + kBank); !r)
    return kernel_failure("clearing policy bank: " + r.error().what() + "; nothing changed");
  auto compiled = install_bank(next, new_base);
  if (!compiled) {
    rollback_bank();
    return kernel_failure("installing policies: " + compiled.error().what() + "; the policies in force are unchanged");
  }

  // 3. Userspace state, and a fanotify guard for the new bank beside the old one.
  policy::PolicySet old_set = std::move(policies_);
  enforce::Compiled old_compiled = std::move(compiled_);
  auto old_guard = std::move(perm_guard_);
  auto old_guard_rules = guard_rules_;
  policies_ = std::move(next);
  compiled_ = std::move(*compiled);
  policy_base_ = new_base;
  violations_ = score::Violations(policies_);
  auto old_learn_sources = std::exchange(learn_sources_, std::move(learn_sources));
  if (auto r = start_perm_guard(); !r) {
    learn_sources_ = std::move(old_learn_sources);
    perm_guard_.reset();
    policies_ = std::move(old_set);
    compiled_ = std::move(old_compiled);
    policy_base_ = old_base;
    violations_ = score::Violations(policies_);
    perm_guard_ = std::move(old_guard);
    guard_rules_ = std::move(old_guard_rules);
    rollback_bank();
    return kernel_failure(r.error().what() + "; the policies in force are unchanged");
  }

  // 4. The flip: every process on an old id moves to its new policy's id. A
  //    refused write leaves that process on its old id, whose rules stay in
  //    the kernel, and is retried until it lands (daemon_kernel_writes.cpp).
  auto in_old = [&](uint32_t id) { return id > old_base && id <= old_base + kBank; };
  for (int pass = 0; pass < 3; ++pass) {
    size_t moved = 0;
    for (const auto& [tgid, id] : programs_->process_policies()) {
      if (!in_old(id) || pending_writes_.find(enforce::WriteKind::kAssignment, tgid)) continue;
      (void)write_assignment(tgid, remap(policies_, compiled_, tgid, name_of(id)), "reload");
      ++moved;
    }
    if (pass == 0) {
      // Exe assignments the new set did not overwrite belong to the old one.
      (void)programs_->clear_policy_ids(old_base + 1, old_base + kBank, /*exe_only=*/true);
      // Processes the new set selects that had no policy before.
      for (uint32_t tgid : live_pids())
        if (table_.find(tgid) && programs_->policy_of(tgid) == 0) apply_policy(tgid);
    } else if (moved == 0) {
      break;
    }
  }
  // 5. Nothing depends on the old guard any more, unless a process could
  //    not be moved: then it guards that process until it has moved.
  if (pending_writes_.any_for("reload")) straggler_guard_ = std::move(old_guard);
  old_guard.reset();
  reload_backoff_ms_ = 0;
  if (reload_retry_) reload_retry_->cancel();

  // What changed.
  auto prints = text.empty() ? fingerprints_of_files(files) : fingerprints_of_text(text);
  std::set<std::string> before, after;
  for (const auto& p : old_set.policies()) before.insert(p.name);
  for (const auto& p : policies_.policies()) after.insert(p.name);
  uint32_t unchanged = 0;
  for (const auto& n : after) {
    if (!before.count(n)) out.add_added(n);
    else if (fingerprints_[n] != prints[n]) out.add_changed(n);
    else ++unchanged;
  }
  for (const auto& n : before)
    if (!after.count(n)) out.add_removed(n);
  fingerprints_ = std::move(prints);
  policy_source_ = text.empty() ? dir : source;
  for (const auto& [path, t] : kept)
    if (!kept_files_.count(path)) alert_kept(path);
  for (const auto& path : kept_files_)
    if (!kept.count(path)) log("the policies of deleted file " + path + " are no longer in force (" + source + ")");
  kept_files_.clear();
  for (const auto& [path, t] : kept) {
    kept_files_.insert(path);
    out.add_notes("kept: " + path + " was deleted; its policies stay in force until `rampartctl policy reload` or "
                  "SIGHUP");
  }
  policy_files_ = std::move(files);
  ++policy_generation_;
  out.set_applied(true);
  out.set_generation(policy_generation_);
  out.set_unchanged(unchanged);
  for (const auto& n : compiled_.notes) out.add_notes(n);
  out.set_duration_ns(boot_now_ns() - t0);
  return out;
}

grpc::Status Daemon::reload_policies(const v1::ReloadPoliciesRequest& req, const api::Peer& peer,
                                     v1::ReloadPoliciesResponse* out) {
  return reload_and_audit(req, peer, out, /*keep_deleted=*/false);  // an explicit reload applies deletions
}

grpc::Status Daemon::reload_and_audit(const v1::ReloadPoliciesRequest& req, const api::Peer& peer,
                                      v1::ReloadPoliciesResponse* out, bool keep_deleted) {
  std::string dir = req.dir().empty() ? opts_.config.policy_dir : req.dir();
  std::string source = req.source().empty() ? "<request>" : req.source();
  if (req.text().empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "policy directory " + dir + " does not exist");
  }
  *out = reload(dir, req.text(), source, keep_deleted);
  ++(out->applied() ? reloads_ok_ : reloads_failed_);  // metrics (daemon_ops.cpp)
  std::string what = req.text().empty() ? dir : source;
  if (out->applied())
    audit("policy_reload", 0, peer, "applied",
          what + ": generation " + std::to_string(out->generation()) + ", " + std::to_string(out->added_size()) +
              " added, " + std::to_string(out->removed_size()) + " removed, " + std::to_string(out->changed_size()) +
              " changed");
  else
    audit("policy_reload", 0, peer, "rejected",
          what + ": " + std::to_string(out->errors_size()) + " errors, first: " +
              (out->errors_size() ? out->errors(0).file() + ":" + std::to_string(out->errors(0).line()) + ":" +
                                        std::to_string(out->errors(0).column()) + ": " + out->errors(0).message()
                                  : std::string()));
  return grpc::Status::OK;
}

void Daemon::reload_from_trigger(const std::string& why) {
  api::Peer peer;
  peer.transport = why;
  std::error_code ec;
  if (!std::filesystem::is_directory(opts_.config.policy_dir, ec)) {
    log(why + ": policy directory " + opts_.config.policy_dir + " does not exist; nothing reloaded");
    return;
  }
  v1::ReloadPoliciesRequest req;
  v1::ReloadPoliciesResponse resp;
  // SIGHUP is the operator's word, like the API; inotify and retries keep
  // the policies of deleted files.
  (void)reload_and_audit(req, peer, &resp, /*keep_deleted=*/why != "SIGHUP");
  for (const auto& e : resp.errors())
    log("  " + (e.line() ? e.file() + ":" + std::to_string(e.line()) + ":" + std::to_string(e.column()) + ": " : "") +
        e.message());
}

void Daemon::alert_kept(const std::string& path) {
  std::vector<std::string> names;
  for (const auto& p : policies_.policies())
    if (p.pos.file == path) names.push_back(p.name);
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  const uint64_t now = boot_now_ns();
  std::string& out = sink_->buffer();
  outputs::JsonWriter w(out);
  begin_record(w, now, "policy_alert");
  w.field("reason", "file_deleted").field("file", path);
  w.key("policies").begin_array();
  for (const auto& n : names) w.value(n);
  w.end_array();
  w.field("action", "kept");
  w.end_object();
  out.push_back('\n');
  sink_->flush();
  log("ALERT: policy file " + path + " was deleted; its policies (" + list +
      ") stay in force. To remove them: `rampartctl policy reload` or SIGHUP");
}

uint32_t Daemon::schedule_reload_retry() {
  reload_backoff_ms_ = std::clamp<uint32_t>(reload_backoff_ms_ * 2, 1000, 60000);
  if (!reload_retry_) reload_retry_ = std::make_unique<boost::asio::steady_timer>(io_);
  reload_retry_->expires_after(std::chrono::milliseconds(reload_backoff_ms_));
  reload_retry_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    ++reload_retries_;
    reload_from_trigger("retry");
  });
  log("the kernel refused a policy write; the policies in force are unchanged; the reload of " +
      opts_.config.policy_dir + " is retried in " + std::to_string(reload_backoff_ms_) + " ms");
  return reload_backoff_ms_;
}

void Daemon::start_reload_triggers() {
  if (policy_source_.empty()) {
    policy_source_ = opts_.config.policy_dir;
    fingerprints_ = fingerprints_of_files(policy_files_);
  }
  hup_ = std::make_unique<boost::asio::signal_set>(io_, SIGHUP);
  struct Hup {
    Daemon* d;
    void operator()(const boost::system::error_code& ec, int) const {
      if (ec) return;
      d->reload_from_trigger("SIGHUP");
      d->hup_->async_wait(*this);
    }
  };
  hup_->async_wait(Hup{this});

  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) {
    log("warning: inotify_init1: " + std::string(std::strerror(errno)) + "; policy directory changes are not watched");
    return;
  }
  constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE;
  if (inotify_add_watch(inotify_fd_, opts_.config.policy_dir.c_str(), kMask) < 0) {
    close(inotify_fd_);
    inotify_fd_ = -1;
    if (errno != ENOENT)
      log("warning: cannot watch " + opts_.config.policy_dir + ": " + std::strerror(errno));
    return;
  }
  inotify_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, inotify_fd_);
  debounce_ = std::make_unique<boost::asio::steady_timer>(io_);
  arm_inotify();
}

void Daemon::arm_inotify() {
  inotify_->async_read_some(boost::asio::buffer(inotify_buf_), [this](const boost::system::error_code& ec, size_t) {
    if (ec) return;
    // Editors write a file in several steps: reload once things settle.
    debounce_->expires_after(std::chrono::milliseconds(300));
    debounce_->async_wait([this](const boost::system::error_code& e) {
      if (!e) reload_from_trigger("inotify");
    });
    arm_inotify();
  });
}

}  // namespace rampart
