// SPDX-License-Identifier: GPL-2.0-only
/*
 * syscall.bpf.c - the sys_exit dispatcher.
 * Hook: tp_btf/sys_exit. Everything else in the syscall path is a tail call;
 * the dispatcher itself only clears the thread's entry in open_flags_map.
 */
#include "syscall.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit_dispatch, struct pt_regs *regs, long ret)
{
	__u32 nr = (__u32)RP_SYSCALL_NR(regs);

	if (rp_is_open_nr((long)RP_SYSCALL_NR(regs))) {
		__u32 tid = (__u32)bpf_get_current_pid_tgid();

		/* The open is over: its flags must not answer for a later event of this thread. */
		bpf_map_delete_elem(&open_flags_map, &tid);
	}
	bpf_tail_call(ctx, &sys_exit_progs_map, nr);
	return 0;
}
