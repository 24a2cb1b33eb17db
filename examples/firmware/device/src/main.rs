//! Runs the report on a Cortex-M under QEMU, printing over semihosting, then prints the
//! measured stack high-water mark (stack painting) and exits with a status code. A
//! HardFault or a panic exits at once with a failure status instead of hanging.
#![no_std]
#![no_main]

use core::fmt::{self, Write};
use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};

use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hio};

/// The word the free stack is painted with.
const PAINT: u32 = 0xDEAD_BEEF;

extern "C" {
    /// Start of the free RAM between `.bss` and the stack (cortex-m-rt's link.x).
    static mut __sheap: u32;
    /// Top of the stack (cortex-m-rt's link.x).
    static _stack_start: u32;
}

/// Paints the unused stack below the current stack pointer.
#[inline(never)]
fn paint_stack() {
    let bottom = addr_of_mut!(__sheap) as usize;
    let sp = cortex_m::register::msp::read() as usize;
    let mut address = bottom;
    while address + 64 < sp {
        // SAFETY: between the end of .bss and the live stack frame: unused RAM.
        unsafe { write_volatile(address as *mut u32, PAINT) };
        address += 4;
    }
}

/// Bytes of stack ever used: from the top down to the lowest overwritten paint.
fn stack_high_water() -> usize {
    let bottom = addr_of_mut!(__sheap) as usize;
    let top = addr_of!(_stack_start) as usize;
    let mut address = bottom;
    // SAFETY: reads of RAM inside the stack region.
    while address < top && unsafe { read_volatile(address as *const u32) } == PAINT {
        address += 4;
    }
    top - address
}

/// Line-buffered semihosting output: one host call per line.
struct Out {
    stream: hio::HostStream,
    line: [u8; 256],
    len: usize,
}

impl Out {
    fn flush(&mut self) -> fmt::Result {
        let result = self
            .stream
            .write_all(&self.line[..self.len])
            .map_err(|_| fmt::Error);
        self.len = 0;
        result
    }
}

impl Write for Out {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.line.len() {
                self.flush()?;
            }
            self.line[self.len] = b;
            self.len += 1;
            if b == b'\n' {
                self.flush()?;
            }
        }
        Ok(())
    }
}

fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::bkpt();
    }
}

#[entry]
fn main() -> ! {
    paint_stack();
    #[cfg(feature = "fault-demo")]
    // SAFETY: deliberately faults: nothing is mapped at this address on the mps2 boards.
    unsafe {
        read_volatile(0x5000_0000 as *const u32);
    }
    let Ok(stream) = hio::hstdout() else {
        exit(false)
    };
    let mut out = Out {
        stream,
        line: [0; 256],
        len: 0,
    };
    let ok = report::report(&mut out).is_ok();
    let used = stack_high_water();
    let printed =
        writeln!(out, "# stack high-water mark: {used} bytes").is_ok() && out.flush().is_ok();
    exit(ok && printed)
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    exit(false)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(false)
}
