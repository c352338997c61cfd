//! The pure parts of a Linux personality: what a server needs to run unmodified static
//! x86_64 Linux binaries (Debian's busybox-static, a Rust `+crt-static` program) as
//! seL4 threads, without any seL4 in it, so all of it is tested on the host.
//!
//! * [`elf`]: checks a static executable and plans its address space ([`elf::ElfPlan`]):
//!   the segments to map, the entry point, the program headers' address for `AT_PHDR`,
//!   and the TLS template.
//! * [`patch`]: finds every decoded `syscall` instruction in the executable segments and
//!   rewrites it to `int 0xA0` (same length), the one trap that reaches a user-level
//!   server intact on seL4 5.0 x86_64.
//! * [`stack`]: builds the initial process stack (argc, argv, envp, auxv, AT_RANDOM) as
//!   the kernel leaves it at `execve`.
//! * [`abi`]: syscall numbers and names, errno values, signal numbers, the flags and
//!   ioctl numbers the common syscalls take, and byte encoders for the kernel structs
//!   they read and write (`stat`, `statx`, `linux_dirent64`, `utsname`, `termios`, ...).
//! * [`signal_frame`]: the `rt_sigframe` Linux pushes when it delivers a signal, and
//!   reading it back at `rt_sigreturn`.
//!
//! Every function here takes untrusted bytes (a binary from disk, a frame from a
//! process's stack) and answers with an error that names the cause and the fix, never a
//! panic.

pub mod abi;
pub mod elf;
pub mod patch;
pub mod signal_frame;
pub mod stack;
