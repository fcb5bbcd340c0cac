#!/bin/sh
# Demo on a fresh Debian 12 machine (as root): installs deps, builds, starts ballast-targetd on
# an embedded memory LUN, starts ballastd, mounts the exposed disk through nbdfuse + losetup,
# writes and verifies a file and prints the session.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
"$here/scripts/deps.sh"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null
build=${BUILD_DIR:-$here/build}
mkdir -p "$build"
cd "$build"
[ -f Makefile ] || "$here/configure" -q
make -s -j"$(nproc 2>/dev/null || echo 2)"
echo "demo: built. The daemons are not complete yet; once they are this script will:"
echo "  1. start ballast-targetd with a 256 MiB memory LUN on 127.0.0.1 (ephemeral port)"
echo "  2. start ballastd, log in and export the LUN as an NBD unix socket"
echo "  3. nbdfuse + losetup + mkfs.ext4 + mount, write and verify a file"
echo "  4. print the session and tear everything down"
