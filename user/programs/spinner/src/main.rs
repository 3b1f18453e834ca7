// SPDX-License-Identifier: AGPL-3.0-or-later
//! `spinner`: never yields and never sleeps. It runs [`ROUNDS`] rounds of integer busy work
//! ([`ITERATIONS_PER_ROUND`] iterations each, a few seconds in all under QEMU TCG), so the kernel
//! must preempt it, and checks that its FP/SIMD registers survive: each round loads a pattern
//! that depends on the pid, the round and the register into every FP/SIMD register (x86_64
//! xmm0-15, AArch64 v0-v31, RISC-V f0-f31), spins, then stores the registers back to memory,
//! all in one `asm!` block so the compiler cannot use those registers in between.
//!
//! Output: `[spinner <pid>] round <i>` after each round, then `[spinner <pid>] done, fp state
//! intact` (exit 0), or `[spinner <pid>] FP STATE CORRUPTED` (exit 3).
#![no_std]
#![no_main]

use libsys::{println, sys};

libsys::entry!(main);

/// Rounds of busy work.
const ROUNDS: u32 = 6;
/// Busy-loop iterations per round (five cheap integer instructions each: about 0.1-0.5 s per
/// round under QEMU TCG, i.e. many time slices).
const ITERATIONS_PER_ROUND: u64 = 20_000_000;

/// The FP/SIMD register file as stored to memory: 512 bytes (x86_64 uses the first 256).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(16))]
struct FpRegs([u64; 64]);

impl FpRegs {
    /// A pattern no two (pid, round, word) share, never zero.
    fn pattern(pid: u32, round: u32) -> FpRegs {
        let mut words = [0u64; 64];
        for (i, w) in words.iter_mut().enumerate() {
            let mut x = (u64::from(pid) << 40) ^ (u64::from(round) << 32) ^ (i as u64);
            // splitmix64 finaliser
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            *w = (x ^ (x >> 31)) | 1;
        }
        FpRegs(words)
    }
}

fn main() -> i32 {
    let pid = sys::pid().map_or(0, |p| p.0);
    for round in 1..=ROUNDS {
        let pattern = FpRegs::pattern(pid, round);
        let mut seen = FpRegs([0; 64]);
        let acc = spin_with_fp_loaded(&pattern, &mut seen, ITERATIONS_PER_ROUND);
        core::hint::black_box(acc);
        let used = FP_WORDS;
        if seen.0.get(..used) != pattern.0.get(..used) {
            println!("[spinner {pid}] FP STATE CORRUPTED");
            return 3;
        }
        println!("[spinner {pid}] round {round}");
    }
    println!("[spinner {pid}] done, fp state intact");
    0
}

/// 64-bit words of FP/SIMD state checked: 16 x 128 bits.
#[cfg(target_arch = "x86_64")]
const FP_WORDS: usize = 32;

/// Loads `src` into xmm0-15, spins `iterations` times, stores xmm0-15 to `dst`.
///
/// x86_64-unknown-none is a soft-float target: the compiler never uses the SSE registers (and
/// cannot even name them as clobbers), so their contents belong to this asm block alone.
#[cfg(target_arch = "x86_64")]
fn spin_with_fp_loaded(src: &FpRegs, dst: &mut FpRegs, iterations: u64) -> u64 {
    let mut acc: u64 = 0;
    // SAFETY: reads 256 bytes from `src` and writes 256 bytes to `dst`, both 512-byte buffers
    // borrowed for the call; uses only the declared GPR operands and the SSE registers, which no
    // compiler-generated code on this target uses.
    unsafe {
        core::arch::asm!(
            "movdqu xmm0, [{src} + 0]",
            "movdqu xmm1, [{src} + 16]",
            "movdqu xmm2, [{src} + 32]",
            "movdqu xmm3, [{src} + 48]",
            "movdqu xmm4, [{src} + 64]",
            "movdqu xmm5, [{src} + 80]",
            "movdqu xmm6, [{src} + 96]",
            "movdqu xmm7, [{src} + 112]",
            "movdqu xmm8, [{src} + 128]",
            "movdqu xmm9, [{src} + 144]",
            "movdqu xmm10, [{src} + 160]",
            "movdqu xmm11, [{src} + 176]",
            "movdqu xmm12, [{src} + 192]",
            "movdqu xmm13, [{src} + 208]",
            "movdqu xmm14, [{src} + 224]",
            "movdqu xmm15, [{src} + 240]",
            "2:",
            "add {acc}, {cnt}",
            "rol {acc}, 7",
            "xor {acc}, {cnt}",
            "dec {cnt}",
            "jnz 2b",
            "movdqu [{dst} + 0], xmm0",
            "movdqu [{dst} + 16], xmm1",
            "movdqu [{dst} + 32], xmm2",
            "movdqu [{dst} + 48], xmm3",
            "movdqu [{dst} + 64], xmm4",
            "movdqu [{dst} + 80], xmm5",
            "movdqu [{dst} + 96], xmm6",
            "movdqu [{dst} + 112], xmm7",
            "movdqu [{dst} + 128], xmm8",
            "movdqu [{dst} + 144], xmm9",
            "movdqu [{dst} + 160], xmm10",
            "movdqu [{dst} + 176], xmm11",
            "movdqu [{dst} + 192], xmm12",
            "movdqu [{dst} + 208], xmm13",
            "movdqu [{dst} + 224], xmm14",
            "movdqu [{dst} + 240], xmm15",
            src = in(reg) src.0.as_ptr(),
            dst = in(reg) dst.0.as_mut_ptr(),
            cnt = inout(reg) iterations => _,
            acc = inout(reg) acc,
            options(nostack),
        );
    }
    acc
}

/// 64-bit words of FP/SIMD state checked: 32 x 128 bits.
#[cfg(target_arch = "aarch64")]
const FP_WORDS: usize = 64;

/// Loads `src` into v0-v31, spins `iterations` times, stores v0-v31 to `dst`.
#[cfg(target_arch = "aarch64")]
fn spin_with_fp_loaded(src: &FpRegs, dst: &mut FpRegs, iterations: u64) -> u64 {
    let mut acc: u64 = 0;
    // SAFETY: reads 512 bytes from `src` and writes 512 bytes to `dst`, both 512-byte buffers
    // borrowed for the call; every vector register it changes is declared clobbered.
    unsafe {
        core::arch::asm!(
            "ldp q0, q1, [{src}, #0]",
            "ldp q2, q3, [{src}, #32]",
            "ldp q4, q5, [{src}, #64]",
            "ldp q6, q7, [{src}, #96]",
            "ldp q8, q9, [{src}, #128]",
            "ldp q10, q11, [{src}, #160]",
            "ldp q12, q13, [{src}, #192]",
            "ldp q14, q15, [{src}, #224]",
            "ldp q16, q17, [{src}, #256]",
            "ldp q18, q19, [{src}, #288]",
            "ldp q20, q21, [{src}, #320]",
            "ldp q22, q23, [{src}, #352]",
            "ldp q24, q25, [{src}, #384]",
            "ldp q26, q27, [{src}, #416]",
            "ldp q28, q29, [{src}, #448]",
            "ldp q30, q31, [{src}, #480]",
            "2:",
            "add {acc}, {acc}, {cnt}",
            "ror {acc}, {acc}, #57",
            "eor {acc}, {acc}, {cnt}",
            "subs {cnt}, {cnt}, #1",
            "b.ne 2b",
            "stp q0, q1, [{dst}, #0]",
            "stp q2, q3, [{dst}, #32]",
            "stp q4, q5, [{dst}, #64]",
            "stp q6, q7, [{dst}, #96]",
            "stp q8, q9, [{dst}, #128]",
            "stp q10, q11, [{dst}, #160]",
            "stp q12, q13, [{dst}, #192]",
            "stp q14, q15, [{dst}, #224]",
            "stp q16, q17, [{dst}, #256]",
            "stp q18, q19, [{dst}, #288]",
            "stp q20, q21, [{dst}, #320]",
            "stp q22, q23, [{dst}, #352]",
            "stp q24, q25, [{dst}, #384]",
            "stp q26, q27, [{dst}, #416]",
            "stp q28, q29, [{dst}, #448]",
            "stp q30, q31, [{dst}, #480]",
            src = in(reg) src.0.as_ptr(),
            dst = in(reg) dst.0.as_mut_ptr(),
            cnt = inout(reg) iterations => _,
            acc = inout(reg) acc,
            out("v0") _,
            out("v1") _,
            out("v2") _,
            out("v3") _,
            out("v4") _,
            out("v5") _,
            out("v6") _,
            out("v7") _,
            out("v8") _,
            out("v9") _,
            out("v10") _,
            out("v11") _,
            out("v12") _,
            out("v13") _,
            out("v14") _,
            out("v15") _,
            out("v16") _,
            out("v17") _,
            out("v18") _,
            out("v19") _,
            out("v20") _,
            out("v21") _,
            out("v22") _,
            out("v23") _,
            out("v24") _,
            out("v25") _,
            out("v26") _,
            out("v27") _,
            out("v28") _,
            out("v29") _,
            out("v30") _,
            out("v31") _,
            options(nostack),
        );
    }
    acc
}

/// 64-bit words of FP state checked: 32 x 64 bits.
#[cfg(target_arch = "riscv64")]
const FP_WORDS: usize = 32;

/// Loads `src` into f0-f31, spins `iterations` times, stores f0-f31 to `dst`.
#[cfg(target_arch = "riscv64")]
fn spin_with_fp_loaded(src: &FpRegs, dst: &mut FpRegs, iterations: u64) -> u64 {
    let mut acc: u64 = 0;
    // SAFETY: reads 256 bytes from `src` and writes 256 bytes to `dst`, both 512-byte buffers
    // borrowed for the call; every FP register it changes is declared clobbered.
    unsafe {
        core::arch::asm!(
            "fld f0, 0({src})",
            "fld f1, 8({src})",
            "fld f2, 16({src})",
            "fld f3, 24({src})",
            "fld f4, 32({src})",
            "fld f5, 40({src})",
            "fld f6, 48({src})",
            "fld f7, 56({src})",
            "fld f8, 64({src})",
            "fld f9, 72({src})",
            "fld f10, 80({src})",
            "fld f11, 88({src})",
            "fld f12, 96({src})",
            "fld f13, 104({src})",
            "fld f14, 112({src})",
            "fld f15, 120({src})",
            "fld f16, 128({src})",
            "fld f17, 136({src})",
            "fld f18, 144({src})",
            "fld f19, 152({src})",
            "fld f20, 160({src})",
            "fld f21, 168({src})",
            "fld f22, 176({src})",
            "fld f23, 184({src})",
            "fld f24, 192({src})",
            "fld f25, 200({src})",
            "fld f26, 208({src})",
            "fld f27, 216({src})",
            "fld f28, 224({src})",
            "fld f29, 232({src})",
            "fld f30, 240({src})",
            "fld f31, 248({src})",
            "2:",
            "add {acc}, {acc}, {cnt}",
            "slli {tmp}, {acc}, 7",
            "xor {acc}, {acc}, {tmp}",
            "addi {cnt}, {cnt}, -1",
            "bnez {cnt}, 2b",
            "fsd f0, 0({dst})",
            "fsd f1, 8({dst})",
            "fsd f2, 16({dst})",
            "fsd f3, 24({dst})",
            "fsd f4, 32({dst})",
            "fsd f5, 40({dst})",
            "fsd f6, 48({dst})",
            "fsd f7, 56({dst})",
            "fsd f8, 64({dst})",
            "fsd f9, 72({dst})",
            "fsd f10, 80({dst})",
            "fsd f11, 88({dst})",
            "fsd f12, 96({dst})",
            "fsd f13, 104({dst})",
            "fsd f14, 112({dst})",
            "fsd f15, 120({dst})",
            "fsd f16, 128({dst})",
            "fsd f17, 136({dst})",
            "fsd f18, 144({dst})",
            "fsd f19, 152({dst})",
            "fsd f20, 160({dst})",
            "fsd f21, 168({dst})",
            "fsd f22, 176({dst})",
            "fsd f23, 184({dst})",
            "fsd f24, 192({dst})",
            "fsd f25, 200({dst})",
            "fsd f26, 208({dst})",
            "fsd f27, 216({dst})",
            "fsd f28, 224({dst})",
            "fsd f29, 232({dst})",
            "fsd f30, 240({dst})",
            "fsd f31, 248({dst})",
            src = in(reg) src.0.as_ptr(),
            dst = in(reg) dst.0.as_mut_ptr(),
            cnt = inout(reg) iterations => _,
            acc = inout(reg) acc,
            tmp = out(reg) _,
            out("f0") _,
            out("f1") _,
            out("f2") _,
            out("f3") _,
            out("f4") _,
            out("f5") _,
            out("f6") _,
            out("f7") _,
            out("f8") _,
            out("f9") _,
            out("f10") _,
            out("f11") _,
            out("f12") _,
            out("f13") _,
            out("f14") _,
            out("f15") _,
            out("f16") _,
            out("f17") _,
            out("f18") _,
            out("f19") _,
            out("f20") _,
            out("f21") _,
            out("f22") _,
            out("f23") _,
            out("f24") _,
            out("f25") _,
            out("f26") _,
            out("f27") _,
            out("f28") _,
            out("f29") _,
            out("f30") _,
            out("f31") _,
            options(nostack),
        );
    }
    acc
}
