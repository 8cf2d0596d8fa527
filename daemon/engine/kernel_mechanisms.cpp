// LSM path rules and fanotify guards as policy mechanisms; see kernel_mechanisms.h.
#include "engine/kernel_mechanisms.h"

#include <bpf/bpf.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "engine/fault_injection.h"
#include "engine/policy_runtime.h"
#include "ops/log.h"
#include "policy/patterns.h"

namespace rampart::engine {

namespace {

// A file's identity as the kernel's inode_rules_map keys it.
std::vector<bpf::LsmPrograms::InodeRule> inode_rules(const enforce::DeniedObjects& denied, uint32_t as_flags = 0) {
  std::vector<bpf::LsmPrograms::InodeRule> out;
  for (const auto& [id, flags] : denied.entries()) {
    const dev_t dev = static_cast<dev_t>(id.dev);
    out.push_back({id.ino, (major(dev) << 20) | minor(dev), as_flags ? as_flags : flags});
  }
  return out;
}

}  // namespace

Result<void> install_sensitive_inodes(bpf::LsmPrograms& lsm, const std::vector<policy::PathPattern>& sensitive) {
  enforce::GuardRule rule;
  for (const auto& p : sensitive)
    if (p.kind == policy::PathPattern::Kind::kExact) rule.read_deny.push_back(p);
  std::vector<std::string> files, notes;
  return lsm.add_inode_rules(0, inode_rules(enforce::denied_objects(rule, files, notes), RP_PR_SENSITIVE));
}

Result<void> LsmPathRules::stage(Candidate& next) {
  base_ = next.base;
  staged_ = true;
  // The bank's old rules go first.
  if (auto r = lsm_.remove_path_rules(base_ + 1, base_ + kBank); !r)
    return fail("clearing path rules: " + r.error().what());
  if (auto r = lsm_.remove_inode_rules(base_ + 1, base_ + kBank); !r)
    return fail("clearing inode rules: " + r.error().what());
  for (const auto& [id, entries] : next.compiled.paths)
    if (auto r = lsm_.add_path_rules(base_ + id, entries); !r)
      return fail("installing path rules: " + r.error().what());
  // The files deny rules name, by identity: their other names are refused too.
  std::vector<std::string> files, notes;
  for (size_t i = 0; i < next.guard_rules.size(); ++i)
    if (auto r = lsm_.add_inode_rules(base_ + static_cast<uint32_t>(i) + 1,
                                      inode_rules(enforce::denied_objects(next.guard_rules[i], files, notes)));
        !r)
      return fail("installing inode rules: " + r.error().what());
  for (const auto& n : notes) ops::log_line("note: " + n);
  for (const auto& rule : next.guard_rules)
    for (const auto& h : rule.exec_deny_sha256)
      ops::log_line("note: " + h.pos.str() + ": " + h.text() +
                    " is not enforced: the BPF LSM path does not hash executables yet (the fanotify path does)");
  return {};
}

void LsmPathRules::abort() {
  if (!staged_) return;
  staged_ = false;
  if (auto r = lsm_.remove_path_rules(base_ + 1, base_ + kBank); !r)
    ops::log_line("error: rolling back a failed reload: " + r.error().what());
  if (auto r = lsm_.remove_inode_rules(base_ + 1, base_ + kBank); !r)
    ops::log_line("error: rolling back a failed reload: " + r.error().what());
}

Result<void> FanotifyGuard::stage(Candidate& next) {
  enforce::PermGuard::Setup setup;
  setup.rules = next.guard_rules;
  bool any_exec = false, any_enforce = false, any_file_allow = false;
  std::vector<policy::PathPattern> protected_paths;  // named by deny rules
  for (const auto& rule : next.guard_rules) {
    any_exec = any_exec || rule.has_exec_rules();
    any_enforce = any_enforce || rule.enforce;
    any_file_allow = any_file_allow || rule.restrict_read || rule.restrict_write;
    for (const auto* list : {&rule.read_deny, &rule.write_deny})
      protected_paths.insert(protected_paths.end(), list->begin(), list->end());
  }
  // Exec is checked on whole filesystems when a policy restricts it, or when
  // an enforce-mode verdict (deny, quarantine) may have to refuse it.
  if (any_exec || any_enforce) setup.exec_mounts = cfg_.exec_mounts;
  if (any_file_allow) setup.file_mounts = cfg_.file_mounts;
  auto add_plan = [&](const enforce::MarkPlan& plan) {
    setup.files.insert(setup.files.end(), plan.files.begin(), plan.files.end());
    setup.dirs.insert(setup.dirs.end(), plan.dirs.begin(), plan.dirs.end());
    for (const auto& n : plan.notes) ops::log_line("note: " + n);
  };
  add_plan(enforce::plan_marks(protected_paths, true));
  // The files deny rules name, by identity, each with an inode mark: an open
  // of any of their names (a hard link, a bind mount) reaches the guard.
  std::vector<std::string> notes;
  for (const auto& rule : next.guard_rules) setup.denied.push_back(enforce::denied_objects(rule, setup.files, notes));
  stage_sizes(setup.denied);
  if (any_enforce) {
    for (const auto& text : cfg_.sensitive_paths)
      if (auto pat = policy::parse_path_pattern(text)) setup.sensitive.push_back(*pat);  // checked with the config
    add_plan(enforce::plan_marks(setup.sensitive, false));
    enforce::GuardRule sensitive;
    for (const auto& p : setup.sensitive)
      if (p.kind == policy::PathPattern::Kind::kExact) sensitive.read_deny.push_back(p);
    std::vector<std::string> marked;  // marked by the plan above already
    setup.sensitive_objects = enforce::denied_objects(sensitive, marked, notes);
  }
  for (const auto& n : notes) ops::log_line("note: " + n);
  if (any_file_allow && setup.file_mounts.empty())
    ops::log_line(
        "note: a policy restricts files (allow.files) but enforcement.file_mounts is empty: its allow-list holds in "
        "the kernel on the marked paths only; elsewhere a violating open is reported and, in enforce mode, its "
        "process is killed after the fact");
  if (any_exec && setup.exec_mounts.empty())
    ops::log_line(
        "note: a policy restricts exec (allow.exec) but enforcement.exec_mounts is empty: no exec can be checked, so "
        "every exec under it is killed");
  if (setup.exec_mounts.empty() && setup.file_mounts.empty() && setup.files.empty() && setup.dirs.empty()) return {};

  setup.proc_policy_map_fd = programs_.proc_policy_map_fd();
  setup.verdict_map_fd = programs_.verdict_map_fd();
  setup.deadline_ms = cfg_.decision_deadline_ms;
  setup.open_flags_map_fd = programs_.open_flags_map_fd();
  auto delay = guard_fault_delay_ms();  // 0 unless this is the fault-injection build
  if (!delay) return tl::unexpected(delay.error());
  setup.fault_delay_ms = *delay;
  const size_t n_exec = setup.exec_mounts.size(), n_fs = setup.file_mounts.size();
  const size_t n_paths = setup.files.size() + setup.dirs.size();
  const std::vector<std::string> exec_mounts = setup.exec_mounts;
  std::string mounts;
  for (const auto& m : setup.exec_mounts) mounts += (mounts.empty() ? "" : ", ") + m;
  auto guard = enforce::PermGuard::start(std::move(setup), report_);
  if (!guard) return fail("exec/file enforcement: " + guard.error().what());
  next_ = std::move(*guard);
  // The marks are in place: execs on these filesystems are the guard's now.
  // An exec elsewhere, under a policy that restricts exec, is killed in the kernel.
  for (const auto& m : exec_mounts) {
    struct stat st {};
    if (stat(m.c_str(), &st) != 0) continue;                           // marked above: it existed a moment ago
    const uint32_t dev = (major(st.st_dev) << 20) | minor(st.st_dev);  // the kernel's s_dev
    const uint8_t one = 1;
    if (bpf_map_update_elem(programs_.exec_marked_map_fd(), &dev, &one, BPF_ANY) != 0)
      return fail_errno("recording the exec mount " + m);
    marked_devs_.insert(dev);
  }
  if (n_exec) ops::log_line("exec enforcement through fanotify permission events on the filesystems of " + mounts);
  if (n_paths || n_fs)
    ops::log_line("file protection through fanotify permission events on " + std::to_string(n_paths) +
                  " files and directories" + (n_fs ? " and " + std::to_string(n_fs) + " whole filesystems" : ""));
  return {};
}

// Where fanotify cannot see an exec (a memfd, an unmarked filesystem), the
// kernel stops one that has the size of a binary this bank's deny rules name.
void FanotifyGuard::stage_sizes(const std::vector<enforce::DeniedObjects>& denied) {
  forget(next_sizes_);
  const uint8_t one = 1;
  size_t refused = 0;
  for (size_t i = 0; i < denied.size(); ++i)
    for (uint64_t size : denied[i].binary_sizes()) {
      const rp_exec_size_key key{size, static_cast<uint32_t>(i + 1), 0};
      if (bpf_map_update_elem(programs_.exec_deny_size_map_fd(), &key, &one, BPF_ANY) == 0)
        next_sizes_.push_back(key);
      else
        ++refused;
    }
  if (refused)
    ops::log_line("note: exec_deny_size_map is full: " + std::to_string(refused) +
                  " denied binaries' sizes are not in the kernel, so a copy of one run where fanotify cannot see it "
                  "(a memfd, a filesystem not in exec_mounts) is not stopped");
}

void FanotifyGuard::forget(SizeKeys& keys) {
  for (const auto& key : keys) bpf_map_delete_elem(programs_.exec_deny_size_map_fd(), &key);
  keys.clear();
}

void FanotifyGuard::commit(bool stragglers) {
  if (!next_) forget_marked_devs();  // no policy restricts exec any more
  if (stragglers) {
    straggler_ = std::move(current_);
    forget(straggler_sizes_);
    straggler_sizes_ = std::move(sizes_);
  } else {
    forget(sizes_);
  }
  current_ = std::move(next_);
  sizes_ = std::move(next_sizes_);
  next_sizes_.clear();
}

void FanotifyGuard::abort() {
  next_.reset();
  forget(next_sizes_);
}

void FanotifyGuard::stragglers_gone() {
  straggler_.reset();
  forget(straggler_sizes_);
}

void FanotifyGuard::forget_marked_devs() {
  for (uint32_t dev : marked_devs_) bpf_map_delete_elem(programs_.exec_marked_map_fd(), &dev);
  marked_devs_.clear();
}

void FanotifyGuard::stop() {
  // Forgotten before the marks go: an exec under a restricting policy is never left unjudged.
  forget_marked_devs();
  for (auto* keys : {&sizes_, &next_sizes_, &straggler_sizes_}) forget(*keys);
  straggler_.reset();
  next_.reset();
  current_.reset();
}

}  // namespace rampart::engine
