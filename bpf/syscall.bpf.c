// SPDX-License-Identifier: GPL-2.0-only
/*
 * syscall.bpf.c - the sys_exit dispatcher.
 * Hook: tp_btf/sys_exit. Everything else in the syscall path is a tail call.
 */
#include "syscall.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit_dispatch, struct pt_regs *regs, long ret)
{
	__u32 nr = (__u32)RP_SYSCALL_NR(regs);

	bpf_tail_call(ctx, &sys_exit_progs_map, nr);
	return 0;
}
