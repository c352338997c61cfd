//! DDE-Linux, the emulation's Rust side: what an unmodified Linux driver, compiled by
//! `kaal dde build` and linked into a KaaL component, runs on.
//!
//! Three parts, one component:
//! - **The driver** (`lib<driver>.a`): Linux's own objects, as `kaal dde build` made
//!   them from Debian's linux-source, with generated stubs for what is not emulated.
//! - **The C glue** (`kaal-dde/glue/linux.c`, in the same archive): the kernel
//!   functions the driver calls (PCI, net_device, NAPI, sk_buff, DMA, ioremap, IRQs,
//!   printk, delays and jiffies), written against Linux's headers so every structure
//!   has the driver's layout. It is the only code that includes them.
//! - **This crate**: the glue's way to the component's resources, a narrow C
//!   interface (`kaal-dde/glue/kaal_dde.h`) over the device the broker granted
//!   ([`LinuxDevice`], a [`kaal_dev::Driver`]): heap and DMA memory, bus addresses,
//!   the device's MMIO windows, its PCI configuration, time, the console, and frames
//!   the driver received. The component puts the interface into its image with
//!   [`exports!`] and drives the driver with [`start`], [`interrupt`], [`poll`] and
//!   [`transmit`].
//!
//! The component has one thread, and the glue calls back into Rust only from inside
//! those calls, so the state here is a single global that is never touched twice at
//! once.
#![no_std]

extern crate alloc;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::alloc::Layout;
use core::cell::UnsafeCell;

use kaal_core::mmio::MmioRegion;
use kaal_core::println;
use kaal_core::time::{Duration, Instant};
use kaal_dev::kit::ResourceRequest;
use kaal_dev::pci::{ConfigCopy, ConfigSpace};
use kaal_dev::{DeviceBundle, DeviceMatch, DmaBuffer, DmaPool, Driver, DriverError, Irq};

/// DMA memory a Linux NIC driver gets: its descriptor rings and every socket
/// buffer's data. Linux's e1000 keeps 256 receive buffers of 1.9 KiB posted and up to
/// 256 frames of up to 1.9 KiB queued to send (just under 1 MiB at most; 512 KiB ran
/// out under load), 8139cp 64 of each. 1 MiB is the most a component's DMA memory can
/// be (one contiguous region).
pub const DMA_BYTES: usize = 1024 * 1024;

/// Frames received and not yet taken by the component: beyond this they are dropped
/// (counted), so a flood cannot exhaust the heap.
const RECEIVED_LIMIT: usize = 256;

/// The PCI function a Linux driver drives: the broker's grant, held for the glue.
///
/// It matches any PCI function: the Linux driver's own ID table decides (a device it
/// does not drive fails [`start`] with the IDs).
#[derive(Debug)]
pub struct LinuxDevice {
    irq: Irq,
}

impl Driver for LinuxDevice {
    const NAME: &'static str = "dde-linux";
    const MATCHES: &'static [DeviceMatch] = &[];
    const RESOURCES: ResourceRequest = ResourceRequest { dma_bytes: DMA_BYTES, ports: None };

    fn probe(device: &mut DeviceBundle) -> Result<Self, DriverError> {
        let irq = device.take_irq()?;
        let config = device.take_config()?;
        let mmio = device.take_all_mmio();
        let dma = device.take_dma()?;
        let ports = device.take_port_range();
        let state = State {
            config,
            ports,
            mmio,
            dma,
            dma_buffers: BTreeMap::new(),
            received: VecDeque::new(),
            dropped: 0,
            link_changes: VecDeque::new(),
            driver: "linux",
            component: "dde",
        };
        // SAFETY: one thread; nothing holds a reference into the state (see `state`).
        unsafe { *STATE.0.get() = Some(state) };
        Ok(LinuxDevice { irq })
    }

    fn interrupt(&self) -> Option<&Irq> {
        Some(&self.irq)
    }

    fn handle_interrupt(&mut self) -> Result<(), DriverError> {
        interrupt();
        Ok(())
    }
}

struct State {
    config: ConfigCopy,
    ports: Option<kaal_core::device::IoPortRange>,
    mmio: Vec<(u8, MmioRegion)>,
    dma: DmaPool,
    /// The DMA buffers handed to the glue, by virtual address.
    dma_buffers: BTreeMap<u64, DmaBuffer>,
    received: VecDeque<Vec<u8>>,
    dropped: u64,
    link_changes: VecDeque<bool>,
    driver: &'static str,
    component: &'static str,
}

struct Global(UnsafeCell<Option<State>>);
// SAFETY: a driver component has one thread (see the crate's documentation).
unsafe impl Sync for Global {}
static STATE: Global = Global(UnsafeCell::new(None));

/// The state, for the length of one call from the glue or the component.
///
/// # Safety
/// The caller must not hold the reference across a call into the glue (which may call
/// back and take it again).
unsafe fn state() -> Option<&'static mut State> {
    // SAFETY: one thread, and per the contract no other reference is live.
    unsafe { (*STATE.0.get()).as_mut() }
}

/// Why the Linux driver did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// [`LinuxDevice`] was not claimed first.
    NoDevice,
    /// The driver (or the glue for it) returned this negative errno.
    Linux(i32),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::NoDevice => write!(f, "no device: claim kaal_dde::LinuxDevice before starting the driver"),
            StartError::Linux(errno) => write!(
                f,
                "the Linux driver did not start: error {errno} ({}); its messages above say why",
                errno_name(*errno)
            ),
        }
    }
}

impl core::error::Error for StartError {}

fn errno_name(errno: i32) -> &'static str {
    match -errno {
        5 => "EIO",
        12 => "ENOMEM",
        16 => "EBUSY",
        19 => "ENODEV",
        22 => "EINVAL",
        99 => "EADDRNOTAVAIL",
        100 => "ENETDOWN",
        _ => "see include/uapi/asm-generic/errno*.h",
    }
}

/// The C glue's interface (`kaal-dde/glue/kaal_dde.h`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct PciInfo {
    vendor: u16,
    device: u16,
    subvendor: u16,
    subdevice: u16,
    class_code: u32,
    revision: u8,
    irq_line: u8,
    bus: u8,
    devfn: u8,
    bar: [Bar; 6],
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct Bar {
    start: u64,
    len: u64,
    io: u32,
}

extern "C" {
    fn kaal_dde_run() -> i32;
    fn kaal_dde_next_deadline() -> u64;
    fn kaal_dde_start(pci: *const PciInfo, mac: *mut u8) -> i32;
    fn kaal_dde_interrupt() -> i32;
    fn kaal_dde_poll() -> i32;
    fn kaal_dde_transmit(frame: *const u8, len: usize) -> i32;
    fn kaal_dde_link_up() -> i32;
}

/// Starts the driver on the claimed device, as Linux would at boot and `ip link set up`:
/// its initcalls (which register it with the glue's PCI core, which probes it), then
/// its `ndo_open`. Returns the card's MAC address. `component` (the component's name)
/// and `driver` name the driver's messages.
pub fn start(component: &'static str, driver: &'static str) -> Result<[u8; 6], StartError> {
    // SAFETY: the reference ends before the glue is called.
    let info = {
        let Some(state) = (unsafe { state() }) else { return Err(StartError::NoDevice) };
        state.driver = driver;
        state.component = component;
        pci_info(state)
    };
    let mut mac = [0u8; 6];
    // SAFETY: both pointers are valid for the call; the glue copies what it keeps.
    match unsafe { kaal_dde_start(&info, mac.as_mut_ptr()) } {
        0 => Ok(mac),
        errno => Err(StartError::Linux(errno)),
    }
}

fn pci_info(state: &mut State) -> PciInfo {
    let address = state.config.address;
    let word = |config: &mut ConfigCopy, offset: u8| config.read32(address, offset);
    let ids = word(&mut state.config, 0);
    let class = word(&mut state.config, 8);
    let subsystem = word(&mut state.config, 0x2c);
    let interrupt = word(&mut state.config, 0x3c);
    let mut info = PciInfo {
        vendor: ids as u16,
        device: (ids >> 16) as u16,
        subvendor: subsystem as u16,
        subdevice: (subsystem >> 16) as u16,
        class_code: class >> 8,
        revision: class as u8,
        irq_line: interrupt as u8,
        bus: address.bus,
        devfn: (address.device << 3) | address.function,
        bar: [Bar::default(); 6],
    };
    for (i, bar) in info.bar.iter_mut().enumerate() {
        let size = state.config.bar_sizes[i];
        if size == 0 {
            continue;
        }
        let raw = state.config.words[4 + i];
        if raw & 1 == 1 {
            *bar = Bar { start: (raw & !3) as u64, len: size, io: 1 };
        } else if let Some((_, region)) = state.mmio.iter().find(|(index, _)| *index as usize == i) {
            *bar = Bar { start: region.paddr(), len: size, io: 0 };
        }
    }
    info
}

/// Runs the driver's interrupt handler (after the component's wait returned its
/// interrupt; the caller acknowledges it afterwards, so a shared level-triggered line
/// is not raised again before the handler cleared its cause). Whether the driver said
/// it was its.
pub fn interrupt() -> bool {
    // SAFETY: the glue's entry point, on the component's one thread.
    unsafe { kaal_dde_interrupt() != 0 }
}

/// Runs the driver's scheduled NAPI polls (after its interrupt handler scheduled
/// them): they hand received frames to [`take_received`]. Whether a poll is still
/// scheduled (it used its whole budget: call again before sleeping).
pub fn poll() -> bool {
    // SAFETY: as `interrupt`.
    unsafe { kaal_dde_poll() != 0 }
}

/// Runs what the driver's timers and work items have due (each work item as a
/// cooperative task, which may sleep). Whether a task is still runnable now (call again
/// before sleeping).
pub fn run() -> bool {
    // SAFETY: as `interrupt`.
    unsafe { kaal_dde_run() != 0 }
}

/// When [`run`] next has something to do: a timer or a sleeping task (`None`: nothing
/// waits on time).
pub fn next_deadline() -> Option<Instant> {
    // SAFETY: as `interrupt`.
    let ns = unsafe { kaal_dde_next_deadline() };
    (ns != 0).then(|| {
        let now = Instant::now();
        let wait = Duration::from_nanos(ns.saturating_sub(now.since_boot().as_nanos() as u64));
        now.checked_add(wait).unwrap_or(now)
    })
}

/// What [`transmit`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transmit {
    /// The driver took it (into a DMA buffer of its own: the frame may be reused).
    Sent,
    /// The driver's queue is stopped (its ring is full): try again after its next
    /// interrupt.
    Busy,
    /// Dropped: the driver or glue refused it with this errno (a frame of the wrong
    /// size, no DMA memory, the device down).
    Dropped(i32),
}

/// Hands the driver one Ethernet frame (without the CRC) to send.
pub fn transmit(frame: &[u8]) -> Transmit {
    // SAFETY: the frame is valid for the call; the glue copies it.
    match unsafe { kaal_dde_transmit(frame.as_ptr(), frame.len()) } {
        0 => Transmit::Sent,
        1 => Transmit::Busy,
        errno => Transmit::Dropped(errno),
    }
}

/// Whether the driver says the link is up.
pub fn link_up() -> bool {
    // SAFETY: as `interrupt`.
    unsafe { kaal_dde_link_up() != 0 }
}

/// The next frame the driver received, in order.
pub fn take_received() -> Option<Vec<u8>> {
    // SAFETY: no call into the glue while the reference lives.
    unsafe { state() }?.received.pop_front()
}

/// Frames received and dropped because the component did not take them in time.
pub fn dropped() -> u64 {
    // SAFETY: as `take_received`.
    unsafe { state() }.map_or(0, |s| s.dropped)
}

/// The next change of the link the driver reported (`true`: up).
pub fn take_link_change() -> Option<bool> {
    // SAFETY: as `take_received`.
    unsafe { state() }?.link_changes.pop_front()
}

/// The functions the glue calls, by the names `kaal_dde.h` gives them. Use
/// [`exports!`] to put them into the component's image.
#[doc(hidden)]
pub mod ffi {
    use super::*;

    /// # Safety
    /// Called by the glue only, with the arguments `kaal_dde.h` describes.
    pub unsafe fn heap_alloc(size: usize, align: usize) -> *mut u8 {
        match Layout::from_size_align(size.max(1), align.max(1)) {
            // SAFETY: a non-zero size.
            Ok(layout) => unsafe { alloc::alloc::alloc_zeroed(layout) },
            Err(_) => core::ptr::null_mut(),
        }
    }

    /// # Safety
    /// Called by the glue only, with the arguments `kaal_dde.h` describes.
    pub unsafe fn heap_free(ptr: *mut u8, size: usize, align: usize) {
        if ptr.is_null() {
            return;
        }
        if let Ok(layout) = Layout::from_size_align(size.max(1), align.max(1)) {
            // SAFETY: the glue frees what heap_alloc gave it, with the same size and
            // alignment (its header records them).
            unsafe { alloc::alloc::dealloc(ptr, layout) }
        }
    }

    /// # Safety
    /// Called by the glue only, with the arguments `kaal_dde.h` describes.
    pub unsafe fn dma_alloc(size: usize, align: usize, bus: *mut u64) -> *mut u8 {
        // SAFETY: no call into the glue below.
        let Some(state) = (unsafe { state() }) else { return core::ptr::null_mut() };
        let buffer = match state.dma.alloc(size, align.next_power_of_two()) {
            Ok(buffer) => buffer,
            Err(e) => {
                println!("[{}] Linux {}: no DMA memory for {size} bytes: {e}", state.component, state.driver);
                return core::ptr::null_mut();
            }
        };
        let Some(vaddr) = state.dma.vaddr_of(&buffer) else { return core::ptr::null_mut() };
        if !bus.is_null() {
            // SAFETY: the glue passes a valid pointer.
            unsafe { *bus = buffer.paddr() };
        }
        state.dma_buffers.insert(vaddr, buffer);
        vaddr as *mut u8
    }

    /// # Safety
    /// Called by the glue only, with the arguments `kaal_dde.h` describes.
    pub unsafe fn dma_free(ptr: *mut u8) {
        // SAFETY: no call into the glue below.
        let Some(state) = (unsafe { state() }) else { return };
        // Linux frees a page fragment by any address inside it (page_frag_free).
        let at = ptr as u64;
        let start = state.dma_buffers.range(..=at).next_back().map(|(v, b)| (*v, b.len() as u64));
        match start.filter(|(v, len)| at < v + (*len).max(1)) {
            Some((v, _)) => {
                if let Some(buffer) = state.dma_buffers.remove(&v) {
                    let _ = state.dma.free(buffer);
                }
            }
            None if ptr.is_null() => {}
            None => println!(
                "[{}] Linux {}: freed DMA memory at {ptr:p} that it was not given",
                state.component, state.driver
            ),
        }
    }

    /// # Safety
    /// Called by the glue only, with the arguments `kaal_dde.h` describes.
    pub unsafe fn dma_address(ptr: *const u8, len: usize) -> u64 {
        // SAFETY: no call into the glue below.
        let Some(state) = (unsafe { state() }) else { return u64::MAX };
        let (vbase, pbase, size) = (state.dma.vaddr(), state.dma.paddr(), state.dma.size() as u64);
        let at = ptr as u64;
        if at < vbase || at.saturating_add(len as u64) > vbase + size {
            return u64::MAX;
        }
        pbase + (at - vbase)
    }

    /// # Safety
    /// Called by the glue only, with the arguments `kaal_dde.h` describes.
    pub unsafe fn mmio(phys: u64, len: usize) -> *mut u8 {
        // SAFETY: no call into the glue below.
        let Some(state) = (unsafe { state() }) else { return core::ptr::null_mut() };
        for (_, region) in &state.mmio {
            let (start, size) = (region.paddr(), region.size() as u64);
            if phys >= start && phys.saturating_add(len as u64) <= start + size {
                return (region.vaddr() + (phys - start)) as *mut u8;
            }
        }
        core::ptr::null_mut()
    }

    /// # Safety
    /// Called by the glue only, with the arguments `kaal_dde.h` describes.
    pub unsafe fn config_read(offset: u32, bytes: u32) -> u32 {
        // SAFETY: no call into the glue below.
        let Some(state) = (unsafe { state() }) else { return u32::MAX };
        let address = state.config.address;
        let word = state.config.read32(address, (offset & !3) as u8);
        let shifted = word >> ((offset & 3) * 8);
        match bytes {
            1 => shifted & 0xff,
            2 => shifted & 0xffff,
            _ => shifted,
        }
    }

    /// Writes go to the component's copy of the header: the root task owns the
    /// function's configuration (it enabled memory, I/O and bus mastering before
    /// granting it), and the bits drivers set at probe (bus master, MWI) are already
    /// as they need them.
    /// # Safety
    /// Called by the glue only, with the arguments `kaal_dde.h` describes.
    pub unsafe fn config_write(offset: u32, bytes: u32, value: u32) {
        // SAFETY: no call into the glue below.
        let Some(state) = (unsafe { state() }) else { return };
        let address = state.config.address;
        let aligned = (offset & !3) as u8;
        let shift = (offset & 3) * 8;
        let mask = match bytes {
            1 => 0xff,
            2 => 0xffff,
            _ => u32::MAX,
        } << shift;
        let old = state.config.read32(address, aligned);
        state.config.write32(address, aligned, (old & !mask) | ((value << shift) & mask));
    }

    /// # Safety
    /// Called by the glue only, with the arguments `kaal_dde.h` describes.
    pub unsafe fn port_in(port: u16, size: i32) -> u32 {
        // SAFETY: no call into the glue below.
        let Some(state) = (unsafe { state() }) else { return u32::MAX };
        let Some(ports) = &state.ports else { return u32::MAX };
        let offset = port.wrapping_sub(ports.span().first);
        let value = match size {
            1 => ports.read8(offset).map(u32::from),
            4 => ports.read32(offset),
            _ => return port_width(state, port, size, u32::MAX),
        };
        value.unwrap_or(u32::MAX)
    }

    /// # Safety
    /// Called by the glue only, with the arguments `kaal_dde.h` describes.
    pub unsafe fn port_out(port: u16, value: u32, size: i32) {
        // SAFETY: no call into the glue below.
        let Some(state) = (unsafe { state() }) else { return };
        let Some(ports) = &state.ports else { return };
        let offset = port.wrapping_sub(ports.span().first);
        let _ = match size {
            1 => ports.write8(offset, value as u8),
            4 => ports.write32(offset, value),
            _ => return port_width(state, port, size, ()),
        };
    }

    fn port_width<T>(state: &State, port: u16, size: i32, value: T) -> T {
        println!(
            "[{}] Linux {}: a {size}-byte access to I/O port {port:#x}, which kaal-dde does not do (8 and 32 bits only)",
            state.component, state.driver
        );
        value
    }

    /// # Safety
    /// Called by the glue only, with the arguments `kaal_dde.h` describes.
    pub unsafe fn now_ns() -> u64 {
        Instant::now().since_boot().as_nanos() as u64
    }

    /// A busy wait: the delays drivers ask for are microseconds to milliseconds, during
    /// set-up and reset.
    /// # Safety
    /// Called by the glue only, with the arguments `kaal_dde.h` describes.
    pub unsafe fn delay_ns(ns: u64) {
        let start = Instant::now();
        let wait = Duration::from_nanos(ns);
        while start.elapsed() < wait {
            core::hint::spin_loop();
        }
    }

    /// # Safety
    /// Called by the glue only, with the arguments `kaal_dde.h` describes.
    pub unsafe fn console(text: *const u8, len: usize) {
        // SAFETY: the glue passes its line buffer and its length.
        let bytes = unsafe { core::slice::from_raw_parts(text, len) };
        let component = unsafe { state() }.map_or("dde", |s| s.component);
        println!("[{component}] linux: {}", core::str::from_utf8(bytes).unwrap_or("(a line that is not UTF-8)"));
    }

    /// # Safety
    /// Called by the glue only, with the arguments `kaal_dde.h` describes.
    pub unsafe fn unimplemented(driver: *const u8, symbol: *const u8) -> ! {
        // SAFETY: the generated stubs pass two string literals.
        let (driver, symbol) = unsafe { (c_str(driver), c_str(symbol)) };
        let component = unsafe { state() }.map_or("dde", |s| s.component);
        println!(
            "[{component}] Linux {driver} called `{symbol}`, which kaal-dde does not emulate yet: the driver stops \
             here (add `{symbol}` to kaal-dde/glue/linux.c)"
        );
        kaal_core::exit(kaal_core::ExitStatus::ERROR)
    }

    /// # Safety
    /// `text` must point at a NUL-terminated string.
    unsafe fn c_str<'a>(text: *const u8) -> &'a str {
        let mut len = 0;
        // SAFETY: per the contract, the string ends with a NUL.
        while unsafe { *text.add(len) } != 0 {
            len += 1;
        }
        // SAFETY: `len` bytes before the NUL.
        core::str::from_utf8(unsafe { core::slice::from_raw_parts(text, len) }).unwrap_or("?")
    }

    /// # Safety
    /// Called by the glue only, with the arguments `kaal_dde.h` describes.
    pub unsafe fn received(frame: *const u8, len: usize) {
        // SAFETY: no call into the glue below.
        let Some(state) = (unsafe { state() }) else { return };
        if state.received.len() >= RECEIVED_LIMIT {
            state.dropped += 1;
            return;
        }
        // SAFETY: the glue passes the frame's bytes.
        let bytes = unsafe { core::slice::from_raw_parts(frame, len) };
        state.received.push_back(bytes.to_vec());
    }

    /// # Safety
    /// Called by the glue only, with the arguments `kaal_dde.h` describes.
    pub unsafe fn link(up: i32) {
        // SAFETY: no call into the glue below.
        if let Some(state) = unsafe { state() } {
            state.link_changes.push_back(up != 0);
        }
    }
}

/// Puts the emulation's C interface (`kaal-dde/glue/kaal_dde.h`) into the component's
/// image. Invoke it once, in the component's binary crate: the driver's archive is
/// linked after the Rust libraries, so the functions it calls must be in the binary's
/// own objects.
///
/// Each entry realigns the stack: Linux is compiled with `-mpreferred-stack-boundary=3`
/// (8-byte stack alignment), and Rust's code assumes the ABI's 16 (its SSE spills
/// fault otherwise). So each C-visible symbol is a naked function that aligns the stack
/// and calls the Rust one (every function here takes at most six integer arguments, all
/// in registers).
#[macro_export]
macro_rules! exports {
    () => {
        $crate::exports! {
            kaal_dde_heap_alloc(size: usize, align: usize) -> *mut u8 = heap_alloc;
            kaal_dde_heap_free(ptr: *mut u8, size: usize, align: usize) -> () = heap_free;
            kaal_dde_dma_alloc(size: usize, align: usize, bus: *mut u64) -> *mut u8 = dma_alloc;
            kaal_dde_dma_free(ptr: *mut u8) -> () = dma_free;
            kaal_dde_dma_address(ptr: *const u8, len: usize) -> u64 = dma_address;
            kaal_dde_mmio(phys: u64, len: usize) -> *mut u8 = mmio;
            kaal_dde_config_read(offset: u32, bytes: u32) -> u32 = config_read;
            kaal_dde_config_write(offset: u32, bytes: u32, value: u32) -> () = config_write;
            kaal_dde_now_ns() -> u64 = now_ns;
            kaal_dde_delay_ns(ns: u64) -> () = delay_ns;
            kaal_dde_console(text: *const u8, len: usize) -> () = console;
            kaal_dde_unimplemented(driver: *const u8, symbol: *const u8) -> ! = unimplemented;
            kaal_dde_received(frame: *const u8, len: usize) -> () = received;
            kaal_dde_link(up: i32) -> () = link;
            kaal_dde_port_in(port: u16, size: i32) -> u32 = port_in;
            kaal_dde_port_out(port: u16, value: u32, size: i32) -> () = port_out;
        }
    };
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $inner:ident;)*) => {
        $(
            const _: () = {
                extern "C" fn aligned($($arg: $ty),*) -> $ret {
                    // SAFETY: the glue keeps the contract of kaal_dde.h.
                    unsafe { $crate::ffi::$inner($($arg),*) }
                }
                #[unsafe(naked)]
                #[no_mangle]
                extern "C" fn $name($($arg: $ty),*) -> $ret {
                    ::core::arch::naked_asm!(
                        "push rbp",
                        "mov rbp, rsp",
                        "and rsp, -16",
                        "call {aligned}",
                        "leave",
                        "ret",
                        aligned = sym aligned,
                    )
                }
            };
        )*
    };
}
