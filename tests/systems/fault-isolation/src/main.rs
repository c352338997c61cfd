//! Fault isolation: four misbehaving components and one steady worker, all supervised
//! by the root task. Every misbehaver must be stopped and named with its fault; the
//! worker must finish its work; the system exits successfully only if all that holds.
#![no_std]
#![no_main]

extern crate alloc;

use kaal_alloc::{HeapConfig, UntypedAllocator};
use kaal_core::supervisor::{ComponentConfig, ComponentState, Fault, Supervisor};
use kaal_core::{println, Error, ExitStatus, RootTask};

kaal_core::root_task!(main);
kaal_alloc::global_heap!(HEAP);

fn main(rt: RootTask) -> Result<ExitStatus, Error> {
    let RootTask { cspace, vspace, untypeds, asid_pool, .. } = rt;
    let mut memory = UntypedAllocator::new(untypeds, cspace);
    let heap = memory.sub_allocator(24, 32)?;
    kaal_alloc::heap::init(vspace.try_clone(memory.cspace())?, heap, HeapConfig::default())?;
    let root_vspace = vspace.try_clone(memory.cspace())?;
    let mut supervisor = Supervisor::new(&mut memory, asid_pool, root_vspace)?;

    let worker = kaal_core::component_image!("steady-worker");
    let misbehaver = kaal_core::component_image!("misbehaver");
    supervisor.spawn(&mut memory, ComponentConfig::builder().name("worker").image(worker).priority(100).build())?;
    for name in ["vm-fault", "bad-syscall", "cap-fault", "hostile"] {
        supervisor.spawn(&mut memory, ComponentConfig::builder().name(name).image(misbehaver).priority(100).build())?;
    }
    let report = supervisor.run();
    println!("supervisor: {} succeeded, {} failed, {} faulted", report.succeeded, report.failed, report.faulted);

    let mut ok = true;
    for (name, state) in supervisor.states() {
        let expected = matches!(
            (name, state),
            ("worker" | "hostile", ComponentState::Exited(ExitStatus::Success))
                | ("vm-fault", ComponentState::Faulted(Fault::VmFault { addr: 0xdead_0000, write: true, .. }))
                | ("bad-syscall", ComponentState::Faulted(Fault::UnknownSyscall { number: 42, .. }))
                | ("cap-fault", ComponentState::Faulted(Fault::CapFault { addr: 0xdead_0000_0000, .. }))
        );
        println!("{name}: {state:?} -> {}", if expected { "as expected" } else { "UNEXPECTED" });
        ok &= expected;
    }
    Ok(if ok { ExitStatus::Success } else { ExitStatus::Failure(4) })
}
