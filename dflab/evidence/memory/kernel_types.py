"""The structures of the generated kernel: one coherent Linux 5.15-style x86-64 generation.

volatility3 picks code paths by which members exist (``__state`` vs
``state``, the ``mmap`` VMA list vs the maple tree, ``thread_group``, inode
``i_atime`` timespec64 fields, ``fdt``...), so every member here is the one a
5.15 kernel has.  Only the members some plugin reads, plus a few that make the
structures recognisable to a trainee, are modelled; offsets are computed by
:class:`~dflab.evidence.memory.cstruct.TypeTable` and written into the ISF,
so they need not match a real build.  Types volatility3 insists on but never
reads here (``idr``, ``page``, ``unix_sock``, ``in_device``...) are small stubs.
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
    d("idr", [("idr_rt", VOID_P), ("idr_base", U32), ("idr_next", U32)])
    d("page", [("flags", U64), ("lru", struct("list_head")), ("mapping", _p("address_space")),
               ("index", U64)])
    d("address_space", [("host", _p("inode")), ("i_pages", VOID_P), ("nrpages", U64)])

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
                  ("mnt_ns", VOID_P), ("pid_ns_for_children", VOID_P), ("net_ns", _p("net")),
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
                      ("s_id", array(32, base("char"))), ("s_uuid", array(16, U8))])
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
                ("mnt_group_id", S32)])
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

    # Tasks.
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
                      ("files", _p("files_struct")), ("nsproxy", _p("nsproxy"))])

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
               ("sk_user_data", VOID_P)])
    d("inet_sock", [("sk", struct("sock")), ("pinet6", VOID_P), ("inet_saddr", U32),
                    ("uc_ttl", base("short int")), ("cmsg_flags", U16), ("inet_sport", U16),
                    ("inet_id", U16)])
    d("unix_sock", [("sk", struct("sock")), ("addr", VOID_P), ("path", struct("path")),
                    ("peer", _p("sock"))])
    d("net_device", [("name", array(16, base("char"))), ("dev_list", struct("list_head")),
                     ("state", U64), ("flags", U32), ("ifindex", S32), ("ip_ptr", _p("in_device"))])
    d("in_ifaddr", [("ifa_next", _p("in_ifaddr")), ("ifa_address", U32), ("ifa_prefixlen", U8)])
    d("in_device", [("dev", _p("net_device")), ("ifa_list", _p("in_ifaddr"))])
    d("inet6_ifaddr", [("if_list", struct("list_head")), ("prefix_len", U32)])
    d("inet6_dev", [("dev", _p("net_device")), ("addr_list", struct("list_head"))])
    return t
