// SPDX-License-Identifier: AGPL-3.0-or-later
//! `cargo xtask`: the CambiOS build, run and test harness (host tool).
//!
//! `cargo xtask help` lists the commands. Each lives in its own module: [`build`] and
//! [`image`] (kernel and boot image), [`initrd`], [`qemu`] (command lines and processes),
//! [`test`] (the QEMU test matrix) with [`logcheck`] (the boot-log checker), [`checkall`],
//! [`stats`], [`doctor`], [`grub`] and [`bench`]; [`user`] builds the user programs.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

mod bench;
mod build;
mod checkall;
mod cli;
mod doctor;
mod grub;
mod headers;
mod hostpipe;
mod image;
mod initrd;
mod logcheck;
mod qemu;
mod services;
mod stats;
mod test;
mod user;
mod util;

use std::io::IsTerminal;
use std::process::ExitCode;

use cambios_abi::exit::ExitCode as KernelExit;

use crate::cli::{Command, RunOpts};
use crate::qemu::{Boot, Console, Ending, Machine};
use crate::util::{Color, Result, bail, display_path, paint, status};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("{} {e}", paint("error:", Color::Red, true));
            return ExitCode::from(2);
        }
    };
    match dispatch(&command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{} {e}", paint("error:", Color::Red, true));
            ExitCode::FAILURE
        }
    }
}

fn success_if(ok: bool) -> ExitCode {
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn dispatch(command: &Command) -> Result<ExitCode> {
    match command {
        Command::Help => {
            print!("{}", cli::HELP);
            Ok(ExitCode::SUCCESS)
        }
        Command::Build(opts) => {
            let kernel = build::build(opts)?;
            status("Finished", format!("boot image {}", display_path(&kernel.boot_image)));
            Ok(ExitCode::SUCCESS)
        }
        Command::Initrd(opts) => {
            initrd::build(opts.arch, &boot_services(&opts.extra_modules)?, opts.release, "initrd.img")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::User(opts) => {
            let programs = user::build_user(opts.arch, opts.release)?;
            for program in &programs {
                let size = std::fs::metadata(&program.elf).map(|m| m.len()).unwrap_or(0);
                println!("{:<20} {:>10}  {}", program.name, util::human_size(size), display_path(&program.elf));
            }
            status(
                "Finished",
                format!("{} user programs in {}", programs.len(), display_path(&user::output_dir(opts.arch))),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(opts) => run(opts),
        Command::Test(opts) => Ok(success_if(test::run(opts)?)),
        Command::CheckAll => Ok(success_if(checkall::command())),
        Command::Stats => {
            stats::command()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor => Ok(success_if(doctor::command())),
        Command::Bench(opts) => Ok(success_if(bench::command(opts)?)),
        Command::PipeEcho => hostpipe::echo().map(|()| ExitCode::SUCCESS),
        Command::GrubIso(opts) => {
            grub::command(opts)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The default boot services (`boot/services.toml`) plus the `EXTRA_MODULES` files, which go
/// in unchanged.
pub fn boot_services(extra: &[std::path::PathBuf]) -> Result<Vec<services::Service>> {
    let mut all = services::load_default()?;
    all.extend(services::extra_services(extra)?);
    Ok(all)
}

/// `cargo xtask run`: build, pack the initrd, boot QEMU on this terminal (or pipe).
fn run(opts: &RunOpts) -> Result<ExitCode> {
    let arch = opts.build.arch;
    if opts.no_initrd && !opts.extra_modules.is_empty() {
        bail!("--extra-modules puts files in the initrd, so it cannot be used with --no-initrd");
    }
    let kernel = build::build(&opts.build)?;
    let initrd = if opts.no_initrd {
        None
    } else {
        Some(initrd::build(arch, &boot_services(&opts.extra_modules)?, opts.build.release, "initrd.img")?.path)
    };
    let console = if std::io::stdin().is_terminal() { Console::Terminal } else { Console::Pipe };
    let machine = Machine {
        arch,
        smp: opts.smp,
        mem_mib: opts.mem_mib,
        boot: Boot::Direct {
            kernel: kernel.boot_image.clone(),
            initrd,
            cmdline: qemu::cmdline(arch, &[opts.append.as_deref().unwrap_or("")]),
        },
        console,
        gdb: opts.gdb,
        overrides: qemu::Overrides::default(),
    };
    status("Running", machine.display());
    if console == Console::Terminal {
        eprintln!("{:12} Press Ctrl-A X to quit QEMU (Ctrl-A C switches to the QEMU monitor)", "");
    }
    if opts.gdb {
        eprintln!(
            "{:12} QEMU waits for a debugger: gdb-multiarch {} -ex \"target remote :1234\"",
            "",
            display_path(&kernel.elf)
        );
    }
    let exit = match console {
        Console::Terminal => qemu::run_attached(&machine)?,
        Console::Pipe => qemu::run_relayed(&machine)?,
    };
    Ok(match qemu::ending(arch, exit) {
        Ending::Kernel(KernelExit::Success) => ExitCode::SUCCESS,
        Ending::Kernel(KernelExit::Failure) => {
            let code = exit.code().unwrap_or(1);
            eprintln!("{} the kernel reported failure (QEMU status {code:#x})", paint("error:", Color::Red, true));
            ExitCode::FAILURE
        }
        // QEMU quit without a kernel exit code (Ctrl-A X, or the monitor's `quit`).
        Ending::Other(Some(0)) => ExitCode::SUCCESS,
        Ending::Other(Some(code)) => {
            eprintln!("{} QEMU exited with status {code}", paint("error:", Color::Red, true));
            ExitCode::from(u8::try_from(code).ok().filter(|c| *c != 0).unwrap_or(1))
        }
        Ending::Other(None) => {
            eprintln!("{} QEMU was killed ({})", paint("error:", Color::Red, true), util::describe_status(exit));
            ExitCode::FAILURE
        }
    })
}
