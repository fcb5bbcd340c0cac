#!/bin/sh
# Issue 7, run 3, stall phase (design F4): see oom-neighbour.sh. The hog sits stuck at the
# limit of the cgroup it shares with ballastd (v1: OOM killer disabled; v2: memory.high); the
# NBD client is on loopback TCP (oom-neighbour-stall-unix.sh: on the unix socket).
OOM_NEIGHBOUR=stall
. "${top_srcdir:-.}/tests/fault/oom-neighbour.sh"
