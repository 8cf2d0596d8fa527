// SPDX-License-Identifier: GPL-2.0-only
/*
 * process.bpf.c - process lifecycle.
 * Hooks: tp_btf/sched_process_exec, tp_btf/sched_process_fork,
 *        tp_btf/sched_process_exit.
 * Threads are filtered here (counted as filtered): the process table in
 * rampartd tracks processes, not threads. Fork also hands the parent's policy
 * and trust verdict to the child, and exit drops the process's entries.
 * Without BPF LSM, exec also closes what the fanotify guard cannot see: an
 * exec of a file fanotify was never asked about (unlinked, a memfd, or on a
 * filesystem rampartd did not mark) is killed here, past the point of no
 * return but before the new image runs, under a policy that restricts exec,
 * and under exec deny rules when the file has the size of a binary they deny
 * (a copy; the guard would have compared its SHA-256) or they name contents.
 */
#include "syscall.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* s_dev of each filesystem marked for FAN_OPEN_EXEC_PERM; rampartd fills it as it marks. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} exec_marked_map SEC(".maps");

/* Sizes of the binaries exec deny rules name, per policy; rampartd fills it bank by bank. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct rp_exec_size_key);
	__type(value, __u8);
} exec_deny_size_map SEC(".maps");

/*
 * Fail closed for an exec the fanotify guard never judged. `policy_id` is the
 * caller's policy before this exec, the one the guard would have asked. The
 * SIGKILL is queued now and delivered on the way back to user space: the new
 * image never runs an instruction.
 */
static __always_inline void rp_exec_fail_closed(__u32 policy_id, struct file *file)
{
	struct rp_enforce_event *ev;
	struct rp_policy_rule *rule;
	struct inode *inode = file->f_inode;
	__u32 dev = inode->i_sb->s_dev;
	struct rp_exec_size_key size_key = {};
	__u8 reason = RP_REASON_NOT_ALLOWED;
	__u32 flags = 0;
	int enforce;

	if (!policy_id)
		return;
	rule = bpf_map_lookup_elem(&policy_map, &policy_id);
	if (!rule || !rule->exec_guard)
		return;
	if (inode->__i_nlink != 0 && bpf_map_lookup_elem(&exec_marked_map, &dev))
		return;
	/* Unjudged. Under an allow-list nothing unjudged runs; under deny rules
	 * only what may be a copy of a denied binary is stopped. */
	if (!(rule->exec_guard & RP_EXEC_FAIL_CLOSED)) {
		reason = RP_REASON_DENY_RULE;
		size_key.size = inode->i_size;
		size_key.policy_id = policy_id;
		if (!(rule->exec_guard & RP_EXEC_DENY_UNSEEN) &&
		    !((rule->exec_guard & RP_EXEC_DENY_SIZES) && bpf_map_lookup_elem(&exec_deny_size_map, &size_key)))
			return;
	}
	enforce = rule->mode == RP_MODE_ENFORCE;
	if (enforce)
		bpf_send_signal(9 /* SIGKILL */);
	ev = rp_reserve(RP_EV_ENFORCE, sizeof(*ev));
	if (!ev)
		return;
	ev->op = RP_EV_EXEC;
	ev->policy_id = policy_id;
	ev->mechanism = RP_MECH_SIGKILL;
	ev->action = enforce ? RP_ACT_KILLED : RP_ACT_WOULD_DENY;
	ev->reason = reason;
	ev->family = 0;
	ev->port = 0;
	ev->_pad0 = 0;
	__builtin_memset(ev->addr, 0, sizeof(ev->addr));
	rp_file_path(ev->path, file, &flags, RP_F_PATH_TRUNCATED);
	ev->hdr.flags |= flags;
	rp_submit(ev);
}

static __always_inline int rp_has_prefix(const char *s, const char *prefix, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] != prefix[i])
			return 0;
	return 1;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(process_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct rp_exec_event *ev;
	struct rp_exe_key exe;
	__u32 tgid = task->tgid;
	__u32 *policy, caller_policy = rp_current_policy();
	struct file *file;
	unsigned long arg_start, arg_end, len;
	struct qstr dname;
	const char *fname;
	long n;

	/* A non-leader's exec goes on as the leader: its old tid's exec in flight is over. */
	if (old_pid != task->pid) {
		__u32 old_tid = old_pid;

		bpf_map_delete_elem(&open_flags_map, &old_tid);
	}

	/*
	 * A policy that selects this executable takes over now, before the new
	 * image runs its first instruction. Otherwise the process keeps the
	 * policy it had (inherited at fork): a shell spawned by a policed
	 * service is still that service's workload.
	 */
	file = bprm->file;
	exe.ino = file->f_inode->i_ino;
	exe.dev = file->f_inode->i_sb->s_dev;
	exe._pad0 = 0;
	policy = bpf_map_lookup_elem(&exe_policy_map, &exe);
	if (policy && bpf_map_update_elem(&proc_policy_map, &tgid, policy, BPF_ANY) != 0)
		rp_count(RP_EV_EXEC, RP_STAT_ERRORS);
	rp_exec_fail_closed(caller_policy, file);

	if (rp_is_self()) {
		rp_count(RP_EV_EXEC, RP_STAT_FILTERED);
		return 0;
	}
	ev = rp_reserve(RP_EV_EXEC, sizeof(*ev));
	if (!ev)
		return 0;

	ev->old_pid = old_pid;
	ev->argc = BPF_CORE_READ(bprm, argc);
	ev->_pad0 = 0;
	ev->exe_ino = BPF_CORE_READ(file, f_inode, i_ino);
	ev->exe_dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	ev->exe_nlink = BPF_CORE_READ(file, f_inode, __i_nlink);
	dname = BPF_CORE_READ(file, f_path.dentry, d_name);
	bpf_probe_read_kernel_str(ev->exe_name, sizeof(ev->exe_name), dname.name);

	fname = BPF_CORE_READ(bprm, filename);
	n = bpf_probe_read_kernel_str(ev->filename, sizeof(ev->filename), fname);
	if (n <= 0)
		ev->filename[0] = 0;
	else if (n == RP_PATH_MAX)
		ev->hdr.flags |= RP_F_PATH_TRUNCATED;

	/* execveat(fd, "", AT_EMPTY_PATH) shows up as "/dev/fd/N" with no further '/'. */
	if (rp_has_prefix(ev->filename, "/dev/fd/", 8)) {
		int slash = 0;

		for (int i = 8; i < 20; i++) {
			if (ev->filename[i] == 0)
				break;
			if (ev->filename[i] == '/')
				slash = 1;
		}
		if (!slash)
			ev->hdr.flags |= RP_F_EXECVEAT_EMPTY | RP_F_FILELESS;
	}
	if (rp_has_prefix(ev->exe_name, "memfd:", 6))
		ev->hdr.flags |= RP_F_MEMFD | RP_F_FILELESS;
	if (ev->exe_nlink == 0)
		ev->hdr.flags |= RP_F_FILELESS;

	/* A relative filename ("./x") is replaced by the resolved path of the file. */
	if (ev->filename[0] != '/' && !(ev->hdr.flags & RP_F_FILELESS)) {
		if (rp_file_path(ev->filename, file, &ev->hdr.flags, RP_F_PATH_TRUNCATED) == 0)
			ev->hdr.flags |= RP_F_PATH_RESOLVED;
	}

	/* A shell reading or writing a socket is the shape of a reverse shell. */
	for (int fd = 0; fd < 2; fd++) {
		struct file *f = rp_fd_file(task, fd);

		if (f && (BPF_CORE_READ(f, f_inode, i_mode) & RP_S_IFMT) == RP_S_IFSOCK) {
			ev->hdr.flags |= RP_F_STDIO_SOCKET;
			break;
		}
	}

	/* argv lives in the new image's stack: [arg_start, arg_end). */
	arg_start = BPF_CORE_READ(task, mm, arg_start);
	arg_end = BPF_CORE_READ(task, mm, arg_end);
	len = arg_end - arg_start;
	if (len > RP_ARGS_MAX) {
		len = RP_ARGS_MAX;
		ev->hdr.flags |= RP_F_ARGS_TRUNCATED;
	}
	n = len;
	if (n > RP_ARGS_MAX)
		n = RP_ARGS_MAX;
	if (n <= 0 || bpf_probe_read_user(ev->args, n, (void *)arg_start) < 0)
		n = 0;
	ev->args_len = n;
	rp_submit(ev);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(process_fork, struct task_struct *parent, struct task_struct *child)
{
	struct rp_fork_event *ev;
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	struct rp_verdict *v;
	__u32 *policy;
	int inherit_failed = 0;

	if (child->pid != child->tgid) {
		rp_count(RP_EV_FORK, RP_STAT_FILTERED);
		return 0;
	}
	/* Inherited here, in the kernel: the child cannot act before it is policed. */
	policy = bpf_map_lookup_elem(&proc_policy_map, &ptgid);
	if (policy && bpf_map_update_elem(&proc_policy_map, &ctgid, policy, BPF_ANY) != 0) {
		rp_count(RP_EV_FORK, RP_STAT_ERRORS);
		inherit_failed = 1;
	}
	v = bpf_map_lookup_elem(&verdict_map, &ptgid);
	if (v && bpf_map_update_elem(&verdict_map, &ctgid, v, BPF_ANY) != 0) {
		rp_count(RP_EV_FORK, RP_STAT_ERRORS);
		inherit_failed = 1;
	}
	if (rp_is_self()) {
		rp_count(RP_EV_FORK, RP_STAT_FILTERED);
		return 0;
	}
	ev = rp_reserve(RP_EV_FORK, sizeof(*ev));
	if (!ev)
		return 0;
	ev->child_pid = child->pid;
	ev->child_tgid = child->tgid;
	ev->child_start_ns = child->start_boottime;
	/* rampartd writes what the kernel could not, and retries until it lands. */
	if (inherit_failed)
		ev->hdr.flags |= RP_F_INHERIT_FAILED;
	rp_submit(ev);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *task)
{
	struct rp_exit_event *ev;
	struct rp_verdict *v;
	__u32 tgid = task->tgid;

	/* Only the exit of the last thread ends the process. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0) {
		rp_count(RP_EV_EXIT, RP_STAT_FILTERED);
		return 0;
	}
	bpf_map_delete_elem(&proc_policy_map, &tgid);
	v = bpf_map_lookup_elem(&verdict_map, &tgid);
	if (v && (v->flags & RP_V_DENY_NET)) {
		struct rp_proc_key k = {.tgid = tgid, .start_ns = BPF_CORE_READ(task, group_leader, start_boottime)};
		__u8 one = 1;

		if (bpf_map_update_elem(&cut_exited_map, &k, &one, BPF_ANY) != 0)
			rp_count(RP_EV_EXIT, RP_STAT_ERRORS);
	}
	bpf_map_delete_elem(&verdict_map, &tgid);
	if (rp_is_self()) {
		rp_count(RP_EV_EXIT, RP_STAT_FILTERED);
		return 0;
	}
	ev = rp_reserve(RP_EV_EXIT, sizeof(*ev));
	if (!ev)
		return 0;
	ev->exit_code = BPF_CORE_READ(task, exit_code);
	ev->_pad0 = 0;
	rp_submit(ev);
	return 0;
}
