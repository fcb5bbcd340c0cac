#!/bin/sh
# ballastd-nbd.sh with export.kernel_nbd.transport=tcp: the kernel's nbd client and ballastd
# talk over a loopback TCP pair instead of a socketpair (the transport whose memory a cgroup
# neighbour cannot take, doc/oom-safety.md): attach, ext4, verify, detach, fsck.
BALLASTD_ARGS="${BALLASTD_ARGS:-} --set export.kernel_nbd.transport=tcp"
export BALLASTD_ARGS
exec sh "$(dirname "$0")/ballastd-nbd.sh"
