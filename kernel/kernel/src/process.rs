// SPDX-License-Identifier: AGPL-3.0-or-later
//! Processes: an address space, a Principal, a capability set and one thread.
//!
//! The process table (lock rank `Processes`, taken before `Scheduler`) owns every process's
//! address space: its root page table and its [`RegionList`]. A process is created only from a
//! verified image ([`create`]); it is bound at creation to the Principal and the capabilities
//! of its manifest entry and never changes them.
//!
//! Lifecycle, as an explicit state machine ([`Life`]):
//!
//! | state | meaning | next |
//! |---|---|---|
//! | `Running` | its thread exists | `Exited` (exit or fatal fault) |
//! | `Exited { released: false }` | thread ended, the CPU may still be on its tables; a waiting parent keeps waiting | `Exited { released: true }` when the thread is reaped and its memory freed |
//! | `Exited { released: true }` | zombie: only the exit status is left | removed when the parent waits (or at once without a parent) |

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;

use cambios_abi::audit::EventKind;
use cambios_abi::cap::{CapSet, Capability};
use cambios_abi::error::SysError;
use cambios_abi::ipc::{CapKind, CapRecord};
use cambios_abi::layout::{USER_END, USER_STACK_SIZE, USER_STACK_TOP, USER_START};
use cambios_abi::syscall::{ExitStatus, ProcRecord};
use kernel_core::addr::{PAGE_SIZE, PhysAddr, VirtAddr};
use kernel_core::cap::CapTable;
use kernel_core::paging::{MapAttrs, MemoryType};
use kernel_core::sched::{BlockReason, Priority, ThreadId};
use kernel_core::sync::LockClass;
use kernel_core::uspace::{Region, RegionAccess, RegionKind, RegionList};

use crate::error::KernelError;
use crate::memory::{self, UserTableFrames};
use crate::sync::SpinLock;
use crate::{arch, layout, sched};

/// Regions one process may have (image segments, stack, anonymous mappings).
pub const MAX_REGIONS: usize = 64;
/// Processes the table holds, exit statuses not yet collected included: a parent that never
/// waits cannot fill the kernel heap with zombies (`spawn` fails with `OutOfMemory` instead).
pub const MAX_PROCESSES: usize = 512;
/// Anonymous memory one process may have mapped at once (`map_anon` beyond it: `OutOfMemory`).
pub const MAX_ANON_BYTES: u64 = 256 << 20;

/// A process id. Ids count up from 1 and are not reused while the kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(pub u32);

impl core::fmt::Display for Pid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a process is in its life (see the module table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    Running,
    Exited { status: ExitStatus, released: bool },
}

/// One loadable segment, as the verifier described it.
#[derive(Clone, Copy, Debug)]
pub struct LoadSegment<'a> {
    /// Virtual address of the first byte.
    pub vaddr: u64,
    /// Bytes in memory (the part past `file.len()` is zero).
    pub mem_size: u64,
    /// The bytes from the file.
    pub file: &'a [u8],
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
}

/// What a process is made from: a verified image and its manifest entry.
pub struct Image<'a> {
    /// The module name.
    pub name: &'a str,
    /// Entry point.
    pub entry: u64,
    /// Loadable segments (already verified: in user space, W^X, no overlaps).
    pub segments: &'a [LoadSegment<'a>],
    /// The Principal the process is bound to.
    pub principal: [u8; 32],
    /// The capabilities it holds.
    pub caps: CapSet,
    /// Its scheduling priority.
    pub priority: Priority,
    /// The CPUs its thread may run on.
    pub affinity: kernel_core::sched::CpuSet,
}

/// One process.
struct Process {
    name: String,
    principal: [u8; 32],
    caps: CapSet,
    root: PhysAddr,
    /// The address space's regions; dropped when the thread is reaped (a zombie keeps only
    /// its exit status).
    regions: Option<Box<RegionList<MAX_REGIONS>>>,
    parent: Option<Pid>,
    thread: Option<ThreadId>,
    /// The thread of this process blocked in `wait`, if any.
    waiter: Option<ThreadId>,
    life: Life,
    /// Its capability table (endpoint capabilities).
    caps_table: Box<CapTable>,
}

struct Table {
    processes: BTreeMap<Pid, Process>,
    next_pid: u32,
}

static TABLE: SpinLock<Table> = SpinLock::new(LockClass::Processes, Table { processes: BTreeMap::new(), next_pid: 1 });

/// What the monitor's `ps` shows of a process.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Its id.
    pub pid: Pid,
    /// Its module name.
    pub name: String,
    /// Its parent.
    pub parent: Option<Pid>,
    /// "running" or "exited".
    pub state: &'static str,
    /// Mapped user memory in bytes.
    pub mapped: u64,
}

/// Maps `pages` fresh zeroed frames at `start` in `root` with `attrs`; on failure unmaps and
/// frees what it mapped.
fn map_fresh(root: PhysAddr, start: u64, pages: u64, attrs: MapAttrs) -> Result<(), KernelError> {
    let mut tables = UserTableFrames { used: 0 };
    for i in 0..pages {
        let va = VirtAddr(start + i * PAGE_SIZE);
        let result = memory::allocate_zeroed_frame().and_then(|frame| {
            arch::user_map(root, va, frame, attrs, &mut tables).map_err(|e| {
                let _ = memory::free_frame(frame);
                KernelError::from(e)
            })
        });
        if let Err(e) = result {
            unmap_and_free(root, start, i);
            return Err(e);
        }
    }
    Ok(())
}

/// Unmaps `pages` pages at `start` in `root` and frees their frames.
fn unmap_and_free(root: PhysAddr, start: u64, pages: u64) {
    for i in 0..pages {
        let va = VirtAddr(start + i * PAGE_SIZE);
        if let Some(t) = arch::user_translate(root, va)
            && arch::user_unmap(root, va).is_ok()
        {
            let _ = memory::free_frame(PhysAddr(t.phys.as_u64() & !(PAGE_SIZE - 1)));
        }
    }
}

fn user_attrs(write: bool, execute: bool) -> MapAttrs {
    MapAttrs { write, execute, user: true, global: false, memory: MemoryType::Normal }
}

/// Frees everything in the user half of `root`, then the root table itself. `root` must not
/// be active on any CPU.
fn destroy_space(root: PhysAddr) {
    let mut leaves = 0u64;
    arch::user_teardown(
        root,
        &mut |frame, _level| {
            leaves += 1;
            let _ = memory::free_frame(frame);
        },
        &mut |table| {
            let _ = memory::free_frame(table);
        },
    );
    let _ = memory::free_frame(root);
}

/// Copies `image` into a new address space.
fn build_space(image: &Image<'_>) -> Result<(PhysAddr, Box<RegionList<MAX_REGIONS>>), KernelError> {
    let mut tables = UserTableFrames { used: 0 };
    let root = arch::new_user_root(&mut tables)?;
    let mut regions = Box::new(RegionList::<MAX_REGIONS>::new(USER_START, USER_END));
    match fill_space(root, &mut regions, image) {
        Ok(()) => Ok((root, regions)),
        Err(e) => {
            destroy_space(root);
            Err(e)
        }
    }
}

fn fill_space(root: PhysAddr, regions: &mut RegionList<MAX_REGIONS>, image: &Image<'_>) -> Result<(), KernelError> {
    let mut tables = UserTableFrames { used: 0 };
    // In address order (the ELF standard's order, which the page-sharing logic below needs).
    let mut sorted = [None; cambios_abi::layout::MAX_LOAD_SEGMENTS];
    for (slot, seg) in sorted.iter_mut().zip(image.segments) {
        *slot = Some(*seg);
    }
    sorted.sort_unstable_by_key(|s| s.map_or(u64::MAX, |s| s.vaddr));
    for seg in sorted.iter().flatten() {
        let first = seg.vaddr & !(PAGE_SIZE - 1);
        let end = kernel_core::addr::align_up(seg.vaddr + seg.mem_size, PAGE_SIZE)
            .ok_or(KernelError::AddressSpace("segment end"))?;
        let attrs = user_attrs(seg.write, seg.execute);
        let mut page = first;
        // Bounded by the segment size, which the verifier capped.
        while page < end {
            // A page shared with the previous segment (same permissions: the verifier checked)
            // is already mapped; reuse it.
            let frame = match arch::user_translate(root, VirtAddr(page)) {
                Some(t) => PhysAddr(t.phys.as_u64() & !(PAGE_SIZE - 1)),
                None => {
                    let frame = memory::allocate_zeroed_frame()?;
                    if let Err(e) = arch::user_map(root, VirtAddr(page), frame, attrs, &mut tables) {
                        let _ = memory::free_frame(frame);
                        return Err(e.into());
                    }
                    frame
                }
            };
            // Copy the part of the file bytes that lands in this page.
            let file_start = seg.vaddr;
            let file_end = seg.vaddr + seg.file.len() as u64;
            let lo = page.max(file_start);
            let hi = (page + PAGE_SIZE).min(file_end);
            if lo < hi {
                let src = seg
                    .file
                    .get((lo - file_start) as usize..(hi - file_start) as usize)
                    .ok_or(KernelError::AddressSpace("segment file range"))?;
                let dst = layout::phys_to_virt(PhysAddr(frame.as_u64() + (lo - page)));
                // SAFETY: `frame` is a frame of this new address space that only this code
                // touches; `lo - page + src.len() <= PAGE_SIZE`, so the copy stays inside it.
                unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
            }
            if seg.execute {
                // The frame may have held other code before: make instruction fetch see this.
                arch::sync_code(layout::phys_to_virt(frame) as u64, PAGE_SIZE);
            }
            page += PAGE_SIZE;
        }
        // Record the pages not already recorded by the previous segment.
        let recorded_end = regions.iter().map(|r| r.end()).max().unwrap_or(0);
        let start = first.max(recorded_end);
        if start < end {
            let access = match (seg.write, seg.execute) {
                (true, _) => RegionAccess::ReadWrite,
                (false, true) => RegionAccess::ReadExecute,
                (false, false) => RegionAccess::Read,
            };
            regions
                .insert(Region { start, len: end - start, kind: RegionKind::Image, access })
                .map_err(KernelError::Region)?;
        }
    }
    let stack_bottom = USER_STACK_TOP - USER_STACK_SIZE;
    map_fresh(root, stack_bottom, USER_STACK_SIZE / PAGE_SIZE, user_attrs(true, false))?;
    regions
        .insert(Region {
            start: stack_bottom,
            len: USER_STACK_SIZE,
            kind: RegionKind::Stack,
            access: RegionAccess::ReadWrite,
        })
        .map_err(KernelError::Region)?;
    Ok(())
}

/// Creates a process from a verified image, as a child of `parent`, ready to run.
/// `prepare(pid)` runs after the process is in the table and before its thread exists (no
/// lock held), so what it sets up (endpoint capabilities) is in place before any CPU can run
/// the process.
pub fn create(image: &Image<'_>, parent: Option<Pid>, prepare: impl FnOnce(Pid)) -> Result<Pid, KernelError> {
    if TABLE.lock().processes.len() >= MAX_PROCESSES {
        return Err(KernelError::AddressSpace("process table full (exit statuses not collected?)"));
    }
    let (root, regions) = build_space(image)?;
    let mut table = TABLE.lock();
    // Checked again under the lock that inserts: another CPU may have filled the table.
    if table.processes.len() >= MAX_PROCESSES {
        drop(table);
        destroy_space(root);
        return Err(KernelError::AddressSpace("process table full (exit statuses not collected?)"));
    }
    let pid = Pid(table.next_pid);
    table.next_pid = table.next_pid.checked_add(1).ok_or(KernelError::AddressSpace("process ids exhausted"))?;
    table.processes.insert(
        pid,
        Process {
            name: String::from(image.name),
            principal: image.principal,
            caps: image.caps,
            root,
            regions: Some(regions),
            parent,
            thread: None,
            waiter: None,
            life: Life::Running,
            caps_table: Box::new(CapTable::new()),
        },
    );
    drop(table);
    prepare(pid);
    let spec = sched::ThreadSpec {
        owner: pid,
        principal: image.principal,
        root,
        entry: image.entry,
        user_sp: USER_STACK_TOP,
        priority: image.priority,
        affinity: image.affinity,
    };
    // The table lock orders the thread's first syscalls after this update.
    let mut table = TABLE.lock();
    match sched::spawn_user_thread(&spec) {
        Ok(thread) => {
            if let Some(p) = table.processes.get_mut(&pid) {
                p.thread = Some(thread);
            }
        }
        Err(e) => {
            table.processes.remove(&pid);
            drop(table);
            crate::ipc::process_ended(pid, None);
            destroy_space(root);
            return Err(e);
        }
    }
    drop(table);
    crate::audit::log(EventKind::ProcessStart, pid.0, &image.principal, u64::from(parent.map_or(0, |p| p.0)), 0);
    Ok(pid)
}

/// Ends the running process with `status` and never returns. Called by `exit` and by the
/// fault path, with interrupts masked.
pub fn exit_current(status: ExitStatus) -> ! {
    if let Some(pid) = sched::current_owner() {
        let mut table = TABLE.lock();
        end_process(&mut table, pid, status);
    }
    sched::exit_current()
}

/// Records that `pid` ended with `status` (under the table lock): logs and audits it, orphans
/// its children, wakes a waiting parent. The caller ends the thread.
fn end_process(table: &mut Table, pid: Pid, status: ExitStatus) {
    let Some(p) = table.processes.get(&pid) else { return };
    let principal = p.principal;
    crate::audit::flush_denials(pid.0);
    match status {
        ExitStatus::Exited(code) => {
            kdebug!("[proc] {} (pid {pid}) exited with code {code}", p.name);
            crate::audit::log(EventKind::ProcessExit, pid.0, &principal, u64::from(code), 0);
        }
        ExitStatus::Faulted(kind) => {
            kdebug!("[proc] {} (pid {pid}) killed by a {}", p.name, kind.as_str());
            crate::audit::log(EventKind::ProcessFault, pid.0, &principal, kind as u64, 0);
        }
        ExitStatus::Killed => kdebug!("[proc] {} (pid {pid}) was killed", p.name),
    }
    // Orphan the children; the ones already gone are removed with nobody left to wait.
    let children: alloc::vec::Vec<Pid> =
        table.processes.iter().filter(|(_, p)| p.parent == Some(pid)).map(|(c, _)| *c).collect();
    for child in children {
        let remove = match table.processes.get_mut(&child) {
            Some(p) => {
                p.parent = None;
                matches!(p.life, Life::Exited { released: true, .. })
            }
            None => false,
        };
        if remove {
            table.processes.remove(&child);
        }
    }
    let parent = table.processes.get(&pid).and_then(|p| p.parent);
    if let Some(p) = table.processes.get_mut(&pid) {
        p.life = Life::Exited { status, released: false };
    }
    crate::ipc::process_ended(pid, table.processes.get(&pid).and_then(|p| p.thread));
    crate::monitor::process_ended(pid.0);
    let wake = parent.and_then(|pp| table.processes.get_mut(&pp)).and_then(|parent| parent.waiter.take());
    if let Some(w) = wake {
        sched::wake(w);
    }
}

/// Ends process `pid` on behalf of the running process (the `kill` syscall). A victim whose
/// thread is not running is terminated in place and reaped at once; one running on another
/// CPU is interrupted and ends itself there at its next preemption point (before it runs
/// another user instruction), so `kill` returns before it is gone. Killing yourself is `exit`.
pub fn kill(pid: Pid) -> Result<(), SysError> {
    let me = current_pid()?;
    if pid == me {
        exit_current(ExitStatus::Killed);
    }
    let thread = {
        let mut table = TABLE.lock();
        let victim = table.processes.get(&pid).ok_or(SysError::NotFound)?;
        if victim.life != Life::Running {
            return Err(SysError::NotFound);
        }
        let thread = victim.thread.ok_or(SysError::NotFound)?;
        let principal = victim.principal;
        // Stop the thread first: if that fails, nothing has changed.
        let outcome = sched::request_kill(thread).map_err(|_| SysError::InvalidArgument)?;
        if outcome == sched::KillOutcome::Ended {
            end_process(&mut table, pid, ExitStatus::Killed);
        }
        crate::audit::log(EventKind::ProcessKilled, pid.0, &principal, u64::from(me.0), 0);
        outcome
    };
    if thread == sched::KillOutcome::Ended {
        sched::reap();
    }
    Ok(())
}

/// One `process_list` record per process, in pid order, into `out` (returns how many).
pub fn records(out: &mut [ProcRecord]) -> usize {
    let table = TABLE.lock();
    let mut n = 0;
    for ((pid, p), slot) in table.processes.iter().zip(out.iter_mut()) {
        let mut name = [0u8; 24];
        for (o, b) in name.iter_mut().zip(p.name.bytes()) {
            *o = b;
        }
        *slot = ProcRecord {
            pid: pid.0,
            parent: p.parent.map_or(0, |pp| pp.0),
            state: if p.life == Life::Running { 0 } else { 1 },
            cpu: p.thread.and_then(sched::last_cpu).map_or(0, |c| u8::try_from(c).unwrap_or(u8::MAX)),
            principal: p.principal,
            name,
        };
        n += 1;
    }
    n
}

/// Called when the thread of `pid` has been reaped: its CPU has left its page tables, so the
/// address space is freed now.
pub fn thread_reaped(pid: Pid) {
    let root = {
        let mut table = TABLE.lock();
        let Some(p) = table.processes.get_mut(&pid) else { return };
        p.thread = None;
        p.regions = None;
        p.root
    };
    // The frames are back before a waiting parent learns the exit status (`wait`).
    destroy_space(root);
    {
        let mut table = TABLE.lock();
        let Some(p) = table.processes.get_mut(&pid) else { return };
        let (remove, parent) = match p.life {
            Life::Exited { status, released: false } => {
                p.life = Life::Exited { status, released: true };
                (p.parent.is_none(), p.parent)
            }
            Life::Running | Life::Exited { released: true, .. } => (false, None),
        };
        if remove {
            table.processes.remove(&pid);
        }
        // Woken under the table lock, which `wait` holds while it blocks.
        if let Some(w) = parent.and_then(|pp| table.processes.get_mut(&pp)).and_then(|pp| pp.waiter.take()) {
            sched::wake(w);
        }
    };
}

/// Runs `f` on the capability table of process `pid`.
pub fn with_caps<R>(pid: Pid, f: impl FnOnce(&mut CapTable) -> R) -> Result<R, SysError> {
    let mut table = TABLE.lock();
    let p = table.processes.get_mut(&pid).ok_or(SysError::InvalidArgument)?;
    Ok(f(&mut p.caps_table))
}

/// The running process's capability records (`cap_list`): endpoint capabilities, then the
/// system capabilities of its manifest entry.
pub fn cap_records(out: &mut [CapRecord]) -> Result<usize, SysError> {
    let pid = current_pid()?;
    let (endpoints, system) = {
        let table = TABLE.lock();
        let p = table.processes.get(&pid).ok_or(SysError::InvalidArgument)?;
        let mut list = [None; cambios_abi::ipc::CAP_SLOTS];
        for (slot, (s, cap)) in list.iter_mut().zip(p.caps_table.iter()) {
            *slot = Some((s, cap));
        }
        (list, p.caps)
    };
    let mut n = 0;
    let records = endpoints
        .iter()
        .flatten()
        .map(|(slot, cap)| CapRecord {
            slot: *slot,
            kind: CapKind::Endpoint as u8,
            rights: cap.rights,
            endpoint: cap.endpoint.id,
            owner: crate::ipc::owner_of(cap.endpoint.id),
        })
        .chain(system.iter().map(|c| CapRecord {
            slot: cambios_abi::ipc::NO_CAP,
            kind: CapKind::System as u8,
            rights: cambios_abi::ipc::Rights::NONE,
            endpoint: c as u32,
            owner: 0,
        }));
    for (o, r) in out.iter_mut().zip(records) {
        *o = r;
        n += 1;
    }
    Ok(n)
}

/// Runs `f` on the running process's record.
fn with_current<R>(f: impl FnOnce(Pid, &mut Process) -> Result<R, SysError>) -> Result<R, SysError> {
    let pid = sched::current_owner().ok_or(SysError::InvalidArgument)?;
    let mut table = TABLE.lock();
    let p = table.processes.get_mut(&pid).ok_or(SysError::InvalidArgument)?;
    f(pid, p)
}

/// The running process's id.
pub fn current_pid() -> Result<Pid, SysError> {
    sched::current_owner().ok_or(SysError::InvalidArgument)
}

/// Fails with `PermissionDenied` unless the running process holds `cap`.
pub fn require(cap: Capability) -> Result<(), SysError> {
    with_current(|_, p| if p.caps.contains(cap) { Ok(()) } else { Err(SysError::PermissionDenied) })
}

/// The running process's Principal (from its thread: no process-table lookup).
pub fn current_principal() -> Result<[u8; 32], SysError> {
    sched::current_identity().map(|(_, principal)| principal).ok_or(SysError::InvalidArgument)
}

/// The running process's name and id (for fault reports).
pub fn current_name() -> Option<(Pid, String)> {
    with_current(|pid, p| Ok((pid, p.name.clone()))).ok()
}

/// Copies user memory of the running process into `dst` (checked: see `crate::usercopy`).
pub fn copy_from_user(va: u64, dst: &mut [u8]) -> Result<(), SysError> {
    with_current(|_, p| crate::usercopy::copy_from(p.root, va, dst))
}

/// Copies `src` into user memory of the running process (checked: never through a read-only
/// mapping).
pub fn copy_to_user(va: u64, src: &[u8]) -> Result<(), SysError> {
    with_current(|_, p| crate::usercopy::copy_to(p.root, va, src))
}

/// Maps `len` bytes of zeroed anonymous memory into the running process.
pub fn map_anon(len: u64, write: bool) -> Result<u64, SysError> {
    with_current(|_, p| {
        let root = p.root;
        let regions = p.regions.as_mut().ok_or(SysError::InvalidArgument)?;
        let anon: u64 = regions.iter().filter(|r| r.kind == RegionKind::Anon).map(|r| r.len).sum();
        if anon.saturating_add(len) > MAX_ANON_BYTES {
            return Err(SysError::OutOfMemory);
        }
        let start = regions
            .find_free(len, cambios_abi::layout::USER_ANON_BASE, cambios_abi::layout::USER_ANON_END)
            .map_err(|_| SysError::OutOfMemory)?;
        let access = if write { RegionAccess::ReadWrite } else { RegionAccess::Read };
        regions.insert(Region { start, len, kind: RegionKind::Anon, access }).map_err(|_| SysError::OutOfMemory)?;
        if map_fresh(root, start, len / PAGE_SIZE, user_attrs(write, false)).is_err() {
            let _ = regions.remove(start, len);
            return Err(SysError::OutOfMemory);
        }
        Ok(start)
    })
}

/// Unmaps an anonymous mapping of the running process (exactly as `map_anon` returned it).
pub fn unmap(start: u64, len: u64) -> Result<(), SysError> {
    with_current(|_, p| {
        let root = p.root;
        let regions = p.regions.as_mut().ok_or(SysError::InvalidArgument)?;
        match regions.find(start) {
            Some(r) if r.kind == RegionKind::Anon && r.start == start && r.len == len => {}
            Some(_) => return Err(SysError::InvalidArgument),
            None => return Err(SysError::NotFound),
        }
        regions.remove(start, len).map_err(|_| SysError::InvalidArgument)?;
        unmap_and_free(root, start, len / PAGE_SIZE);
        Ok(())
    })
}

/// Waits for child `child` of the running process to exit and returns its status.
pub fn wait(child: Pid) -> Result<ExitStatus, SysError> {
    let me = current_pid()?;
    // Each round either returns or blocks until the child's exit wakes this thread.
    for _ in 0..u32::MAX {
        {
            let mut table = TABLE.lock();
            let (life, parent) = match table.processes.get(&child) {
                Some(c) => (c.life, c.parent),
                None => return Err(SysError::NoChild),
            };
            if parent != Some(me) {
                return Err(SysError::NoChild);
            }
            match life {
                Life::Exited { status, released: true } => {
                    table.processes.remove(&child);
                    return Ok(status);
                }
                // Exited but not yet reaped: its memory comes back first (`thread_reaped`
                // wakes us), so a parent that counts free frames sees them all.
                Life::Exited { released: false, .. } | Life::Running => {}
            }
            // Block while holding the table lock: the child's exit and its reaping take it
            // to wake us, so the wakeup cannot slip between the check and the block.
            let thread = sched::block_current_deferred(BlockReason::ChildWait(child.0))
                .map_err(|_| SysError::InvalidArgument)?;
            if let Some(p) = table.processes.get_mut(&me) {
                p.waiter = Some(thread);
            }
        }
        sched::reschedule();
    }
    Err(SysError::NoChild)
}

/// Every process, for the monitor.
pub fn list() -> alloc::vec::Vec<Summary> {
    let table = TABLE.lock();
    table
        .processes
        .iter()
        .map(|(pid, p)| Summary {
            pid: *pid,
            name: p.name.clone(),
            parent: p.parent,
            state: match p.life {
                Life::Running => "running",
                Life::Exited { .. } => "exited",
            },
            mapped: p.regions.as_ref().map_or(0, |r| r.total_bytes()),
        })
        .collect()
}
