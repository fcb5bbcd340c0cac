#!/bin/sh
# The ballastd-tgtd-fio.sh interop test, against our own ballast-targetd.
BALLASTD_PEER=targetd
BALLASTD_TESTLIB=$(cd "$(dirname "$0")/../interop" && pwd)
export BALLASTD_PEER BALLASTD_TESTLIB
. "$BALLASTD_TESTLIB/ballastd-tgtd-fio.sh"
