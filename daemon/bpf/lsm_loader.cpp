// BPF LSM programs: load, share maps, attach, self-test; see lsm_loader.h.
#include "bpf/lsm_loader.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "bpf/map_sweep.h"
#include "rampart_lsm.skel.h"

namespace rampart::bpf {

namespace {

// Field 22 of /proc/PID/stat: the start time in clock ticks since boot; 0 if unreadable.
uint64_t start_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  const size_t paren = line.rfind(')');  // the name may hold spaces and parentheses
  if (paren == std::string::npos) return 0;
  std::istringstream rest(line.substr(paren + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i)
    if (!(rest >> field)) return 0;
  return std::strtoull(field.c_str(), nullptr, 10);
}

// The LSM hook a program of this object attaches to: its section "lsm/HOOK".
std::string hook_of(const bpf_program* prog) {
  const char* sec = std::strchr(bpf_program__section_name(prog), '/');
  return sec ? sec + 1 : "";
}

// A program written as fmod_ret on its security_*() function, for a hook
// whose function has other arguments than the hook (mmap_file): loaded in
// fmod_ret mode instead of the lsm/ one, and left out in BPF LSM mode.
bool native_fmod_ret(const bpf_program* prog) {
  return std::strncmp(bpf_program__section_name(prog), "fmod_ret/", 9) == 0;
}

// The security_*() function that calls LSM hook `hook`.
std::string security_function(const std::string& hook) {
  return hook == "bprm_check_security" ? "security_bprm_check" : "security_" + hook;
}

// Turns each lsm/HOOK program into an fmod_ret program on the function that
// calls HOOK (fentry for a hook without a result: nothing to refuse there).
Result<void> retarget_to_security_functions(bpf_object* obj) {
  struct bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    if (native_fmod_ret(prog)) continue;
    const std::string hook = hook_of(prog), func = security_function(hook);
    // security_mmap_file(file, prot, flags) has not the hook's arguments
    // (file, reqprot, prot, flags): its own fmod_ret program stands in.
    if (hook == "mmap_file") {
      bpf_program__set_autoload(prog, false);
      continue;
    }
    int err = bpf_program__set_type(prog, BPF_PROG_TYPE_TRACING);
    if (!err)
      err = bpf_program__set_expected_attach_type(prog, hook == "task_free" ? BPF_TRACE_FENTRY : BPF_MODIFY_RETURN);
    if (!err) err = bpf_program__set_attach_target(prog, 0, func.c_str());
    if (err) return fail("fmod_ret: retargeting " + std::string(bpf_program__name(prog)) + " to " + func, -err);
  }
  return {};
}

// Hooks a kernel may be built without (path_truncate: CONFIG_SECURITY_PATH):
// their programs are left out there, and the rest still load.
Result<void> leave_out_missing_hooks(bpf_object* obj, LsmPrograms::Hooks hooks) {
  struct btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return fail_errno("BPF LSM: reading the kernel's BTF");
  struct bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    if (native_fmod_ret(prog)) {
      if (hooks == LsmPrograms::Hooks::kLsm) bpf_program__set_autoload(prog, false);
      continue;
    }
    const std::string hook = hook_of(prog);
    if (hook != "path_truncate") continue;
    const std::string func = hooks == LsmPrograms::Hooks::kLsm ? "bpf_lsm_" + hook : security_function(hook);
    if (btf__find_by_name_kind(vmlinux, func.c_str(), BTF_KIND_FUNC) < 0) bpf_program__set_autoload(prog, false);
  }
  btf__free(vmlinux);
  return {};
}

// The cgroup `rel` (a path under the cgroup v2 mount `mount`) and every
// ancestor up to the mount, by the inode numbers of their directories (what
// the hook compares).
Result<void> protect_cgroups(int map_fd, const std::string& mount, const std::string& rel) {
  if (mount.empty() || rel.empty() || rel[0] != '/') return {};  // no cgroup v2: nothing there to write
  for (std::string dir = mount + (rel == "/" ? "" : rel);; dir = dir.substr(0, dir.rfind('/'))) {
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0) return fail_errno("self-protection: the cgroup " + dir);
    uint64_t ino = st.st_ino;
    uint8_t one = 1;
    if (bpf_map_update_elem(map_fd, &ino, &one, BPF_ANY) != 0) return fail_errno("protected_cgroups_map");
    if (dir.size() <= mount.size()) break;
  }
  return {};
}

}  // namespace

LsmPrograms::~LsmPrograms() {
  if (pins_ && owns_pins_) pins_->remove("lsm_", {"path_rules_map", "inode_rules_map"});
  for (auto* l : links_) bpf_link__destroy(l);
  if (skel_) rampart_lsm__destroy(skel_);
}

Result<std::unique_ptr<LsmPrograms>> LsmPrograms::load(Programs& base, uint32_t self_tgid, Hooks hooks) {
  std::unique_ptr<LsmPrograms> p(new LsmPrograms());
  p->hooks_ = hooks;
  p->skel_ = rampart_lsm__open();
  if (!p->skel_) return fail_errno("opening the embedded BPF LSM object");
  if (hooks == Hooks::kFmodRet) {
    if (auto r = retarget_to_security_functions(p->skel_->obj); !r) return tl::unexpected(r.error());
    p->skel_->rodata->rp_fmod_ret = 1;
  }
  if (auto r = leave_out_missing_hooks(p->skel_->obj, hooks); !r) return tl::unexpected(r.error());
  p->skel_->rodata->rp_self_tgid = self_tgid;
  p->skel_->rodata->rp_self_start = start_ticks(static_cast<pid_t>(self_tgid));
  p->skel_->rodata->rp_tick_ns = 1000000000ULL / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  // Every map the tracing object also has is the same map: its policy,
  // verdicts, ring buffer and counters.
  struct bpf_map* map;
  bpf_object__for_each_map(map, p->skel_->obj) {
    const char* name = bpf_map__name(map);
    if (std::strchr(name, '.')) continue;  // .rodata, .bss: our own
    struct bpf_map* shared = bpf_object__find_map_by_name(base.object(), name);
    if (!shared) continue;
    if (int err = bpf_map__reuse_fd(map, bpf_map__fd(shared)); err)
      return fail(std::string("BPF LSM: sharing map ") + name, -err);
  }
  p->pins_ = &base.pins();
  p->pins_->pin_maps(p->skel_->obj, {"path_rules_map", "inode_rules_map"});
  if (int err = rampart_lsm__load(p->skel_); err) return fail("BPF LSM programs do not load", -err);
  struct bpf_program* prog;
  bpf_object__for_each_program(prog, p->skel_->obj) {
    if (!bpf_program__autoload(prog)) continue;
    struct bpf_link* link = hooks == Hooks::kLsm ? bpf_program__attach_lsm(prog) : bpf_program__attach_trace(prog);
    if (!link) return fail_errno(std::string("attaching BPF LSM program ") + bpf_program__name(prog));
    p->links_.push_back(link);
    p->attached_.push_back(std::string(bpf_program__name(prog)) + " on " +
                           (native_fmod_ret(prog)  ? std::string(bpf_program__section_name(prog))
                            : hooks == Hooks::kLsm ? "lsm/" + hook_of(prog)
                                                   : "fmod_ret/" + security_function(hook_of(prog))));
  }
  if (auto r = p->self_test(); !r) return tl::unexpected(r.error());
  if (auto r = p->pins_->replace_links("lsm_", p->links_); !r) return tl::unexpected(r.error());
  p->owns_pins_ = true;
  return p;
}

Result<void> LsmPrograms::self_test() {
  int go[2];
  if (pipe2(go, O_CLOEXEC) != 0) return fail_errno("BPF LSM self-test: pipe");
  pid_t child = fork();
  if (child < 0) return fail_errno("BPF LSM self-test: fork");
  if (child == 0) {
    char b;
    close(go[1]);
    // Its refused open is traced like any other: the name says what it was.
    prctl(PR_SET_NAME, "rp-lsm-selftest");
    if (read(go[0], &b, 1) != 1) _exit(3);
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    _exit(fd < 0 && errno == EPERM ? 0 : 1);
  }
  close(go[0]);
  uint32_t tgid = static_cast<uint32_t>(child), one = 1;
  int map_fd = bpf_map__fd(skel_->maps.lsm_selftest_map);
  const bool marked = bpf_map_update_elem(map_fd, &tgid, &one, BPF_ANY) == 0;
  int err = errno;
  if (write(go[1], "g", 1) != 1) {
  }
  close(go[1]);
  int status = 0;
  waitpid(child, &status, 0);
  bpf_map_delete_elem(map_fd, &tgid);
  if (!marked) return fail("BPF LSM self-test: marking the test child", err);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return fail(
        "BPF LSM self-test: the programs are attached but an open they must refuse went through "
        "(is 'bpf' in the active LSMs, /sys/kernel/security/lsm?)");
  return {};
}

Result<void> LsmPrograms::add_path_rules(uint32_t policy_id, const std::vector<enforce::PathEntry>& entries) {
  int fd = bpf_map__fd(skel_->maps.path_rules_map);
  for (const auto& e : entries) {
    rp_path_key k = enforce::path_key(policy_id, e);
    if (bpf_map_update_elem(fd, &k, &e.flags, BPF_ANY) != 0)
      return fail_errno("path_rules_map: adding " + e.bytes + " for policy " + std::to_string(policy_id));
  }
  return {};
}

Result<void> LsmPrograms::remove_path_rules(uint32_t lo, uint32_t hi) {
  return delete_where<rp_path_key>(skel_->maps.path_rules_map, lo, hi,
                                   [](int, const rp_path_key& k) { return k.policy_id; });
}

Result<void> LsmPrograms::add_inode_rules(uint32_t policy_id, const std::vector<InodeRule>& rules) {
  int fd = bpf_map__fd(skel_->maps.inode_rules_map);
  for (const auto& r : rules) {
    rp_inode_key k{};
    k.ino = r.ino;
    k.dev = r.dev;
    k.policy_id = policy_id;
    if (bpf_map_update_elem(fd, &k, &r.flags, BPF_ANY) != 0)
      return fail_errno("inode_rules_map: adding inode " + std::to_string(r.ino) + " for policy " +
                        std::to_string(policy_id));
  }
  return {};
}

Result<void> LsmPrograms::remove_inode_rules(uint32_t lo, uint32_t hi) {
  return delete_where<rp_inode_key>(skel_->maps.inode_rules_map, lo, hi,
                                    [](int, const rp_inode_key& k) { return k.policy_id; });
}

namespace {

Result<void> protect_id(int map_fd, uint64_t kind, int obj_fd, const char* name) {
  // bpf_map_info and bpf_prog_info both start with type and id.
  struct {
    uint32_t type, id;
    char rest[248];
  } info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(obj_fd, &info, &len) != 0) return fail_errno(std::string("reading the id of ") + name);
  uint64_t key = kind << 32 | info.id;
  uint8_t one = 1;
  if (bpf_map_update_elem(map_fd, &key, &one, BPF_ANY) != 0) return fail_errno("protected_map");
  return {};
}

}  // namespace

Result<void> LsmPrograms::protect(const Programs& base, uint32_t supervisor_tgid, const std::string& cgroup2_mount,
                                  const std::string& cgroup) {
  // The start time is read while the supervisor is still our parent: then
  // it is that process's, and a later one on the same pid does not match.
  const uint64_t start = supervisor_tgid ? start_ticks(static_cast<pid_t>(supervisor_tgid)) : 0;
  const bool alive = start && static_cast<uint32_t>(getppid()) == supervisor_tgid;
  skel_->bss->rp_admin_start = alive ? start : 0;
  skel_->bss->rp_admin_tgid = alive ? supervisor_tgid : 0;
  int pm = bpf_map__fd(skel_->maps.protected_map);
  for (struct bpf_object* obj : {base.object(), skel_->obj}) {
    struct bpf_map* map;
    bpf_object__for_each_map(map, obj) {
      if (bpf_map__fd(map) < 0) continue;
      if (auto r = protect_id(pm, RP_OBJ_MAP, bpf_map__fd(map), bpf_map__name(map)); !r) return r;
    }
    struct bpf_program* prog;
    bpf_object__for_each_program(prog, obj) {
      if (bpf_program__fd(prog) < 0) continue;
      if (auto r = protect_id(pm, RP_OBJ_PROG, bpf_program__fd(prog), bpf_program__name(prog)); !r) return r;
    }
  }
  std::vector<struct bpf_link*> links = base.links();
  links.insert(links.end(), links_.begin(), links_.end());
  for (struct bpf_link* link : links)
    if (auto r = protect_id(pm, RP_OBJ_LINK, bpf_link__fd(link), "a link"); !r) return r;
  if (auto r = protect_cgroups(bpf_map__fd(skel_->maps.protected_cgroups_map), cgroup2_mount, cgroup); !r) return r;
  if (pins_ && pins_->enabled()) {
    struct stat dir {
    }, sub{};
    if (stat(pins_->path().c_str(), &dir) != 0 || stat((pins_->path() + "/links").c_str(), &sub) != 0)
      return fail_errno("self-protection: the pin dir " + pins_->path());
    skel_->bss->rp_pin_dir_ino = dir.st_ino;
    skel_->bss->rp_pin_links_ino = sub.st_ino;
  }
  return {};
}

}  // namespace rampart::bpf
