"""The structures of the generated kernel: one coherent Linux 5.15-style x86-64 generation.

volatility3 picks code paths by which members exist (``__state`` vs
``state``, the ``mmap`` VMA list vs the maple tree, ``thread_group``, inode
``i_atime`` timespec64 fields, ``fdt``...), so every member here is the one a
5.15 kernel has.  Only the members some plugin reads, plus a few that make the
structures recognisable to a trainee, are modelled; offsets are computed by
:class:`~dflab.evidence.memory.cstruct.TypeTable` and written into the ISF,
so they need not match a real build.  Types volatility3 insists on but never
reads here (``page``, ``unix_sock``...) are small stubs; bit fields (``printk_info.level``)
are whole bytes, since the ISF describes whatever layout is written.
"""

from __future__ import annotations

from dflab.evidence.memory.cstruct import (
    CHAR_P,
    FUNCTION,
    S32,
    S64,
    U8,
    U16,
    U32,
    U64,
    VOID_P,
    TypeTable,
    array,
    base,
    enum,
    ptr,
    struct,
)

TASK_COMM_LEN = 16
NR_OPEN_DEFAULT = 64  # fd_array slots embedded in files_struct (BITS_PER_LONG)
PIDTYPE_MAX = 4
BPF_PROG_TYPES = {name: value for value, name in enumerate((  # enum bpf_prog_type, include/uapi/linux/bpf.h
    "BPF_PROG_TYPE_UNSPEC", "BPF_PROG_TYPE_SOCKET_FILTER", "BPF_PROG_TYPE_KPROBE", "BPF_PROG_TYPE_SCHED_CLS",
    "BPF_PROG_TYPE_SCHED_ACT", "BPF_PROG_TYPE_TRACEPOINT", "BPF_PROG_TYPE_XDP", "BPF_PROG_TYPE_PERF_EVENT",
    "BPF_PROG_TYPE_CGROUP_SKB", "BPF_PROG_TYPE_CGROUP_SOCK", "BPF_PROG_TYPE_LWT_IN", "BPF_PROG_TYPE_LWT_OUT",
    "BPF_PROG_TYPE_LWT_XMIT", "BPF_PROG_TYPE_SOCK_OPS", "BPF_PROG_TYPE_SK_SKB", "BPF_PROG_TYPE_CGROUP_DEVICE"))}
TASK_STRUCT_SIZE = 0x2600  # sizeof(struct task_struct) the ISF gives (/proc/slabinfo's objsize: 9728)
_TASK_HEAD = 0x188  # the modelled members before ``thread``
_FPU_BYTES = TASK_STRUCT_SIZE - _TASK_HEAD - 32 - 16  # less thread_struct's other members and fpu's own
XA_CHUNK_SIZE = 64  # slots per XArray node (XA_CHUNK_SHIFT 6)


def _p(name: str) -> dict[str, object]:
    return ptr(struct(name))


def build_kernel_types() -> TypeTable:
    """Return the type table of the generated kernel."""
    t = TypeTable()
    d = t.define
    d("list_head", [("next", _p("list_head")), ("prev", _p("list_head"))])
    d("hlist_node", [("next", _p("hlist_node")), ("pprev", ptr(_p("hlist_node")))])
    d("hlist_head", [("first", _p("hlist_node"))])
    d("atomic_t", [("counter", S32)])
    d("atomic64_t", [("counter", S64)])
    d("refcount_struct", [("refs", struct("atomic_t"))])
    d("kref", [("refcount", struct("refcount_struct"))])
    d("kuid_t", [("val", U32)])
    d("kgid_t", [("val", U32)])
    d("kernel_cap_struct", [("cap", array(2, U32))])
    d("timespec64", [("tv_sec", S64), ("tv_nsec", base("long int"))])
    d("qstr", [("hash", U32), ("len", U32), ("name", ptr(U8))])
    d("path", [("mnt", _p("vfsmount")), ("dentry", _p("dentry"))])
    d("pgd_t", [("pgd", U64)])
    d("pgprot_t", [("pgprot", U64)])
    d("ns_common", [("stashed", struct("atomic64_t")), ("ops", VOID_P), ("inum", U32),
                    ("count", struct("refcount_struct"))])
    d("kobject", [("name", CHAR_P), ("entry", struct("list_head")), ("parent", _p("kobject")),
                  ("kref", struct("kref"))])
    d("page", [("flags", U64), ("lru", struct("list_head")), ("mapping", _p("address_space")),
               ("index", U64)])
    d("xarray", [("xa_lock", U32), ("xa_flags", U32), ("xa_head", VOID_P)])
    d("address_space", [("host", _p("inode")), ("i_pages", struct("xarray")), ("nrpages", U64)])

    # Scheduling, time and namespaces.
    d("sched_class", [("enqueue_task", ptr(FUNCTION)), ("dequeue_task", ptr(FUNCTION)),
                      ("pick_next_task", ptr(FUNCTION))])
    d("timekeeper", [("xtime_sec", U64), ("wall_to_monotonic", struct("timespec64")),
                     ("offs_real", S64), ("offs_boot", S64), ("offs_tai", S64)])
    d("tk_core_t", [("seq", U32), ("timekeeper", struct("timekeeper"))])
    d("timens_offsets", [("monotonic", struct("timespec64")), ("boottime", struct("timespec64"))])
    d("time_namespace", [("user_ns", VOID_P), ("ucounts", VOID_P), ("ns", struct("ns_common")),
                         ("offsets", struct("timens_offsets")), ("vvar_page", VOID_P),
                         ("frozen_offsets", base("_Bool"))])
    d("net", [("passive", struct("refcount_struct")), ("list", struct("list_head")),
              ("ns", struct("ns_common")), ("dev_base_head", struct("list_head")),
              ("ifindex", S32)])
    d("nsproxy", [("count", struct("atomic_t")), ("uts_ns", VOID_P), ("ipc_ns", VOID_P),
                  ("mnt_ns", _p("mnt_namespace")), ("pid_ns_for_children", _p("pid_namespace")), ("net_ns", _p("net")),
                  ("time_ns", _p("time_namespace")), ("time_ns_for_children", _p("time_namespace")),
                  ("cgroup_ns", VOID_P)])

    # Credentials.
    d("cred", [("usage", struct("atomic_t")), ("uid", struct("kuid_t")), ("gid", struct("kgid_t")),
               ("suid", struct("kuid_t")), ("sgid", struct("kgid_t")), ("euid", struct("kuid_t")),
               ("egid", struct("kgid_t")), ("fsuid", struct("kuid_t")), ("fsgid", struct("kgid_t")),
               ("securebits", U32), ("cap_inheritable", struct("kernel_cap_struct")),
               ("cap_permitted", struct("kernel_cap_struct")),
               ("cap_effective", struct("kernel_cap_struct")),
               ("cap_bset", struct("kernel_cap_struct")), ("cap_ambient", struct("kernel_cap_struct"))])

    # VFS.
    d("file_system_type", [("name", CHAR_P), ("fs_flags", S32)])
    d("super_block", [("s_list", struct("list_head")), ("s_dev", U32), ("s_blocksize", U64),
                      ("s_type", _p("file_system_type")), ("s_magic", U64), ("s_root", _p("dentry")),
                      ("s_id", array(32, base("char"))), ("s_uuid", array(16, U8)), ("s_flags", U64),
                      ("s_subtype", CHAR_P)])
    d("inode", [("i_mode", U16), ("i_opflags", U16), ("i_uid", struct("kuid_t")),
                ("i_gid", struct("kgid_t")), ("i_flags", U32), ("i_op", VOID_P),
                ("i_sb", _p("super_block")), ("i_mapping", _p("address_space")), ("i_ino", U64),
                ("i_nlink", U32), ("i_rdev", U32), ("i_size", S64),
                ("i_atime", struct("timespec64")), ("i_mtime", struct("timespec64")),
                ("i_ctime", struct("timespec64")), ("i_bytes", U16), ("i_blocks", U64),
                ("i_count", struct("atomic_t")), ("i_fop", _p("file_operations")),
                ("i_private", VOID_P)])
    d("dentry_operations", [("d_revalidate", ptr(FUNCTION)), ("d_hash", ptr(FUNCTION)),
                            ("d_compare", ptr(FUNCTION)), ("d_delete", ptr(FUNCTION)),
                            ("d_release", ptr(FUNCTION)), ("d_dname", ptr(FUNCTION))])
    d("dentry", [("d_flags", U32), ("d_seq", U32), ("d_hash", struct("hlist_node")),
                 ("d_parent", _p("dentry")), ("d_name", struct("qstr")), ("d_inode", _p("inode")),
                 ("d_iname", array(32, U8)), ("d_lockref", U64), ("d_op", _p("dentry_operations")),
                 ("d_sb", _p("super_block")), ("d_time", U64), ("d_fsdata", VOID_P),
                 ("d_lru", struct("list_head")), ("d_child", struct("list_head")),
                 ("d_subdirs", struct("list_head"))])
    d("vfsmount", [("mnt_root", _p("dentry")), ("mnt_sb", _p("super_block")), ("mnt_flags", S32),
                   ("mnt_userns", VOID_P)])
    d("mount", [("mnt_hash", struct("hlist_node")), ("mnt_parent", _p("mount")),
                ("mnt_mountpoint", _p("dentry")), ("mnt", struct("vfsmount")),
                ("mnt_count", S32), ("mnt_writers", S32), ("mnt_mounts", struct("list_head")),
                ("mnt_child", struct("list_head")), ("mnt_instance", struct("list_head")),
                ("mnt_devname", CHAR_P), ("mnt_list", struct("list_head")), ("mnt_id", S32),
                ("mnt_group_id", S32), ("mnt_ns", _p("mnt_namespace")), ("mnt_master", _p("mount")),
                ("mnt_share", struct("list_head")), ("mnt_slave_list", struct("list_head")),
                ("mnt_slave", struct("list_head"))])
    d("mnt_namespace", [("ns", struct("ns_common")), ("root", _p("mount")), ("list", struct("list_head")),
                        ("seq", U64), ("mounts", U32), ("pending_mounts", U32)])
    d("file_operations", [("owner", VOID_P), ("llseek", ptr(FUNCTION)), ("read", ptr(FUNCTION)),
                          ("write", ptr(FUNCTION))])
    d("file", [("f_u", struct("list_head")), ("f_path", struct("path")), ("f_inode", _p("inode")),
               ("f_op", _p("file_operations")), ("f_count", struct("atomic64_t")), ("f_flags", U32),
               ("f_mode", U32), ("f_pos", S64), ("private_data", VOID_P),
               ("f_mapping", _p("address_space"))])
    d("fdtable", [("max_fds", U32), ("fd", ptr(_p("file"))), ("close_on_exec", ptr(U64)),
                  ("open_fds", ptr(U64)), ("full_fds_bits", ptr(U64))])
    d("files_struct", [("count", struct("atomic_t")), ("resize_in_progress", base("_Bool")),
                       ("fdt", _p("fdtable")), ("fdtab", struct("fdtable")), ("next_fd", U32),
                       ("close_on_exec_init", array(1, U64)), ("open_fds_init", array(1, U64)),
                       ("full_fds_bits_init", array(1, U64)),
                       ("fd_array", array(NR_OPEN_DEFAULT, _p("file")))])
    d("fs_struct", [("users", S32), ("umask", S32), ("in_exec", S32), ("root", struct("path")),
                    ("pwd", struct("path"))])

    # Memory management.
    d("mm_context_t", [("ctx_id", U64), ("vdso", VOID_P), ("vdso_image", VOID_P)])
    d("vm_area_struct", [("vm_start", U64), ("vm_end", U64), ("vm_next", _p("vm_area_struct")),
                         ("vm_prev", _p("vm_area_struct")), ("vm_mm", _p("mm_struct")),
                         ("vm_page_prot", struct("pgprot_t")), ("vm_flags", U64),
                         ("anon_vma", VOID_P), ("vm_ops", VOID_P), ("vm_pgoff", U64),
                         ("vm_file", _p("file")), ("vm_private_data", VOID_P)])
    d("mm_struct", [("mmap", _p("vm_area_struct")), ("mm_rb", VOID_P), ("vmacache_seqnum", U64),
                    ("mmap_base", U64), ("task_size", U64), ("highest_vm_end", U64),
                    ("pgd", _p("pgd_t")), ("mm_users", struct("atomic_t")),
                    ("mm_count", struct("atomic_t")), ("map_count", S32),
                    ("total_vm", U64), ("stack_vm", U64), ("start_code", U64), ("end_code", U64),
                    ("start_data", U64), ("end_data", U64), ("start_brk", U64), ("brk", U64),
                    ("start_stack", U64), ("arg_start", U64), ("arg_end", U64), ("env_start", U64),
                    ("env_end", U64), ("context", struct("mm_context_t")), ("owner", _p("task_struct")),
                    ("exe_file", _p("file"))])

    # Tasks. The CPU state ends the task_struct, as in the kernel: its xsave area makes the task ~9.7 KiB
    # (TASK_STRUCT_SIZE, Debian 12's 6.1 on x86-64), so the task_struct cache holds three per order-3 slab.
    d("fpu", [("last_cpu", U32), ("avx512_timestamp", U64), ("__fpstate", array(_FPU_BYTES, U8))])
    d("thread_struct", [("sp", U64), ("es", U16), ("ds", U16), ("fsindex", U16), ("gsindex", U16),
                        ("fsbase", U64), ("gsbase", U64), ("fpu", struct("fpu"))])
    d("task_struct", [("__state", U32), ("stack", VOID_P), ("usage", struct("refcount_struct")),
                      ("flags", U32), ("ptrace", U32), ("on_cpu", S32), ("prio", S32),
                      ("sched_class", _p("sched_class")), ("tasks", struct("list_head")),
                      ("mm", _p("mm_struct")), ("active_mm", _p("mm_struct")),
                      ("exit_state", S32), ("exit_code", S32), ("exit_signal", S32),
                      ("pid", S32), ("tgid", S32), ("real_parent", _p("task_struct")),
                      ("parent", _p("task_struct")), ("children", struct("list_head")),
                      ("sibling", struct("list_head")), ("group_leader", _p("task_struct")),
                      ("ptraced", struct("list_head")), ("ptrace_entry", struct("list_head")),
                      ("thread_group", struct("list_head")), ("thread_node", struct("list_head")),
                      ("start_time", U64), ("start_boottime", U64),
                      ("real_cred", _p("cred")), ("cred", _p("cred")),
                      ("comm", array(TASK_COMM_LEN, base("char"))), ("fs", _p("fs_struct")),
                      ("files", _p("files_struct")), ("nsproxy", _p("nsproxy")),
                      ("set_child_tid", ptr(S32)), ("thread_pid", _p("pid")),
                      ("perf_event_list", struct("list_head")),
                      ("pid_links", array(PIDTYPE_MAX, struct("hlist_node"))),
                      ("thread", struct("thread_struct"))])
    if t.layouts["task_struct"].size != TASK_STRUCT_SIZE:
        raise AssertionError(f"task_struct is {t.layouts['task_struct'].size:#x} bytes, not {TASK_STRUCT_SIZE:#x}: "
                             "adjust _TASK_HEAD")
    _pids(t)

    # Networking.
    t.define_enum("socket_state", {"SS_FREE": 0, "SS_UNCONNECTED": 1, "SS_CONNECTING": 2,
                                   "SS_CONNECTED": 3, "SS_DISCONNECTING": 4})
    d("socket", [("state", enum("socket_state")), ("type", base("short int")), ("flags", U64),
                 ("file", _p("file")), ("sk", _p("sock")), ("ops", VOID_P)])
    d("socket_alloc", [("socket", struct("socket")), ("vfs_inode", struct("inode"))])
    d("sock_common", [("skc_daddr", U32), ("skc_rcv_saddr", U32), ("skc_hash", U32),
                      ("skc_dport", U16), ("skc_num", U16), ("skc_family", U16), ("skc_state", U8),
                      ("skc_reuse", U8), ("skc_bound_dev_if", S32), ("skc_prot", VOID_P),
                      ("skc_net", _p("net"))])
    d("sock", [("__sk_common", struct("sock_common")), ("sk_rcvbuf", S32), ("sk_sndbuf", S32),
               ("sk_type", U16), ("sk_protocol", U16), ("sk_socket", _p("socket")),
               ("sk_user_data", VOID_P), ("sk_destruct", ptr(FUNCTION))])
    d("inet_sock", [("sk", struct("sock")), ("pinet6", VOID_P), ("inet_saddr", U32),
                    ("uc_ttl", base("short int")), ("cmsg_flags", U16), ("inet_sport", U16),
                    ("inet_id", U16)])
    d("unix_sock", [("sk", struct("sock")), ("addr", VOID_P), ("path", struct("path")),
                    ("peer", _p("sock"))])
    _netdev(t)
    _tty_and_tracing(t)
    _printk(t)
    _modules(t)
    _entry_tables(t)
    return t


def _pids(t: TypeTable) -> None:
    """PIDs as 5.15 keeps them: ``struct pid`` in ``init_pid_ns.idr`` (an XArray of 64-slot nodes), and
    ``struct kthread`` behind a kernel thread's ``set_child_tid`` (``worker_private`` is 5.17+)."""
    d = t.define
    t.define_enum("pid_type", {"PIDTYPE_PID": 0, "PIDTYPE_TGID": 1, "PIDTYPE_PGID": 2, "PIDTYPE_SID": 3,
                               "PIDTYPE_MAX": PIDTYPE_MAX})
    d("xa_node", [("shift", U8), ("offset", U8), ("count", U8), ("nr_values", U8), ("parent", _p("xa_node")),
                  ("array", _p("xarray")), ("private_list", struct("list_head")),
                  ("slots", array(XA_CHUNK_SIZE, VOID_P)), ("marks", array(3, U64))])
    d("idr", [("idr_rt", struct("xarray")), ("idr_base", U32), ("idr_next", U32)])
    d("pid_namespace", [("idr", struct("idr")), ("pid_allocated", U32), ("child_reaper", _p("task_struct")),
                        ("level", U32), ("parent", _p("pid_namespace")), ("ns", struct("ns_common"))])
    d("upid", [("nr", S32), ("ns", _p("pid_namespace"))])
    d("pid", [("count", struct("refcount_struct")), ("level", U32), ("lock", U32),
              ("tasks", array(PIDTYPE_MAX, struct("hlist_head"))), ("inodes", struct("hlist_head")),
              ("numbers", array(1, struct("upid")))])
    t.define_enum("bpf_prog_type", BPF_PROG_TYPES)
    d("bpf_prog_aux", [("refcnt", struct("atomic64_t")), ("id", U32), ("prog", _p("bpf_prog")),
                       ("name", array(16, base("char")))])
    d("bpf_prog", [("pages", U16), ("jited", U16), ("type", enum("bpf_prog_type")), ("tag", array(8, U8)),
                   ("aux", _p("bpf_prog_aux")), ("bpf_func", ptr(FUNCTION))])
    d("kthread", [("flags", U64), ("cpu", U32), ("result", S32), ("threadfn", ptr(FUNCTION)), ("data", VOID_P)])


def _netdev(t: TypeTable) -> None:
    """Network interfaces on a namespace's ``dev_base_head`` with their IPv4 and IPv6 addresses."""
    d = t.define
    t.define_enum("netdev_state_t", {"__LINK_STATE_START": 0, "__LINK_STATE_PRESENT": 1,
                                     "__LINK_STATE_NOCARRIER": 2, "__LINK_STATE_LINKWATCH_PENDING": 3,
                                     "__LINK_STATE_DORMANT": 4, "__LINK_STATE_TESTING": 5})
    t.define_enum("rt_scope_t", {"RT_SCOPE_UNIVERSE": 0, "RT_SCOPE_SITE": 200, "RT_SCOPE_LINK": 253,
                                 "RT_SCOPE_HOST": 254, "RT_SCOPE_NOWHERE": 255})
    d("possible_net_t", [("net", _p("net"))])
    d("Qdisc_ops", [("next", _p("Qdisc_ops")), ("cl_ops", VOID_P), ("id", array(16, base("char")))])
    d("Qdisc", [("enqueue", ptr(FUNCTION)), ("dequeue", ptr(FUNCTION)), ("flags", U32), ("limit", U32),
                ("ops", _p("Qdisc_ops"))])
    d("net_device", [("name", array(16, base("char"))), ("dev_list", struct("list_head")),
                     ("state", U64), ("flags", U32), ("priv_flags", U32), ("gflags", U16), ("mtu", U32),
                     ("ifindex", S32), ("operstate", U8), ("addr_len", U8), ("perm_addr", array(32, U8)),
                     ("ip_ptr", _p("in_device")), ("ip6_ptr", _p("inet6_dev")), ("dev_addr", ptr(U8)),
                     ("qdisc", _p("Qdisc")), ("tx_queue_len", U32), ("nd_net", struct("possible_net_t"))])
    d("in_ifaddr", [("hash", struct("hlist_node")), ("ifa_next", _p("in_ifaddr")), ("ifa_dev", _p("in_device")),
                    ("ifa_local", U32), ("ifa_address", U32), ("ifa_mask", U32), ("ifa_broadcast", U32),
                    ("ifa_scope", U8), ("ifa_prefixlen", U8), ("ifa_flags", U32),
                    ("ifa_label", array(16, base("char")))])
    d("in_device", [("dev", _p("net_device")), ("refcnt", struct("refcount_struct")),
                    ("ifa_list", _p("in_ifaddr"))])
    d("in6_u", [("u6_addr32", array(4, U32))])
    d("in6_addr", [("in6_u", struct("in6_u"))])
    d("inet6_ifaddr", [("addr", struct("in6_addr")), ("prefix_len", U32), ("rt_priority", U32),
                       ("valid_lft", U32), ("prefered_lft", U32), ("refcnt", struct("refcount_struct")),
                       ("state", S32), ("flags", U32), ("scope", U32), ("if_list", struct("list_head")),
                       ("idev", _p("inet6_dev"))])
    d("inet6_dev", [("dev", _p("net_device")), ("addr_list", struct("list_head"))])


def _printk(t: TypeTable) -> None:
    """The 5.10+ printk ring buffer (kernel/printk/printk_ringbuffer.h)."""
    d = t.define
    d("prb_data_blk_lpos", [("begin", U64), ("next", U64)])
    d("prb_desc", [("state_var", struct("atomic64_t")), ("text_blk_lpos", struct("prb_data_blk_lpos"))])
    d("dev_printk_info", [("subsystem", array(16, base("char"))), ("device", array(48, base("char")))])
    d("printk_info", [("seq", U64), ("ts_nsec", U64), ("text_len", U16), ("facility", U8), ("flags", U8),
                      ("level", U8), ("caller_id", U32), ("dev_info", struct("dev_printk_info"))])
    d("prb_desc_ring", [("count_bits", U32), ("descs", _p("prb_desc")), ("infos", _p("printk_info")),
                        ("head_id", struct("atomic64_t")), ("tail_id", struct("atomic64_t"))])
    d("prb_data_ring", [("size_bits", U32), ("data", CHAR_P), ("head_lpos", struct("atomic64_t")),
                        ("tail_lpos", struct("atomic64_t"))])
    d("printk_ringbuffer", [("desc_ring", struct("prb_desc_ring")), ("text_data_ring", struct("prb_data_ring")),
                            ("fail", struct("atomic64_t"))])


def _tty_and_tracing(t: TypeTable) -> None:
    """tty drivers and their line disciplines, the keyboard notifier chain, ftrace ops and tracepoints."""
    d = t.define
    d("tty_ldisc_ops", [("name", CHAR_P), ("num", S32), ("open", ptr(FUNCTION)), ("close", ptr(FUNCTION)),
                        ("receive_buf", ptr(FUNCTION))])
    d("tty_ldisc", [("ops", _p("tty_ldisc_ops")), ("tty", _p("tty_struct"))])
    d("tty_struct", [("magic", S32), ("kref", struct("kref")), ("driver", _p("tty_driver")),
                     ("ldisc", _p("tty_ldisc")), ("index", S32), ("name", array(64, base("char")))])
    d("tty_driver", [("magic", S32), ("kref", struct("kref")), ("driver_name", CHAR_P), ("name", CHAR_P),
                     ("name_base", S32), ("major", S32), ("minor_start", S32), ("num", U32),
                     ("type", base("short int")), ("subtype", base("short int")), ("ttys", ptr(_p("tty_struct"))),
                     ("tty_drivers", struct("list_head"))])
    d("notifier_block", [("notifier_call", ptr(FUNCTION)), ("next", _p("notifier_block")), ("priority", S32)])
    d("atomic_notifier_head", [("lock", U32), ("head", _p("notifier_block"))])
    d("seq_operations", [("start", ptr(FUNCTION)), ("stop", ptr(FUNCTION)), ("next", ptr(FUNCTION)),
                          ("show", ptr(FUNCTION))])
    d("tcp_seq_afinfo", [("family", U16)])  # 4.18+: no seq_fops member, the seq_operations are variables
    d("perf_event", [("event_entry", struct("list_head")), ("owner_entry", struct("list_head")),
                     ("owner", _p("task_struct")), ("attr", array(16, U64))])
    d("fb_info", [("node", S32), ("flags", S32), ("fix", array(64, U8)), ("screen_base", CHAR_P)])
    d("ftrace_ops", [("func", ptr(FUNCTION)), ("next", _p("ftrace_ops")), ("flags", U64), ("private", VOID_P)])
    d("tracepoint_func", [("func", VOID_P), ("data", VOID_P), ("prio", S32)])
    d("tracepoint", [("name", CHAR_P), ("key", array(2, U64)), ("regfunc", ptr(FUNCTION)),
                     ("unregfunc", ptr(FUNCTION)), ("funcs", _p("tracepoint_func"))])


def _modules(t: TypeTable) -> None:
    """``struct module`` as 5.15 has it (``core_layout``, not 6.4's ``mem[]``), and what finds modules:
    the ``modules`` list, ``module_kset`` (sysfs) and ``mod_tree`` (the module area's bounds)."""
    d = t.define
    d("module_layout", [("base", VOID_P), ("size", U32), ("text_size", U32), ("ro_size", U32),
                        ("ro_after_init_size", U32)])
    d("module_kobject", [("kobj", struct("kobject")), ("mod", _p("module")), ("drivers_dir", _p("kobject")),
                         ("mp", VOID_P), ("kobj_completion", VOID_P)])
    d("kset", [("list", struct("list_head")), ("list_lock", U32), ("kobj", struct("kobject")),
               ("uevent_ops", VOID_P)])
    d("kernel_param", [("name", CHAR_P), ("mod", _p("module")), ("ops", VOID_P), ("perm", U16),
                       ("level", base("char")), ("flags", U8), ("arg", VOID_P)])
    # a module's symbols for /proc/kallsyms: ELF Elf64_Sym entries, their names and nm type letters
    d("mod_kallsyms", [("symtab", VOID_P), ("num_symtab", U32), ("strtab", CHAR_P), ("typetab", CHAR_P)])
    d("module", [("state", S32), ("list", struct("list_head")), ("name", array(56, base("char"))),
                 ("mkobj", struct("module_kobject")), ("version", CHAR_P), ("srcversion", CHAR_P),
                 ("kp", _p("kernel_param")), ("num_kp", U32), ("core_layout", struct("module_layout")),
                 ("init_layout", struct("module_layout")), ("taints", U64), ("args", CHAR_P),
                 ("sect_attrs", VOID_P), ("notes_attrs", VOID_P), ("refcnt", struct("atomic_t")),
                 ("syms", VOID_P), ("num_syms", U32), ("kallsyms", _p("mod_kallsyms")),
                 ("core_kallsyms", struct("mod_kallsyms"))])
    d("mod_tree_root", [("root", array(3, U64)), ("addr_min", U64), ("addr_max", U64)])
    # exported symbols (5.15 x86-64, PREL32 relocations): offsets from the entry, not pointers
    d("kernel_symbol", [("value_offset", S32), ("name_offset", S32), ("namespace_offset", S32)])


def _entry_tables(t: TypeTable) -> None:
    """The x86-64 IDT gate and the ``resource`` tree behind ``/proc/iomem``."""
    d = t.define
    d("desc_ptr", [("size", U16), ("address", U64)])
    d("gate_struct", [("offset_low", U16), ("segment", U16), ("bits", U16), ("offset_middle", U16),
                      ("offset_high", U32), ("reserved", U32)])
    d("resource", [("start", U64), ("end", U64), ("name", CHAR_P), ("flags", U64), ("desc", U64),
                   ("parent", _p("resource")), ("sibling", _p("resource")), ("child", _p("resource"))])
