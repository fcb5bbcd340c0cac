#!/bin/sh
# iscsi-initiator.sh against tgtd instead of ballast-targetd: checks the test
# itself and the harness with a target nobody here wrote.
TARGET_IMPL=tgtd
export TARGET_IMPL
exec sh "$(dirname "$0")/iscsi-initiator.sh"
