//! The Linux personality: a built-in component (`[linux]` in system.toml) that runs
//! static x86_64 Linux binaries, unmodified on disk, as seL4 processes.
//!
//! Each Linux process has its own address space, a CSpace holding nothing but its
//! threads' fault endpoints, and this server as the handler of all its faults: its
//! system calls (rewritten at load time to `int 0xA0`, see [`loader`]), its page faults
//! (anonymous memory is made present on first touch, see [`mm`]) and its exceptions
//! (which end it with a signal, reported on the console). Files are the VFS server's,
//! through the personality's `mounts`; the terminal is the console.
//!
//! Its configuration (region `config`, written by the tool): `arg` lines (init's
//! program and arguments), `env` lines (its environment) and a `priority` line (the
//! Linux processes', below the server's). The system ends when init does, with init's
//! exit status.
#![no_std]
#![no_main]

extern crate alloc;

mod confine;
mod console;
mod files;
mod kernel;
mod loader;
mod mm;
mod random;
mod sockets;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use kaal_abi::exit::MAX_FAILURE_CODE;
use kaal_alloc::UntypedAllocator;
use kaal_core::component::{parts, Component};
use kaal_core::{println, CSpace, ExitStatus};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

/// What the tool wrote in region `config`.
struct Config {
    init: Vec<String>,
    env: Vec<String>,
    priority: u8,
    rules: Vec<confine::Rule>,
}

impl Config {
    fn parse(text: &str) -> Result<Config, String> {
        let mut config = Config { init: Vec::new(), env: Vec::new(), priority: 1, rules: Vec::new() };
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("arg", arg)) => config.init.push(arg.into()),
                Some(("env", var)) => config.env.push(var.into()),
                Some(("priority", p)) => {
                    config.priority = p.parse().map_err(|_| alloc::format!("bad priority line `{line}`"))?;
                }
                Some((key, value)) if key.starts_with("confine") => confine::parse_line(&mut config.rules, key, value)?,
                _ if line.is_empty() => {}
                _ => return Err(alloc::format!("unknown configuration line `{line}`")),
            }
        }
        if config.init.is_empty() {
            return Err("no init program in the configuration".into());
        }
        Ok(config)
    }
}

fn main(mut me: Component) -> Result<ExitStatus, Box<dyn core::error::Error>> {
    let text = kaal_posix::server::config_text(&mut me, "the Linux configuration")?;
    let config = Config::parse(&text)?;
    kaal_posix::fs::init(&mut me)?;
    // With `network` in [linux], the processes' sockets are ours at the network server.
    let region = alloc::format!("{}{}", kaal_posix::netproto::REGION_PREFIX, me.name());
    if me.grants().region(&region).is_some() {
        kaal_posix::net::init(&mut me)?;
    }
    let untyped = me.untyped(parts::MEMORY)?;
    let asid_pool = me.asid_pool()?;
    let own = me.own_vspace()?;
    let bytes = untyped.size();
    // Every free slot of our CNode goes to the allocator of the processes' objects.
    let slots = core::mem::replace(me.cspace(), CSpace::without_slots());
    let mut alloc = UntypedAllocator::new([untyped], slots);
    let faults = kaal_core::ipc::channel(&mut alloc)?;
    // One loop serves faults, terminal input and the time service's wake-ups: a
    // notification of ours is bound to this thread, and the time service signals it at
    // each deadline and for the terminal's poll (console::POLL).
    let input = console::Input::new(me.io_ports("com1:ports")?)?;
    let woken: kaal_core::Notification = alloc.allocate()?;
    me.bind_notification(&woken)?;
    let timer = me.timer()?;
    let wake = timer.register(&woken)?;
    // `kaal run` sends piped input once it sees this (kaal_compose::qemu::TERMINAL_READY).
    println!("[linux] terminal ready (COM1)");
    let pool = mm::Pool::new(alloc, own, asid_pool);
    let mut kernel = kernel::Kernel::new(pool, faults, config.priority, input, timer, wake);
    kernel.set_rules(config.rules);
    println!("[linux] {} MiB for Linux processes; starting {}", bytes >> 20, config.init.join(" "));
    if let Err(why) = kernel.start_init(&config.init, &config.env) {
        println!("[linux] ERROR: cannot start init: {why}");
        return Ok(ExitStatus::ERROR);
    }
    let ended = kernel.run();
    let _ = kaal_posix::fs::sync();
    let status = match ended {
        kernel::Ended::Exited(0) => ExitStatus::Success,
        kernel::Ended::Exited(code) => ExitStatus::Failure(code.min(MAX_FAILURE_CODE)),
        kernel::Ended::Killed(sig) => {
            println!("[linux] init was killed by signal {sig}");
            ExitStatus::Failure((128 + sig).min(MAX_FAILURE_CODE as u32) as u8)
        }
    };
    println!("[linux] init exited ({ended:?}); {} pages were in use", kernel.pages_in_use());
    Ok(status)
}
