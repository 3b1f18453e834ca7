#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# Idempotent developer-machine setup for CambiOS.
#
# Installs what `make run` / `make test` need and is missing:
#   * the bare-metal Rust targets and components of the pinned toolchain (rustup target add);
#   * QEMU 10 (x86_64, aarch64, riscv64) and OpenSBI from Debian bookworm-backports when run as
#     root on Debian; otherwise it prints exactly what to install.
# It never runs `rustup update` and never installs another toolchain.
set -euo pipefail

QUIET=${SETUP_QUIET:-0}
if [ -t 2 ]; then G='\033[1;32m' Y='\033[1;33m' R='\033[1;31m' N='\033[0m'; else G='' Y='' R='' N=''; fi
say() { printf "  ${G}%10s${N} %s\n" "$1" "$2" >&2; }
warn() { printf "  ${Y}%10s${N} %s\n" "warning" "$1" >&2; }
die() { printf "  ${R}%10s${N} %s\n" "error" "$1" >&2; exit 1; }

cd "$(dirname "$0")/.."

# ---------------------------------------------------------------- Rust targets
TARGETS="x86_64-unknown-none aarch64-unknown-none-softfloat riscv64imac-unknown-none-elf"
COMPONENTS="clippy rustfmt"
command -v rustup >/dev/null || die "rustup not found: install rustup (https://rustup.rs), then re-run"
installed_targets=$(rustup target list --installed 2>/dev/null || true)
for t in $TARGETS; do
  if ! grep -qx "$t" <<<"$installed_targets"; then
    say "Adding" "Rust target $t"
    rustup target add "$t" >/dev/null
  fi
done
installed_components=$(rustup component list --installed 2>/dev/null || true)
for c in $COMPONENTS; do
  if ! grep -q "^$c" <<<"$installed_components"; then
    say "Adding" "Rust component $c"
    rustup component add "$c" >/dev/null
  fi
done

# ---------------------------------------------------------------- QEMU
# The QEMU major version CambiOS is tested with (older ones may work; setup upgrades when it can).
QEMU_MIN_MAJOR=10
qemu_major() { "$1" --version 2>/dev/null | sed -n 's/^QEMU emulator version \([0-9]*\).*/\1/p' | head -n 1; }

need_qemu() {
  for b in qemu-system-x86_64 qemu-system-aarch64 qemu-system-riscv64; do
    command -v "$b" >/dev/null || return 0
  done
  major=$(qemu_major qemu-system-x86_64)
  if [ -n "$major" ] && [ "$major" -lt "$QEMU_MIN_MAJOR" ]; then
    if [ "$(id -u)" = 0 ] && [ -r /etc/debian_version ]; then
      return 0   # upgrade below
    fi
    warn "QEMU $major found; CambiOS is tested with QEMU $QEMU_MIN_MAJOR (on Debian 12: apt-get install -t bookworm-backports qemu-system-x86 qemu-system-arm qemu-system-misc)"
  fi
  [ -e /usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin ] \
    || [ -e /usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin ] || return 0
  return 1
}

if need_qemu; then
  if [ "$(id -u)" = 0 ] && [ -r /etc/debian_version ] && command -v apt-get >/dev/null; then
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    if [ "$codename" = bookworm ]; then
      src=/etc/apt/sources.list.d/cambios-bookworm-backports.sources
      if [ ! -e "$src" ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        say "Adding" "apt source bookworm-backports ($src)"
        cat >"$src" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
      fi
      say "Updating" "apt package lists"
      apt-get update -qq >/dev/null
      say "Installing" "QEMU 10 and OpenSBI from bookworm-backports (this takes a minute)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports \
        qemu-system-x86 qemu-system-arm qemu-system-misc opensbi >/dev/null
    else
      say "Updating" "apt package lists"
      apt-get update -qq >/dev/null
      say "Installing" "QEMU and OpenSBI"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        qemu-system-x86 qemu-system-arm qemu-system-misc opensbi >/dev/null
    fi
    need_qemu && die "QEMU still missing after apt-get install"
  else
    die "QEMU is missing. Install qemu-system-x86_64, qemu-system-aarch64 and qemu-system-riscv64 (version 10 or newer; on Debian bookworm: apt-get install -t bookworm-backports qemu-system-x86 qemu-system-arm qemu-system-misc opensbi; on macOS: brew install qemu), then re-run."
  fi
fi
# ---------------------------------------------------------------- GRUB (optional)
# The x86_64 Multiboot2 boot test builds a GRUB rescue ISO; without these tools it is skipped.
if ! command -v grub-mkrescue >/dev/null || ! command -v xorriso >/dev/null \
   || [ ! -d /usr/lib/grub/i386-pc ]; then
  if [ "$(id -u)" = 0 ] && [ -r /etc/debian_version ] && command -v apt-get >/dev/null; then
    say "Installing" "GRUB, xorriso and mtools (for the Multiboot2 boot test)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq grub-pc-bin grub-common xorriso mtools \
         >/dev/null 2>&1; then
      apt-get update -qq >/dev/null 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq grub-pc-bin grub-common xorriso mtools >/dev/null \
        || warn "could not install grub-pc-bin/xorriso/mtools: the GRUB boot test will be skipped"
    fi
  else
    [ "$QUIET" = 1 ] || warn "grub-mkrescue/xorriso not found: the x86_64 GRUB (Multiboot2) boot test will be skipped (Debian: apt-get install grub-pc-bin xorriso mtools)"
  fi
fi
exit 0
