//! How to build a component: its image, priority, stack, heap and grants.

use typed_builder::TypedBuilder;

use super::grant::Grant;

/// How to build a component.
#[derive(Debug, TypedBuilder)]
pub struct ComponentConfig<'a> {
    /// Name: shown in faults and panics, and how the component refers to itself.
    pub name: &'static str,
    /// The ELF image (see [`crate::component_image!`]).
    pub image: &'a [u8],
    /// seL4 priority; at most the root task's.
    #[builder(default = 100)]
    pub priority: u8,
    /// Main stack, bytes.
    #[builder(default = 64 * 1024)]
    pub stack_size: usize,
    /// Heap, bytes (2 MiB frames when a multiple of 2 MiB, else 4 KiB frames).
    #[builder(default = 256 * 1024)]
    pub heap_size: usize,
    /// log2 of the number of slots in the component's CNode.
    #[builder(default = 8)]
    pub cnode_bits: u8,
    /// What the component is given.
    #[builder(default)]
    pub grants: &'a [Grant<'a>],
    /// It builds processes of its own (a personality server): it is also given its own
    /// address space (grant [`super::MANAGER_VSPACE`], to map its processes' pages into its own
    /// view) and the ASID pool (grant [`super::MANAGER_ASID_POOL`]). Give it RAM with
    /// [`Grant::untyped`].
    #[builder(default)]
    pub manager: bool,
    /// Its CPU budget on an MCS kernel (see [`crate::sched`]); nothing to set elsewhere.
    #[builder(default)]
    pub scheduling: crate::sched::Scheduling,
}
