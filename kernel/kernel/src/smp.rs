// SPDX-License-Identifier: AGPL-3.0-or-later
//! Per-CPU state and the life of a CPU: which CPU this is, which CPUs are online, their tick
//! counts and reschedule requests, and the idle loop every CPU ends in.
//!
//! The architecture starts the secondary CPUs (`arch::start_secondary_cpus`, docs/adr/0009).
//! Each one sets up what is local to it (trap vector, per-CPU register, interrupt controller
//! interface, timer) and calls [`secondary_main`] with interrupts masked. That registers its
//! idle thread with the scheduler, checks in, and waits until the boot CPU has printed the
//! ready line ([`release_secondaries`]) before it takes interrupts and runs threads, so the
//! boot log stays in order.
//!
//! A CPU is named by its logical index (0 = the boot CPU), which `arch::cpu_index` reads from
//! a per-CPU register (x86_64 `GS` base, AArch64 `MPIDR_EL1`, RISC-V `tp`).

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use crate::arch;

/// CPUs the kernel supports (the scheduler has a run queue for each).
pub const MAX_CPUS: usize = kernel_boot::MAX_CPUS;

/// One CPU's shared state; every field is an atomic that other CPUs may read.
struct CpuState {
    /// Registered with the scheduler and checked in.
    online: AtomicBool,
    /// A reschedule was requested (timer tick or another CPU's wakeup).
    need_resched: AtomicBool,
    /// Timer interrupts this CPU has taken.
    ticks: AtomicU64,
    /// Reschedule interrupts this CPU has taken.
    ipis: AtomicU64,
    /// The firmware's id for the CPU (APIC id, MPIDR affinity, hart id).
    hw_id: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const NEW_CPU: CpuState = CpuState {
    online: AtomicBool::new(false),
    need_resched: AtomicBool::new(false),
    ticks: AtomicU64::new(0),
    ipis: AtomicU64::new(0),
    hw_id: AtomicU64::new(0),
};
static CPUS: [CpuState; MAX_CPUS] = [NEW_CPU; MAX_CPUS];
/// Set by the boot CPU after the ready line: secondary CPUs may run threads.
static RELEASED: AtomicBool = AtomicBool::new(false);
/// `cambios.maxcpus` (0: no limit).
static MAX_STARTED: AtomicU64 = AtomicU64::new(0);

/// A secondary CPU's commitment, decided once by whichever side gets there first.
const UNDECIDED: u8 = 0;
/// The CPU reached `secondary_main` in time: it will come online.
const COMMITTED: u8 = 1;
/// The boot CPU gave up on it: it must stop instead of joining.
const WITHDRAWN: u8 = 2;
#[allow(clippy::declare_interior_mutable_const)]
const NEW_JOIN: AtomicU8 = AtomicU8::new(UNDECIDED);
static JOIN: [AtomicU8; MAX_CPUS] = [NEW_JOIN; MAX_CPUS];

/// Called by the boot CPU when CPU `index` did not come online in time: either withdraws its
/// start for good (false: report it as skipped; if it ever reaches `secondary_main` it stops
/// there) or, when it has already committed to joining, waits until it is online (true).
/// Without this, a CPU reported as skipped could still join the scheduler later.
pub fn withdraw_or_wait(index: usize) -> bool {
    let Some(join) = JOIN.get(index) else { return false };
    if join.compare_exchange(UNDECIDED, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        return false;
    }
    // Committed: it only has to register its idle thread (one lock, one allocation).
    kernel_core::sync::spin_until(u32::MAX, || is_online(index))
}

/// Records `cambios.maxcpus` (before the secondary CPUs are started).
pub fn set_max_cpus(limit: Option<u32>) {
    MAX_STARTED.store(limit.map_or(0, u64::from), Ordering::Relaxed);
}

/// Why the next secondary CPU must not be started, if it must not: `cambios.maxcpus` CPUs
/// are online already. The architecture reports the CPU as skipped with this reason and goes on.
pub fn start_refused() -> Option<StartRefused> {
    let limit = MAX_STARTED.load(Ordering::Relaxed);
    let online = CPUS.iter().filter(|s| s.online.load(Ordering::Acquire)).count() as u64;
    (limit != 0 && online >= limit).then_some(StartRefused { limit })
}

/// A CPU left offline by `cambios.maxcpus`.
#[derive(Clone, Copy, Debug)]
pub struct StartRefused {
    limit: u64,
}

impl core::fmt::Display for StartRefused {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "not started (cambios.maxcpus={})", self.limit)
    }
}

/// The logical index of the CPU running this code (always below [`MAX_CPUS`]).
#[inline]
pub fn current() -> usize {
    let i = arch::cpu_index();
    if i < MAX_CPUS { i } else { 0 }
}

fn state(cpu: usize) -> Option<&'static CpuState> {
    CPUS.get(cpu)
}

/// Marks the boot CPU online (its idle thread is the boot code itself).
pub fn boot_cpu_online(hw_id: u64) {
    if let Some(s) = state(0) {
        s.hw_id.store(hw_id, Ordering::Relaxed);
        s.online.store(true, Ordering::Release);
    }
}

/// True when `cpu` has checked in.
pub fn is_online(cpu: usize) -> bool {
    state(cpu).is_some_and(|s| s.online.load(Ordering::Acquire))
}

/// The entry of a secondary CPU once its architecture-local state is set up (interrupts
/// masked, on its own guarded stack, `arch::cpu_index` returning `index`). Never returns.
pub fn secondary_main(index: usize, hw_id: u64) -> ! {
    let committed = JOIN
        .get(index)
        .is_some_and(|j| j.compare_exchange(UNDECIDED, COMMITTED, Ordering::AcqRel, Ordering::Acquire).is_ok());
    if !committed {
        // The boot CPU gave up on this CPU and reported it as skipped.
        arch::halt()
    }
    if let Err(e) = crate::sched::init_secondary(index) {
        kerror!("[smp] CPU {index}: cannot join the scheduler: {e}");
        arch::halt()
    }
    if let Some(s) = state(index) {
        s.hw_id.store(hw_id, Ordering::Relaxed);
        s.online.store(true, Ordering::Release);
    }
    // Bounded only by the boot CPU reaching the ready line, which it does unless it fails.
    while !RELEASED.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    arch::enable_interrupts();
    idle_loop(false)
}

/// Lets the secondary CPUs run threads (after the ready line).
pub fn release_secondaries() {
    RELEASED.store(true, Ordering::Release);
}

/// The idle loop of every CPU: run ready threads, and sleep while there is nothing to run.
/// The boot CPU (`console` = true) also serves the boot monitor's console input and
/// reports lock-order violations. The check for work and the sleep happen with interrupts
/// masked, so a wakeup that arrives in between ends the sleep instead of being lost.
pub fn idle_loop(console: bool) -> ! {
    let mut reported = crate::sync::lock_order_violations().0;
    loop {
        arch::disable_interrupts();
        // Ready threads run first; this thread continues when nothing else can run.
        crate::sched::run_ready();
        let input = console && crate::monitor::has_input();
        if !input && !crate::sched::has_ready() {
            arch::wait_for_interrupt();
        }
        arch::enable_interrupts();
        #[cfg(feature = "selftest")]
        probe::serve();
        if console {
            crate::monitor::poll();
            report_lock_order_violations(&mut reported);
        }
    }
}

/// Prints new lock-order violations (the tracker counts them inside lock acquisition, where
/// printing is impossible); the test harness fails any run that prints one.
fn report_lock_order_violations(reported: &mut u64) {
    let (n, first) = crate::sync::lock_order_violations();
    if n > *reported {
        *reported = n;
        let (acquiring, held) = first.unwrap_or((0, 0));
        kerror!(
            "{n} lock-order violations so far (first: rank {acquiring} taken while holding rank {held}; docs/locking.md)"
        );
    }
}

/// Set after a kernel fault or panic on any CPU: every CPU stops at its next tick.
static STOPPED: AtomicBool = AtomicBool::new(false);

/// Asks every CPU to stop (a kernel fault or panic was reported).
pub fn stop_all() {
    STOPPED.store(true, Ordering::Release);
}

/// Counts a timer tick on this CPU; stops the CPU for good after [`stop_all`].
pub fn count_tick() {
    if STOPPED.load(Ordering::Acquire) {
        arch::halt()
    }
    if let Some(s) = state(current()) {
        s.ticks.fetch_add(1, Ordering::Relaxed);
    }
}

/// Timer interrupts taken by `cpu`.
pub fn ticks(cpu: usize) -> u64 {
    state(cpu).map_or(0, |s| s.ticks.load(Ordering::Relaxed))
}

/// Asks this CPU to reschedule at its next preemption point.
pub fn request_local_reschedule() {
    if let Some(s) = state(current()) {
        s.need_resched.store(true, Ordering::Relaxed);
    }
}

/// Takes this CPU's reschedule request.
pub fn take_reschedule_request() -> bool {
    state(current()).is_some_and(|s| s.need_resched.swap(false, Ordering::Relaxed))
}

/// Makes `cpu` look at its run queue soon: this CPU notes it for its next preemption point,
/// another online CPU gets a reschedule interrupt.
pub fn kick(cpu: usize) {
    if cpu == current() {
        request_local_reschedule();
    } else if is_online(cpu) && RELEASED.load(Ordering::Acquire) {
        arch::send_reschedule_ipi(cpu);
    }
}

/// The reschedule interrupt handler's part (interrupts masked): note the request; the
/// handler then calls `sched::preempt_point`.
pub fn on_reschedule_ipi() {
    if let Some(s) = state(current()) {
        s.ipis.fetch_add(1, Ordering::Relaxed);
    }
    if crate::sched::has_ready() || crate::sched::kill_pending() {
        request_local_reschedule();
    }
}

/// A remote read for the TLB-shootdown self-test: the boot CPU asks another CPU to load a
/// word through its own page tables and TLB.
#[cfg(feature = "selftest")]
pub mod probe {
    use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    static TARGET: AtomicUsize = AtomicUsize::new(usize::MAX);
    static ADDRESS: AtomicU64 = AtomicU64::new(0);
    static REQUEST: AtomicU64 = AtomicU64::new(0);
    static DONE: AtomicU64 = AtomicU64::new(0);
    static VALUE: AtomicU64 = AtomicU64::new(0);

    /// Has `cpu` load the u64 at kernel address `va` and returns it (`None` when it did not
    /// answer within about a second). `va` must stay mapped until this returns.
    pub fn read_on(cpu: usize, va: u64) -> Option<u64> {
        let seq = REQUEST.load(Ordering::Relaxed) + 1;
        ADDRESS.store(va, Ordering::Relaxed);
        TARGET.store(cpu, Ordering::Relaxed);
        REQUEST.store(seq, Ordering::Release);
        let deadline = crate::time::uptime_ns().saturating_add(1_000_000_000);
        // Bounded by the deadline; the spin limit covers a stopped clock.
        for _ in 0..200_000_000u64 {
            if DONE.load(Ordering::Acquire) == seq {
                return Some(VALUE.load(Ordering::Relaxed));
            }
            if crate::time::uptime_ns() > deadline {
                break;
            }
            super::kick(cpu);
            for _ in 0..1000 {
                core::hint::spin_loop();
            }
        }
        None
    }

    /// Answers a pending request addressed to this CPU (called by its idle loop).
    pub(super) fn serve() {
        let seq = REQUEST.load(Ordering::Acquire);
        if seq == DONE.load(Ordering::Relaxed) || TARGET.load(Ordering::Relaxed) != super::current() {
            return;
        }
        let va = ADDRESS.load(Ordering::Relaxed);
        // SAFETY: the requester keeps `va` mapped (to a frame it owns) until it has read the
        // answer, and reads an aligned u64; stale translations are exactly what the test looks for.
        let value = unsafe { core::ptr::read_volatile(va as *const u64) };
        VALUE.store(value, Ordering::Relaxed);
        DONE.store(seq, Ordering::Release);
    }
}

/// What `cpu_list` reports about one CPU.
#[derive(Clone, Copy, Debug)]
pub struct CpuInfo {
    /// The firmware's id.
    pub hw_id: u64,
    /// Checked in.
    pub online: bool,
    /// Timer interrupts taken.
    pub ticks: u64,
    /// Reschedule interrupts taken.
    pub ipis: u64,
}

/// The state of CPU `cpu`, if the kernel has a slot for it.
pub fn info(cpu: usize) -> Option<CpuInfo> {
    let s = state(cpu)?;
    Some(CpuInfo {
        hw_id: s.hw_id.load(Ordering::Relaxed),
        online: s.online.load(Ordering::Acquire),
        ticks: s.ticks.load(Ordering::Relaxed),
        ipis: s.ipis.load(Ordering::Relaxed),
    })
}

/// The CPUs online and their firmware ids in logical order (what each reported when it
/// checked in), for the `[smp]` line.
pub fn online_ids(hex: bool) -> (u32, IdList) {
    let mut ids = IdList::new(hex);
    for s in CPUS.iter().filter(|s| s.online.load(Ordering::Acquire)) {
        ids.push(s.hw_id.load(Ordering::Relaxed));
    }
    (ids.len as u32, ids)
}

/// Firmware CPU ids for the `[smp]` line, printed as `0, 1, 2` (or `0x0, 0x100` in hex).
pub struct IdList {
    ids: [u64; MAX_CPUS],
    len: usize,
    hex: bool,
}

impl IdList {
    fn new(hex: bool) -> Self {
        IdList { ids: [0; MAX_CPUS], len: 0, hex }
    }

    /// Appends `id` (ignored beyond `MAX_CPUS`).
    fn push(&mut self, id: u64) {
        if let Some(slot) = self.ids.get_mut(self.len) {
            *slot = id;
            self.len += 1;
        }
    }
}

impl core::fmt::Display for IdList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (n, id) in self.ids.iter().take(self.len).enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            if self.hex { write!(f, "{id:#x}")? } else { write!(f, "{id}")? }
        }
        Ok(())
    }
}
