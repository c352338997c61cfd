//! The x86_64 Linux system-call ABI: numbers, error codes, flags, and the byte layout
//! of the kernel structs that system calls read and write.
//!
//! A process asks with RAX = the number ([`nr`]) and up to six arguments in RDI, RSI,
//! RDX, R10, R8 and R9, and gets the result in RAX: a value, or `-errno` for an error
//! ([`error_return`], [`decode_return`]). An argument the kernel declares `int` is read
//! from the register's low 32 bits ([`int_arg`]): glibc zero-extends such arguments and
//! musl sign-extends them, so a server must not compare the whole register.
//!
//! The struct encoders produce exactly the bytes Linux's uapi headers define for x86_64
//! (each has a test of its field offsets), so a server copies them to the process as
//! they are.

use alloc::vec::Vec;

/// `s` in ASCII lower case, for deriving the syscall names from the constants' names at
/// compile time (so the table states each name once).
const fn ascii_lowercase<const N: usize>(s: &str) -> [u8; N] {
    let bytes = s.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = bytes[i].to_ascii_lowercase();
        i += 1;
    }
    out
}

/// The lower-case form of a constant's name as a `&'static str`, computed at compile time.
macro_rules! lowercase_name {
    ($konst:ident) => {{
        const BYTES: &[u8] = &ascii_lowercase::<{ stringify!($konst).len() }>(stringify!($konst));
        const NAME: &str = match core::str::from_utf8(BYTES) {
            Ok(name) => name,
            Err(_) => panic!("a syscall name is ASCII"),
        };
        NAME
    }};
}

/// Generates [`nr`], [`name`] and [`number`] from one list of `CONST = number` pairs.
macro_rules! syscalls {
    ($($konst:ident = $nr:literal,)*) => {
        /// The x86_64 system-call numbers, as in Linux's
        /// `arch/x86/entry/syscalls/syscall_64.tbl` (the 64-bit and common entries, not
        /// the x32 ones from 512). Numbers 337 to 423 are unused.
        pub mod nr {
            $(
                #[doc = concat!("System call ", stringify!($nr), "; [`name`](super::name) gives its name.")]
                pub const $konst: u64 = $nr;
            )*
        }

        /// The name of system call `nr` (`"read"` for 0), or `None` if x86_64 Linux has
        /// no such call: for logs and "not implemented" messages.
        pub fn name(nr: u64) -> Option<&'static str> {
            match nr {
                $($nr => Some(lowercase_name!($konst)),)*
                _ => None,
            }
        }

        /// The number of the system call named `name` (`Some(0)` for `"read"`).
        pub fn number(name: &str) -> Option<u64> {
            match name {
                $(n if n == lowercase_name!($konst) => Some($nr),)*
                _ => None,
            }
        }

        #[cfg(test)]
        const SYSCALL_TABLE: &[(u64, &str)] = &[$(($nr, stringify!($konst)),)*];
    };
}

syscalls! {
    READ = 0,
    WRITE = 1,
    OPEN = 2,
    CLOSE = 3,
    STAT = 4,
    FSTAT = 5,
    LSTAT = 6,
    POLL = 7,
    LSEEK = 8,
    MMAP = 9,
    MPROTECT = 10,
    MUNMAP = 11,
    BRK = 12,
    RT_SIGACTION = 13,
    RT_SIGPROCMASK = 14,
    RT_SIGRETURN = 15,
    IOCTL = 16,
    PREAD64 = 17,
    PWRITE64 = 18,
    READV = 19,
    WRITEV = 20,
    ACCESS = 21,
    PIPE = 22,
    SELECT = 23,
    SCHED_YIELD = 24,
    MREMAP = 25,
    MSYNC = 26,
    MINCORE = 27,
    MADVISE = 28,
    SHMGET = 29,
    SHMAT = 30,
    SHMCTL = 31,
    DUP = 32,
    DUP2 = 33,
    PAUSE = 34,
    NANOSLEEP = 35,
    GETITIMER = 36,
    ALARM = 37,
    SETITIMER = 38,
    GETPID = 39,
    SENDFILE = 40,
    SOCKET = 41,
    CONNECT = 42,
    ACCEPT = 43,
    SENDTO = 44,
    RECVFROM = 45,
    SENDMSG = 46,
    RECVMSG = 47,
    SHUTDOWN = 48,
    BIND = 49,
    LISTEN = 50,
    GETSOCKNAME = 51,
    GETPEERNAME = 52,
    SOCKETPAIR = 53,
    SETSOCKOPT = 54,
    GETSOCKOPT = 55,
    CLONE = 56,
    FORK = 57,
    VFORK = 58,
    EXECVE = 59,
    EXIT = 60,
    WAIT4 = 61,
    KILL = 62,
    UNAME = 63,
    SEMGET = 64,
    SEMOP = 65,
    SEMCTL = 66,
    SHMDT = 67,
    MSGGET = 68,
    MSGSND = 69,
    MSGRCV = 70,
    MSGCTL = 71,
    FCNTL = 72,
    FLOCK = 73,
    FSYNC = 74,
    FDATASYNC = 75,
    TRUNCATE = 76,
    FTRUNCATE = 77,
    GETDENTS = 78,
    GETCWD = 79,
    CHDIR = 80,
    FCHDIR = 81,
    RENAME = 82,
    MKDIR = 83,
    RMDIR = 84,
    CREAT = 85,
    LINK = 86,
    UNLINK = 87,
    SYMLINK = 88,
    READLINK = 89,
    CHMOD = 90,
    FCHMOD = 91,
    CHOWN = 92,
    FCHOWN = 93,
    LCHOWN = 94,
    UMASK = 95,
    GETTIMEOFDAY = 96,
    GETRLIMIT = 97,
    GETRUSAGE = 98,
    SYSINFO = 99,
    TIMES = 100,
    PTRACE = 101,
    GETUID = 102,
    SYSLOG = 103,
    GETGID = 104,
    SETUID = 105,
    SETGID = 106,
    GETEUID = 107,
    GETEGID = 108,
    SETPGID = 109,
    GETPPID = 110,
    GETPGRP = 111,
    SETSID = 112,
    SETREUID = 113,
    SETREGID = 114,
    GETGROUPS = 115,
    SETGROUPS = 116,
    SETRESUID = 117,
    GETRESUID = 118,
    SETRESGID = 119,
    GETRESGID = 120,
    GETPGID = 121,
    SETFSUID = 122,
    SETFSGID = 123,
    GETSID = 124,
    CAPGET = 125,
    CAPSET = 126,
    RT_SIGPENDING = 127,
    RT_SIGTIMEDWAIT = 128,
    RT_SIGQUEUEINFO = 129,
    RT_SIGSUSPEND = 130,
    SIGALTSTACK = 131,
    UTIME = 132,
    MKNOD = 133,
    USELIB = 134,
    PERSONALITY = 135,
    USTAT = 136,
    STATFS = 137,
    FSTATFS = 138,
    SYSFS = 139,
    GETPRIORITY = 140,
    SETPRIORITY = 141,
    SCHED_SETPARAM = 142,
    SCHED_GETPARAM = 143,
    SCHED_SETSCHEDULER = 144,
    SCHED_GETSCHEDULER = 145,
    SCHED_GET_PRIORITY_MAX = 146,
    SCHED_GET_PRIORITY_MIN = 147,
    SCHED_RR_GET_INTERVAL = 148,
    MLOCK = 149,
    MUNLOCK = 150,
    MLOCKALL = 151,
    MUNLOCKALL = 152,
    VHANGUP = 153,
    MODIFY_LDT = 154,
    PIVOT_ROOT = 155,
    _SYSCTL = 156,
    PRCTL = 157,
    ARCH_PRCTL = 158,
    ADJTIMEX = 159,
    SETRLIMIT = 160,
    CHROOT = 161,
    SYNC = 162,
    ACCT = 163,
    SETTIMEOFDAY = 164,
    MOUNT = 165,
    UMOUNT2 = 166,
    SWAPON = 167,
    SWAPOFF = 168,
    REBOOT = 169,
    SETHOSTNAME = 170,
    SETDOMAINNAME = 171,
    IOPL = 172,
    IOPERM = 173,
    CREATE_MODULE = 174,
    INIT_MODULE = 175,
    DELETE_MODULE = 176,
    GET_KERNEL_SYMS = 177,
    QUERY_MODULE = 178,
    QUOTACTL = 179,
    NFSSERVCTL = 180,
    GETPMSG = 181,
    PUTPMSG = 182,
    AFS_SYSCALL = 183,
    TUXCALL = 184,
    SECURITY = 185,
    GETTID = 186,
    READAHEAD = 187,
    SETXATTR = 188,
    LSETXATTR = 189,
    FSETXATTR = 190,
    GETXATTR = 191,
    LGETXATTR = 192,
    FGETXATTR = 193,
    LISTXATTR = 194,
    LLISTXATTR = 195,
    FLISTXATTR = 196,
    REMOVEXATTR = 197,
    LREMOVEXATTR = 198,
    FREMOVEXATTR = 199,
    TKILL = 200,
    TIME = 201,
    FUTEX = 202,
    SCHED_SETAFFINITY = 203,
    SCHED_GETAFFINITY = 204,
    SET_THREAD_AREA = 205,
    IO_SETUP = 206,
    IO_DESTROY = 207,
    IO_GETEVENTS = 208,
    IO_SUBMIT = 209,
    IO_CANCEL = 210,
    GET_THREAD_AREA = 211,
    LOOKUP_DCOOKIE = 212,
    EPOLL_CREATE = 213,
    EPOLL_CTL_OLD = 214,
    EPOLL_WAIT_OLD = 215,
    REMAP_FILE_PAGES = 216,
    GETDENTS64 = 217,
    SET_TID_ADDRESS = 218,
    RESTART_SYSCALL = 219,
    SEMTIMEDOP = 220,
    FADVISE64 = 221,
    TIMER_CREATE = 222,
    TIMER_SETTIME = 223,
    TIMER_GETTIME = 224,
    TIMER_GETOVERRUN = 225,
    TIMER_DELETE = 226,
    CLOCK_SETTIME = 227,
    CLOCK_GETTIME = 228,
    CLOCK_GETRES = 229,
    CLOCK_NANOSLEEP = 230,
    EXIT_GROUP = 231,
    EPOLL_WAIT = 232,
    EPOLL_CTL = 233,
    TGKILL = 234,
    UTIMES = 235,
    VSERVER = 236,
    MBIND = 237,
    SET_MEMPOLICY = 238,
    GET_MEMPOLICY = 239,
    MQ_OPEN = 240,
    MQ_UNLINK = 241,
    MQ_TIMEDSEND = 242,
    MQ_TIMEDRECEIVE = 243,
    MQ_NOTIFY = 244,
    MQ_GETSETATTR = 245,
    KEXEC_LOAD = 246,
    WAITID = 247,
    ADD_KEY = 248,
    REQUEST_KEY = 249,
    KEYCTL = 250,
    IOPRIO_SET = 251,
    IOPRIO_GET = 252,
    INOTIFY_INIT = 253,
    INOTIFY_ADD_WATCH = 254,
    INOTIFY_RM_WATCH = 255,
    MIGRATE_PAGES = 256,
    OPENAT = 257,
    MKDIRAT = 258,
    MKNODAT = 259,
    FCHOWNAT = 260,
    FUTIMESAT = 261,
    NEWFSTATAT = 262,
    UNLINKAT = 263,
    RENAMEAT = 264,
    LINKAT = 265,
    SYMLINKAT = 266,
    READLINKAT = 267,
    FCHMODAT = 268,
    FACCESSAT = 269,
    PSELECT6 = 270,
    PPOLL = 271,
    UNSHARE = 272,
    SET_ROBUST_LIST = 273,
    GET_ROBUST_LIST = 274,
    SPLICE = 275,
    TEE = 276,
    SYNC_FILE_RANGE = 277,
    VMSPLICE = 278,
    MOVE_PAGES = 279,
    UTIMENSAT = 280,
    EPOLL_PWAIT = 281,
    SIGNALFD = 282,
    TIMERFD_CREATE = 283,
    EVENTFD = 284,
    FALLOCATE = 285,
    TIMERFD_SETTIME = 286,
    TIMERFD_GETTIME = 287,
    ACCEPT4 = 288,
    SIGNALFD4 = 289,
    EVENTFD2 = 290,
    EPOLL_CREATE1 = 291,
    DUP3 = 292,
    PIPE2 = 293,
    INOTIFY_INIT1 = 294,
    PREADV = 295,
    PWRITEV = 296,
    RT_TGSIGQUEUEINFO = 297,
    PERF_EVENT_OPEN = 298,
    RECVMMSG = 299,
    FANOTIFY_INIT = 300,
    FANOTIFY_MARK = 301,
    PRLIMIT64 = 302,
    NAME_TO_HANDLE_AT = 303,
    OPEN_BY_HANDLE_AT = 304,
    CLOCK_ADJTIME = 305,
    SYNCFS = 306,
    SENDMMSG = 307,
    SETNS = 308,
    GETCPU = 309,
    PROCESS_VM_READV = 310,
    PROCESS_VM_WRITEV = 311,
    KCMP = 312,
    FINIT_MODULE = 313,
    SCHED_SETATTR = 314,
    SCHED_GETATTR = 315,
    RENAMEAT2 = 316,
    SECCOMP = 317,
    GETRANDOM = 318,
    MEMFD_CREATE = 319,
    KEXEC_FILE_LOAD = 320,
    BPF = 321,
    EXECVEAT = 322,
    USERFAULTFD = 323,
    MEMBARRIER = 324,
    MLOCK2 = 325,
    COPY_FILE_RANGE = 326,
    PREADV2 = 327,
    PWRITEV2 = 328,
    PKEY_MPROTECT = 329,
    PKEY_ALLOC = 330,
    PKEY_FREE = 331,
    STATX = 332,
    IO_PGETEVENTS = 333,
    RSEQ = 334,
    URETPROBE = 335,
    UPROBE = 336,
    PIDFD_SEND_SIGNAL = 424,
    IO_URING_SETUP = 425,
    IO_URING_ENTER = 426,
    IO_URING_REGISTER = 427,
    OPEN_TREE = 428,
    MOVE_MOUNT = 429,
    FSOPEN = 430,
    FSCONFIG = 431,
    FSMOUNT = 432,
    FSPICK = 433,
    PIDFD_OPEN = 434,
    CLONE3 = 435,
    CLOSE_RANGE = 436,
    OPENAT2 = 437,
    PIDFD_GETFD = 438,
    FACCESSAT2 = 439,
    PROCESS_MADVISE = 440,
    EPOLL_PWAIT2 = 441,
    MOUNT_SETATTR = 442,
    QUOTACTL_FD = 443,
    LANDLOCK_CREATE_RULESET = 444,
    LANDLOCK_ADD_RULE = 445,
    LANDLOCK_RESTRICT_SELF = 446,
    MEMFD_SECRET = 447,
    PROCESS_MRELEASE = 448,
    FUTEX_WAITV = 449,
    SET_MEMPOLICY_HOME_NODE = 450,
    CACHESTAT = 451,
    FCHMODAT2 = 452,
    MAP_SHADOW_STACK = 453,
    FUTEX_WAKE = 454,
    FUTEX_WAIT = 455,
    FUTEX_REQUEUE = 456,
    STATMOUNT = 457,
    LISTMOUNT = 458,
    LSM_GET_SELF_ATTR = 459,
    LSM_SET_SELF_ATTR = 460,
    LSM_LIST_MODULES = 461,
    MSEAL = 462,
    SETXATTRAT = 463,
    GETXATTRAT = 464,
    LISTXATTRAT = 465,
    REMOVEXATTRAT = 466,
    OPEN_TREE_ATTR = 467,
    FILE_GETATTR = 468,
    FILE_SETATTR = 469,
    LISTNS = 470,
}

/// Generates [`errno`] and [`errno_name`] from one list.
macro_rules! errnos {
    ($($konst:ident = $value:literal,)*) => {
        /// Linux's error numbers (positive; a system call returns the negation, see
        /// [`error_return`](super::error_return)), from `asm-generic/errno-base.h` and `errno.h`.
        pub mod errno {
            $(
                #[doc = concat!("`", stringify!($konst), "`.")]
                pub const $konst: u64 = $value;
            )*
            /// Same as [`EAGAIN`].
            pub const EWOULDBLOCK: u64 = EAGAIN;
            /// Same as [`EDEADLK`].
            pub const EDEADLOCK: u64 = EDEADLK;
            /// Same as [`EOPNOTSUPP`] (the name libc uses).
            pub const ENOTSUP: u64 = EOPNOTSUPP;
        }

        /// The symbolic name of error number `e` (`"ENOENT"` for 2), or `"E?"` for a
        /// number Linux does not define.
        pub fn errno_name(e: u64) -> &'static str {
            match e {
                $($value => stringify!($konst),)*
                _ => "E?",
            }
        }
    };
}

errnos! {
    EPERM = 1,
    ENOENT = 2,
    ESRCH = 3,
    EINTR = 4,
    EIO = 5,
    ENXIO = 6,
    E2BIG = 7,
    ENOEXEC = 8,
    EBADF = 9,
    ECHILD = 10,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    ENOTBLK = 15,
    EBUSY = 16,
    EEXIST = 17,
    EXDEV = 18,
    ENODEV = 19,
    ENOTDIR = 20,
    EISDIR = 21,
    EINVAL = 22,
    ENFILE = 23,
    EMFILE = 24,
    ENOTTY = 25,
    ETXTBSY = 26,
    EFBIG = 27,
    ENOSPC = 28,
    ESPIPE = 29,
    EROFS = 30,
    EMLINK = 31,
    EPIPE = 32,
    EDOM = 33,
    ERANGE = 34,
    EDEADLK = 35,
    ENAMETOOLONG = 36,
    ENOLCK = 37,
    ENOSYS = 38,
    ENOTEMPTY = 39,
    ELOOP = 40,
    ENOMSG = 42,
    EIDRM = 43,
    ECHRNG = 44,
    EL2NSYNC = 45,
    EL3HLT = 46,
    EL3RST = 47,
    ELNRNG = 48,
    EUNATCH = 49,
    ENOCSI = 50,
    EL2HLT = 51,
    EBADE = 52,
    EBADR = 53,
    EXFULL = 54,
    ENOANO = 55,
    EBADRQC = 56,
    EBADSLT = 57,
    EBFONT = 59,
    ENOSTR = 60,
    ENODATA = 61,
    ETIME = 62,
    ENOSR = 63,
    ENONET = 64,
    ENOPKG = 65,
    EREMOTE = 66,
    ENOLINK = 67,
    EADV = 68,
    ESRMNT = 69,
    ECOMM = 70,
    EPROTO = 71,
    EMULTIHOP = 72,
    EDOTDOT = 73,
    EBADMSG = 74,
    EOVERFLOW = 75,
    ENOTUNIQ = 76,
    EBADFD = 77,
    EREMCHG = 78,
    ELIBACC = 79,
    ELIBBAD = 80,
    ELIBSCN = 81,
    ELIBMAX = 82,
    ELIBEXEC = 83,
    EILSEQ = 84,
    ERESTART = 85,
    ESTRPIPE = 86,
    EUSERS = 87,
    ENOTSOCK = 88,
    EDESTADDRREQ = 89,
    EMSGSIZE = 90,
    EPROTOTYPE = 91,
    ENOPROTOOPT = 92,
    EPROTONOSUPPORT = 93,
    ESOCKTNOSUPPORT = 94,
    EOPNOTSUPP = 95,
    EPFNOSUPPORT = 96,
    EAFNOSUPPORT = 97,
    EADDRINUSE = 98,
    EADDRNOTAVAIL = 99,
    ENETDOWN = 100,
    ENETUNREACH = 101,
    ENETRESET = 102,
    ECONNABORTED = 103,
    ECONNRESET = 104,
    ENOBUFS = 105,
    EISCONN = 106,
    ENOTCONN = 107,
    ESHUTDOWN = 108,
    ETOOMANYREFS = 109,
    ETIMEDOUT = 110,
    ECONNREFUSED = 111,
    EHOSTDOWN = 112,
    EHOSTUNREACH = 113,
    EALREADY = 114,
    EINPROGRESS = 115,
    ESTALE = 116,
    EUCLEAN = 117,
    ENOTNAM = 118,
    ENAVAIL = 119,
    EISNAM = 120,
    EREMOTEIO = 121,
    EDQUOT = 122,
    ENOMEDIUM = 123,
    EMEDIUMTYPE = 124,
    ECANCELED = 125,
    ENOKEY = 126,
    EKEYEXPIRED = 127,
    EKEYREVOKED = 128,
    EKEYREJECTED = 129,
    EOWNERDEAD = 130,
    ENOTRECOVERABLE = 131,
    ERFKILL = 132,
    EHWPOISON = 133,
}

/// The largest error number a system call can return: results in `-4095..=-1` (as
/// `u64`, above `-4096`) are errors, everything else is a value (an `mmap` address can
/// look negative).
pub const MAX_ERRNO: u64 = 4095;

/// The RAX value for a system call failing with `errno` (its two's-complement negation).
pub fn error_return(errno: u64) -> u64 {
    errno.wrapping_neg()
}

/// Splits a system call's RAX result into `Ok(value)` or `Err(errno)`.
pub fn decode_return(rax: u64) -> Result<u64, u64> {
    if rax >= MAX_ERRNO.wrapping_neg() {
        Err(rax.wrapping_neg())
    } else {
        Ok(rax)
    }
}

/// An `int` argument as the kernel reads it: the register's low 32 bits, signed (so a
/// glibc caller's zero-extended -100 and a musl caller's sign-extended one are both
/// [`AT_FDCWD`]).
pub fn int_arg(register: u64) -> i32 {
    register as u32 as i32
}

/// Generates [`signal`] and [`signal_name`] from one list.
macro_rules! signals {
    ($($konst:ident = $value:literal,)*) => {
        /// Signal numbers (x86_64 numbering), `sigaction` flags and the special handlers.
        pub mod signal {
            $(
                #[doc = concat!("`", stringify!($konst), "`.")]
                pub const $konst: u32 = $value;
            )*
            /// Same as [`SIGIO`].
            pub const SIGPOLL: u32 = SIGIO;
            /// Same as [`SIGSYS`].
            pub const SIGUNUSED: u32 = SIGSYS;
            /// The first real-time signal the kernel knows (glibc keeps 32 and 33 for
            /// itself, so its `SIGRTMIN` is 34).
            pub const SIGRTMIN: u32 = 32;
            /// The last signal: a `sigset_t` in the kernel ABI is one 64-bit word, with
            /// signal `n` at bit `n - 1`.
            pub const SIGRTMAX: u32 = 64;

            /// `sa_flags`: no `SIGCHLD` when a child stops.
            pub const SA_NOCLDSTOP: u64 = 1;
            /// `sa_flags`: children do not become zombies.
            pub const SA_NOCLDWAIT: u64 = 2;
            /// `sa_flags`: the handler takes `(signo, siginfo *, ucontext *)`.
            pub const SA_SIGINFO: u64 = 4;
            /// `sa_flags`: run the handler on the alternate signal stack.
            pub const SA_ONSTACK: u64 = 0x0800_0000;
            /// `sa_flags`: `sa_restorer` is set (libc's `rt_sigreturn` trampoline); x86_64
            /// Linux requires it.
            pub const SA_RESTORER: u64 = 0x0400_0000;
            /// `sa_flags`: restart interrupted system calls.
            pub const SA_RESTART: u64 = 0x1000_0000;
            /// `sa_flags`: do not block the signal while its handler runs.
            pub const SA_NODEFER: u64 = 0x4000_0000;
            /// `sa_flags`: reset the handler to [`SIG_DFL`] when the signal arrives.
            pub const SA_RESETHAND: u64 = 0x8000_0000;

            /// The handler value for the default action.
            pub const SIG_DFL: u64 = 0;
            /// The handler value for ignoring the signal.
            pub const SIG_IGN: u64 = 1;

            /// `rt_sigprocmask`: add to the blocked set.
            pub const SIG_BLOCK: u64 = 0;
            /// `rt_sigprocmask`: remove from the blocked set.
            pub const SIG_UNBLOCK: u64 = 1;
            /// `rt_sigprocmask`: replace the blocked set.
            pub const SIG_SETMASK: u64 = 2;

            /// `sigaltstack`'s `ss_flags`: running on the alternate stack.
            pub const SS_ONSTACK: u32 = 1;
            /// `sigaltstack`'s `ss_flags`: no alternate stack.
            pub const SS_DISABLE: u32 = 2;

            /// `si_code`: sent by `kill`.
            pub const SI_USER: i32 = 0;
            /// `si_code`: sent by the kernel.
            pub const SI_KERNEL: i32 = 0x80;
            /// `si_code`: sent by `tkill`/`tgkill`.
            pub const SI_TKILL: i32 = -6;

            pub use super::signal_name as name;

            /// The bit of signal `signo` in a `sigset_t` word, or 0 for a number outside
            /// `1..=64`.
            pub fn bit(signo: u32) -> u64 {
                match signo {
                    1..=SIGRTMAX => 1 << (signo - 1),
                    _ => 0,
                }
            }

            /// The signals a process can neither block nor catch: `sigprocmask` and
            /// `sigaction` silently leave these bits out.
            pub const UNBLOCKABLE: u64 = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));
        }

        /// The symbolic name of signal `signo` (`"SIGINT"` for 2), `"SIGRT"` for a
        /// real-time signal (32 to 64), or `"SIG?"` for a number Linux does not define.
        pub fn signal_name(signo: u32) -> &'static str {
            match signo {
                $($value => stringify!($konst),)*
                signal::SIGRTMIN..=signal::SIGRTMAX => "SIGRT",
                _ => "SIG?",
            }
        }
    };
}

signals! {
    SIGHUP = 1,
    SIGINT = 2,
    SIGQUIT = 3,
    SIGILL = 4,
    SIGTRAP = 5,
    SIGABRT = 6,
    SIGBUS = 7,
    SIGFPE = 8,
    SIGKILL = 9,
    SIGUSR1 = 10,
    SIGSEGV = 11,
    SIGUSR2 = 12,
    SIGPIPE = 13,
    SIGALRM = 14,
    SIGTERM = 15,
    SIGSTKFLT = 16,
    SIGCHLD = 17,
    SIGCONT = 18,
    SIGSTOP = 19,
    SIGTSTP = 20,
    SIGTTIN = 21,
    SIGTTOU = 22,
    SIGURG = 23,
    SIGXCPU = 24,
    SIGXFSZ = 25,
    SIGVTALRM = 26,
    SIGPROF = 27,
    SIGWINCH = 28,
    SIGIO = 29,
    SIGPWR = 30,
    SIGSYS = 31,
}

// ---- ioctl -------------------------------------------------------------------------

/// `ioctl`: get the terminal's [`Termios`].
pub const TCGETS: u64 = 0x5401;
/// `ioctl`: set the terminal's [`Termios`] now.
pub const TCSETS: u64 = 0x5402;
/// `ioctl`: set the [`Termios`] once output has drained.
pub const TCSETSW: u64 = 0x5403;
/// `ioctl`: set the [`Termios`] once output has drained, discarding pending input.
pub const TCSETSF: u64 = 0x5404;
/// `ioctl`: send a break (`tcsendbreak`, `tcdrain`).
pub const TCSBRK: u64 = 0x5409;
/// `ioctl`: suspend or restart output (`tcflow`).
pub const TCXONC: u64 = 0x540A;
/// `ioctl`: discard pending input or output (`tcflush`).
pub const TCFLSH: u64 = 0x540B;
/// `ioctl`: make the terminal the caller's controlling terminal.
pub const TIOCSCTTY: u64 = 0x540E;
/// `ioctl`: get the terminal's foreground process group.
pub const TIOCGPGRP: u64 = 0x540F;
/// `ioctl`: set the terminal's foreground process group.
pub const TIOCSPGRP: u64 = 0x5410;
/// `ioctl`: bytes waiting to be sent.
pub const TIOCOUTQ: u64 = 0x5411;
/// `ioctl`: get the [`Winsize`].
pub const TIOCGWINSZ: u64 = 0x5413;
/// `ioctl`: set the [`Winsize`].
pub const TIOCSWINSZ: u64 = 0x5414;
/// `ioctl`: bytes waiting to be read (an `int`).
pub const FIONREAD: u64 = 0x541B;
/// `ioctl`: set or clear `O_NONBLOCK` (from an `int`).
pub const FIONBIO: u64 = 0x5421;
/// `ioctl`: give up the controlling terminal.
pub const TIOCNOTTY: u64 = 0x5422;
/// `ioctl`: get the terminal's session id.
pub const TIOCGSID: u64 = 0x5429;
/// `ioctl`: clear close-on-exec.
pub const FIONCLEX: u64 = 0x5450;
/// `ioctl`: set close-on-exec.
pub const FIOCLEX: u64 = 0x5451;

// ---- open, fcntl, *at ---------------------------------------------------------------

/// Open flags: the access mode bits.
pub const O_ACCMODE: u64 = 0o3;
/// Open for reading.
pub const O_RDONLY: u64 = 0;
/// Open for writing.
pub const O_WRONLY: u64 = 0o1;
/// Open for reading and writing.
pub const O_RDWR: u64 = 0o2;
/// Create the file if it does not exist.
pub const O_CREAT: u64 = 0o100;
/// With `O_CREAT`: fail if it exists.
pub const O_EXCL: u64 = 0o200;
/// Do not make a terminal the controlling terminal.
pub const O_NOCTTY: u64 = 0o400;
/// Truncate to length 0.
pub const O_TRUNC: u64 = 0o1000;
/// Every write goes to the end.
pub const O_APPEND: u64 = 0o2000;
/// Reads and writes do not block.
pub const O_NONBLOCK: u64 = 0o4000;
/// Writes wait for the data to reach the disk.
pub const O_DSYNC: u64 = 0o10000;
/// Signal-driven I/O.
pub const O_ASYNC: u64 = 0o20000;
/// Bypass the page cache.
pub const O_DIRECT: u64 = 0o40000;
/// Large files (always on for 64-bit).
pub const O_LARGEFILE: u64 = 0o100000;
/// Fail unless the path is a directory.
pub const O_DIRECTORY: u64 = 0o200000;
/// Fail if the last component is a symbolic link.
pub const O_NOFOLLOW: u64 = 0o400000;
/// Do not update the access time.
pub const O_NOATIME: u64 = 0o1000000;
/// Close the descriptor on `execve`.
pub const O_CLOEXEC: u64 = 0o2000000;
/// Writes wait for data and metadata.
pub const O_SYNC: u64 = 0o4010000;
/// A descriptor for the path only, not its contents.
pub const O_PATH: u64 = 0o10000000;
/// An unnamed temporary file in the directory.
pub const O_TMPFILE: u64 = 0o20200000;

/// The `dirfd` meaning "the current directory" (an `int`: compare with [`int_arg`]).
pub const AT_FDCWD: i32 = -100;
/// `*at` flags: do not follow a final symbolic link.
pub const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
/// `unlinkat`: remove a directory.
pub const AT_REMOVEDIR: u64 = 0x200;
/// `faccessat`: check with the effective ids.
pub const AT_EACCESS: u64 = 0x200;
/// `linkat`: follow a final symbolic link.
pub const AT_SYMLINK_FOLLOW: u64 = 0x400;
/// Do not trigger an automount.
pub const AT_NO_AUTOMOUNT: u64 = 0x800;
/// An empty path means `dirfd` itself.
pub const AT_EMPTY_PATH: u64 = 0x1000;

/// `fcntl`: duplicate to the lowest free descriptor at or above the argument.
pub const F_DUPFD: u64 = 0;
/// `fcntl`: get the descriptor flags ([`FD_CLOEXEC`]).
pub const F_GETFD: u64 = 1;
/// `fcntl`: set the descriptor flags.
pub const F_SETFD: u64 = 2;
/// `fcntl`: get the status flags (`O_*`).
pub const F_GETFL: u64 = 3;
/// `fcntl`: set the status flags (only `O_APPEND`, `O_NONBLOCK`, `O_ASYNC`, `O_DIRECT`, `O_NOATIME` change).
pub const F_SETFL: u64 = 4;
/// `fcntl`: test a record lock.
pub const F_GETLK: u64 = 5;
/// `fcntl`: take or release a record lock.
pub const F_SETLK: u64 = 6;
/// `fcntl`: take a record lock, waiting.
pub const F_SETLKW: u64 = 7;
/// `fcntl`: set the owner for `SIGIO`.
pub const F_SETOWN: u64 = 8;
/// `fcntl`: get the owner for `SIGIO`.
pub const F_GETOWN: u64 = 9;
/// `fcntl`: [`F_DUPFD`] with close-on-exec set (busybox's shell moves `/dev/tty` up with it).
pub const F_DUPFD_CLOEXEC: u64 = 1030;
/// The descriptor flag closing it on `execve`.
pub const FD_CLOEXEC: u64 = 1;

/// `lseek`: from the start.
pub const SEEK_SET: u64 = 0;
/// `lseek`: from the current offset.
pub const SEEK_CUR: u64 = 1;
/// `lseek`: from the end.
pub const SEEK_END: u64 = 2;

/// `access`: the file exists.
pub const F_OK: u64 = 0;
/// `access`: executable.
pub const X_OK: u64 = 1;
/// `access`: writable.
pub const W_OK: u64 = 2;
/// `access`: readable.
pub const R_OK: u64 = 4;

// ---- mmap ---------------------------------------------------------------------------

/// No access.
pub const PROT_NONE: u64 = 0;
/// Readable.
pub const PROT_READ: u64 = 1;
/// Writable.
pub const PROT_WRITE: u64 = 2;
/// Executable.
pub const PROT_EXEC: u64 = 4;
/// Shared with other mappings of the same object.
pub const MAP_SHARED: u64 = 0x01;
/// Private copy-on-write.
pub const MAP_PRIVATE: u64 = 0x02;
/// [`MAP_SHARED`], failing on unknown flags.
pub const MAP_SHARED_VALIDATE: u64 = 0x03;
/// The sharing-type bits.
pub const MAP_TYPE: u64 = 0x0f;
/// At exactly this address, replacing what is there.
pub const MAP_FIXED: u64 = 0x10;
/// Not backed by a file (zero-filled).
pub const MAP_ANONYMOUS: u64 = 0x20;
/// In the low 2 GiB.
pub const MAP_32BIT: u64 = 0x40;
/// A stack that grows down.
pub const MAP_GROWSDOWN: u64 = 0x100;
/// Ignored.
pub const MAP_DENYWRITE: u64 = 0x800;
/// Ignored.
pub const MAP_EXECUTABLE: u64 = 0x1000;
/// Lock the pages.
pub const MAP_LOCKED: u64 = 0x2000;
/// Do not reserve swap.
pub const MAP_NORESERVE: u64 = 0x4000;
/// Populate the pages now.
pub const MAP_POPULATE: u64 = 0x8000;
/// With `MAP_POPULATE`: do not block.
pub const MAP_NONBLOCK: u64 = 0x10000;
/// A thread stack (a hint).
pub const MAP_STACK: u64 = 0x20000;
/// Huge pages.
pub const MAP_HUGETLB: u64 = 0x40000;
/// At exactly this address, failing with `EEXIST` if anything is mapped there.
pub const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
/// `mremap`: may move the mapping.
pub const MREMAP_MAYMOVE: u64 = 1;
/// `mremap`: move to exactly the given address.
pub const MREMAP_FIXED: u64 = 2;
/// `madvise`: the pages may be dropped (anonymous ones read back as zero).
pub const MADV_DONTNEED: u64 = 4;

// ---- clone --------------------------------------------------------------------------

/// The low byte of `clone`'s flags: the signal sent to the parent when the child exits.
pub const CSIGNAL: u64 = 0xff;
/// Share the address space (a thread, or `vfork`).
pub const CLONE_VM: u64 = 0x100;
/// Share the cwd, root and umask.
pub const CLONE_FS: u64 = 0x200;
/// Share the descriptor table.
pub const CLONE_FILES: u64 = 0x400;
/// Share the signal handlers.
pub const CLONE_SIGHAND: u64 = 0x800;
/// Return a pidfd.
pub const CLONE_PIDFD: u64 = 0x1000;
/// Keep tracing the child.
pub const CLONE_PTRACE: u64 = 0x2000;
/// The parent sleeps until the child execs or exits.
pub const CLONE_VFORK: u64 = 0x4000;
/// The child's parent is the caller's parent.
pub const CLONE_PARENT: u64 = 0x8000;
/// The child is a thread in the caller's thread group.
pub const CLONE_THREAD: u64 = 0x10000;
/// A new mount namespace.
pub const CLONE_NEWNS: u64 = 0x20000;
/// Share System V semaphore undo lists.
pub const CLONE_SYSVSEM: u64 = 0x40000;
/// Set the child's FS base (TLS) from the `tls` argument.
pub const CLONE_SETTLS: u64 = 0x80000;
/// Store the child's tid at `parent_tid` in the parent.
pub const CLONE_PARENT_SETTID: u64 = 0x10_0000;
/// Clear `child_tid` and futex-wake it when the child exits.
pub const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
/// Ignored.
pub const CLONE_DETACHED: u64 = 0x40_0000;
/// Tracing cannot be forced on the child.
pub const CLONE_UNTRACED: u64 = 0x80_0000;
/// Store the child's tid at `child_tid` in the child.
pub const CLONE_CHILD_SETTID: u64 = 0x100_0000;
/// A new cgroup namespace.
pub const CLONE_NEWCGROUP: u64 = 0x200_0000;
/// A new UTS namespace.
pub const CLONE_NEWUTS: u64 = 0x400_0000;
/// A new IPC namespace.
pub const CLONE_NEWIPC: u64 = 0x800_0000;
/// A new user namespace.
pub const CLONE_NEWUSER: u64 = 0x1000_0000;
/// A new PID namespace.
pub const CLONE_NEWPID: u64 = 0x2000_0000;
/// A new network namespace.
pub const CLONE_NEWNET: u64 = 0x4000_0000;
/// Share the I/O context.
pub const CLONE_IO: u64 = 0x8000_0000;

// ---- futex --------------------------------------------------------------------------

/// Sleep if the word still holds the expected value.
pub const FUTEX_WAIT: u64 = 0;
/// Wake up to `val` waiters.
pub const FUTEX_WAKE: u64 = 1;
/// Obsolete.
pub const FUTEX_FD: u64 = 2;
/// Wake some waiters, move the rest to another word.
pub const FUTEX_REQUEUE: u64 = 3;
/// [`FUTEX_REQUEUE`] if the word holds the expected value.
pub const FUTEX_CMP_REQUEUE: u64 = 4;
/// Modify a second word and wake waiters on both.
pub const FUTEX_WAKE_OP: u64 = 5;
/// Priority-inheritance lock.
pub const FUTEX_LOCK_PI: u64 = 6;
/// Priority-inheritance unlock.
pub const FUTEX_UNLOCK_PI: u64 = 7;
/// Priority-inheritance try-lock.
pub const FUTEX_TRYLOCK_PI: u64 = 8;
/// [`FUTEX_WAIT`] with a bitset and an absolute timeout.
pub const FUTEX_WAIT_BITSET: u64 = 9;
/// [`FUTEX_WAKE`] with a bitset.
pub const FUTEX_WAKE_BITSET: u64 = 10;
/// Wait on a condition, requeued to a PI lock.
pub const FUTEX_WAIT_REQUEUE_PI: u64 = 11;
/// Requeue to a PI lock.
pub const FUTEX_CMP_REQUEUE_PI: u64 = 12;
/// [`FUTEX_LOCK_PI`] with a selectable clock.
pub const FUTEX_LOCK_PI2: u64 = 13;
/// The word is private to the process (no other address space maps it).
pub const FUTEX_PRIVATE_FLAG: u64 = 128;
/// The timeout is on `CLOCK_REALTIME`.
pub const FUTEX_CLOCK_REALTIME: u64 = 256;
/// The operation bits, without the two flags above.
pub const FUTEX_CMD_MASK: u64 = !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
/// The bitset matching every waiter.
pub const FUTEX_BITSET_MATCH_ANY: u32 = 0xffff_ffff;

// ---- wait ---------------------------------------------------------------------------

/// `wait4`: return 0 at once if no child has changed state.
pub const WNOHANG: u64 = 1;
/// `wait4`: also report stopped children.
pub const WUNTRACED: u64 = 2;
/// `waitid`: report stopped children.
pub const WSTOPPED: u64 = 2;
/// `waitid`: report exited children.
pub const WEXITED: u64 = 4;
/// Also report children continued by `SIGCONT`.
pub const WCONTINUED: u64 = 8;
/// `waitid`: leave the child waitable.
pub const WNOWAIT: u64 = 0x0100_0000;
/// Wait for all children, clone or not.
pub const WALL: u64 = 0x4000_0000;
/// Wait only for clone children.
pub const WCLONE: u64 = 0x8000_0000;

/// The `wait4` status of a child that exited with `code` (its low 8 bits), as
/// `WIFEXITED`/`WEXITSTATUS` decode it.
pub fn wait_status_exited(code: u32) -> u32 {
    (code & 0xff) << 8
}

/// The `wait4` status of a child killed by signal `signo`, with `core` if it dumped core
/// (`WIFSIGNALED`, `WTERMSIG`, `WCOREDUMP`).
pub fn wait_status_signaled(signo: u32, core: bool) -> u32 {
    (signo & 0x7f) | if core { 0x80 } else { 0 }
}

/// The `wait4` status of a child stopped by signal `signo` (`WIFSTOPPED`, `WSTOPSIG`).
pub fn wait_status_stopped(signo: u32) -> u32 {
    ((signo & 0xff) << 8) | 0x7f
}

/// The `wait4` status of a child continued by `SIGCONT` (`WIFCONTINUED`).
pub const WAIT_STATUS_CONTINUED: u32 = 0xffff;

// ---- file modes and directory entry types -------------------------------------------

/// The file-type bits of a mode.
pub const S_IFMT: u32 = 0o170000;
/// A socket.
pub const S_IFSOCK: u32 = 0o140000;
/// A symbolic link.
pub const S_IFLNK: u32 = 0o120000;
/// A regular file.
pub const S_IFREG: u32 = 0o100000;
/// A block device.
pub const S_IFBLK: u32 = 0o060000;
/// A directory.
pub const S_IFDIR: u32 = 0o040000;
/// A character device.
pub const S_IFCHR: u32 = 0o020000;
/// A FIFO.
pub const S_IFIFO: u32 = 0o010000;
/// Set-user-id.
pub const S_ISUID: u32 = 0o4000;
/// Set-group-id.
pub const S_ISGID: u32 = 0o2000;
/// Sticky.
pub const S_ISVTX: u32 = 0o1000;

/// `d_type`: unknown (the reader must `stat`).
pub const DT_UNKNOWN: u8 = 0;
/// `d_type`: a FIFO.
pub const DT_FIFO: u8 = 1;
/// `d_type`: a character device.
pub const DT_CHR: u8 = 2;
/// `d_type`: a directory.
pub const DT_DIR: u8 = 4;
/// `d_type`: a block device.
pub const DT_BLK: u8 = 6;
/// `d_type`: a regular file.
pub const DT_REG: u8 = 8;
/// `d_type`: a symbolic link.
pub const DT_LNK: u8 = 10;
/// `d_type`: a socket.
pub const DT_SOCK: u8 = 12;

/// The `d_type` for a file of `mode` (Linux's `S_DT`: the type bits shifted down).
pub fn dirent_type(mode: u32) -> u8 {
    ((mode & S_IFMT) >> 12) as u8
}

// ---- arch_prctl, prctl, clocks, poll, rlimits ---------------------------------------

/// `arch_prctl`: set the GS base.
pub const ARCH_SET_GS: u64 = 0x1001;
/// `arch_prctl`: set the FS base (the TLS pointer; libc's first call).
pub const ARCH_SET_FS: u64 = 0x1002;
/// `arch_prctl`: read the FS base.
pub const ARCH_GET_FS: u64 = 0x1003;
/// `arch_prctl`: read the GS base.
pub const ARCH_GET_GS: u64 = 0x1004;

/// `prctl`: the signal sent when the parent dies.
pub const PR_SET_PDEATHSIG: u64 = 1;
/// `prctl`: set the thread's name (16 bytes with the NUL).
pub const PR_SET_NAME: u64 = 15;
/// `prctl`: get the thread's name.
pub const PR_GET_NAME: u64 = 16;

/// Wall-clock time.
pub const CLOCK_REALTIME: u64 = 0;
/// Time since boot, not counting suspend.
pub const CLOCK_MONOTONIC: u64 = 1;
/// The process's CPU time.
pub const CLOCK_PROCESS_CPUTIME_ID: u64 = 2;
/// The thread's CPU time.
pub const CLOCK_THREAD_CPUTIME_ID: u64 = 3;
/// [`CLOCK_MONOTONIC`] without NTP slewing.
pub const CLOCK_MONOTONIC_RAW: u64 = 4;
/// A faster, coarser [`CLOCK_REALTIME`].
pub const CLOCK_REALTIME_COARSE: u64 = 5;
/// A faster, coarser [`CLOCK_MONOTONIC`].
pub const CLOCK_MONOTONIC_COARSE: u64 = 6;
/// Time since boot, counting suspend.
pub const CLOCK_BOOTTIME: u64 = 7;
/// `clock_nanosleep`: the time is absolute.
pub const TIMER_ABSTIME: u64 = 1;

/// `poll`: data to read.
pub const POLLIN: u16 = 0x001;
/// `poll`: urgent data.
pub const POLLPRI: u16 = 0x002;
/// `poll`: writing will not block.
pub const POLLOUT: u16 = 0x004;
/// `poll`: an error (always reported).
pub const POLLERR: u16 = 0x008;
/// `poll`: hung up (always reported).
pub const POLLHUP: u16 = 0x010;
/// `poll`: not an open descriptor (always reported).
pub const POLLNVAL: u16 = 0x020;
/// `poll`: the peer closed its writing side.
pub const POLLRDHUP: u16 = 0x2000;

/// `prlimit64`: CPU time.
pub const RLIMIT_CPU: u64 = 0;
/// `prlimit64`: file size.
pub const RLIMIT_FSIZE: u64 = 1;
/// `prlimit64`: data segment.
pub const RLIMIT_DATA: u64 = 2;
/// `prlimit64`: stack size (glibc reads it at startup).
pub const RLIMIT_STACK: u64 = 3;
/// `prlimit64`: core file size.
pub const RLIMIT_CORE: u64 = 4;
/// `prlimit64`: processes per user.
pub const RLIMIT_NPROC: u64 = 6;
/// `prlimit64`: open descriptors.
pub const RLIMIT_NOFILE: u64 = 7;
/// `prlimit64`: address space.
pub const RLIMIT_AS: u64 = 9;
/// The number of resource limits.
pub const RLIM_NLIMITS: u64 = 16;
/// No limit.
pub const RLIM_INFINITY: u64 = u64::MAX;

// ---- struct encoders ----------------------------------------------------------------

/// Copies `bytes` into `out` at `at`; the callers' offsets are constants inside `out`.
fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(slot) = at.checked_add(bytes.len()).and_then(|end| out.get_mut(at..end)) {
        slot.copy_from_slice(bytes);
    }
}

/// Reads `N` bytes of `bytes` at `at` (zeroes past the end; the callers' offsets are
/// constants inside `bytes`).
fn take<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(from) = at.checked_add(N).and_then(|end| bytes.get(at..end)) {
        out.copy_from_slice(from);
    }
    out
}

fn take_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(take(bytes, at))
}

fn take_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(take(bytes, at))
}

fn take_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(take(bytes, at))
}

fn take_i64(bytes: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(take(bytes, at))
}

/// The major number of a Linux `dev_t` (glibc's `major()`).
pub fn dev_major(dev: u64) -> u32 {
    (((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000)) as u32
}

/// The minor number of a Linux `dev_t` (glibc's `minor()`).
pub fn dev_minor(dev: u64) -> u32 {
    ((dev & 0xff) | ((dev >> 12) & 0xffff_ff00)) as u32
}

/// A Linux `dev_t` from its major and minor numbers (glibc's `makedev()`).
pub fn makedev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (u64::from(major), u64::from(minor));
    ((major & 0xfff) << 8) | ((major & 0xffff_f000) << 32) | (minor & 0xff) | ((minor & 0xffff_ff00) << 12)
}

/// The x86_64 `struct stat` that `stat`, `fstat`, `lstat` and `newfstatat` fill (144
/// bytes). Times are `(seconds, nanoseconds)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    /// The device the file is on ([`makedev`]).
    pub dev: u64,
    /// The inode number.
    pub ino: u64,
    /// The number of hard links.
    pub nlink: u64,
    /// The type ([`S_IFMT`] bits) and permissions.
    pub mode: u32,
    /// The owner.
    pub uid: u32,
    /// The group.
    pub gid: u32,
    /// The device a device file stands for.
    pub rdev: u64,
    /// The size in bytes.
    pub size: i64,
    /// The preferred I/O size.
    pub blksize: i64,
    /// The space used, in 512-byte blocks.
    pub blocks: i64,
    /// Last access.
    pub atime: (i64, i64),
    /// Last modification.
    pub mtime: (i64, i64),
    /// Last status change.
    pub ctime: (i64, i64),
}

impl Stat {
    /// The bytes of `struct stat`.
    pub fn encode(&self) -> [u8; 144] {
        let mut out = [0u8; 144];
        put(&mut out, 0, &self.dev.to_le_bytes());
        put(&mut out, 8, &self.ino.to_le_bytes());
        put(&mut out, 16, &self.nlink.to_le_bytes());
        put(&mut out, 24, &self.mode.to_le_bytes());
        put(&mut out, 28, &self.uid.to_le_bytes());
        put(&mut out, 32, &self.gid.to_le_bytes());
        put(&mut out, 40, &self.rdev.to_le_bytes());
        put(&mut out, 48, &self.size.to_le_bytes());
        put(&mut out, 56, &self.blksize.to_le_bytes());
        put(&mut out, 64, &self.blocks.to_le_bytes());
        for (at, (sec, nsec)) in [(72, self.atime), (88, self.mtime), (104, self.ctime)] {
            put(&mut out, at, &sec.to_le_bytes());
            put(&mut out, at + 8, &nsec.to_le_bytes());
        }
        out
    }
}

/// `statx`'s mask bits: which fields the answer fills.
pub const STATX_TYPE: u32 = 0x1;
/// The permission bits of `mode`.
pub const STATX_MODE: u32 = 0x2;
/// `nlink`.
pub const STATX_NLINK: u32 = 0x4;
/// `uid`.
pub const STATX_UID: u32 = 0x8;
/// `gid`.
pub const STATX_GID: u32 = 0x10;
/// `atime`.
pub const STATX_ATIME: u32 = 0x20;
/// `mtime`.
pub const STATX_MTIME: u32 = 0x40;
/// `ctime`.
pub const STATX_CTIME: u32 = 0x80;
/// `ino`.
pub const STATX_INO: u32 = 0x100;
/// `size`.
pub const STATX_SIZE: u32 = 0x200;
/// `blocks`.
pub const STATX_BLOCKS: u32 = 0x400;
/// Everything `struct stat` has.
pub const STATX_BASIC_STATS: u32 = 0x7ff;
/// `btime`.
pub const STATX_BTIME: u32 = 0x800;
/// `mnt_id`.
pub const STATX_MNT_ID: u32 = 0x1000;

/// `struct statx` (256 bytes), which Rust's std and newer libcs use for `stat`. Times
/// are `(seconds, nanoseconds)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Statx {
    /// Which fields are filled (`STATX_*`).
    pub mask: u32,
    /// The preferred I/O size.
    pub blksize: u32,
    /// `STATX_ATTR_*` flags.
    pub attributes: u64,
    /// The number of hard links.
    pub nlink: u32,
    /// The owner.
    pub uid: u32,
    /// The group.
    pub gid: u32,
    /// The type and permissions.
    pub mode: u16,
    /// The inode number.
    pub ino: u64,
    /// The size in bytes.
    pub size: u64,
    /// The space used, in 512-byte blocks.
    pub blocks: u64,
    /// Which `attributes` bits the filesystem supports.
    pub attributes_mask: u64,
    /// Last access.
    pub atime: (i64, u32),
    /// Creation.
    pub btime: (i64, u32),
    /// Last status change.
    pub ctime: (i64, u32),
    /// Last modification.
    pub mtime: (i64, u32),
    /// The device a device file stands for: major.
    pub rdev_major: u32,
    /// ... and minor.
    pub rdev_minor: u32,
    /// The device the file is on: major.
    pub dev_major: u32,
    /// ... and minor.
    pub dev_minor: u32,
    /// The mount's id.
    pub mnt_id: u64,
}

impl Statx {
    /// The bytes of `struct statx`.
    pub fn encode(&self) -> [u8; 256] {
        let mut out = [0u8; 256];
        put(&mut out, 0, &self.mask.to_le_bytes());
        put(&mut out, 4, &self.blksize.to_le_bytes());
        put(&mut out, 8, &self.attributes.to_le_bytes());
        put(&mut out, 16, &self.nlink.to_le_bytes());
        put(&mut out, 20, &self.uid.to_le_bytes());
        put(&mut out, 24, &self.gid.to_le_bytes());
        put(&mut out, 28, &self.mode.to_le_bytes());
        put(&mut out, 32, &self.ino.to_le_bytes());
        put(&mut out, 40, &self.size.to_le_bytes());
        put(&mut out, 48, &self.blocks.to_le_bytes());
        put(&mut out, 56, &self.attributes_mask.to_le_bytes());
        for (at, (sec, nsec)) in [(64, self.atime), (80, self.btime), (96, self.ctime), (112, self.mtime)] {
            put(&mut out, at, &sec.to_le_bytes());
            put(&mut out, at + 8, &nsec.to_le_bytes());
        }
        put(&mut out, 128, &self.rdev_major.to_le_bytes());
        put(&mut out, 132, &self.rdev_minor.to_le_bytes());
        put(&mut out, 136, &self.dev_major.to_le_bytes());
        put(&mut out, 140, &self.dev_minor.to_le_bytes());
        put(&mut out, 144, &self.mnt_id.to_le_bytes());
        out
    }
}

impl From<&Stat> for Statx {
    /// The same facts as a `statx` answer with [`STATX_BASIC_STATS`] (no birth time).
    fn from(s: &Stat) -> Statx {
        let time = |(sec, nsec): (i64, i64)| (sec, nsec.clamp(0, 999_999_999) as u32);
        Statx {
            mask: STATX_BASIC_STATS,
            blksize: s.blksize.clamp(0, u32::MAX.into()) as u32,
            nlink: s.nlink.min(u32::MAX.into()) as u32,
            uid: s.uid,
            gid: s.gid,
            mode: s.mode as u16,
            ino: s.ino,
            size: s.size.max(0) as u64,
            blocks: s.blocks.max(0) as u64,
            atime: time(s.atime),
            ctime: time(s.ctime),
            mtime: time(s.mtime),
            rdev_major: dev_major(s.rdev),
            rdev_minor: dev_minor(s.rdev),
            dev_major: dev_major(s.dev),
            dev_minor: dev_minor(s.dev),
            ..Statx::default()
        }
    }
}

/// The longest file name a directory entry carries (Linux's `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// The fixed part of `struct linux_dirent64`: `d_ino`, `d_off`, `d_reclen`, `d_type`.
const DIRENT64_HEADER: usize = 19;

/// The size (`d_reclen`) of a `linux_dirent64` for a name of `name_len` bytes: the
/// header, the name and its NUL, rounded up to 8. `getdents64` fits whole entries only,
/// so a server checks this against the space left. Names longer than [`NAME_MAX`] are
/// cut to it, as [`dirent64`] does.
pub fn dirent64_len(name_len: usize) -> usize {
    (DIRENT64_HEADER + name_len.min(NAME_MAX) + 1).next_multiple_of(8)
}

/// Appends a `struct linux_dirent64` to `out`, as `getdents64` returns them: inode
/// `ino`, `off` (the position to seek to for the next entry), `kind` (a `DT_*`) and
/// `name` (cut to [`NAME_MAX`] bytes), NUL-terminated and zero-padded to
/// [`dirent64_len`].
pub fn dirent64(ino: u64, off: i64, kind: u8, name: &[u8], out: &mut Vec<u8>) {
    let name = name.get(..NAME_MAX).unwrap_or(name);
    let len = dirent64_len(name.len());
    out.extend_from_slice(&ino.to_le_bytes());
    out.extend_from_slice(&off.to_le_bytes());
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.push(kind);
    out.extend_from_slice(name);
    out.resize(out.len() + len - DIRENT64_HEADER - name.len(), 0);
}

/// The length of each `struct new_utsname` field, with its NUL.
const UTS_FIELD: usize = 65;

/// The bytes of `struct new_utsname` for `uname` (390 bytes: six 65-byte fields). Each
/// string is cut to 64 bytes so it keeps its NUL; the sixth field, the NIS domain name,
/// is `"(none)"` as on a Linux system without one.
pub fn utsname(sysname: &[u8], nodename: &[u8], release: &[u8], version: &[u8], machine: &[u8]) -> [u8; 390] {
    let mut out = [0u8; 390];
    for (i, field) in [sysname, nodename, release, version, machine, b"(none)"].into_iter().enumerate() {
        let field = field.get(..UTS_FIELD - 1).unwrap_or(field);
        put(&mut out, i * UTS_FIELD, field);
    }
    out
}

/// `struct timespec`: seconds and nanoseconds (16 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timespec {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds, `0..1_000_000_000` in a valid value.
    pub nsec: i64,
}

/// `utimensat`'s `nsec` for "now".
pub const UTIME_NOW: i64 = (1 << 30) - 1;
/// `utimensat`'s `nsec` for "leave as it is".
pub const UTIME_OMIT: i64 = (1 << 30) - 2;

impl Timespec {
    /// The bytes of `struct timespec`.
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        put(&mut out, 0, &self.sec.to_le_bytes());
        put(&mut out, 8, &self.nsec.to_le_bytes());
        out
    }

    /// Reads a `struct timespec` (from a process: check it with [`Timespec::is_valid`]).
    pub fn decode(bytes: &[u8; 16]) -> Timespec {
        Timespec { sec: take_i64(bytes, 0), nsec: take_i64(bytes, 8) }
    }

    /// Whether the kernel accepts it as a time or duration: `nsec` in range and `sec`
    /// not negative (else `EINVAL`).
    pub fn is_valid(&self) -> bool {
        self.sec >= 0 && (0..1_000_000_000).contains(&self.nsec)
    }

    /// The time in nanoseconds, saturating; `None` if it is not [valid](Self::is_valid).
    pub fn as_nanos(&self) -> Option<u64> {
        self.is_valid().then(|| (self.sec as u64).saturating_mul(1_000_000_000).saturating_add(self.nsec as u64))
    }

    /// A time from nanoseconds.
    pub fn from_nanos(nanos: u64) -> Timespec {
        Timespec { sec: (nanos / 1_000_000_000) as i64, nsec: (nanos % 1_000_000_000) as i64 }
    }
}

/// `c_iflag`: ignore a break.
pub const IGNBRK: u32 = 0o1;
/// `c_iflag`: a break raises `SIGINT`.
pub const BRKINT: u32 = 0o2;
/// `c_iflag`: ignore parity errors.
pub const IGNPAR: u32 = 0o4;
/// `c_iflag`: mark parity errors.
pub const PARMRK: u32 = 0o10;
/// `c_iflag`: check parity.
pub const INPCK: u32 = 0o20;
/// `c_iflag`: strip the eighth bit.
pub const ISTRIP: u32 = 0o40;
/// `c_iflag`: NL to CR on input.
pub const INLCR: u32 = 0o100;
/// `c_iflag`: ignore CR.
pub const IGNCR: u32 = 0o200;
/// `c_iflag`: CR to NL on input (so Enter ends a line).
pub const ICRNL: u32 = 0o400;
/// `c_iflag`: upper to lower case.
pub const IUCLC: u32 = 0o1000;
/// `c_iflag`: ^S/^Q flow control on output.
pub const IXON: u32 = 0o2000;
/// `c_iflag`: any character restarts output.
pub const IXANY: u32 = 0o4000;
/// `c_iflag`: flow control on input.
pub const IXOFF: u32 = 0o10000;
/// `c_iflag`: ring the bell when the input queue is full.
pub const IMAXBEL: u32 = 0o20000;
/// `c_iflag`: input is UTF-8 (for erasing characters).
pub const IUTF8: u32 = 0o40000;

/// `c_oflag`: process output (the other `c_oflag` bits need it).
pub const OPOST: u32 = 0o1;
/// `c_oflag`: lower to upper case.
pub const OLCUC: u32 = 0o2;
/// `c_oflag`: NL to CR NL on output.
pub const ONLCR: u32 = 0o4;
/// `c_oflag`: CR to NL on output.
pub const OCRNL: u32 = 0o10;
/// `c_oflag`: no CR in column 0.
pub const ONOCR: u32 = 0o20;
/// `c_oflag`: NL does the CR function.
pub const ONLRET: u32 = 0o40;

/// `c_cflag`: the baud-rate bits.
pub const CBAUD: u32 = 0o10017;
/// `c_cflag`: 9600 baud.
pub const B9600: u32 = 0o15;
/// `c_cflag`: 38400 baud (a virtual terminal's usual setting).
pub const B38400: u32 = 0o17;
/// `c_cflag`: 115200 baud.
pub const B115200: u32 = 0o10002;
/// `c_cflag`: the character-size bits.
pub const CSIZE: u32 = 0o60;
/// `c_cflag`: 5-bit characters.
pub const CS5: u32 = 0;
/// `c_cflag`: 6-bit characters.
pub const CS6: u32 = 0o20;
/// `c_cflag`: 7-bit characters.
pub const CS7: u32 = 0o40;
/// `c_cflag`: 8-bit characters.
pub const CS8: u32 = 0o60;
/// `c_cflag`: two stop bits.
pub const CSTOPB: u32 = 0o100;
/// `c_cflag`: the receiver is on.
pub const CREAD: u32 = 0o200;
/// `c_cflag`: parity on.
pub const PARENB: u32 = 0o400;
/// `c_cflag`: odd parity.
pub const PARODD: u32 = 0o1000;
/// `c_cflag`: hang up on last close.
pub const HUPCL: u32 = 0o2000;
/// `c_cflag`: ignore modem lines.
pub const CLOCAL: u32 = 0o4000;

/// `c_lflag`: INTR, QUIT and SUSP raise signals.
pub const ISIG: u32 = 0o1;
/// `c_lflag`: canonical (line-at-a-time) input with editing.
pub const ICANON: u32 = 0o2;
/// `c_lflag`: echo input.
pub const ECHO: u32 = 0o10;
/// `c_lflag`: ERASE erases the character on screen.
pub const ECHOE: u32 = 0o20;
/// `c_lflag`: echo NL after KILL.
pub const ECHOK: u32 = 0o40;
/// `c_lflag`: echo NL even without `ECHO`.
pub const ECHONL: u32 = 0o100;
/// `c_lflag`: do not flush on INTR/QUIT/SUSP.
pub const NOFLSH: u32 = 0o200;
/// `c_lflag`: background writers get `SIGTTOU`.
pub const TOSTOP: u32 = 0o400;
/// `c_lflag`: echo control characters as `^X`.
pub const ECHOCTL: u32 = 0o1000;
/// `c_lflag`: echo erased characters between `\` and `/`.
pub const ECHOPRT: u32 = 0o2000;
/// `c_lflag`: KILL erases the line on screen.
pub const ECHOKE: u32 = 0o4000;
/// `c_lflag`: output is being flushed.
pub const FLUSHO: u32 = 0o10000;
/// `c_lflag`: reprint pending input.
pub const PENDIN: u32 = 0o40000;
/// `c_lflag`: extended input processing (LNEXT, WERASE, ...).
pub const IEXTEN: u32 = 0o100000;

/// `c_cc` index: interrupt (^C, `SIGINT`).
pub const VINTR: usize = 0;
/// `c_cc` index: quit (^\, `SIGQUIT`).
pub const VQUIT: usize = 1;
/// `c_cc` index: erase a character (DEL).
pub const VERASE: usize = 2;
/// `c_cc` index: erase the line (^U).
pub const VKILL: usize = 3;
/// `c_cc` index: end of file (^D).
pub const VEOF: usize = 4;
/// `c_cc` index: non-canonical read timeout, in tenths of a second.
pub const VTIME: usize = 5;
/// `c_cc` index: non-canonical read minimum byte count.
pub const VMIN: usize = 6;
/// `c_cc` index: switch (unused on Linux).
pub const VSWTC: usize = 7;
/// `c_cc` index: restart output (^Q).
pub const VSTART: usize = 8;
/// `c_cc` index: stop output (^S).
pub const VSTOP: usize = 9;
/// `c_cc` index: suspend (^Z, `SIGTSTP`).
pub const VSUSP: usize = 10;
/// `c_cc` index: an extra end of line.
pub const VEOL: usize = 11;
/// `c_cc` index: reprint the line (^R).
pub const VREPRINT: usize = 12;
/// `c_cc` index: discard output (^O).
pub const VDISCARD: usize = 13;
/// `c_cc` index: erase a word (^W).
pub const VWERASE: usize = 14;
/// `c_cc` index: quote the next character (^V).
pub const VLNEXT: usize = 15;
/// `c_cc` index: a second extra end of line.
pub const VEOL2: usize = 16;
/// The number of control characters in the kernel's `struct termios`.
pub const NCCS: usize = 19;

/// The kernel's `struct termios` as `TCGETS` and `TCSETS` pass it (36 bytes; glibc's
/// own `struct termios` is larger and converted in libc).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Termios {
    /// Input modes (`ICRNL`, `IXON`, ...).
    pub iflag: u32,
    /// Output modes (`OPOST`, `ONLCR`, ...).
    pub oflag: u32,
    /// Control modes (`B38400`, `CS8`, `CREAD`, ...).
    pub cflag: u32,
    /// Local modes (`ICANON`, `ECHO`, `ISIG`, ...).
    pub lflag: u32,
    /// The line discipline (0, N_TTY).
    pub line: u8,
    /// The control characters, indexed by `VINTR` and the other `V*` constants.
    pub cc: [u8; NCCS],
}

impl Termios {
    /// The settings of a freshly opened Linux terminal (`tty_std_termios`): cooked mode
    /// with echo, CR to NL on input, NL to CR NL on output, 38400 8N1, and the usual
    /// control characters (^C, ^\, DEL, ^U, ^D, ^Q, ^S, ^Z, ^R, ^O, ^W, ^V; VMIN 1).
    pub fn default_tty() -> Termios {
        let mut cc = [0u8; NCCS];
        for (index, value) in [
            (VINTR, 0x03),
            (VQUIT, 0x1c),
            (VERASE, 0x7f),
            (VKILL, 0x15),
            (VEOF, 0x04),
            (VTIME, 0),
            (VMIN, 1),
            (VSTART, 0x11),
            (VSTOP, 0x13),
            (VSUSP, 0x1a),
            (VREPRINT, 0x12),
            (VDISCARD, 0x0f),
            (VWERASE, 0x17),
            (VLNEXT, 0x16),
        ] {
            if let Some(slot) = cc.get_mut(index) {
                *slot = value;
            }
        }
        Termios {
            iflag: ICRNL | IXON,
            oflag: OPOST | ONLCR,
            cflag: B38400 | CS8 | CREAD | HUPCL,
            lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
            line: 0,
            cc,
        }
    }

    /// The bytes of the kernel's `struct termios`.
    pub fn encode(&self) -> [u8; 36] {
        let mut out = [0u8; 36];
        put(&mut out, 0, &self.iflag.to_le_bytes());
        put(&mut out, 4, &self.oflag.to_le_bytes());
        put(&mut out, 8, &self.cflag.to_le_bytes());
        put(&mut out, 12, &self.lflag.to_le_bytes());
        put(&mut out, 16, &[self.line]);
        put(&mut out, 17, &self.cc);
        out
    }

    /// Reads the kernel's `struct termios`.
    pub fn decode(bytes: &[u8; 36]) -> Termios {
        Termios {
            iflag: take_u32(bytes, 0),
            oflag: take_u32(bytes, 4),
            cflag: take_u32(bytes, 8),
            lflag: take_u32(bytes, 12),
            line: take::<1>(bytes, 16)[0],
            cc: take(bytes, 17),
        }
    }
}

/// `struct winsize` for `TIOCGWINSZ` and `TIOCSWINSZ` (8 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Winsize {
    /// Rows of characters.
    pub row: u16,
    /// Columns of characters.
    pub col: u16,
    /// Width in pixels (usually 0).
    pub xpixel: u16,
    /// Height in pixels (usually 0).
    pub ypixel: u16,
}

impl Winsize {
    /// The bytes of `struct winsize`.
    pub fn encode(&self) -> [u8; 8] {
        let mut out = [0u8; 8];
        for (i, v) in [self.row, self.col, self.xpixel, self.ypixel].into_iter().enumerate() {
            put(&mut out, 2 * i, &v.to_le_bytes());
        }
        out
    }

    /// Reads a `struct winsize`.
    pub fn decode(bytes: &[u8; 8]) -> Winsize {
        Winsize {
            row: take_u16(bytes, 0),
            col: take_u16(bytes, 2),
            xpixel: take_u16(bytes, 4),
            ypixel: take_u16(bytes, 6),
        }
    }
}

/// The kernel's x86_64 `struct sigaction` as `rt_sigaction` passes it (32 bytes; libc's
/// own is larger and converted in libc).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigAction {
    /// The handler's address, or [`signal::SIG_DFL`] / [`signal::SIG_IGN`].
    pub handler: u64,
    /// `SA_*` flags.
    pub flags: u64,
    /// With [`signal::SA_RESTORER`]: where the handler returns to (libc's trampoline
    /// calling `rt_sigreturn`).
    pub restorer: u64,
    /// Signals blocked while the handler runs (bit `n - 1` for signal `n`).
    pub mask: u64,
}

impl SigAction {
    /// The bytes of the kernel's `struct sigaction`.
    pub fn encode(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, v) in [self.handler, self.flags, self.restorer, self.mask].into_iter().enumerate() {
            put(&mut out, 8 * i, &v.to_le_bytes());
        }
        out
    }

    /// Reads the kernel's `struct sigaction`.
    pub fn decode(bytes: &[u8; 32]) -> SigAction {
        SigAction {
            handler: take_u64(bytes, 0),
            flags: take_u64(bytes, 8),
            restorer: take_u64(bytes, 16),
            mask: take_u64(bytes, 24),
        }
    }
}

/// `struct rlimit` for `prlimit64` (16 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// The soft limit.
    pub cur: u64,
    /// The hard limit.
    pub max: u64,
}

impl Rlimit {
    /// The bytes of `struct rlimit`.
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        put(&mut out, 0, &self.cur.to_le_bytes());
        put(&mut out, 8, &self.max.to_le_bytes());
        out
    }

    /// Reads a `struct rlimit`.
    pub fn decode(bytes: &[u8; 16]) -> Rlimit {
        Rlimit { cur: take_u64(bytes, 0), max: take_u64(bytes, 8) }
    }
}

/// `struct pollfd` for `poll` and `ppoll` (8 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pollfd {
    /// The descriptor; a negative one is skipped.
    pub fd: i32,
    /// The events asked for (`POLL*`).
    pub events: u16,
    /// The events that happened, filled in by the kernel.
    pub revents: u16,
}

impl Pollfd {
    /// The bytes of `struct pollfd`.
    pub fn encode(&self) -> [u8; 8] {
        let mut out = [0u8; 8];
        put(&mut out, 0, &self.fd.to_le_bytes());
        put(&mut out, 4, &self.events.to_le_bytes());
        put(&mut out, 6, &self.revents.to_le_bytes());
        out
    }

    /// Reads a `struct pollfd`.
    pub fn decode(bytes: &[u8; 8]) -> Pollfd {
        Pollfd { fd: take_u32(bytes, 0) as i32, events: take_u16(bytes, 4), revents: take_u16(bytes, 6) }
    }
}

/// `struct iovec` for `readv`, `writev` and friends (16 bytes; musl's stdio writes with
/// `writev`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Iovec {
    /// The buffer's address in the process.
    pub base: u64,
    /// Its length.
    pub len: u64,
}

impl Iovec {
    /// Reads a `struct iovec`.
    pub fn decode(bytes: &[u8; 16]) -> Iovec {
        Iovec { base: take_u64(bytes, 0), len: take_u64(bytes, 8) }
    }

    /// The bytes of `struct iovec`.
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        put(&mut out, 0, &self.base.to_le_bytes());
        put(&mut out, 8, &self.len.to_le_bytes());
        out
    }
}

// ---------------------------------------------------------------------------------------
// Sockets (IPv4 only: the network server's)

/// A `struct sockaddr_in` (16 bytes) for an address and port.
pub fn sockaddr_in(address: u32, port: u16) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..2].copy_from_slice(&(AF_INET as u16).to_le_bytes());
    out[2..4].copy_from_slice(&port.to_be_bytes());
    out[4..8].copy_from_slice(&address.to_be_bytes());
    out
}

/// A `struct sockaddr_in`'s address and port; EAFNOSUPPORT for another family,
/// EINVAL when too short.
pub fn parse_sockaddr_in(raw: &[u8]) -> Result<(u32, u16), u64> {
    if raw.len() < 2 {
        return Err(errno::EINVAL);
    }
    let family = u16::from_le_bytes([raw[0], raw[1]]);
    if family != AF_INET as u16 {
        return Err(errno::EAFNOSUPPORT);
    }
    if raw.len() < 8 {
        return Err(errno::EINVAL);
    }
    Ok((u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]), u16::from_be_bytes([raw[2], raw[3]])))
}

pub const AF_UNIX: u64 = 1;
pub const AF_INET: u64 = 2;
pub const SOCK_STREAM: u64 = 1;
pub const SOCK_DGRAM: u64 = 2;
pub const SOCK_NONBLOCK: u64 = 0o4000;
pub const SOCK_CLOEXEC: u64 = 0o2000000;
pub const SOL_SOCKET: u64 = 1;
pub const IPPROTO_TCP: u64 = 6;
pub const SO_TYPE: u64 = 3;
pub const SO_ERROR: u64 = 4;
pub const TCP_NODELAY: u64 = 1;
pub const MSG_PEEK: u64 = 2;
pub const MSG_DONTWAIT: u64 = 0x40;
pub const MSG_NOSIGNAL: u64 = 0x4000;

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn sockaddr_in_round_trips() {
        let raw = sockaddr_in(0x0a00_020f, 8080);
        assert_eq!(&raw[..8], &[2, 0, 0x1f, 0x90, 10, 0, 2, 15]);
        assert_eq!(parse_sockaddr_in(&raw), Ok((0x0a00_020f, 8080)));
        assert_eq!(parse_sockaddr_in(&[10, 0, 0, 0]), Err(errno::EAFNOSUPPORT));
        assert_eq!(parse_sockaddr_in(&raw[..4]), Err(errno::EINVAL));
        assert_eq!(parse_sockaddr_in(&[2]), Err(errno::EINVAL));
    }

    #[test]
    fn syscall_numbers_match_linux() {
        use nr::*;
        let expected = [
            (READ, 0),
            (WRITE, 1),
            (OPEN, 2),
            (CLOSE, 3),
            (MMAP, 9),
            (BRK, 12),
            (RT_SIGACTION, 13),
            (RT_SIGPROCMASK, 14),
            (RT_SIGRETURN, 15),
            (IOCTL, 16),
            (WRITEV, 20),
            (GETPID, 39),
            (CLONE, 56),
            (FORK, 57),
            (VFORK, 58),
            (EXECVE, 59),
            (EXIT, 60),
            (WAIT4, 61),
            (KILL, 62),
            (UNAME, 63),
            (FCNTL, 72),
            (GETCWD, 79),
            (GETPPID, 110),
            (_SYSCTL, 156),
            (ARCH_PRCTL, 158),
            (GETTID, 186),
            (FUTEX, 202),
            (GETDENTS64, 217),
            (SET_TID_ADDRESS, 218),
            (CLOCK_GETTIME, 228),
            (CLOCK_NANOSLEEP, 230),
            (EXIT_GROUP, 231),
            (TGKILL, 234),
            (OPENAT, 257),
            (NEWFSTATAT, 262),
            (SET_ROBUST_LIST, 273),
            (PIPE2, 293),
            (PRLIMIT64, 302),
            (GETRANDOM, 318),
            (STATX, 332),
            (RSEQ, 334),
            (PIDFD_SEND_SIGNAL, 424),
            (CLONE3, 435),
            (FUTEX_WAITV, 449),
            (MSEAL, 462),
        ];
        for (konst, value) in expected {
            assert_eq!(konst, value);
        }
    }

    #[test]
    fn names_come_from_the_same_table() {
        assert_eq!(name(nr::NEWFSTATAT), Some("newfstatat"));
        assert_eq!(name(nr::_SYSCTL), Some("_sysctl"));
        assert_eq!(name(nr::UMOUNT2), Some("umount2"));
        assert_eq!(name(nr::CLONE3), Some("clone3"));
        assert_eq!(name(337), None);
        assert_eq!(name(423), None);
        assert_eq!(name(u64::MAX), None);
        assert_eq!(number("exit_group"), Some(231));
        assert_eq!(number("EXIT_GROUP"), None);
        assert_eq!(number("nonesuch"), None);
        // Every number 0..=336 and 424..=470 has a name, and each name maps back.
        let numbers: Vec<u64> = SYSCALL_TABLE.iter().map(|&(n, _)| n).collect();
        let expected: Vec<u64> = (0..=336).chain(424..=470).collect();
        assert_eq!(numbers, expected);
        for &(n, konst) in SYSCALL_TABLE {
            let name = name(n).unwrap();
            assert_eq!(String::from(name).to_uppercase(), konst);
            assert_eq!(number(name), Some(n));
        }
    }

    #[test]
    fn errno_values_and_names() {
        use errno::*;
        let expected = [
            (EPERM, 1, "EPERM"),
            (ENOENT, 2, "ENOENT"),
            (ESRCH, 3, "ESRCH"),
            (EINTR, 4, "EINTR"),
            (EIO, 5, "EIO"),
            (ENXIO, 6, "ENXIO"),
            (E2BIG, 7, "E2BIG"),
            (ENOEXEC, 8, "ENOEXEC"),
            (EBADF, 9, "EBADF"),
            (ECHILD, 10, "ECHILD"),
            (EAGAIN, 11, "EAGAIN"),
            (ENOMEM, 12, "ENOMEM"),
            (EACCES, 13, "EACCES"),
            (EFAULT, 14, "EFAULT"),
            (EBUSY, 16, "EBUSY"),
            (EEXIST, 17, "EEXIST"),
            (EXDEV, 18, "EXDEV"),
            (ENODEV, 19, "ENODEV"),
            (ENOTDIR, 20, "ENOTDIR"),
            (EISDIR, 21, "EISDIR"),
            (EINVAL, 22, "EINVAL"),
            (ENFILE, 23, "ENFILE"),
            (EMFILE, 24, "EMFILE"),
            (ENOTTY, 25, "ENOTTY"),
            (EFBIG, 27, "EFBIG"),
            (ENOSPC, 28, "ENOSPC"),
            (ESPIPE, 29, "ESPIPE"),
            (EROFS, 30, "EROFS"),
            (EMLINK, 31, "EMLINK"),
            (EPIPE, 32, "EPIPE"),
            (ERANGE, 34, "ERANGE"),
            (EDEADLK, 35, "EDEADLK"),
            (ENAMETOOLONG, 36, "ENAMETOOLONG"),
            (ENOSYS, 38, "ENOSYS"),
            (ENOTEMPTY, 39, "ENOTEMPTY"),
            (ELOOP, 40, "ELOOP"),
            (ENOTSOCK, 88, "ENOTSOCK"),
            (EOPNOTSUPP, 95, "EOPNOTSUPP"),
            (EADDRINUSE, 98, "EADDRINUSE"),
            (ETIMEDOUT, 110, "ETIMEDOUT"),
            (ECONNREFUSED, 111, "ECONNREFUSED"),
            (EHWPOISON, 133, "EHWPOISON"),
        ];
        for (konst, value, text) in expected {
            assert_eq!((konst, errno_name(konst)), (value, text));
        }
        assert_eq!((EWOULDBLOCK, errno_name(EWOULDBLOCK)), (11, "EAGAIN"));
        assert_eq!(errno_name(0), "E?");
        assert_eq!(errno_name(41), "E?");
        assert_eq!(errno_name(134), "E?");
    }

    #[test]
    fn returns_split_into_values_and_errors() {
        assert_eq!(error_return(errno::ENOENT), (-2i64) as u64);
        assert_eq!(decode_return(error_return(errno::ENOENT)), Err(errno::ENOENT));
        assert_eq!(decode_return(error_return(MAX_ERRNO)), Err(MAX_ERRNO));
        assert_eq!(decode_return((-4096i64) as u64), Ok((-4096i64) as u64), "an mmap address, not an error");
        assert_eq!(decode_return(0), Ok(0));
        assert_eq!(decode_return(0x7fff_0000_0000), Ok(0x7fff_0000_0000));
    }

    #[test]
    fn int_arguments_ignore_the_upper_half() {
        assert_eq!(int_arg(0xffff_ff9c), AT_FDCWD, "glibc zero-extends");
        assert_eq!(int_arg((-100i64) as u64), AT_FDCWD, "musl sign-extends");
        assert_eq!(int_arg(0xdead_beef_0000_0003), 3);
    }

    #[test]
    fn signals_and_their_names() {
        use signal::*;
        let expected = [
            (SIGHUP, 1, "SIGHUP"),
            (SIGINT, 2, "SIGINT"),
            (SIGQUIT, 3, "SIGQUIT"),
            (SIGABRT, 6, "SIGABRT"),
            (SIGKILL, 9, "SIGKILL"),
            (SIGUSR1, 10, "SIGUSR1"),
            (SIGSEGV, 11, "SIGSEGV"),
            (SIGPIPE, 13, "SIGPIPE"),
            (SIGALRM, 14, "SIGALRM"),
            (SIGTERM, 15, "SIGTERM"),
            (SIGCHLD, 17, "SIGCHLD"),
            (SIGCONT, 18, "SIGCONT"),
            (SIGSTOP, 19, "SIGSTOP"),
            (SIGTSTP, 20, "SIGTSTP"),
            (SIGTTIN, 21, "SIGTTIN"),
            (SIGTTOU, 22, "SIGTTOU"),
            (SIGWINCH, 28, "SIGWINCH"),
            (SIGSYS, 31, "SIGSYS"),
        ];
        for (konst, value, text) in expected {
            assert_eq!((konst, signal_name(konst)), (value, text));
        }
        assert_eq!(signal::name(SIGRTMIN + 2), "SIGRT");
        assert_eq!(signal_name(0), "SIG?");
        assert_eq!(signal_name(65), "SIG?");
        assert_eq!(
            (SA_SIGINFO, SA_RESTORER, SA_RESTART, SA_NODEFER, SA_RESETHAND),
            (4, 0x0400_0000, 0x1000_0000, 0x4000_0000, 0x8000_0000)
        );
        assert_eq!((SIG_DFL, SIG_IGN), (0, 1));
        assert_eq!(bit(SIGINT), 2);
        assert_eq!(bit(64), 1 << 63);
        assert_eq!((bit(0), bit(65)), (0, 0));
        assert_eq!(UNBLOCKABLE, bit(SIGKILL) | bit(SIGSTOP));
    }

    #[test]
    fn flag_values_match_linux() {
        assert_eq!((TCGETS, TCSETS, TCSETSW, TCSETSF), (0x5401, 0x5402, 0x5403, 0x5404));
        assert_eq!(
            (TIOCGPGRP, TIOCSPGRP, TIOCGWINSZ, TIOCSWINSZ, FIONREAD, FIONBIO),
            (0x540F, 0x5410, 0x5413, 0x5414, 0x541B, 0x5421)
        );
        assert_eq!((O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NONBLOCK), (0x40, 0x80, 0x200, 0x400, 0x800));
        assert_eq!((O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC, O_PATH), (0x1_0000, 0x2_0000, 0x8_0000, 0x20_0000));
        assert_eq!((AT_FDCWD, AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_EMPTY_PATH), (-100, 0x100, 0x200, 0x1000));
        assert_eq!(
            (MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS, MAP_FIXED_NOREPLACE),
            (1, 2, 0x10, 0x20, 0x10_0000)
        );
        assert_eq!((CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND, CLONE_VFORK), (0x100, 0x200, 0x400, 0x800, 0x4000));
        assert_eq!((CLONE_THREAD, CLONE_SETTLS, CLONE_PARENT_SETTID), (0x1_0000, 0x8_0000, 0x10_0000));
        assert_eq!((CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID), (0x20_0000, 0x100_0000));
        assert_eq!(FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 137);
        assert_eq!((FUTEX_WAKE | FUTEX_PRIVATE_FLAG) & FUTEX_CMD_MASK, FUTEX_WAKE);
        assert_eq!((ARCH_SET_FS, ARCH_GET_FS), (0x1002, 0x1003));
        assert_eq!((S_IFDIR, S_IFREG, S_IFLNK), (0x4000, 0x8000, 0xa000));
        assert_eq!(F_DUPFD_CLOEXEC, 1030);
    }

    #[test]
    fn wait_statuses_decode_as_libc_does() {
        // WIFEXITED(s) is (s & 0x7f) == 0; WEXITSTATUS(s) is (s >> 8) & 0xff.
        let s = wait_status_exited(3);
        assert_eq!((s & 0x7f, (s >> 8) & 0xff), (0, 3));
        assert_eq!(wait_status_exited(256 + 7), 7 << 8, "only the low byte survives");
        // WIFSIGNALED(s) is ((s & 0x7f) + 1) as i8 >> 1 > 0; WTERMSIG is s & 0x7f.
        let s = wait_status_signaled(signal::SIGSEGV, true);
        assert_eq!((s & 0x7f, s & 0x80), (11, 0x80));
        assert!((((s & 0x7f) + 1) as i8 >> 1) > 0);
        assert_eq!(wait_status_signaled(signal::SIGKILL, false), 9);
        // WIFSTOPPED(s) is (s & 0xff) == 0x7f; WSTOPSIG is (s >> 8) & 0xff.
        let s = wait_status_stopped(signal::SIGTSTP);
        assert_eq!((s & 0xff, (s >> 8) & 0xff), (0x7f, 20));
    }

    #[test]
    fn directory_entry_types_follow_the_mode() {
        assert_eq!(dirent_type(S_IFDIR | 0o755), DT_DIR);
        assert_eq!(dirent_type(S_IFREG | 0o644), DT_REG);
        assert_eq!(dirent_type(S_IFLNK | 0o777), DT_LNK);
        assert_eq!(dirent_type(S_IFCHR), DT_CHR);
        assert_eq!(dirent_type(S_IFIFO), DT_FIFO);
        assert_eq!(dirent_type(S_IFSOCK), DT_SOCK);
        assert_eq!(dirent_type(S_IFBLK), DT_BLK);
    }

    #[test]
    fn device_numbers_round_trip() {
        assert_eq!(makedev(8, 1), 0x801);
        assert_eq!(makedev(136, 3), 0x8803);
        for (major, minor) in [(0, 0), (8, 1), (4095, 255), (0x1_2345, 0x6789_abcd), (u32::MAX, u32::MAX)] {
            let dev = makedev(major, minor);
            assert_eq!((dev_major(dev), dev_minor(dev)), (major, minor));
        }
    }

    #[test]
    fn stat_has_the_x86_64_layout() {
        let s = Stat {
            dev: 0x0102_0304_0506_0708,
            ino: 0x1111,
            nlink: 0x2222,
            mode: S_IFREG | 0o644,
            uid: 0x3333,
            gid: 0x4444,
            rdev: 0x5555,
            size: 0x6666,
            blksize: 0x7777,
            blocks: 0x8888,
            atime: (0x9999, 0xaaaa),
            mtime: (0xbbbb, 0xcccc),
            ctime: (0xdddd, 0xeeee),
        };
        let b = s.encode();
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        assert_eq!(u64_at(0), 0x0102_0304_0506_0708);
        assert_eq!((u64_at(8), u64_at(16)), (0x1111, 0x2222));
        assert_eq!((u32_at(24), u32_at(28), u32_at(32), u32_at(36)), (0o100644, 0x3333, 0x4444, 0));
        assert_eq!((u64_at(40), u64_at(48), u64_at(56), u64_at(64)), (0x5555, 0x6666, 0x7777, 0x8888));
        assert_eq!((u64_at(72), u64_at(80)), (0x9999, 0xaaaa));
        assert_eq!((u64_at(88), u64_at(96)), (0xbbbb, 0xcccc));
        assert_eq!((u64_at(104), u64_at(112)), (0xdddd, 0xeeee));
        assert!(b[120..].iter().all(|&x| x == 0), "__unused");
    }

    #[test]
    fn statx_has_the_uapi_layout() {
        let s = Statx {
            mask: 0x7ff,
            blksize: 4096,
            attributes: 0x10,
            nlink: 2,
            uid: 3,
            gid: 4,
            mode: 0o40755,
            ino: 5,
            size: 6,
            blocks: 7,
            attributes_mask: 8,
            atime: (9, 10),
            btime: (11, 12),
            ctime: (13, 14),
            mtime: (15, 16),
            rdev_major: 17,
            rdev_minor: 18,
            dev_major: 19,
            dev_minor: 20,
            mnt_id: 21,
        };
        let b = s.encode();
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        assert_eq!((u32_at(0), u32_at(4), u64_at(8)), (0x7ff, 4096, 0x10));
        assert_eq!((u32_at(16), u32_at(20), u32_at(24)), (2, 3, 4));
        assert_eq!(u16::from_le_bytes([b[28], b[29]]), 0o40755);
        assert_eq!((u64_at(32), u64_at(40), u64_at(48), u64_at(56)), (5, 6, 7, 8));
        assert_eq!((u64_at(64), u32_at(72), u32_at(76)), (9, 10, 0));
        assert_eq!((u64_at(80), u32_at(88)), (11, 12));
        assert_eq!((u64_at(96), u32_at(104)), (13, 14));
        assert_eq!((u64_at(112), u32_at(120)), (15, 16));
        assert_eq!((u32_at(128), u32_at(132), u32_at(136), u32_at(140)), (17, 18, 19, 20));
        assert_eq!(u64_at(144), 21);
        assert!(b[152..].iter().all(|&x| x == 0));
    }

    #[test]
    fn statx_from_stat_splits_the_devices() {
        let s = Stat {
            dev: makedev(8, 1),
            rdev: makedev(136, 3),
            mode: S_IFCHR | 0o620,
            size: -5,
            mtime: (7, 2_000_000_000),
            ..Stat::default()
        };
        let x = Statx::from(&s);
        assert_eq!((x.dev_major, x.dev_minor, x.rdev_major, x.rdev_minor), (8, 1, 136, 3));
        assert_eq!((x.mask, x.mode, x.size), (STATX_BASIC_STATS, (S_IFCHR | 0o620) as u16, 0));
        assert_eq!(x.mtime, (7, 999_999_999));
    }

    #[test]
    fn dirent64_records_are_8_aligned_and_parse_back() {
        assert_eq!(dirent64_len(0), 24);
        assert_eq!(dirent64_len(4), 24);
        assert_eq!(dirent64_len(5), 32, "19 + 5 + NUL = 25");
        assert_eq!(dirent64_len(1000), dirent64_len(NAME_MAX));
        let mut out = Vec::new();
        dirent64(2, 1, DT_DIR, b".", &mut out);
        dirent64(42, 2, DT_REG, b"hello", &mut out);
        assert_eq!(out.len(), 24 + 32);
        // Walk the records the way readdir does.
        let mut at = 0;
        let mut seen = Vec::new();
        while at < out.len() {
            let rec = &out[at..];
            let ino = u64::from_le_bytes(rec[0..8].try_into().unwrap());
            let off = i64::from_le_bytes(rec[8..16].try_into().unwrap());
            let reclen = u16::from_le_bytes([rec[16], rec[17]]) as usize;
            let kind = rec[18];
            let name_len = rec[19..reclen].iter().position(|&b| b == 0).unwrap();
            seen.push((ino, off, kind, rec[19..19 + name_len].to_vec()));
            at += reclen;
        }
        assert_eq!(seen, [(2, 1, DT_DIR, b".".to_vec()), (42, 2, DT_REG, b"hello".to_vec())]);
        let mut long = Vec::new();
        dirent64(1, 1, DT_REG, &[b'x'; 300], &mut long);
        assert_eq!(long.len(), dirent64_len(NAME_MAX));
        assert_eq!(*long.last().unwrap(), 0);
    }

    #[test]
    fn utsname_is_six_nul_terminated_65_byte_fields() {
        let long = [b'v'; 100];
        let b = utsname(b"Linux", b"kaal", b"6.1.0-kaal", &long, b"x86_64");
        let field = |i: usize| {
            let f = &b[i * 65..(i + 1) * 65];
            f[..f.iter().position(|&c| c == 0).unwrap()].to_vec()
        };
        assert_eq!(field(0), b"Linux");
        assert_eq!(field(1), b"kaal");
        assert_eq!(field(2), b"6.1.0-kaal");
        assert_eq!(field(3), [b'v'; 64], "cut to 64 bytes plus the NUL");
        assert_eq!(field(4), b"x86_64");
        assert_eq!(field(5), b"(none)");
    }

    #[test]
    fn timespec_round_trips_and_validates() {
        let t = Timespec { sec: 1_700_000_000, nsec: 123_456_789 };
        let b = t.encode();
        assert_eq!(i64::from_le_bytes(b[..8].try_into().unwrap()), 1_700_000_000);
        assert_eq!(i64::from_le_bytes(b[8..].try_into().unwrap()), 123_456_789);
        assert_eq!(Timespec::decode(&b), t);
        assert!(t.is_valid());
        assert_eq!(t.as_nanos(), Some(1_700_000_000_123_456_789));
        assert_eq!(Timespec::from_nanos(1_500_000_000), Timespec { sec: 1, nsec: 500_000_000 });
        assert!(!Timespec { sec: 0, nsec: 1_000_000_000 }.is_valid());
        assert!(!Timespec { sec: -1, nsec: 0 }.is_valid());
        assert_eq!(Timespec { sec: 0, nsec: -1 }.as_nanos(), None);
        assert_eq!(Timespec { sec: i64::MAX, nsec: 0 }.as_nanos(), Some(u64::MAX));
    }

    #[test]
    fn the_default_tty_is_linux_cooked_mode() {
        let t = Termios::default_tty();
        assert_eq!((t.iflag, t.oflag, t.cflag, t.lflag), (0o2400, 0o5, 0o2277, 0o105073));
        assert_eq!(t.cc[..17], *b"\x03\x1c\x7f\x15\x04\x00\x01\x00\x11\x13\x1a\x00\x12\x0f\x17\x16\x00");
        let b = t.encode();
        assert_eq!(u32::from_le_bytes(b[12..16].try_into().unwrap()), t.lflag);
        assert_eq!((b[16], b[17 + VINTR], b[17 + VMIN]), (0, 3, 1));
        assert_eq!(Termios::decode(&b), t);
        let raw = Termios { lflag: t.lflag & !(ICANON | ECHO), ..t };
        assert_eq!(Termios::decode(&raw.encode()), raw);
    }

    #[test]
    fn winsize_sigaction_rlimit_pollfd_and_iovec_round_trip() {
        let w = Winsize { row: 24, col: 80, xpixel: 0, ypixel: 1 };
        assert_eq!(w.encode(), [24, 0, 80, 0, 0, 0, 1, 0]);
        assert_eq!(Winsize::decode(&w.encode()), w);

        let a = SigAction {
            handler: 0x40_1000,
            flags: signal::SA_RESTORER | signal::SA_SIGINFO,
            restorer: 0x40_2000,
            mask: 1 << 1,
        };
        let b = a.encode();
        assert_eq!(u64::from_le_bytes(b[0..8].try_into().unwrap()), 0x40_1000);
        assert_eq!(u64::from_le_bytes(b[8..16].try_into().unwrap()), 0x0400_0004);
        assert_eq!(u64::from_le_bytes(b[16..24].try_into().unwrap()), 0x40_2000);
        assert_eq!(u64::from_le_bytes(b[24..32].try_into().unwrap()), 2);
        assert_eq!(SigAction::decode(&b), a);

        let r = Rlimit { cur: 8 << 20, max: RLIM_INFINITY };
        assert_eq!(Rlimit::decode(&r.encode()), r);
        assert_eq!(r.encode()[8..], [0xff; 8]);

        let p = Pollfd { fd: -1, events: POLLIN | POLLOUT, revents: POLLHUP };
        assert_eq!(p.encode(), [0xff, 0xff, 0xff, 0xff, 5, 0, 0x10, 0]);
        assert_eq!(Pollfd::decode(&p.encode()), p);

        let v = Iovec { base: 0x7fff_0000, len: 12 };
        assert_eq!(Iovec::decode(&v.encode()), v);
        assert_eq!(v.encode()[8], 12);
    }
}
