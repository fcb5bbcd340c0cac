#!/bin/sh
# Issue 8: swap-nbd.sh with ballastd --ublk 0 serving /dev/ublkb0 in nbd0's place (ballastd mode
# only; the NBD anchors are in swap-nbd.sh). A characterization like it: the outcome is recorded,
# a deadlock is the expected one (doc/oom-safety.md, "The swap rule").
# shellcheck disable=SC2034 # read by the sourced script
SWAP_DEV=ublk
# shellcheck disable=SC2034
SWAP_MODES=${SWAP_UBLK_MODES:-ballastd}
. "$(dirname "$0")/swap-nbd.sh"
