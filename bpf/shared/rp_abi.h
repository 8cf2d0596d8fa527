/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * rp_abi.h - the one definition of every record and map value that crosses
 * the kernel/user boundary. Compiled by the BPF programs (with vmlinux.h) and
 * by rampartd (with <linux/types.h>); never mirrored by hand.
 *
 * Rules (checked by tests/unit/abi_test.cpp):
 *  - fixed-width __u8..__u64 fields only; no bool, long, bitfields or enum-typed
 *    fields; explicit padding, which the BPF side zeroes;
 *  - every record starts with struct rp_event_hdr, and hdr.size is the size of
 *    the whole record, so the decoder checks type and size before reading;
 *  - RP_ABI_VERSION is bumped when a field moves or changes meaning. Appending a
 *    new event type or a new flag bit does not bump it; the decoder rejects
 *    types it does not know and counts them.
 */
#ifndef RAMPART_RP_ABI_H
#define RAMPART_RP_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define RP_ABI_VERSION 1

#define RP_COMM_LEN 16
#define RP_PATH_MAX 256 /* paths longer than this are cut and flagged */
#define RP_ARGS_MAX 512 /* NUL-separated argv bytes kept per exec */
#define RP_AUX_LEN 32	/* short auxiliary string: fstype, memfd name */

/* Event types. Values are ABI: never renumber, only append. */
#define RP_EV_EXEC 1
#define RP_EV_FORK 2
#define RP_EV_EXIT 3
#define RP_EV_OPEN 4
#define RP_EV_UNLINK 5
#define RP_EV_RENAME 6
#define RP_EV_CHMOD 7
#define RP_EV_CHOWN 8
#define RP_EV_CONNECT 9
#define RP_EV_ACCEPT 10
#define RP_EV_BIND 11
#define RP_EV_LISTEN 12
#define RP_EV_SETUID 13 /* setuid, setreuid, setresuid, setfsuid */
#define RP_EV_SETGID 14 /* setgid, setregid, setresgid, setfsgid */
#define RP_EV_CAPSET 15
#define RP_EV_PTRACE 16
#define RP_EV_PROCESS_VM_WRITEV 17
#define RP_EV_MODULE_LOAD 18 /* init_module, finit_module */
#define RP_EV_BPF 19
#define RP_EV_MOUNT 20
#define RP_EV_UMOUNT 21
#define RP_EV_UNSHARE 22
#define RP_EV_SETNS 23
#define RP_EV_MEMFD_CREATE 24
#define RP_EV_ENFORCE 25  /* the kernel refused (or, in audit mode, would refuse) an operation */
#define RP_EV_IO_URING 26 /* io_uring_setup, and each io_uring operation submitted */
#define RP_EV_MAX 27	  /* one past the last type; sizes the stats map */

/* rp_event_hdr.flags bits, common to all records. */
#define RP_F_PATH_TRUNCATED (1u << 0) /* a path field was cut at RP_PATH_MAX */
#define RP_F_PATH_RESOLVED (1u << 1)  /* a relative path was made absolute in-kernel */
#define RP_F_ARGS_TRUNCATED (1u << 2) /* exec argv cut at RP_ARGS_MAX */
#define RP_F_FILELESS (1u << 3)	      /* exec of a memfd, a deleted file or an fd */
#define RP_F_EXECVEAT_EMPTY (1u << 4) /* exec through execveat(fd, "", AT_EMPTY_PATH) */
#define RP_F_MEMFD (1u << 5)	      /* the executed file is a memfd */
#define RP_F_PATH2_TRUNCATED (1u << 6)
#define RP_F_PATH2_RESOLVED (1u << 7)
#define RP_F_STDIO_SOCKET (1u << 8)   /* exec: stdin or stdout is a socket (checked in-kernel, at exec) */
#define RP_F_INHERIT_FAILED (1u << 9) /* fork: the child's policy or verdict could not be copied (a full map) */
/* Network enforce events: the destination was given in another form than rp_enforce_event.addr,
 * which holds the address the decision was made on. */
#define RP_F_NET_MAPPED (1u << 10)	/* given as IPv4-mapped IPv6 (::ffff:a.b.c.d) */
#define RP_F_NET_UNSPECIFIED (1u << 11) /* given as 0.0.0.0 or ::, which the kernel sends to this host */
/* Quarantine cut (cgroup_skb): a socket the process did not make itself (inherited, passed over SCM_RIGHTS,
 * taken with pidfd_getfd), made its own by rampartd from its fd table or by the kernel when it sent on it. */
#define RP_F_NET_TAKEN (1u << 12)
/* Network enforce events: decided by a deny rule on the other family's loopback (127.0.0.1 for ::1,
 * ::1 for 127.0.0.1), with RP_F_NET_UNSPECIFIED when given as :: or 0.0.0.0. */
#define RP_F_NET_LOOPBACK (1u << 13)

struct rp_event_hdr {
	__u32 type;  /* RP_EV_* */
	__u32 size;  /* bytes in the whole record, header included */
	__u64 ts_ns; /* bpf_ktime_get_boot_ns() */
	__u32 flags; /* RP_F_* */
	__u32 cpu;   /* CPU that emitted it (drop accounting, ordering) */
};

/* Identity of the task that caused the event, filled the same way for all. */
struct rp_proc {
	__u32 pid;  /* thread id */
	__u32 tgid; /* process id */
	__u32 ppid; /* real parent's tgid */
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 mntns;	 /* mount namespace inode number */
	__u64 cgroup_id; /* cgroup v2 id (inode of the cgroup directory) */
	__u64 start_ns;	 /* process start (group leader), boot clock: pid + start_ns is unique */
	char comm[RP_COMM_LEN];
};

/* RP_EV_EXEC: from tp_btf/sched_process_exec, after the new image is in place. */
struct rp_exec_event {
	struct rp_event_hdr hdr;
	struct rp_proc proc;
	__u32 old_pid; /* thread id that called execve (a non-leader thread may) */
	__u32 argc;
	__u32 args_len;	 /* bytes used in args */
	__u32 exe_nlink; /* 0 for a memfd or a deleted file */
	__u64 exe_ino;
	__u32 exe_dev;
	__u32 _pad0;
	char exe_name[RP_AUX_LEN];  /* dentry name of the executed file ("memfd:x" for a memfd) */
	char filename[RP_PATH_MAX]; /* as passed to execve, or resolved when relative */
	char args[RP_ARGS_MAX];	    /* argv, NUL-separated */
};

/* RP_EV_FORK: a new process (threads are filtered in the kernel). */
struct rp_fork_event {
	struct rp_event_hdr hdr;
	struct rp_proc proc; /* the parent */
	__u32 child_pid;
	__u32 child_tgid;
	__u64 child_start_ns;
};

/* RP_EV_EXIT: the last thread of a process exits. */
struct rp_exit_event {
	struct rp_event_hdr hdr;
	struct rp_proc proc;
	__u32 exit_code; /* wait(2) status: (code << 8) | signal */
	__u32 _pad0;
};

/*
 * RP_EV_OPEN, RP_EV_UNLINK, RP_EV_CHMOD, RP_EV_CHOWN: one path.
 * open: flags, mode; chmod: mode; chown: uid, gid; unlink: flags (AT_REMOVEDIR).
 */
struct rp_file_event {
	struct rp_event_hdr hdr;
	struct rp_proc proc;
	__s64 result; /* syscall return: fd or 0, or -errno */
	__u32 syscall_nr;
	__u32 flags;
	__u32 mode;
	__u32 uid; /* chown only; (__u32)-1 means unchanged */
	__u32 gid;
	__s32 dirfd;	 /* AT_FDCWD (-100) or the fd the path is relative to */
	__u32 policy_id; /* open only: the opener's policy when it opened (0: none) */
	__u32 _pad0;
	char path[RP_PATH_MAX];
};

/* RP_EV_RENAME: two paths. */
struct rp_rename_event {
	struct rp_event_hdr hdr;
	struct rp_proc proc;
	__s64 result;
	__u32 syscall_nr;
	__u32 flags; /* renameat2 flags */
	char path[RP_PATH_MAX];
	char path2[RP_PATH_MAX];
};

/* Address families as carried in rp_net_event.family (Linux values). */
#define RP_AF_INET 2
#define RP_AF_INET6 10

/* RP_EV_CONNECT, RP_EV_ACCEPT, RP_EV_BIND, RP_EV_LISTEN. Addresses in network byte order. */
struct rp_net_event {
	struct rp_event_hdr hdr;
	struct rp_proc proc;
	__s64 result; /* connect/bind/listen: 0 or -errno; accept: new fd or -errno */
	__u32 syscall_nr;
	__s32 fd;	  /* the socket the call was made on */
	__u16 family;	  /* RP_AF_INET or RP_AF_INET6 */
	__u16 sock_type;  /* SOCK_STREAM, SOCK_DGRAM, ... */
	__u16 local_port; /* host byte order */
	__u16 remote_port;
	__u8 local_addr[16]; /* IPv4 in the first 4 bytes */
	__u8 remote_addr[16];
	__u32 backlog; /* listen only */
	__u32 _pad0;
};

/*
 * The privilege and kernel-tampering events share one layout; what args[]
 * and the strings mean depends on hdr.type (see the table in README.md):
 *   SETUID/SETGID       args = {r, e, s, fs} ids, (__u64)-1 when not passed
 *   CAPSET              args = {target pid, effective, permitted, inheritable}
 *   PTRACE              args = {request, target pid, addr}
 *   PROCESS_VM_WRITEV   args = {target pid, bytes requested}
 *   MODULE_LOAD         args = {fd (finit) or -1, len (init), flags}; str = file path (finit)
 *   BPF                 args = {cmd, prog or map type when the attr has one}
 *   MOUNT               args = {flags}; aux = fstype; str = target
 *   UMOUNT              args = {flags}; str = target
 *   UNSHARE             args = {flags}
 *   SETNS               args = {fd, nstype}
 *   MEMFD_CREATE        args = {flags}; aux = name
 *   IO_URING            io_uring_setup (syscall_nr set): args = {entries, flags}, result = the ring fd;
 *                       an operation submitted (syscall_nr RP_IO_URING_SUBMIT): args = {IORING_OP_*,
 *                       fd, user_data, sq_thread}; str = path (openat, openat2); aux = the peer's
 *                       sockaddr as the process passed it (connect; family first)
 */
#define RP_IO_URING_SUBMIT 0xffffffffu
struct rp_syscall_event {
	struct rp_event_hdr hdr;
	struct rp_proc proc;
	__s64 result;
	__u32 syscall_nr;
	__u32 _pad0;
	__u64 args[4];
	char aux[RP_AUX_LEN];
	char str[RP_PATH_MAX];
};

/*
 * Enforcement: the maps the daemon writes and the kernel programs read.
 * Policy ids are small integers assigned by rampartd at load (0 = none).
 */
#define RP_MAX_POLICIES 1024
#define RP_MAX_PORT_RANGES 8
#define RP_MAX_LISTEN 16

#define RP_MODE_AUDIT 0
#define RP_MODE_ENFORCE 1

/* How an operation was stopped (rp_enforce_event.mechanism). */
#define RP_MECH_CGROUP_SOCK 1 /* cgroup connect/bind/sendmsg hook: refused with EPERM, nothing happened */
#define RP_MECH_LSM 2	      /* BPF LSM hook: refused with EPERM */
#define RP_MECH_FANOTIFY 3    /* fanotify permission event answered "deny": EPERM */
#define RP_MECH_SIGKILL 4     /* killed at syscall entry: the syscall itself may still complete */
#define RP_MECH_AFTER 5	      /* rampartd saw the completed operation in an event and killed the process */
#define RP_MECH_CGROUP_SKB 6  /* cgroup skb hook: a packet of an existing socket dropped (quarantine) */
#define RP_MECH_FMOD_RET 7    /* the same hooks as fmod_ret programs on security_*(): refused with EPERM */
#define RP_MECH_MAX 8	      /* one past the last mechanism */

/* rp_enforce_event.action */
#define RP_ACT_DENIED 1
#define RP_ACT_WOULD_DENY 2 /* audit mode: allowed, reported */
#define RP_ACT_KILLED 3

/* rp_enforce_event.reason */
#define RP_REASON_NOT_ALLOWED 1	 /* not on the policy's allow-list */
#define RP_REASON_DENY_RULE 2	 /* an explicit deny rule */
#define RP_REASON_VERDICT 3	 /* the process's trust verdict (quarantine) */
#define RP_REASON_SELF_PROTECT 4 /* aimed at rampartd itself (BPF LSM only) */

/* rp_enforce_event.op for operations that have no event type of their own. */
#define RP_OP_SIGNAL 64
#define RP_OP_SEND 65	 /* a packet leaving an existing socket */
#define RP_OP_RECEIVE 66 /* a packet arriving at an existing socket */

struct rp_port_range {
	__u16 lo;
	__u16 hi;
};

/* rp_policy_rule.deny_priv: privilege operations the policy forbids. */
#define RP_PRIV_SETUID (1u << 0) /* set*uid and set*gid */
#define RP_PRIV_CAPSET (1u << 1)
#define RP_PRIV_PTRACE (1u << 2)   /* ptrace attach/seize/poke and process_vm_writev */
#define RP_PRIV_MODULE (1u << 3)   /* init_module, finit_module */
#define RP_PRIV_BPF (1u << 4)	   /* bpf() */
#define RP_PRIV_MOUNT (1u << 5)	   /* mount, umount2 */
#define RP_PRIV_NS (1u << 6)	   /* unshare, setns */
#define RP_PRIV_IO_URING (1u << 7) /* io_uring_setup */

/* rp_policy_rule.path_flags (BPF LSM path): */
#define RP_PATHS_RESTRICT_EXEC (1u << 0)  /* only EXEC_ALLOW paths may be executed */
#define RP_PATHS_RESTRICT_READ (1u << 1)  /* only READ_ALLOW paths may be opened for reading */
#define RP_PATHS_RESTRICT_WRITE (1u << 2) /* only WRITE_ALLOW paths may be opened for writing */
#define RP_PATHS_ANY (1u << 3)		  /* the policy has entries in path_rules_map */

/* rp_policy_rule.exec_guard (fanotify path): */
#define RP_EXEC_FAIL_CLOSED (1u << 0) /* an exec fanotify could not check (unlinked, unmarked fs) is killed */
#define RP_EXEC_DENY_SIZES (1u << 1)  /* ... when its size is in exec_deny_size_map (a copy of a denied binary) */
#define RP_EXEC_DENY_UNSEEN (1u << 2) /* ... always: "sha256:" deny rules, whose binaries' sizes are not known */

/* exec_deny_size_map: (policy id, file size) of each binary that policy's
 * exec deny rules name (fanotify path). An exec fanotify could not check
 * whose file has one of these sizes may be a copy of it: it is killed. */
struct rp_exec_size_key {
	__u64 size;
	__u32 policy_id;
	__u32 _pad0;
};

/* path_rules_map: (policy id, path prefix) -> RP_PR_* flags. An exact path is
 * stored with its terminating NUL, a "dir/" prefix without; each entry
 * carries the flags of every shorter prefix entry that contains it (LPM
 * finds the longest only). Policy id 0 holds the sensitive paths. */
#define RP_LSM_PATH 248
#define RP_PR_EXEC_ALLOW (1u << 0)
#define RP_PR_EXEC_DENY (1u << 1)
#define RP_PR_READ_ALLOW (1u << 2)
#define RP_PR_WRITE_ALLOW (1u << 3)
#define RP_PR_READ_DENY (1u << 4)
#define RP_PR_WRITE_DENY (1u << 5)
#define RP_PR_SENSITIVE (1u << 6)
struct rp_path_key {
	__u32 prefixlen; /* bits: 32 for the policy id + 8 per path byte */
	__u32 policy_id;
	char path[RP_LSM_PATH];
};

/*
 * inode_rules_map: (policy id, device, inode) -> RP_PR_*_DENY and
 * RP_PR_SENSITIVE flags. A file a deny rule names, under every name it has
 * (hard links, bind mounts, renames, paths too long for path_rules_map).
 * dev is the kernel's s_dev (major << 20 | minor); policy 0 holds the
 * sensitive files. Filled by rampartd, and by the LSM programs themselves
 * when a path rule refuses a file not yet in it.
 */
struct rp_inode_key {
	__u64 ino;
	__u32 dev;
	__u32 policy_id;
};

/* protected_map: the ids of rampartd's own maps, programs and links (key:
 * RP_OBJ_* << 32 | id). The BPF LSM programs refuse other processes an fd to them. */
#define RP_OBJ_MAP 1
#define RP_OBJ_PROG 2
#define RP_OBJ_LINK 3

/* policy_map value, indexed by policy id. */
struct rp_policy_rule {
	__u8 mode;	       /* RP_MODE_* */
	__u8 restrict_connect; /* 1: only net_allow{4,6}_map entries may be connected to */
	__u8 restrict_bind;    /* 1: only listen[] ports may be bound */
	__u8 n_listen;
	__u8 deny_priv;	   /* RP_PRIV_*: refused by killing the caller (no LSM) */
	__u8 has_net_deny; /* 1: net_deny{4,6}_map holds deny rules for this policy */
	__u8 path_flags;   /* RP_PATHS_*: what the BPF LSM programs check in path_rules_map */
	__u8 exec_guard;   /* RP_EXEC_*: exec checks at sched_process_exec (no BPF LSM) */
	struct rp_port_range listen[RP_MAX_LISTEN];
};

/* net_allow{4,6}_map values: the ports allowed for a network.
 * net_deny{4,6}_map values: the ports denied, and what a deny rule does. */
#define RP_NET_DENY 1  /* refuse with EPERM */
#define RP_NET_KILL 2  /* refuse with EPERM; rampartd then kills the caller */
#define RP_NET_ALERT 3 /* allow and report */
struct rp_port_set {
	__u32 n;
	__u32 action; /* deny maps: RP_NET_*; allow maps: 0 */
	struct rp_port_range r[RP_MAX_PORT_RANGES];
};

/* LPM keys: prefixlen counts the 32 policy-id bits plus the address bits. */
struct rp_net4_key {
	__u32 prefixlen;
	__u32 policy_id;
	__u8 addr[4];
};
struct rp_net6_key {
	__u32 prefixlen;
	__u32 policy_id;
	__u8 addr[16];
};

/* exe_policy_map key: an executable by inode, as the kernel sees it (s_dev = major << 20 | minor). */
struct rp_exe_key {
	__u64 ino;
	__u32 dev;
	__u32 _pad0;
};

/* verdict_map value, keyed by tgid: what the trust score decided. */
#define RP_V_DENY_NET (1u << 0) /* quarantine: no connect, bind or sendmsg, no packet on its sockets */
#define RP_V_DENY_EXEC (1u << 1)
#define RP_V_DENY_FILES (1u << 2) /* sensitive file opens */
#define RP_V_KILL (1u << 3)
struct rp_verdict {
	__u32 level; /* 0 observe .. 4 kill */
	__u32 flags; /* RP_V_* */
};

/* sock_owner_map value (socket storage): the process a socket belongs to,
 * for the quarantine cut. Written by the cgroup hooks, and by rampartd
 * (keyed by a socket fd of its own) for a socket a quarantined process holds
 * but another process owns. */
#define RP_CUT_EGRESS 1
#define RP_CUT_INGRESS 2
struct rp_sock_owner {
	struct rp_proc proc; /* who created, connected, bound or last sent on it, or holds it under quarantine */
	__u32 reported;	     /* RP_CUT_* directions already reported in this quarantine */
	__u32 taken;	     /* 1: made the owner's while another process owned it (RP_F_NET_TAKEN) */
	__u32 cut;	     /* 1: cut under the owner's verdict; stays cut after the owner exits */
	__u32 _pad;
};

/* cut_exited_map key: a process that exited while its verdict denied it the
 * network. Its sockets stay cut: the kernel goes on sending (retransmits,
 * FIN) what it wrote, after the process and its verdict are gone. */
struct rp_proc_key {
	__u32 tgid;
	__u32 _pad;
	__u64 start_ns; /* rp_proc.start_ns */
};

/*
 * open_flags_map value, keyed by thread id: the open (or exec) the thread is
 * in, set at sys_enter and cleared at sys_exit. The fanotify guard learns
 * only the thread of a permission event (FAN_REPORT_TID) and looks up here
 * whether the open reads or writes, and the thread's process.
 */
struct rp_open_flags {
	__u64 flags; /* the open's O_* flags, when known */
	__u32 tgid;
	__u32 known;   /* 0: flags untrusted (openat2 keeps them in memory the caller can change) */
	__u64 exec_id; /* execve, execveat: this call's own id (its start time); 0 otherwise */
};

/* RP_EV_ENFORCE: an operation refused or, in audit mode, reported. */
struct rp_enforce_event {
	struct rp_event_hdr hdr;
	struct rp_proc proc;
	__u32 op;	 /* the operation's event type: RP_EV_CONNECT, RP_EV_BIND, ... */
	__u32 policy_id; /* 0 when the verdict map acted without a policy */
	__u8 mechanism;	 /* RP_MECH_* */
	__u8 action;	 /* RP_ACT_* */
	__u8 reason;	 /* RP_REASON_* */
	__u8 family;	 /* 4 or 6 for network operations */
	__u16 port;	 /* host byte order */
	__u16 _pad0;
	__u8 addr[16];
	char path[RP_PATH_MAX]; /* exec and file operations: the file; "" otherwise */
};

/* Per-CPU counters, one slot per event type (index = RP_EV_*). */
struct rp_stats {
	__u64 emitted;	    /* records submitted to the ring buffer */
	__u64 filtered;	    /* seen but skipped in-kernel on purpose (threads, self, family) */
	__u64 dropped;	    /* lost: the ring buffer was full */
	__u64 errors;	    /* lost: a kernel read or map lookup failed */
	__u64 rate_limited; /* lost: over its process's or cgroup's rate (RP_RATE_LIMITED_TYPES only) */
};

/*
 * Overload. Only these high-volume types are rate-limited in the kernel;
 * exec, fork, exit, enforce and the privilege and kernel-tampering events
 * never are (they are rare, and the process table and enforcement need them).
 * Bit n stands for event type n.
 */
#define RP_RATE_LIMITED_TYPES                                                                                          \
	((1u << RP_EV_OPEN) | (1u << RP_EV_UNLINK) | (1u << RP_EV_RENAME) | (1u << RP_EV_CHMOD) |                      \
	 (1u << RP_EV_CHOWN) | (1u << RP_EV_CONNECT) | (1u << RP_EV_ACCEPT) | (1u << RP_EV_BIND) |                     \
	 (1u << RP_EV_LISTEN))

/*
 * loss_map value, keyed by tgid: the events of one process that never reached
 * rampartd since rampartd last drained the entry (it reads and deletes each).
 */
struct rp_loss {
	__u64 dropped;	    /* the ring buffer was full */
	__u64 rate_limited; /* over the process's or its cgroup's rate */
	__u64 first_ns;	    /* boot clock of the first loss in this entry */
	__u64 last_ns;
	__u64 cgroup_id;
	__u32 tgid;
	__u32 types; /* bit n: events of type n were lost */
	char comm[RP_COMM_LEN];
};

#endif /* RAMPART_RP_ABI_H */
