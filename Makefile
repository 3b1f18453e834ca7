# SPDX-License-Identifier: AGPL-3.0-or-later
#
# Thin wrapper around `cargo xtask` (tools/xtask), which does the real work. Every target
# that builds, runs or tests first runs scripts/setup.sh (idempotent, silent when everything
# is installed). `make help` lists the targets and knobs.

CARGO ?= cargo
XTASK := $(CARGO) xtask
SETUP := SETUP_QUIET=1 ./scripts/setup.sh

# ---------------------------------------------------------------- knobs
ARCH ?= x86_64
SMP ?=
MEM ?=
RELEASE ?=
APPEND ?=
EXTRA_MODULES ?=
GDB ?=
NO_INITRD ?=
SELFTEST ?=
# The key that signs every user program and the boot manifest (a seed file from
# `sign-elf keygen`; default: the documented development key), and the services file
# (default boot/services.toml). xtask reads both from the environment.
SIGNING_KEY ?=
SERVICES ?=
export SIGNING_KEY SERVICES
# `make test-qemu` only: FILTER=substring of <arch>/<test>, TIMEOUT=seconds per test.
FILTER ?=
TIMEOUT ?=

RUN_FLAGS = $(if $(SMP),--smp $(SMP)) $(if $(MEM),--mem $(MEM)) \
	$(if $(filter 1,$(RELEASE)),--release) $(if $(filter 1,$(SELFTEST)),--selftest) \
	$(if $(APPEND),--append "$(APPEND)") $(if $(EXTRA_MODULES),--extra-modules $(EXTRA_MODULES)) \
	$(if $(filter 1,$(NO_INITRD)),--no-initrd) $(if $(filter 1,$(GDB)),--gdb)

# `make test-qemu` runs every architecture unless ARCH was given explicitly.
TEST_ARCH = $(if $(filter command line environment,$(origin ARCH)),$(ARCH),all)
TEST_FLAGS = --arch $(TEST_ARCH) $(if $(FILTER),--filter $(FILTER)) $(if $(TIMEOUT),--timeout $(TIMEOUT))

.DEFAULT_GOAL := help

.PHONY: help setup build run run-x86_64 run-aarch64 run-riscv64 test test-host test-qemu \
	check-all stats doctor grub-iso bench clean

help:
	@$(XTASK) help
	@echo
	@echo "MAKE TARGETS:"
	@echo "    make run            build and boot ARCH in QEMU (serial console here; Ctrl-A X quits)"
	@echo "    make run-x86_64     make run ARCH=x86_64 (also run-aarch64, run-riscv64)"
	@echo "    make test           host unit tests + QEMU boot tests, all arches (= cargo xtask test all)"
	@echo "    make test-host      host unit tests only"
	@echo "    make test-qemu      QEMU boot tests only (ARCH=..., FILTER=..., TIMEOUT=...)"
	@echo "    make build          build the kernel boot image for ARCH"
	@echo "    make check-all      clippy (-D warnings) for all targets + rustfmt --check"
	@echo "    make stats          lines of code, test and syscall counts"
	@echo "    make doctor         what this machine has (QEMU, firmware, targets, gdb, GRUB)"
	@echo "    make grub-iso       build/x86_64/cambios.iso (GRUB, Multiboot2)"
	@echo "    make bench          boot time, memory, syscall and IPC costs (guest instructions, -icount) vs host pipes, IPC scaling on 1/2/4 CPUs (RUNS=n)"
	@echo "    make setup          run scripts/setup.sh (every target above does it first)"
	@echo "    make clean          remove target/ and build/"
	@echo
	@echo "MAKE KNOBS (make run / build):"
	@echo "    ARCH=x86_64|aarch64|riscv64   architecture (default x86_64)"
	@echo "    SMP=n  MEM=256M|2G            CPUs (default 2) and RAM (default 256M)"
	@echo "    RELEASE=1                     release build"
	@echo "    APPEND=\"cambios.log=debug\"    extra kernel command line"
	@echo "    EXTRA_MODULES=a.elf,b.elf     extra modules, added unchanged (not re-signed) and started at boot"
	@echo "    SIGNING_KEY=my.key            sign with this seed file (sign-elf keygen) instead of the dev key"
	@echo "    SERVICES=my.toml              boot services file (default boot/services.toml)"
	@echo "    GDB=1                         wait for gdb on :1234"
	@echo "    NO_INITRD=1  SELFTEST=1       boot without initrd; build the self-test kernel"
	@echo
	@echo "EXAMPLES:"
	@echo "    make run ARCH=aarch64 SMP=4 MEM=1G"
	@echo "    printf 'uptime\\\\npoweroff\\\\n' | make run ARCH=riscv64"
	@echo "    make test-qemu ARCH=riscv64 FILTER=fault"

setup:
	@./scripts/setup.sh

build:
	@$(SETUP)
	@$(XTASK) build --arch $(ARCH) $(if $(filter 1,$(RELEASE)),--release) $(if $(filter 1,$(SELFTEST)),--selftest)

run:
	@$(SETUP)
	@$(XTASK) run --arch $(ARCH) $(RUN_FLAGS)

run-x86_64 run-aarch64 run-riscv64:
	@$(SETUP)
	@$(XTASK) run --arch $(@:run-%=%) $(RUN_FLAGS)

test:
	@$(SETUP)
	@$(XTASK) test all

test-host:
	@$(SETUP)
	@$(XTASK) test host

test-qemu:
	@$(SETUP)
	@$(XTASK) test qemu $(TEST_FLAGS)

check-all:
	@$(SETUP)
	@$(XTASK) check-all

stats:
	@$(SETUP)
	@$(XTASK) stats

doctor:
	@$(SETUP)
	@$(XTASK) doctor

grub-iso:
	@$(SETUP)
	@$(XTASK) grub-iso $(if $(filter 1,$(RELEASE)),--release) $(if $(filter 1,$(SELFTEST)),--selftest) \
		$(if $(APPEND),--append "$(APPEND)") $(if $(EXTRA_MODULES),--extra-modules $(EXTRA_MODULES))

# Boot time in guest instructions (QEMU -icount) and memory at the ready line. RUNS=n boots
# per architecture; ARCH= limits it to one architecture.
RUNS ?=
bench:
	@$(SETUP)
	@$(XTASK) bench --arch $(TEST_ARCH) $(if $(RUNS),--runs $(RUNS))

clean:
	$(CARGO) clean
	rm -rf build
