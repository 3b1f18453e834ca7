// SPDX-License-Identifier: AGPL-3.0-or-later
//! Threads on top of the portable scheduler: kernel stacks, context switches, preemption,
//! sleeping and deferred reclamation.
//!
//! `kernel_core::sched::Scheduler` decides who runs; this module owns what a thread is on the
//! machine: its saved [`arch::Context`], its FP/SIMD state, its guarded kernel stack and the
//! address space it runs in. Both live in one [`SpinLock`] (rank `Scheduler`).
//!
//! A switch happens only through [`reschedule`], called with interrupts masked and no lock
//! held: from the timer interrupt ([`preempt_point`]), from a syscall that blocks or yields,
//! and from the idle loop. The outgoing thread's FP state is saved, the incoming thread's
//! kernel stack and page tables are installed, and `arch::switch_context` swaps the
//! callee-saved registers. The incoming thread then calls [`after_switch`], which confirms the
//! switch to the scheduler and reclaims threads that exited: a thread's kernel stack and its
//! process's address space are freed only after the CPU has left them (deferred reclamation).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use kernel_core::addr::{PhysAddr, VirtAddr};
use kernel_core::paging::MapAttrs;
use kernel_core::sched::{BlockReason, CpuSet, Priority, SchedError, Scheduler, ThreadId, ThreadState, WakeCause};
use kernel_core::sync::LockClass;

use crate::error::KernelError;
use crate::memory;
use crate::sync::SpinLock;
use crate::{arch, layout, process, smp, time};

/// Thread slots (the process table's tier sizes bound the processes; one thread each today).
pub const MAX_THREADS: usize = 256;
/// CPUs the scheduler has run queues for.
pub const MAX_CPUS: usize = smp::MAX_CPUS;
/// Timer ticks in one quantum.
pub const QUANTUM_TICKS: u32 = 2;
/// Kernel-stack slots below this are the per-CPU boot and exception stacks.
pub const FIRST_THREAD_STACK_SLOT: u64 = 64;

/// One thread's machine state.
struct Thread {
    /// Saved registers and FP/SIMD state: written and read only by the CPU switching away
    /// from or to the thread, outside the scheduler lock (hence the cells); the scheduler's
    /// `switching_from` / `switch_done` handshake orders one CPU's save before another's load.
    context: UnsafeCell<arch::Context>,
    fp: UnsafeCell<arch::FpState>,
    /// The page tables it runs on (the kernel root for idle threads).
    root: PhysAddr,
    /// Its kernel stack, when it owns one (idle threads run on their CPU's boot stack).
    stack: Option<KernelStack>,
    /// The process it belongs to.
    owner: Option<process::Pid>,
    /// That process's Principal (immutable for its life), so a syscall learns who is calling
    /// with one lock.
    principal: [u8; 32],
    /// The CPU it last ran on.
    last_cpu: AtomicUsize,
    /// Another CPU asked it to end while it was running: it ends itself at its next
    /// preemption point or switch (see [`request_kill`]).
    kill_pending: AtomicBool,
}

/// A guarded kernel stack in a `layout::kernel_stack` slot.
struct KernelStack {
    slot: u64,
    frames: PhysAddr,
}

impl KernelStack {
    fn top(&self) -> u64 {
        layout::kernel_stack(self.slot).1
    }
}

struct State {
    scheduler: Scheduler<MAX_THREADS, MAX_CPUS>,
    threads: Vec<Option<Box<Thread>>>,
}

/// Built in place (the scheduler is tens of KiB: never on a stack).
static STATE: SpinLock<State> =
    SpinLock::new(LockClass::Scheduler, State { scheduler: Scheduler::new(QUANTUM_TICKS), threads: Vec::new() });

/// The CPU this code runs on.
fn cpu() -> usize {
    smp::current()
}

/// Maps a new kernel stack for thread slot `slot`.
fn map_stack(slot: usize) -> Result<KernelStack, KernelError> {
    let stack_slot = FIRST_THREAD_STACK_SLOT + slot as u64;
    Ok(KernelStack { slot: stack_slot, frames: memory::map_kernel_stack(stack_slot)? })
}

/// Unmaps and frees a kernel stack that no CPU uses any more.
fn free_stack(stack: KernelStack) -> Result<(), KernelError> {
    memory::unmap_kernel_stack(stack.slot, stack.frames)
}

/// Creates the kernel page tables under the whole thread-stack area once, at boot: mapping
/// and unmapping one page in every 2 MiB of it leaves the tables in place (unmapping never
/// frees tables). Thread creation then never allocates page tables, and a spawn-and-reap
/// cycle returns exactly the frames it took.
fn prepare_stack_tables() -> Result<(), KernelError> {
    const SPAN: u64 = 2 << 20;
    let (first, _) = layout::kernel_stack(FIRST_THREAD_STACK_SLOT);
    let (_, end) = layout::kernel_stack(FIRST_THREAD_STACK_SLOT + MAX_THREADS as u64 - 1);
    let frame = memory::allocate_zeroed_frame()?;
    let mut tables = memory::UserTableFrames { used: 0 };
    let mut va = first & !(SPAN - 1);
    let mut result = Ok(());
    while va < end && result.is_ok() {
        // The page at `va` may be a guard page: it is mapped only for this instant.
        result =
            arch::kernel_map(VirtAddr(va), frame, kernel_core::addr::PAGE_SIZE, MapAttrs::KERNEL_DATA, &mut tables)
                .and_then(|()| arch::kernel_unmap(VirtAddr(va), kernel_core::addr::PAGE_SIZE));
        va += SPAN;
    }
    memory::free_frame(frame)?;
    Ok(result?)
}

/// The idle thread of a CPU: the code that started the CPU, on its boot stack.
fn idle_thread(cpu: usize) -> Box<Thread> {
    Box::new(Thread {
        context: UnsafeCell::new(arch::Context::default()),
        fp: UnsafeCell::new(arch::FpState::new()),
        root: memory::kernel_root(),
        stack: None,
        owner: None,
        principal: [0; 32],
        last_cpu: AtomicUsize::new(cpu),
        kill_pending: AtomicBool::new(false),
    })
}

/// Makes the running code the idle thread of secondary CPU `index` (called once by each
/// secondary CPU, after [`init`]).
pub fn init_secondary(index: usize) -> Result<(), KernelError> {
    let thread = idle_thread(index);
    let mut guard = STATE.lock();
    let state = &mut *guard;
    if !ready(state) {
        return Err(KernelError::NotInitialised("scheduler"));
    }
    let idle = state.scheduler.add_idle(index)?;
    let slot = state.threads.get_mut(idle.slot()).ok_or(KernelError::Sched(SchedError::Corrupted))?;
    *slot = Some(thread);
    Ok(())
}

/// Makes the running boot code CPU 0's idle thread. Call once, before any other thread.
pub fn init() -> Result<(), KernelError> {
    let idle_thread = idle_thread(cpu());
    prepare_stack_tables()?;
    let mut state = STATE.lock();
    state
        .threads
        .try_reserve_exact(MAX_THREADS)
        .map_err(|_| KernelError::NotInitialised("thread table (heap full)"))?;
    state.threads.resize_with(MAX_THREADS, || None);
    let idle = state.scheduler.add_idle(cpu())?;
    let slot = state.threads.get_mut(idle.slot()).ok_or(KernelError::Sched(SchedError::Corrupted))?;
    *slot = Some(idle_thread);
    Ok(())
}

/// True once [`init`] ran (the thread table exists).
fn ready(state: &State) -> bool {
    !state.threads.is_empty()
}

/// What a new user thread runs and where.
pub struct ThreadSpec {
    /// The process it belongs to and that process's Principal.
    pub owner: process::Pid,
    pub principal: [u8; 32],
    /// Its address space.
    pub root: PhysAddr,
    /// Where it enters user mode, with which stack pointer.
    pub entry: u64,
    pub user_sp: u64,
    pub priority: Priority,
    /// The CPUs it may run on (from the manifest; every CPU by default).
    pub affinity: CpuSet,
}

/// Creates a user thread, ready to run on the least loaded online CPU its affinity allows.
pub fn spawn_user_thread(spec: &ThreadSpec) -> Result<ThreadId, KernelError> {
    let ThreadSpec { owner, principal, root, entry, user_sp, priority, affinity } = *spec;
    let placed = {
        let mut guard = STATE.lock();
        let state = &mut *guard;
        if !ready(state) {
            return Err(KernelError::NotInitialised("scheduler"));
        }
        let target = state.scheduler.place(affinity)?;
        let id = state.scheduler.create_with_affinity(priority, target, affinity)?;
        create_thread(state, id, owner, principal, root, entry, user_sp).map(|id| (id, target))
    };
    let (id, target) = placed?;
    smp::kick(target);
    Ok(id)
}

/// Fills in the machine state of the scheduler thread `id` (undoing it on failure).
fn create_thread(
    state: &mut State,
    id: ThreadId,
    owner: process::Pid,
    principal: [u8; 32],
    root: PhysAddr,
    entry: u64,
    user_sp: u64,
) -> Result<ThreadId, KernelError> {
    let made = map_stack(id.slot()).map(|stack| {
        // SAFETY: the stack was just mapped for this thread alone; its top is slot-aligned.
        let context = unsafe { arch::init_thread_stack(stack.top(), entry, user_sp) };
        Box::new(Thread {
            context: UnsafeCell::new(context),
            fp: UnsafeCell::new(arch::FpState::new()),
            root,
            stack: Some(stack),
            owner: Some(owner),
            principal,
            last_cpu: AtomicUsize::new(0),
            kill_pending: AtomicBool::new(false),
        })
    });
    match made {
        Ok(thread) => {
            if let Some(slot) = state.threads.get_mut(id.slot()) {
                *slot = Some(thread);
                return Ok(id);
            }
            Err(KernelError::Sched(SchedError::Corrupted))
        }
        Err(e) => {
            // Undo the scheduler slot: a thread that never ran exits at once.
            let _ = state.scheduler.discard(id);
            Err(e)
        }
    }
}

/// The timer tick of this CPU: wakes its sleepers and notes whether the running thread
/// should be preempted. The boot CPU also balances the run queues: at most one ready
/// thread moves per tick, and the CPU it moves to is kicked.
pub fn on_tick() {
    let now = time::uptime_ns();
    let here = cpu();
    let (reschedule, migration) = {
        let mut state = STATE.lock();
        let reschedule = state.scheduler.tick(here, now).is_ok_and(|o| o.reschedule);
        let migration = if here == 0 { state.scheduler.balance().ok().flatten() } else { None };
        (reschedule, migration)
    };
    if reschedule {
        smp::request_local_reschedule();
    }
    if let Some(m) = migration {
        smp::kick(m.to);
    }
}

/// Called at the end of an interrupt handler (interrupts masked): switches if the tick or
/// another CPU asked, and ends the running thread if its process was killed meanwhile.
pub fn preempt_point() {
    if smp::take_reschedule_request() {
        reschedule();
    }
    end_if_killed();
}

/// Kill requests not yet carried out (a fast check before the thread table is looked at).
static PENDING_KILLS: AtomicUsize = AtomicUsize::new(0);

/// True when the running thread was asked to end by another CPU.
pub fn kill_pending() -> bool {
    if PENDING_KILLS.load(Ordering::Acquire) == 0 {
        return false;
    }
    let state = STATE.lock();
    state
        .scheduler
        .current(cpu())
        .ok()
        .and_then(|id| state.threads.get(id.slot())?.as_ref())
        .is_some_and(|t| t.kill_pending.load(Ordering::Relaxed))
}

/// Ends the running thread's process if another CPU killed it while it ran.
fn end_if_killed() {
    if kill_pending() {
        process::exit_current(cambios_abi::syscall::ExitStatus::Killed);
    }
}

/// Called by the idle loop with interrupts masked: runs ready threads, if any.
pub fn run_ready() {
    if has_ready() {
        reschedule();
    }
}

/// True when a thread other than the idle thread could run (the idle loop sleeps otherwise).
pub fn has_ready() -> bool {
    STATE.lock().scheduler.needs_reschedule(cpu()).unwrap_or(false)
}

/// Switches to the thread the scheduler picks, if it picks another one. Interrupts must be
/// masked and no lock held. Returns when this thread runs again.
pub fn reschedule() {
    let pointers = {
        let mut guard = STATE.lock();
        let state = &mut *guard;
        let here = cpu();
        // A thread that blocks after another CPU asked it to end is kept runnable, so it
        // reaches `end_if_killed` below instead of sleeping for ever.
        if let Ok(current) = state.scheduler.current(here)
            && matches!(state.scheduler.state(current), Ok(ThreadState::Blocked(_)))
            && state
                .threads
                .get(current.slot())
                .and_then(|t| t.as_ref())
                .is_some_and(|t| t.kill_pending.load(Ordering::Relaxed))
        {
            let _ = state.scheduler.wake(current);
        }
        let switch = match state.scheduler.schedule(here) {
            Ok(Some(s)) => s,
            Ok(None) => {
                // No switch: a killed thread kept runnable above still ends here.
                drop(guard);
                end_if_killed();
                return;
            }
            Err(e) => {
                kerror!("[sched] cannot schedule: {}", e.as_str());
                return;
            }
        };
        let from = state.threads.get(switch.from.slot()).and_then(|t| t.as_ref()).map(|t| &**t as *const Thread);
        let to = state.threads.get(switch.to.slot()).and_then(|t| t.as_ref()).map(|t| {
            t.last_cpu.store(here, Ordering::Relaxed);
            &**t as *const Thread
        });
        match (from, to) {
            (Some(from), Some(to)) => (from, to),
            _ => {
                kerror!("[sched] switch {} -> {} names a missing thread", switch.from, switch.to);
                return;
            }
        }
    };
    let (from, to) = pointers;
    // SAFETY: both threads are boxed in the table and are only freed by `reap` after their
    // CPU confirmed the switch away (`switch_done`; a kill during a switch waits for it too):
    // `from` is running here, `to` is the thread the scheduler just made current on this CPU.
    // Their `context` and `fp` cells are touched only by the CPU switching from or to them:
    // `from` cannot be picked by any CPU before this CPU's `switch_done`, and `to` was saved
    // by a CPU whose `switch_done` (under the scheduler lock this CPU took since) came first.
    // Interrupts are masked, so nothing else on this CPU runs until the switch completes.
    unsafe {
        arch::fp_save(&mut *(*from).fp.get());
        arch::fp_restore(&*(*to).fp.get());
        if let Some(stack) = &(*to).stack {
            arch::set_kernel_stack(stack.top());
        }
        arch::activate_root((*to).root);
        arch::switch_context(&mut *(*from).context.get(), &*(*to).context.get());
    }
    after_switch();
    end_if_killed();
}

/// Completes a switch on the incoming thread: confirms it to the scheduler and reclaims
/// threads that have exited and been switched away from.
pub fn after_switch() {
    let reapable = {
        let mut state = STATE.lock();
        let _ = state.scheduler.switch_done(cpu());
        state.scheduler.reapable()
    };
    if reapable > 0 {
        reap();
    }
}

/// Frees threads that have exited and that no CPU runs any more (on any CPU's list): their
/// kernel stacks, their scheduler slots, and (through the process table) their address
/// spaces.
pub fn reap() {
    // Bounded: at most MAX_THREADS threads can be waiting to be reaped.
    for _ in 0..MAX_THREADS {
        let next = {
            let mut guard = STATE.lock();
            let state = &mut *guard;
            let mut found = None;
            for c in 0..MAX_CPUS {
                if let Ok(Some((id, _code))) = state.scheduler.take_reapable(c) {
                    found = state.threads.get_mut(id.slot()).and_then(Option::take).map(|t| (t, id));
                    break;
                }
            }
            found
        };
        let Some((thread, id)) = next else { break };
        let Thread { stack, owner, kill_pending, .. } = *thread;
        if kill_pending.into_inner() {
            PENDING_KILLS.fetch_sub(1, Ordering::Release);
        }
        if let Some(stack) = stack
            && let Err(e) = free_stack(stack)
        {
            kerror!("[sched] thread {id}: kernel stack not freed: {e}");
        }
        // Only now may the slot (and with it the kernel-stack slot) be reused.
        let _ = STATE.lock().scheduler.release(id);
        if let Some(pid) = owner {
            process::thread_reaped(pid);
        }
    }
}

/// What [`request_kill`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillOutcome {
    /// The thread was not running: it ended at once and [`reap`] frees it.
    Ended,
    /// The thread is running on another CPU, which was interrupted: the thread ends its
    /// process itself at its next preemption point.
    Pending,
}

/// Ends a thread on behalf of another (the `kill` path).
pub fn request_kill(id: ThreadId) -> Result<KillOutcome, KernelError> {
    let target = {
        let mut guard = STATE.lock();
        let state = &mut *guard;
        match state.scheduler.terminate(id, 0) {
            Ok(()) => return Ok(KillOutcome::Ended),
            Err(SchedError::ThreadRunning) => {}
            Err(e) => return Err(e.into()),
        }
        let thread = state.threads.get(id.slot()).and_then(|t| t.as_ref());
        let thread = thread.ok_or(KernelError::Sched(SchedError::Corrupted))?;
        if !thread.kill_pending.swap(true, Ordering::Relaxed) {
            PENDING_KILLS.fetch_add(1, Ordering::Release);
        }
        state.scheduler.cpu_of(id)?
    };
    smp::kick(target);
    Ok(KillOutcome::Pending)
}

/// The CPU a process's thread last ran on.
pub fn last_cpu(id: ThreadId) -> Option<usize> {
    let state = STATE.lock();
    state.threads.get(id.slot())?.as_ref().map(|t| t.last_cpu.load(Ordering::Relaxed))
}

/// The running thread's process and its Principal, if it is a user thread.
pub fn current_identity() -> Option<(process::Pid, [u8; 32])> {
    let state = STATE.lock();
    let id = state.scheduler.current(cpu()).ok()?;
    let thread = state.threads.get(id.slot())?.as_ref()?;
    thread.owner.map(|pid| (pid, thread.principal))
}

/// The running thread's process, if it is a user thread.
pub fn current_owner() -> Option<process::Pid> {
    let state = STATE.lock();
    let id = state.scheduler.current(cpu()).ok()?;
    state.threads.get(id.slot())?.as_ref()?.owner
}

/// The running thread.
pub fn current_thread() -> Result<ThreadId, KernelError> {
    Ok(STATE.lock().scheduler.current(cpu())?)
}

/// Gives up the rest of the quantum (interrupts masked).
pub fn yield_now() {
    // A yield that finds nobody else ready just continues.
    let _ = STATE.lock().scheduler.expire_quantum(cpu());
    reschedule();
}

/// Blocks the running thread for `reason` until woken or until `deadline` (nanoseconds of
/// uptime), then returns why it woke (interrupts masked, no lock held).
pub fn block(reason: BlockReason, deadline: Option<u64>) -> Result<WakeCause, KernelError> {
    let id = STATE.lock().scheduler.block_current(cpu(), reason, deadline)?;
    reschedule();
    Ok(STATE.lock().scheduler.wake_cause(id)?.unwrap_or(WakeCause::Woken))
}

/// Marks the running thread blocked while the caller holds a lock that orders the wakeup;
/// the caller then drops its lock and calls [`reschedule`].
pub fn block_current_deferred(reason: BlockReason) -> Result<ThreadId, KernelError> {
    block_current_until(reason, None)
}

/// Like [`block_current_deferred`], with an optional deadline (nanoseconds of uptime); after
/// [`reschedule`] returns, [`woke_by_timeout`] says which happened.
pub fn block_current_until(reason: BlockReason, deadline: Option<u64>) -> Result<ThreadId, KernelError> {
    Ok(STATE.lock().scheduler.block_current(cpu(), reason, deadline)?)
}

/// True when the thread's last wakeup was its deadline passing.
pub fn woke_by_timeout(id: ThreadId) -> bool {
    matches!(STATE.lock().scheduler.wake_cause(id), Ok(Some(WakeCause::TimedOut)))
}

/// Wakes a blocked thread; false if it was not blocked. A thread that belongs to another
/// CPU is woken there by a reschedule interrupt.
pub fn wake(id: ThreadId) -> bool {
    let target = {
        let mut state = STATE.lock();
        match state.scheduler.wake(id) {
            Ok(true) => state.scheduler.cpu_of(id).ok(),
            _ => return false,
        }
    };
    if let Some(c) = target
        && c != cpu()
    {
        smp::kick(c);
    }
    true
}

/// Ends the running thread (its process has recorded why) and switches away for good.
pub fn exit_current() -> ! {
    let exited = STATE.lock().scheduler.exit_current(cpu(), 0);
    if let Err(e) = exited {
        kerror!("[sched] exit: {}", e.as_str());
    }
    reschedule();
    // Only reachable if the scheduler refused the exit: nothing sensible can continue.
    kerror!("[sched] an exited thread was resumed");
    crate::trap::stop()
}

/// Ready, blocked and exited thread counts of `cpu`, for the monitor and `cpu_list`.
pub fn counts(cpu: usize) -> Option<kernel_core::sched::CpuCounts> {
    STATE.lock().scheduler.counts(cpu).ok()
}
