//! Intel 8254x network card (QEMU's `-device e1000`): frames in and out through
//! descriptor rings in DMA memory, an interrupt when frames arrive, and the PHY's
//! loopback mode, which sends every transmitted frame straight back to the receiver (a
//! self-test of the whole DMA path without a network).
//!
//! Both rings are the card's legacy descriptors (16 bytes each: buffer address, length,
//! command or status). The driver owns the descriptors between the card's head and its
//! tail: it hands a receive buffer back by moving the tail past it, and a transmit
//! descriptor is free again once the card has set its "done" bit.
//!
//! Two ways to use it:
//! - [`E1000::init`]: the driver's own 2 KiB buffer per descriptor, in its DMA pool;
//!   frames are copied in ([`E1000::send`]) and out ([`E1000::receive`]). Simple, for
//!   tests and lessons.
//! - [`E1000::init_for_buffers`]: descriptors only, pointing at buffers the caller owns
//!   (physical addresses in shared DMA memory, with a token each): the card reads and
//!   writes them directly and no frame is copied ([`E1000::post_receive`],
//!   [`E1000::transmit`], [`E1000::take_received`], [`E1000::take_sent`]). This is how
//!   the network's NIC component (services/nic-e1000) serves `kaal_ipc::net`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use kaal_dev::registers::{Reg, RegisterBlock, WriteOnly};
use kaal_dev::{DmaBuffer, DmaPool, Driver, DriverError, Irq, MmioBlock};

kaal_dev::register_map! {
    /// Device control.
    CTRL @ 0x0000: ReadWrite Ctrl: u32 { SET_LINK_UP = 1 << 6, RESET = 1 << 26 };
    STATUS @ 0x0008: ReadOnly u32;
    MDIC @ 0x0020: ReadWrite u32;
    /// Interrupt causes (ICR reads and clears them; IMS enables, IMC disables).
    ICR @ 0x00c0: ReadOnly Interrupts: u32 { TX_DONE = 1 << 0, LINK_CHANGE = 1 << 2, RX_OVERRUN = 1 << 6, RX_TIMER = 1 << 7 };
    IMS @ 0x00d0: WriteOnly Interrupts;
    IMC @ 0x00d8: WriteOnly Interrupts;
    /// Receive control.
    RCTL @ 0x0100: ReadWrite Rctl: u32 { ENABLE = 1 << 1, BROADCAST = 1 << 15, STRIP_CRC = 1 << 26 };
    /// Transmit control (collision threshold 15 and distance 64, the manual's defaults).
    TCTL @ 0x0400: ReadWrite Tctl: u32 { ENABLE = 1 << 1, PAD_SHORT = 1 << 3, DEFAULTS = 0x0f << 4 | 0x40 << 12 };
    RECEIVE_ADDRESS_LOW @ 0x5400: ReadOnly u32;
    RECEIVE_ADDRESS_HIGH @ 0x5404: ReadOnly u32;
}
/// Each ring: base low, base high, length in bytes, head, tail (`RX` or `TX` + these).
const BASE_LOW: usize = 0x00;
const BASE_HIGH: usize = 0x04;
const LENGTH: usize = 0x08;
const HEAD: usize = 0x10;
const TAIL: usize = 0x18;
const RX: usize = 0x2800;
const TX: usize = 0x3800;
/// Multicast table (128 words), before the first receive address pair.
const MULTICAST_TABLE: usize = 0x5200;

const LINK_UP: u32 = 1 << 1;
/// MDIC: PHY register access. QEMU's PHY is at address 1; BMCR bit 14 is loopback.
const MDIC_WRITE: u32 = 1 << 26;
const MDIC_READ: u32 = 2 << 26;
const MDIC_READY: u32 = 1 << 28;
const MDIC_ERROR: u32 = 1 << 30;
const PHY: u32 = 1 << 21;
const PHY_BMCR: u32 = 0;
const BMCR_LOOPBACK: u32 = 1 << 14;

/// Descriptors per ring (the ring's byte length must be a multiple of 128).
pub const RING: usize = 32;
const DESCRIPTOR: usize = 16;
/// Bytes per buffer; the receive control's default buffer size.
pub const BUFFER: usize = 2048;
/// The largest frame sent or received (no jumbo frames), without the CRC.
pub const MAX_FRAME: usize = 1514;
/// DMA memory the driver needs: two rings of buffers and descriptors, rounded up.
pub const DMA_BYTES: usize = 256 * 1024;
const _: () = assert!(2 * RING * (BUFFER + DESCRIPTOR) <= DMA_BYTES && (RING * DESCRIPTOR).is_multiple_of(128));

/// Command bits of a transmit descriptor: end of packet, insert CRC, report status.
const TX_END_INSERT_CRC_REPORT: u8 = 0b1011;
/// Status bits of a descriptor: done, end of packet.
const DONE: u8 = 1 << 0;
const END_OF_PACKET: u8 = 1 << 1;

/// The card and its rings.
#[derive(Driver)]
#[driver(name = "e1000")]
#[pci(vendor = 0x8086, device = 0x100e)]
#[resources(dma = 262144)]
pub struct E1000 {
    #[mmio(bar = 0)]
    regs: MmioBlock,
    #[interrupt(handler = on_interrupt)]
    irq: Irq,
    #[dma]
    dma: DmaPool,
    rings: Option<Rings>,
    frames: Option<Frames>,
    received: VecDeque<Vec<u8>>,
    /// Frames the card refused (receive errors) or that did not fit.
    dropped: u64,
}

const _: () = assert!(<E1000 as Driver>::RESOURCES.dma_bytes == DMA_BYTES, "#[resources(dma)] is DMA_BYTES");

struct Rings {
    rx_descriptors: DmaBuffer,
    tx_descriptors: DmaBuffer,
    rx_buffers: Vec<DmaBuffer>,
    tx_buffers: Vec<DmaBuffer>,
    rx_next: usize,
    tx_next: usize,
}

/// Descriptors per ring when the caller brings the buffers.
pub const BUFFER_RING: usize = 256;
const _: () = assert!(2 * BUFFER_RING * DESCRIPTOR <= DMA_BYTES && (BUFFER_RING * DESCRIPTOR).is_multiple_of(128));

/// Descriptor rings over buffers the caller owns, each slot remembering its buffer's
/// token. The ring keeps one slot empty, so `next == clean` means empty.
struct Frames {
    rx_descriptors: DmaBuffer,
    tx_descriptors: DmaBuffer,
    rx_tokens: Vec<u32>,
    tx_tokens: Vec<u32>,
    /// The next receive slot to fill, and the next the card may have finished.
    rx_next: usize,
    rx_clean: usize,
    tx_next: usize,
    tx_clean: usize,
    /// Slots filled since the tail registers were last written.
    rx_posted: bool,
    tx_posted: bool,
}

/// A frame the card received into a caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub token: u32,
    /// Bytes of the frame (0 if the card reported an error, or it spanned buffers).
    pub len: usize,
}

fn failed(what: &'static str) -> DriverError {
    DriverError::Failed { driver: "e1000", what }
}

impl E1000 {
    /// Resets the card, builds both rings, turns receive and transmit on and enables
    /// the receive interrupt. Returns the card's MAC address.
    pub fn init(&mut self) -> Result<[u8; 6], DriverError> {
        self.reset()?;
        let ring = |dma: &mut DmaPool| -> Result<(DmaBuffer, Vec<DmaBuffer>), DriverError> {
            let descriptors = dma.alloc(RING * DESCRIPTOR, 128)?;
            let buffers = (0..RING).map(|_| dma.alloc(BUFFER, BUFFER)).collect::<Result<Vec<_>, _>>()?;
            Ok((descriptors, buffers))
        };
        let (rx_descriptors, rx_buffers) = ring(&mut self.dma)?;
        let (tx_descriptors, tx_buffers) = ring(&mut self.dma)?;
        // Receive descriptors point at their buffers; transmit descriptors are filled
        // when a frame goes out. (The pool hands out zeroed memory.)
        for (i, buffer) in rx_buffers.iter().enumerate() {
            self.dma.write(&rx_descriptors, i * DESCRIPTOR, &buffer.paddr().to_le_bytes())?;
        }
        self.ring_registers(RX, &rx_descriptors, RING as u32 - 1)?;
        self.ring_registers(TX, &tx_descriptors, 0)?;
        self.regs.write(RCTL, Rctl::ENABLE | Rctl::BROADCAST | Rctl::STRIP_CRC)?;
        self.regs.write(TCTL, Tctl::ENABLE | Tctl::PAD_SHORT | Tctl::DEFAULTS)?;
        self.rings = Some(Rings { rx_descriptors, tx_descriptors, rx_buffers, tx_buffers, rx_next: 0, tx_next: 0 });
        self.regs.write(IMS, Interrupts::RX_TIMER | Interrupts::RX_OVERRUN)?;
        let mac = self.mac()?;
        defmt::info!("e1000 up: MAC {=[u8]:02x}, rings of {=usize} descriptors", mac[..], RING);
        Ok(mac)
    }

    /// Resets the card and builds both rings empty, for buffers the caller brings
    /// ([`post_receive`](Self::post_receive), [`transmit`](Self::transmit)); enables
    /// the receive and transmit-done interrupts. Returns the card's MAC address.
    pub fn init_for_buffers(&mut self) -> Result<[u8; 6], DriverError> {
        self.reset()?;
        let rx_descriptors = self.dma.alloc(BUFFER_RING * DESCRIPTOR, 128)?;
        let tx_descriptors = self.dma.alloc(BUFFER_RING * DESCRIPTOR, 128)?;
        self.ring_registers_sized(RX, &rx_descriptors, BUFFER_RING, 0)?;
        self.ring_registers_sized(TX, &tx_descriptors, BUFFER_RING, 0)?;
        self.regs.write(RCTL, Rctl::ENABLE | Rctl::BROADCAST | Rctl::STRIP_CRC)?;
        self.regs.write(TCTL, Tctl::ENABLE | Tctl::PAD_SHORT | Tctl::DEFAULTS)?;
        self.frames = Some(Frames {
            rx_descriptors,
            tx_descriptors,
            rx_tokens: alloc::vec![0; BUFFER_RING],
            tx_tokens: alloc::vec![0; BUFFER_RING],
            rx_next: 0,
            rx_clean: 0,
            tx_next: 0,
            tx_clean: 0,
            rx_posted: false,
            tx_posted: false,
        });
        self.regs.write(IMS, Interrupts::RX_TIMER | Interrupts::RX_OVERRUN | Interrupts::TX_DONE)?;
        let mac = self.mac()?;
        defmt::info!(
            "e1000 up: MAC {=[u8]:02x}, rings of {=usize} descriptors for shared buffers",
            mac[..],
            BUFFER_RING
        );
        Ok(mac)
    }

    fn reset(&mut self) -> Result<(), DriverError> {
        self.regs.write(IMC, Interrupts::all())?;
        self.regs.modify(CTRL, |c| c | Ctrl::RESET)?;
        self.wait_for(|regs| Ok(!regs.read(CTRL)?.contains(Ctrl::RESET)), "the card did not come out of reset")?;
        self.regs.write(IMC, Interrupts::all())?;
        self.regs.modify(CTRL, |c| c | Ctrl::SET_LINK_UP)?;
        for i in 0..128 {
            self.regs.write(Reg::<u32, WriteOnly>::at(MULTICAST_TABLE + 4 * i), 0)?;
        }
        Ok(())
    }

    fn frames(&mut self) -> Result<&mut Frames, DriverError> {
        self.frames.as_mut().ok_or(failed("a shared-buffer call before init_for_buffers"))
    }

    /// Gives the card an empty buffer at physical address `paddr` (at least
    /// [`BUFFER`] bytes, which the caller vouches for) to receive into. `Ok(false)` if
    /// the receive ring is full. The card sees it at the next [`flush`](Self::flush).
    pub fn post_receive(&mut self, paddr: u64, token: u32) -> Result<bool, DriverError> {
        let frames = self.frames.as_mut().ok_or(failed("post_receive before init_for_buffers"))?;
        let i = frames.rx_next;
        if (i + 1) % BUFFER_RING == frames.rx_clean {
            return Ok(false);
        }
        let mut entry = [0u8; DESCRIPTOR];
        entry[..8].copy_from_slice(&paddr.to_le_bytes());
        self.dma.write(&frames.rx_descriptors, i * DESCRIPTOR, &entry)?;
        frames.rx_tokens[i] = token;
        frames.rx_next = (i + 1) % BUFFER_RING;
        frames.rx_posted = true;
        Ok(true)
    }

    /// Queues the `len`-byte frame (without CRC) in the buffer at physical address
    /// `paddr` for sending. `Ok(false)` if the transmit ring is full. The card sees it
    /// at the next [`flush`](Self::flush).
    pub fn transmit(&mut self, paddr: u64, len: usize, token: u32) -> Result<bool, DriverError> {
        if len > MAX_FRAME || len == 0 {
            return Err(failed("a frame to send is empty or longer than 1514 bytes"));
        }
        let frames = self.frames.as_mut().ok_or(failed("transmit before init_for_buffers"))?;
        let i = frames.tx_next;
        if (i + 1) % BUFFER_RING == frames.tx_clean {
            return Ok(false);
        }
        let mut entry = [0u8; DESCRIPTOR];
        entry[..8].copy_from_slice(&paddr.to_le_bytes());
        entry[8..10].copy_from_slice(&(len as u16).to_le_bytes());
        entry[11] = TX_END_INSERT_CRC_REPORT;
        self.dma.write(&frames.tx_descriptors, i * DESCRIPTOR, &entry)?;
        frames.tx_tokens[i] = token;
        frames.tx_next = (i + 1) % BUFFER_RING;
        frames.tx_posted = true;
        Ok(true)
    }

    /// Tells the card about the buffers posted and frames queued since the last flush:
    /// one register write per ring, for a whole batch.
    pub fn flush(&mut self) -> Result<(), DriverError> {
        let frames = self.frames()?;
        let (rx, tx) = (frames.rx_posted.then_some(frames.rx_next), frames.tx_posted.then_some(frames.tx_next));
        frames.rx_posted = false;
        frames.tx_posted = false;
        if let Some(tail) = rx {
            self.regs.write(Reg::<u32, WriteOnly>::at(RX + TAIL), tail as u32)?;
        }
        if let Some(tail) = tx {
            self.regs.write(Reg::<u32, WriteOnly>::at(TX + TAIL), tail as u32)?;
        }
        Ok(())
    }

    /// The next buffer the card has filled, if any (its `len` is 0 if the card
    /// reported an error for it or the frame did not fit: the buffer is still the
    /// caller's again).
    pub fn take_received(&mut self) -> Result<Option<Received>, DriverError> {
        let Some(frames) = self.frames.as_mut() else { return Ok(None) };
        let i = frames.rx_clean;
        if i == frames.rx_next {
            return Ok(None);
        }
        let mut entry = [0u8; DESCRIPTOR];
        self.dma.read(&frames.rx_descriptors, i * DESCRIPTOR, &mut entry)?;
        let (status, errors) = (entry[12], entry[13]);
        if status & DONE == 0 {
            return Ok(None);
        }
        let len = u16::from_le_bytes([entry[8], entry[9]]) as usize;
        let whole = status & END_OF_PACKET != 0 && errors == 0 && len <= MAX_FRAME;
        if !whole {
            self.dropped += 1;
        }
        frames.rx_clean = (i + 1) % BUFFER_RING;
        Ok(Some(Received { token: frames.rx_tokens[i], len: if whole { len } else { 0 } }))
    }

    /// The token of the next buffer the card has sent, if any (the buffer is the
    /// caller's again).
    pub fn take_sent(&mut self) -> Result<Option<u32>, DriverError> {
        let Some(frames) = self.frames.as_mut() else { return Ok(None) };
        let i = frames.tx_clean;
        if i == frames.tx_next {
            return Ok(None);
        }
        let mut status = [0u8; 1];
        self.dma.read(&frames.tx_descriptors, i * DESCRIPTOR + 12, &mut status)?;
        if status[0] & DONE == 0 {
            return Ok(None);
        }
        frames.tx_clean = (i + 1) % BUFFER_RING;
        Ok(Some(frames.tx_tokens[i]))
    }

    /// Buffers the card holds: posted for receiving, and frames not yet sent.
    pub fn buffers_held(&self) -> (usize, usize) {
        match &self.frames {
            Some(f) => (
                (f.rx_next + BUFFER_RING - f.rx_clean) % BUFFER_RING,
                (f.tx_next + BUFFER_RING - f.tx_clean) % BUFFER_RING,
            ),
            None => (0, 0),
        }
    }

    fn ring_registers_sized(
        &self,
        ring: usize,
        descriptors: &DmaBuffer,
        len: usize,
        tail: u32,
    ) -> Result<(), DriverError> {
        let at = |offset| Reg::<u32, WriteOnly>::at(ring + offset);
        self.regs.write(at(BASE_LOW), descriptors.paddr() as u32)?;
        self.regs.write(at(BASE_HIGH), (descriptors.paddr() >> 32) as u32)?;
        self.regs.write(at(LENGTH), (len * DESCRIPTOR) as u32)?;
        self.regs.write(at(HEAD), 0)?;
        self.regs.write(at(TAIL), tail)?;
        Ok(())
    }

    fn ring_registers(&self, ring: usize, descriptors: &DmaBuffer, tail: u32) -> Result<(), DriverError> {
        self.ring_registers_sized(ring, descriptors, RING, tail)
    }

    /// Polls `ready` a bounded number of times (the card answers within microseconds).
    fn wait_for(
        &self,
        ready: impl Fn(&MmioBlock) -> Result<bool, DriverError>,
        what: &'static str,
    ) -> Result<(), DriverError> {
        for _ in 0..100_000 {
            if ready(&self.regs)? {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(failed(what))
    }

    /// The MAC address (from the first receive address register pair).
    pub fn mac(&self) -> Result<[u8; 6], DriverError> {
        let low = self.regs.read(RECEIVE_ADDRESS_LOW)?.to_le_bytes();
        let high = self.regs.read(RECEIVE_ADDRESS_HIGH)?.to_le_bytes();
        Ok([low[0], low[1], low[2], low[3], high[0], high[1]])
    }

    /// Whether the link is up.
    pub fn link_up(&self) -> Result<bool, DriverError> {
        Ok(self.regs.read(STATUS)? & LINK_UP != 0)
    }

    fn phy(&self, command: u32) -> Result<u32, DriverError> {
        self.regs.write(MDIC, command | PHY)?;
        self.wait_for(|regs| Ok(regs.read(MDIC)? & (MDIC_READY | MDIC_ERROR) != 0), "the PHY did not answer")?;
        let answer = self.regs.read(MDIC)?;
        if answer & MDIC_ERROR != 0 {
            return Err(failed("the PHY refused a register access"));
        }
        Ok(answer & 0xffff)
    }

    /// Turns the PHY's loopback on or off: in loopback, every frame sent is received.
    pub fn set_loopback(&mut self, on: bool) -> Result<(), DriverError> {
        let bmcr = self.phy(MDIC_READ | PHY_BMCR << 16)?;
        let bmcr = if on { bmcr | BMCR_LOOPBACK } else { bmcr & !BMCR_LOOPBACK };
        self.phy(MDIC_WRITE | PHY_BMCR << 16 | bmcr)?;
        Ok(())
    }

    /// Queues `frame` (destination, source, type, payload; without CRC) for sending.
    /// `Ok(false)` if the transmit ring is full.
    pub fn send(&mut self, frame: &[u8]) -> Result<bool, DriverError> {
        if frame.len() > MAX_FRAME {
            return Err(failed("a frame is longer than 1514 bytes"));
        }
        let Some(rings) = self.rings.as_mut() else { return Err(failed("send before init")) };
        let i = rings.tx_next;
        let descriptor = &rings.tx_descriptors;
        let mut status = [0u8; 1];
        self.dma.read(descriptor, i * DESCRIPTOR + 12, &mut status)?;
        let mut command = [0u8; 1];
        self.dma.read(descriptor, i * DESCRIPTOR + 11, &mut command)?;
        // A descriptor the card was given and has not finished is still in flight.
        if command[0] != 0 && status[0] & DONE == 0 {
            return Ok(false);
        }
        let buffer = &rings.tx_buffers[i];
        self.dma.write(buffer, 0, frame)?;
        let mut entry = [0u8; DESCRIPTOR];
        entry[..8].copy_from_slice(&buffer.paddr().to_le_bytes());
        entry[8..10].copy_from_slice(&(frame.len() as u16).to_le_bytes());
        entry[11] = TX_END_INSERT_CRC_REPORT;
        self.dma.write(descriptor, i * DESCRIPTOR, &entry)?;
        rings.tx_next = (i + 1) % RING;
        self.regs.write(Reg::<u32, WriteOnly>::at(TX + TAIL), rings.tx_next as u32)?;
        Ok(true)
    }

    /// The next received frame, if one has arrived.
    pub fn receive(&mut self) -> Option<Vec<u8>> {
        self.received.pop_front()
    }

    /// Frames received and not yet taken.
    pub fn pending(&self) -> usize {
        self.received.len()
    }

    /// Frames dropped: received with errors or split over several buffers.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Takes every frame the card has written so far without waiting for an interrupt
    /// (for polling), and hands the buffers back to it.
    pub fn poll(&mut self) -> Result<(), DriverError> {
        self.drain_receive_ring()
    }

    /// Takes every frame the card has written, and hands the buffers back to it.
    fn drain_receive_ring(&mut self) -> Result<(), DriverError> {
        let Some(rings) = self.rings.as_mut() else { return Ok(()) };
        loop {
            let i = rings.rx_next;
            let mut entry = [0u8; DESCRIPTOR];
            self.dma.read(&rings.rx_descriptors, i * DESCRIPTOR, &mut entry)?;
            let (status, errors) = (entry[12], entry[13]);
            if status & DONE == 0 {
                return Ok(());
            }
            let len = u16::from_le_bytes([entry[8], entry[9]]) as usize;
            if status & END_OF_PACKET != 0 && errors == 0 && len <= BUFFER {
                let mut frame = alloc::vec![0; len];
                self.dma.read(&rings.rx_buffers[i], 0, &mut frame)?;
                self.received.push_back(frame);
            } else {
                self.dropped += 1;
                defmt::warn!(
                    "dropped a received frame: status {=u8:#x}, errors {=u8:#x}, {=usize} bytes",
                    status,
                    errors,
                    len
                );
            }
            // Clear the status and give the buffer back: the tail trails the next slot.
            self.dma.write(&rings.rx_descriptors, i * DESCRIPTOR + 12, &[0, 0])?;
            self.regs.write(Reg::<u32, WriteOnly>::at(RX + TAIL), i as u32)?;
            rings.rx_next = (i + 1) % RING;
        }
    }

    fn on_interrupt(&mut self) -> Result<(), DriverError> {
        // Reading the causes clears them, which lowers the (level-triggered) line.
        let causes = self.regs.read(ICR)?;
        defmt::trace!("interrupt: causes {=u32:#x}", causes.bits());
        if causes.intersects(Interrupts::RX_TIMER | Interrupts::RX_OVERRUN) {
            self.drain_receive_ring()?;
        }
        Ok(())
    }
}
