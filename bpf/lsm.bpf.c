// SPDX-License-Identifier: GPL-2.0-only
/*
 * lsm.bpf.c - enforcement through BPF LSM hooks, for kernels that have it
 * (bpf in /sys/kernel/security/lsm and BPF trampolines). A hook that returns
 * -EPERM refuses the operation cleanly: nothing is killed and there is no
 * race. This object is loaded apart from the tracing programs, on the same
 * maps, and only used after a self-test showed that it denies.
 *
 * Hooks:
 *   bprm_check_security   exec: allow-list, deny rules, deny verdicts
 *   file_open             files: allow-lists and deny rules by read/write,
 *                         sensitive paths under a deny verdict
 *   path_truncate         truncate(2), a write that opens nothing (where the
 *                         kernel has the hook: CONFIG_SECURITY_PATH)
 *   mmap_file             an executable mapping of a binary an exec deny
 *                         rule names, made without its exec: the dynamic
 *                         loader run as a program (ld.so FILE), or a loader
 *                         of the caller's own (as fmod_ret, a program of its
 *                         own: security_mmap_file has other arguments)
 *   ptrace_access_check   privilege.ptrace: false; nobody ptraces rampartd
 *   task_kill             nobody signals rampartd
 *   inode_permission,
 *   inode_rename          nobody reaches into, or renames, rampartd's pin dir
 *   kernel_read_file,
 *   kernel_load_data      privilege.moduleLoad: false
 *   sb_mount              privilege.mount: false
 *   bpf, bpf_map, bpf_prog  privilege.bpf: false; nobody else gets an fd
 *                         to rampartd's maps, programs and links
 *   task_free             the protection ends with rampartd: the next one
 *                         takes its pins over
 *   file_open also keeps every other process but pid 1 from writing the
 *   cgroup.kill, cgroup.freeze, memory.max, memory.high and cpu.max files
 *   of rampartd's cgroup and its ancestors.
 * rampartd and its supervisor are known by tgid and start time, so a process
 * that later gets one of their pids is nobody special.
 * Deny rules match the path (path_rules_map) and the file itself
 * (inode_rules_map): a hard link, a bind mount or a rename of a denied file
 * is refused like its name.
 * Network stays with the cgroup hooks (netguard.bpf.c): they refuse with
 * EPERM on every kernel already.
 *
 * Where BPF LSM is not active (not in the kernel's lsm= list, as on most
 * Ubuntu, RHEL and managed Kubernetes nodes) but BPF trampolines work, the
 * same programs are loaded as fmod_ret programs on the kernel's security_*()
 * functions (rp_fmod_ret; task_free as fentry): a non-zero return skips the
 * function and is its result, so the refusal is the same EPERM, before the
 * operation. bpf_d_path is only allowed there on security_file_open, so the
 * paths are walked from the dentry instead.
 */
#include "policy.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define RP_EPERM 1
#define RP_FMODE_READ 0x1
#define RP_FMODE_WRITE 0x2
#define RP_FMODE_EXEC 0x20
#define RP_O_TRUNC 01000
#define RP_PROT_EXEC 0x4
#define RP_SIGKILL 9
#define RP_MAY_EXEC 0x1
#define RP_MAY_WRITE 0x2
#define RP_MAY_APPEND 0x8
#define RP_BPF_FS_MAGIC 0xcafe4a11
/* enum bpf_cmd */
#define RP_BPF_LINK_UPDATE 29
#define RP_BPF_LINK_GET_FD_BY_ID 30
#define RP_BPF_LINK_DETACH 34

/* rampartd's start time in clock ticks since boot (/proc/PID/stat field 22),
 * and the length of a tick: with rp_self_tgid, rampartd itself. */
const volatile __u64 rp_self_start __weak = 0;
const volatile __u64 rp_tick_ns __weak = 10000000;

/* Set by rampartd before load: 1 when the programs are fmod_ret programs on
 * security_*() rather than BPF LSM programs. */
const volatile __u32 rp_fmod_ret __weak = 0;

/* Set by rampartd after load: its supervisor (the process that started it:
 * systemd, a container runtime, a test), which may still signal and ptrace it,
 * by tgid and start time; 0: none (it had already gone). */
volatile __u32 rp_admin_tgid __weak = 0;
volatile __u64 rp_admin_start __weak = 0;

/* Set when rampartd's main thread is freed: its protection ends with it, so
 * that the next rampartd can take its pinned maps and links over. */
volatile __u32 rp_self_gone __weak = 0;

/* The inode numbers of rampartd's pin dir and its links/ on bpffs; 0: no pins. */
volatile __u64 rp_pin_dir_ino __weak = 0;
volatile __u64 rp_pin_links_ino __weak = 0;

/* (policy id, path) -> RP_PR_* flags. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rp_path_key);
	__type(value, __u32);
} path_rules_map SEC(".maps") __weak;

/* (policy id, device, inode) -> RP_PR_* deny flags: see rp_abi.h. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rp_inode_key);
	__type(value, __u32);
} inode_rules_map SEC(".maps") __weak;

/* RP_OBJ_* << 32 | id of each of rampartd's maps and programs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} protected_map SEC(".maps") __weak;

/* The inode numbers of rampartd's cgroup directory and its ancestors: the
 * files there that kill, freeze or starve it are written by nobody else. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u8);
} protected_cgroups_map SEC(".maps");

/* tgid -> 1: the start-up self-test; file_open refuses that process everything. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} lsm_selftest_map SEC(".maps") __weak;

struct rp_path_scratch {
	struct rp_path_key key;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rp_path_scratch);
} lsm_scratch_map SEC(".maps");

static __always_inline __u32 rp_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

/* A process started in the same clock tick as the one recorded: the same one
 * (a pid is not handed out twice within a tick). */
static __always_inline int rp_started_at(struct task_struct *t, __u64 start)
{
	return t->group_leader->start_boottime / rp_tick_ns == start;
}

static __always_inline int rp_is_self_task(struct task_struct *t)
{
	return rp_self_tgid && t->tgid == rp_self_tgid && rp_started_at(t, rp_self_start);
}

static __always_inline int rp_caller_is_self(void)
{
	return rp_is_self_task(bpf_get_current_task_btf());
}

static __always_inline int rp_is_protected_caller(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 admin = rp_admin_tgid;

	if (!rp_self_tgid || rp_self_gone || rp_is_self_task(t))
		return 0;
	return !admin || t->tgid != admin || !rp_started_at(t, rp_admin_start);
}

#define RP_CGROUP2_SUPER_MAGIC 0x63677270

static __always_inline int rp_name_is(const char *name, const char *want, int len)
{
	for (int i = 0; i < len; i++)
		if (name[i] != want[i])
			return 0;
	return 1;
}

/* A file of rampartd's cgroup or an ancestor whose write would kill, freeze
 * or starve it: cgroup.kill, cgroup.freeze, memory.max, memory.high, cpu.max. */
static __always_inline int rp_is_guarded_cgroup_file(struct file *file)
{
	struct dentry *dentry = file->f_path.dentry;
	__u64 dir_ino;
	char name[16] = {};

	if (file->f_inode->i_sb->s_magic != RP_CGROUP2_SUPER_MAGIC)
		return 0;
	dir_ino = BPF_CORE_READ(dentry, d_parent, d_inode, i_ino);
	if (!bpf_map_lookup_elem(&protected_cgroups_map, &dir_ino))
		return 0;
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(dentry, d_name.name));
	return rp_name_is(name, "cgroup.kill", 12) || rp_name_is(name, "cgroup.freeze", 14) ||
	       rp_name_is(name, "memory.max", 11) || rp_name_is(name, "memory.high", 12) ||
	       rp_name_is(name, "cpu.max", 8);
}

/* An enforce event for a path operation, with mechanism LSM. */
static __always_inline void rp_report_lsm(__u32 op, __u32 policy_id, __u8 action, __u8 reason, const char *path)
{
	struct rp_enforce_event *ev = rp_reserve(RP_EV_ENFORCE, sizeof(*ev));

	if (!ev)
		return;
	ev->op = op;
	ev->policy_id = policy_id;
	ev->mechanism = rp_fmod_ret ? RP_MECH_FMOD_RET : RP_MECH_LSM;
	ev->action = action;
	ev->reason = reason;
	ev->family = 0;
	ev->port = 0;
	ev->_pad0 = 0;
	__builtin_memset(ev->addr, 0, sizeof(ev->addr));
	ev->path[0] = 0;
	if (path)
		bpf_probe_read_kernel_str(ev->path, RP_LSM_PATH, path);
	rp_submit(ev);
}

/* A refusal for rampartd's sake: reported, EPERM. */
static __always_inline int rp_self_refuse(__u32 op)
{
	rp_report_lsm(op, 0, RP_ACT_DENIED, RP_REASON_SELF_PROTECT, NULL);
	return -RP_EPERM;
}

/* The file's path as bpf_d_path gives it (from the task's root), for the
 * fmod_ret programs; its length with the NUL, or -1 when it does not fit. */
static __always_inline long rp_walked_path(struct dentry *dentry, struct vfsmount *mnt, char *dst)
{
	__u32 zero = 0;
	struct rp_scratch *w = bpf_map_lookup_elem(&scratch_map, &zero);
	int off;

	if (!w)
		return -1;
	w->buf[(RP_SCRATCH_HALF - 1) & RP_SCRATCH_MASK] = 0;
	off = rp_walk_path(w, dentry, mnt, RP_SCRATCH_HALF - 1);
	if (off < 0 || RP_SCRATCH_HALF - off > RP_LSM_PATH)
		return -1;
	return bpf_probe_read_kernel_str(dst, RP_LSM_PATH, &w->buf[off & RP_SCRATCH_MASK]);
}

/* Looks the path in s->key (its length n, or an error) up for `policy_id`:
 * the RP_PR_* flags, 0 when no entry matches, `unknown` when there is no
 * path (too long for the map). *key_out points at the path (for reports). */
static __always_inline __u32 rp_lookup_path(struct rp_path_scratch *s, long n, __u32 policy_id, __u32 unknown,
					    struct rp_path_key **key_out)
{
	__u32 *flags;

	if (n <= 0)
		return unknown;
	*key_out = &s->key;
	s->key.prefixlen = 32 + 8 * RP_LSM_PATH;
	s->key.policy_id = policy_id;
	flags = bpf_map_lookup_elem(&path_rules_map, &s->key);
	return flags ? *flags : 0;
}

/* The flags of the open file's path; see rp_lookup_path. */
static __always_inline __u32 rp_path_flags(struct file *file, __u32 policy_id, __u32 unknown,
					   struct rp_path_key **key_out)
{
	__u32 zero = 0;
	struct rp_path_scratch *s = bpf_map_lookup_elem(&lsm_scratch_map, &zero);
	long n;

	*key_out = NULL;
	if (!s)
		return unknown;
	if (rp_fmod_ret)
		n = rp_walked_path(BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt), s->key.path);
	else
		n = bpf_d_path((struct path *)&file->f_path, s->key.path, sizeof(s->key.path));
	return rp_lookup_path(s, n, policy_id, unknown, key_out);
}

/* The same for a path that is not an open file (truncate): walked in both
 * modes, as bpf_d_path is not allowed on that hook. */
static __always_inline __u32 rp_walked_path_flags(const struct path *path, __u32 policy_id,
						  struct rp_path_key **key_out)
{
	__u32 zero = 0;
	struct rp_path_scratch *s = bpf_map_lookup_elem(&lsm_scratch_map, &zero);

	*key_out = NULL;
	if (!s)
		return 0;
	return rp_lookup_path(s, rp_walked_path(BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt), s->key.path),
			      policy_id, 0, key_out);
}

static __always_inline void rp_inode_key_of(struct inode *inode, __u32 policy_id, struct rp_inode_key *k)
{
	k->ino = BPF_CORE_READ(inode, i_ino);
	k->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	k->policy_id = policy_id;
}

/* The deny flags the file itself carries for `policy_id`, whatever its name. */
static __always_inline __u32 rp_inode_flags(struct inode *inode, __u32 policy_id)
{
	struct rp_inode_key k = {};
	__u32 *flags;

	rp_inode_key_of(inode, policy_id, &k);
	flags = bpf_map_lookup_elem(&inode_rules_map, &k);
	return flags ? *flags : 0;
}

/* A file refused by its name: from now on refused under every name. */
static __always_inline void rp_remember_inode(struct file *file, __u32 policy_id, __u32 flags)
{
	struct rp_inode_key k = {};
	__u32 *known;

	rp_inode_key_of(file->f_inode, policy_id, &k);
	known = bpf_map_lookup_elem(&inode_rules_map, &k);
	if (known)
		*known |= flags; /* a lost bit is found again by name next time */
	else
		bpf_map_update_elem(&inode_rules_map, &k, &flags, BPF_NOEXIST);
}

static __always_inline int rp_refuse(__u32 op, __u32 policy_id, struct rp_policy_rule *rule, __u8 reason,
				     struct rp_path_key *key)
{
	const char *path = key ? key->path : NULL;

	if (rule && rule->mode != RP_MODE_ENFORCE && reason != RP_REASON_VERDICT) {
		rp_report_lsm(op, policy_id, RP_ACT_WOULD_DENY, reason, path);
		return 0;
	}
	rp_report_lsm(op, policy_id, RP_ACT_DENIED, reason, path);
	return -RP_EPERM;
}

SEC("lsm/bprm_check_security")
int BPF_PROG(rp_lsm_exec, struct linux_binprm *bprm, int ret)
{
	__u32 tgid = rp_tgid(), policy_id;
	struct rp_verdict *v;
	struct rp_policy_rule *rule = NULL;
	struct rp_path_key *key;
	__u32 flags;

	if (ret)
		return ret;
	/* The second pass of a script exec checks its "#!" program: the script
	 * itself was checked in the first; the program is part of that exec. */
	if (bprm->interp != bprm->filename)
		return 0;
	v = bpf_map_lookup_elem(&verdict_map, &tgid);
	policy_id = rp_current_policy();
	if (policy_id)
		rule = bpf_map_lookup_elem(&policy_map, &policy_id);
	if (v && (v->flags & RP_V_DENY_EXEC)) {
		rp_path_flags(bprm->file, policy_id, 0, &key);
		return rp_refuse(RP_EV_EXEC, policy_id, NULL, RP_REASON_VERDICT, key);
	}
	if (!rule || !(rule->path_flags & (RP_PATHS_ANY | RP_PATHS_RESTRICT_EXEC)))
		return 0;
	/* A path the map cannot hold is not on any allow-list. */
	flags = rp_path_flags(bprm->file, policy_id, 0, &key);
	if (flags & RP_PR_EXEC_DENY) {
		rp_remember_inode(bprm->file, policy_id, RP_PR_EXEC_DENY);
		return rp_refuse(RP_EV_EXEC, policy_id, rule, RP_REASON_DENY_RULE, key);
	}
	if (rp_inode_flags(bprm->file->f_inode, policy_id) & RP_PR_EXEC_DENY)
		return rp_refuse(RP_EV_EXEC, policy_id, rule, RP_REASON_DENY_RULE, key);
	if ((rule->path_flags & RP_PATHS_RESTRICT_EXEC) && !(flags & RP_PR_EXEC_ALLOW))
		return rp_refuse(RP_EV_EXEC, policy_id, rule, RP_REASON_NOT_ALLOWED, key);
	return 0;
}

/* A read and/or write of a file whose path and inode carry `flags` under
 * `rule`: refused by a deny rule, or for not being on an allow-list. */
static __always_inline int rp_decide_access(int read, int write, __u32 flags, __u32 policy_id,
					    struct rp_policy_rule *rule, struct rp_path_key *key)
{
	if ((read && (flags & RP_PR_READ_DENY)) || (write && (flags & RP_PR_WRITE_DENY)))
		return rp_refuse(RP_EV_OPEN, policy_id, rule, RP_REASON_DENY_RULE, key);
	if ((read && (rule->path_flags & RP_PATHS_RESTRICT_READ) && !(flags & RP_PR_READ_ALLOW)) ||
	    (write && (rule->path_flags & RP_PATHS_RESTRICT_WRITE) && !(flags & RP_PR_WRITE_ALLOW)))
		return rp_refuse(RP_EV_OPEN, policy_id, rule, RP_REASON_NOT_ALLOWED, key);
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(rp_lsm_open, struct file *file, int ret)
{
	__u32 tgid = rp_tgid(), policy_id, flags, fmode;
	struct rp_verdict *v;
	struct rp_policy_rule *rule = NULL;
	struct rp_path_key *key;
	int read, write;

	if (ret)
		return ret;
	if (bpf_map_lookup_elem(&lsm_selftest_map, &tgid))
		return -RP_EPERM;
	fmode = file->f_mode;
	if (fmode & RP_FMODE_EXEC) /* exec and its ELF interpreter: bprm_check_security decides */
		return 0;
	read = (fmode & RP_FMODE_READ) != 0;
	write = (fmode & RP_FMODE_WRITE) != 0 || (file->f_flags & RP_O_TRUNC) != 0;
	/* pid 1 (systemd) manages the cgroups: it may, like the supervisor. */
	if (write && rp_self_tgid && !rp_self_gone && rp_is_guarded_cgroup_file(file) && tgid != 1 &&
	    rp_is_protected_caller())
		return rp_self_refuse(RP_EV_OPEN);

	v = bpf_map_lookup_elem(&verdict_map, &tgid);
	policy_id = rp_current_policy();
	if (policy_id)
		rule = bpf_map_lookup_elem(&policy_map, &policy_id);
	if (v && (v->flags & RP_V_DENY_FILES)) {
		flags = rp_path_flags(file, 0, 0, &key) | rp_inode_flags(file->f_inode, 0);
		if (flags & RP_PR_SENSITIVE)
			return rp_refuse(RP_EV_OPEN, policy_id, NULL, RP_REASON_VERDICT, key);
	}
	if (!rule || !(rule->path_flags & (RP_PATHS_ANY | RP_PATHS_RESTRICT_READ | RP_PATHS_RESTRICT_WRITE)))
		return 0;
	flags = rp_path_flags(file, policy_id, 0, &key);
	if ((read && (flags & RP_PR_READ_DENY)) || (write && (flags & RP_PR_WRITE_DENY))) {
		rp_remember_inode(file, policy_id, flags & (RP_PR_READ_DENY | RP_PR_WRITE_DENY));
		return rp_refuse(RP_EV_OPEN, policy_id, rule, RP_REASON_DENY_RULE, key);
	}
	return rp_decide_access(read, write, flags | rp_inode_flags(file->f_inode, policy_id), policy_id, rule, key);
}

/* An executable mapping of a file an exec deny rule names (by path or by
 * inode). An exec's own mappings of its binary come after
 * bprm_check_security allowed it, and a denied one never gets here. */
static __always_inline int rp_mmap_decide(struct file *file, unsigned long prot, int ret)
{
	struct rp_policy_rule *rule;
	struct rp_path_key *key;
	__u32 policy_id;

	if (ret || !file || !(prot & RP_PROT_EXEC))
		return ret;
	policy_id = rp_current_policy();
	if (!policy_id)
		return 0;
	rule = bpf_map_lookup_elem(&policy_map, &policy_id);
	if (!rule || !(rule->path_flags & RP_PATHS_ANY))
		return 0;
	if (!((rp_path_flags(file, policy_id, 0, &key) | rp_inode_flags(file->f_inode, policy_id)) & RP_PR_EXEC_DENY))
		return 0;
	return rp_refuse(RP_EV_EXEC, policy_id, rule, RP_REASON_DENY_RULE, key);
}

SEC("lsm/mmap_file")
int BPF_PROG(rp_lsm_mmap, struct file *file, unsigned long reqprot, unsigned long prot, unsigned long flags, int ret)
{
	return rp_mmap_decide(file, reqprot | prot, ret);
}

/* The same where the programs run as fmod_ret, on security_mmap_file(),
 * whose arguments are not the hook's (the loader picks one of the two). */
SEC("fmod_ret/security_mmap_file")
int BPF_PROG(rp_fmod_mmap, struct file *file, unsigned long prot, unsigned long flags, int ret)
{
	return rp_mmap_decide(file, prot, ret);
}

/* truncate(2) opens nothing, so file_open never sees it: a write to the
 * file all the same. (ftruncate needs a file opened for writing, which
 * file_open decided; an open with O_TRUNC was decided there too.) */
SEC("lsm/path_truncate")
int BPF_PROG(rp_lsm_truncate, const struct path *path, int ret)
{
	__u32 tgid = rp_tgid(), policy_id, flags;
	struct rp_policy_rule *rule = NULL;
	struct rp_path_key *key;
	struct rp_verdict *v;

	if (ret)
		return ret;
	v = bpf_map_lookup_elem(&verdict_map, &tgid);
	policy_id = rp_current_policy();
	if (policy_id)
		rule = bpf_map_lookup_elem(&policy_map, &policy_id);
	if (v && (v->flags & RP_V_DENY_FILES)) {
		flags = rp_walked_path_flags(path, 0, &key) | rp_inode_flags(BPF_CORE_READ(path, dentry, d_inode), 0);
		if (flags & RP_PR_SENSITIVE)
			return rp_refuse(RP_EV_OPEN, policy_id, NULL, RP_REASON_VERDICT, key);
	}
	if (!rule || !(rule->path_flags & (RP_PATHS_ANY | RP_PATHS_RESTRICT_WRITE)))
		return 0;
	flags = rp_walked_path_flags(path, policy_id, &key) |
		rp_inode_flags(BPF_CORE_READ(path, dentry, d_inode), policy_id);
	return rp_decide_access(0, 1, flags, policy_id, rule, key);
}

/* A privilege operation the caller's enforce-mode policy forbids: -EPERM. */
static __always_inline int rp_priv_lsm(__u32 op, __u8 priv)
{
	__u32 policy_id = rp_current_policy();
	struct rp_policy_rule *rule;

	if (!policy_id)
		return 0;
	rule = bpf_map_lookup_elem(&policy_map, &policy_id);
	if (!rule || !(rule->deny_priv & priv))
		return 0;
	return rp_refuse(op, policy_id, rule, RP_REASON_NOT_ALLOWED, NULL);
}

SEC("lsm/ptrace_access_check")
int BPF_PROG(rp_lsm_ptrace, struct task_struct *child, unsigned int mode, int ret)
{
	if (ret)
		return ret;
	if (rp_is_self_task(child) && rp_is_protected_caller())
		return rp_self_refuse(RP_EV_PTRACE);
	return rp_priv_lsm(RP_EV_PTRACE, RP_PRIV_PTRACE);
}

SEC("lsm/task_kill")
int BPF_PROG(rp_lsm_kill, struct task_struct *p, struct kernel_siginfo *info, int sig, const struct cred *cred, int ret)
{
	if (ret)
		return ret;
	/* sig 0 only asks whether the process exists */
	/* pid 1 (systemd) may stop it, as may its supervisor */
	if (sig && rp_is_self_task(p) && rp_tgid() != 1 && rp_is_protected_caller())
		return rp_self_refuse(RP_OP_SIGNAL);
	return 0;
}

SEC("lsm/kernel_read_file")
int BPF_PROG(rp_lsm_read_file, struct file *file, enum kernel_read_file_id id, bool contents, int ret)
{
	if (ret)
		return ret;
	return id == READING_MODULE ? rp_priv_lsm(RP_EV_MODULE_LOAD, RP_PRIV_MODULE) : 0;
}

SEC("lsm/kernel_load_data")
int BPF_PROG(rp_lsm_load_data, enum kernel_load_data_id id, bool contents, int ret)
{
	if (ret)
		return ret;
	return id == LOADING_MODULE ? rp_priv_lsm(RP_EV_MODULE_LOAD, RP_PRIV_MODULE) : 0;
}

SEC("lsm/sb_mount")
int BPF_PROG(rp_lsm_mount, const char *dev_name, const struct path *path, const char *type, unsigned long flags,
	     void *data, int ret)
{
	if (ret)
		return ret;
	return rp_priv_lsm(RP_EV_MOUNT, RP_PRIV_MOUNT);
}

static __always_inline int rp_protect_obj(__u64 kind, __u32 id)
{
	__u64 k = kind << 32 | id;

	if (!rp_is_protected_caller() || !bpf_map_lookup_elem(&protected_map, &k))
		return 0;
	return rp_self_refuse(RP_EV_BPF);
}

/*
 * The id of the link behind the caller's fd, or 0. Read before the kernel
 * resolves the fd itself; what the fd holds need not be a link (then the
 * id is noise, and the command fails anyway).
 */
static __always_inline __u32 rp_link_id_of_fd(int fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds;
	struct file *f = NULL;
	struct bpf_link *link;

	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	link = BPF_CORE_READ(f, private_data);
	return link ? BPF_CORE_READ(link, id) : 0;
}

/* Only the first three arguments: newer kernels add a fourth before the return value. */
SEC("lsm/bpf")
int BPF_PROG(rp_lsm_bpf, int cmd, union bpf_attr *attr, unsigned int size)
{
	if (rp_caller_is_self())
		return 0;
	/* A link has no hook of its own when its fd is made: refuse it here by
	 * id; a pinned one is out of reach (rp_lsm_pin_dir). Without an fd
	 * nobody can detach or update the link. */
	if (cmd == RP_BPF_LINK_GET_FD_BY_ID && rp_protect_obj(RP_OBJ_LINK, attr->link_id))
		return -RP_EPERM;
	/* An fd taken before the protection began (or handed over): no detach, no other program. */
	if (cmd == RP_BPF_LINK_DETACH && rp_protect_obj(RP_OBJ_LINK, rp_link_id_of_fd(attr->link_detach.link_fd)))
		return -RP_EPERM;
	if (cmd == RP_BPF_LINK_UPDATE && rp_protect_obj(RP_OBJ_LINK, rp_link_id_of_fd(attr->link_update.link_fd)))
		return -RP_EPERM;
	return rp_priv_lsm(RP_EV_BPF, RP_PRIV_BPF);
}

SEC("lsm/bpf_map")
int BPF_PROG(rp_lsm_bpf_map, struct bpf_map *map, fmode_t fmode, int ret)
{
	if (ret)
		return ret;
	return rp_protect_obj(RP_OBJ_MAP, map->id);
}

SEC("lsm/bpf_prog")
int BPF_PROG(rp_lsm_bpf_prog, struct bpf_prog *prog, int ret)
{
	if (ret)
		return ret;
	return rp_protect_obj(RP_OBJ_PROG, prog->aux->id);
}

static __always_inline int rp_is_pin_dir(struct inode *inode)
{
	__u64 ino;

	if (!inode)
		return 0;
	ino = inode->i_ino;
	if (!ino || (ino != rp_pin_dir_ino && ino != rp_pin_links_ino))
		return 0;
	return inode->i_sb->s_magic == RP_BPF_FS_MAGIC;
}

/* A lookup in the pin dir (or links/), and so every pin's BPF_OBJ_GET,
 * unlink, rename or replacement; listing the names stays allowed. Runs on
 * every path component in the system: two compares before anything else. */
SEC("lsm/inode_permission")
int BPF_PROG(rp_lsm_pin_dir, struct inode *inode, int mask, int ret)
{
	if (ret)
		return ret;
	if (!(mask & (RP_MAY_EXEC | RP_MAY_WRITE | RP_MAY_APPEND)) || !rp_is_pin_dir(inode))
		return 0;
	return rp_is_protected_caller() ? rp_self_refuse(RP_EV_BPF) : 0;
}

/* The pin dir itself moved away: the next rampartd would not find it. */
SEC("lsm/inode_rename")
int BPF_PROG(rp_lsm_pin_rename, struct inode *old_dir, struct dentry *old_dentry, struct inode *new_dir,
	     struct dentry *new_dentry, int ret)
{
	if (ret)
		return ret;
	if (!rp_is_pin_dir(old_dentry->d_inode) && !rp_is_pin_dir(new_dentry->d_inode))
		return 0;
	return rp_is_protected_caller() ? rp_self_refuse(RP_EV_BPF) : 0;
}

SEC("lsm/task_free")
int BPF_PROG(rp_lsm_task_free, struct task_struct *task)
{
	if (task->pid == task->tgid && rp_is_self_task(task))
		rp_self_gone = 1;
	return 0;
}
