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

/// The lowest stack address written since the paint below `limit`.
fn deepest_written(limit: usize) -> usize {
    let bottom = addr_of_mut!(__sheap) as usize;
    let mut address = bottom;
    // SAFETY: reads of RAM inside the stack region.
    while address < limit && unsafe { read_volatile(address as *const u32) } == PAINT {
        address += 4;
    }
    address
}

/// The top of the stack.
fn stack_top() -> usize {
    addr_of!(_stack_start) as usize
}

/// Measures the stack a part of the report uses: paints the free stack below the
/// current stack pointer, then finds how deep the part wrote into it.
/// Repainting erases the record of earlier, deeper use, so the deepest address seen so
/// far is kept for the whole run's high-water mark.
struct Painter {
    /// The stack pointer when the part started.
    top: usize,
    /// The lowest stack address written before the last repaint.
    deepest: usize,
    /// What an empty part measures (the probe's own frames), subtracted.
    overhead: usize,
}

impl Painter {
    /// Bytes below `top` written since `start`.
    #[inline(never)]
    fn measure(&self) -> usize {
        self.top.saturating_sub(deepest_written(self.top))
    }
}

impl report::Probe for Painter {
    #[inline(never)]
    fn start(&mut self) {
        self.deepest = self.deepest.min(deepest_written(stack_top()));
        self.top = cortex_m::register::msp::read() as usize;
        paint_stack();
    }

    fn stop(&mut self, out: &mut dyn Write, what: &str) -> fmt::Result {
        let used = self.measure().saturating_sub(self.overhead);
        writeln!(out, "# stack for {what}: {used} bytes")
    }
}

/// Line-buffered semihosting output: one host call per line (or per 64 bytes of a
/// longer line, to keep the stack small).
struct Out {
    stream: hio::HostStream,
    line: [u8; 64],
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
    // SAFETY: deliberately faults: nothing is mapped at this address on the mps2 boards
    // nor on the micro:bit (0x5000_0000, used before, is the nRF51's GPIO).
    unsafe {
        read_volatile(0x3000_0000 as *const u32);
    }
    let Ok(stream) = hio::hstdout() else {
        exit(false)
    };
    let mut out = Out {
        stream,
        line: [0; 64],
        len: 0,
    };
    let mut painter = Painter {
        top: 0,
        deepest: usize::MAX,
        overhead: 0,
    };
    report::Probe::start(&mut painter);
    painter.overhead = painter.measure();
    #[cfg(feature = "instructions")]
    let ok = {
        let mut counter = Instructions::new();
        report::instructions(&mut out, &mut painter, &mut counter).is_ok()
    };
    #[cfg(not(feature = "instructions"))]
    let ok = report::report_measured(&mut out, &mut painter).is_ok();
    let used = stack_top() - painter.deepest.min(deepest_written(stack_top()));
    let printed =
        writeln!(out, "# stack high-water mark: {used} bytes").is_ok() && out.flush().is_ok();
    exit(ok && printed)
}

/// Counts executed instructions with SysTick under QEMU's `-icount shift=0`: virtual
/// time advances one nanosecond per instruction and SysTick counts virtual time at the
/// board's clock, so instructions = ticks * (instructions per tick), which a loop of
/// known length calibrates (40 on the mps2 boards at 25 MHz, 62.5 on the micro:bit at
/// 16 MHz). Without `-icount` the numbers mean nothing.
#[cfg(feature = "instructions")]
struct Instructions {
    /// The ticks counted so far (SysTick's 24-bit counter, unwrapped).
    ticks: u64,
    /// The last counter value read.
    last: u32,
    /// Instructions and ticks of the calibration loop.
    calibration: (u64, u64),
}

#[cfg(feature = "instructions")]
impl Instructions {
    fn new() -> Self {
        let Some(p) = cortex_m::Peripherals::take() else {
            exit(false)
        };
        let mut syst = p.SYST;
        syst.set_clock_source(cortex_m::peripheral::syst::SystClkSource::Core);
        syst.set_reload(0x00FF_FFFF);
        syst.clear_current();
        syst.enable_counter();
        let mut counter = Self {
            ticks: 0,
            last: cortex_m::peripheral::SYST::get_current(),
            calibration: (1, 1),
        };
        let start = counter.tick();
        let n: u32 = 1_000_000;
        // SAFETY: a countdown loop on one register: two instructions per iteration.
        unsafe {
            core::arch::asm!(
                "2:",
                "subs {0}, #1",
                "bne 2b",
                inout(reg) n => _,
                options(nomem, nostack),
            );
        }
        counter.calibration = (2 * u64::from(n), counter.tick() - start);
        counter
    }

    /// Ticks so far (read at least once per 2^24 ticks: 671 million instructions).
    fn tick(&mut self) -> u64 {
        let now = cortex_m::peripheral::SYST::get_current();
        self.ticks += u64::from(self.last.wrapping_sub(now) & 0x00FF_FFFF);
        self.last = now;
        self.ticks
    }
}

#[cfg(feature = "instructions")]
impl report::Counter for Instructions {
    fn now(&mut self) -> u64 {
        let (instructions, ticks) = self.calibration;
        self.tick() * instructions / ticks.max(1)
    }
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    exit(false)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(false)
}
