# Shared by tools/test and tools/run: find or install what the project needs.
# Sourced, not executed.

# Print a step header.
step() { printf '\n==> %s\n' "$*"; }

# Run apt-get as root, or through sudo.
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_command CMD DEBIAN_PACKAGE: install the package when CMD is missing.
APT_UPDATED=""
ensure_command() {
    local cmd=$1 pkg=$2
    if command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ]; then
        return 0
    fi
    step "installing $pkg (for $cmd)"
    if [ -z "$APT_UPDATED" ]; then
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$pkg" >/dev/null
}

# The Rust toolchain comes from rustup (Debian's rustc is too old for the
# crates used here): installed for this user when cargo is missing.
ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
        . "$HOME/.cargo/env"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        step "installing Rust with rustup (https://rustup.rs)"
        ensure_command curl curl
        ensure_command cc build-essential
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
            sh -s -- -y --profile minimal -c rustfmt -c clippy
        . "$HOME/.cargo/env"
    fi
    for component in rustfmt clippy; do
        if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
            rustup component add "$component"
        fi
    done
}

# PostgreSQL server binaries (initdb, pg_ctl), for the throwaway clusters
# the tests start: Debian keeps them off PATH, in /usr/lib/postgresql/*/bin.
ensure_postgres() {
    if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        return 0
    fi
    ensure_command /usr/lib/postgresql/none/bin/initdb postgresql
}

# Docker (Debian's docker.io and docker-compose) and debootstrap, for the
# Compose stack (tools/compose, tests/compose.rs). Installed with services
# held back (policy-rc.d), so installing never starts a system dockerd
# that would rewrite the host's firewall: tools/compose starts one when
# needed, and the test runs a private one that changes nothing.
ensure_docker() {
    if command -v dockerd >/dev/null 2>&1 && command -v docker-compose >/dev/null 2>&1 &&
        command -v debootstrap >/dev/null 2>&1; then
        return 0
    fi
    step "installing docker.io, docker-compose and debootstrap"
    if [ -z "$APT_UPDATED" ]; then
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    local held=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
        as_root chmod +x /usr/sbin/policy-rc.d
        held=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker.io docker-compose debootstrap >/dev/null
    if [ -n "$held" ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
}
