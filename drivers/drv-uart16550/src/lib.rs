//! 16550 UART driver: interrupt-driven receive and transmit with the FIFOs on.
//!
//! Built with the driver kit: the broker hands it the UART's eight I/O ports and its
//! interrupt, the derive wires them up, and the kit's register map does the port I/O.
//! This file is the whole driver.
#![no_std]
#![forbid(unsafe_code)]

use heapless::Deque;
use kaal_dev::registers::RegisterBlock;
use kaal_dev::{Driver, DriverError, Irq, PortBlock};

kaal_dev::register_map! {
    DATA @ 0: ReadWrite u8; // RBR/THR, or divisor low with DLAB
    /// Interrupt enable (or divisor high with DLAB).
    IER @ 1: ReadWrite Ier: u8 { RX_AVAILABLE = 1, TX_EMPTY = 2 };
    IIR @ 2: ReadOnly u8;
    FCR @ 2: WriteOnly u8;
    LCR @ 3: ReadWrite u8;
    /// Modem control: OUT2 gates the interrupt line on a PC; LOOP wires TX to RX.
    MCR @ 4: ReadWrite Mcr: u8 { DTR = 1, RTS = 2, OUT2 = 8, LOOP = 0x10 };
    /// Line status.
    LSR @ 5: ReadOnly Lsr: u8 { DATA_READY = 1, TX_EMPTY = 0x20 };
}
const DLAB: u8 = 0x80;
const EIGHT_N_ONE: u8 = 0x03;
const FIFO_ON_AND_CLEAR: u8 = 0x07;
const FIFO_DEPTH: usize = 16;

/// A 16550 UART on COM2, COM3 or COM4 (COM1 is the kernel's console).
#[derive(Driver)]
#[driver(name = "uart16550")]
#[isa(com2, com3, com4)]
pub struct Uart {
    #[ports]
    regs: PortBlock,
    #[interrupt(handler = on_interrupt)]
    irq: Irq,
    rx: Deque<u8, 256>,
    tx: Deque<u8, 256>,
}

impl Uart {
    /// Sets `baud` (8N1), turns the FIFOs and the receive interrupt on.
    pub fn init(&mut self, baud: u32) -> Result<(), DriverError> {
        let divisor = (115_200 / baud.clamp(1, 115_200)) as u16;
        self.regs.write(IER, Ier::empty())?;
        self.regs.write(LCR, DLAB)?;
        self.regs.write(DATA, divisor as u8)?;
        self.regs.write(IER, Ier::from_bits_retain((divisor >> 8) as u8))?;
        self.regs.write(LCR, EIGHT_N_ONE)?;
        self.regs.write(FCR, FIFO_ON_AND_CLEAR)?;
        self.regs.write(MCR, Mcr::DTR | Mcr::RTS | Mcr::OUT2)?;
        self.regs.write(IER, Ier::RX_AVAILABLE)?;
        Ok(())
    }

    /// Wires transmit to receive inside the chip (for a self-test without a peer).
    pub fn set_loopback(&mut self, on: bool) -> Result<(), DriverError> {
        Ok(self.regs.modify(MCR, |m| if on { m | Mcr::LOOP } else { m - Mcr::LOOP })?)
    }

    /// Queues `bytes` for sending; returns how many fitted. Sending is interrupt-driven.
    pub fn write(&mut self, bytes: &[u8]) -> Result<usize, DriverError> {
        let queued = bytes.iter().take_while(|b| self.tx.push_back(**b).is_ok()).count();
        self.regs.modify(IER, |ier| ier | Ier::TX_EMPTY)?;
        Ok(queued)
    }

    /// The next received byte, if any.
    pub fn read(&mut self) -> Option<u8> {
        self.rx.pop_front()
    }

    /// Whether everything queued has gone to the chip.
    pub fn flushed(&self) -> bool {
        self.tx.is_empty()
    }

    fn on_interrupt(&mut self) -> Result<(), DriverError> {
        // Bit 0 of IIR clear means an interrupt is pending; handle until none is.
        while self.regs.read(IIR)? & 1 == 0 {
            while self.regs.read(LSR)?.contains(Lsr::DATA_READY) {
                let byte = self.regs.read(DATA)?;
                let _ = self.rx.push_back(byte); // a full queue drops, like a full FIFO
            }
            if self.regs.read(LSR)?.contains(Lsr::TX_EMPTY) {
                for byte in (0..FIFO_DEPTH).map_while(|_| self.tx.pop_front()) {
                    self.regs.write(DATA, byte)?;
                }
                if self.tx.is_empty() {
                    self.regs.modify(IER, |ier| ier - Ier::TX_EMPTY)?;
                }
            }
        }
        Ok(())
    }
}
