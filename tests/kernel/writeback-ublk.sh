#!/bin/sh
# Issue 8: writeback-pressure.sh with ballastd --ublk 0 serving /dev/ublkb0 in nbd0's place: the
# same 256 MiB guest, hold hog, tuning, bounds and checks (doc/oom-safety.md, the ublk rows). The
# qemu-nbd anchor is an NBD run and is left to writeback-pressure.sh.
# shellcheck disable=SC2034 # read by the sourced script
WB_DEV=ublk
. "$(dirname "$0")/writeback-pressure.sh"
