#!/bin/sh
# Issue 7, run 3, stall phase over ballastd's unix socket: the known wall, characterized (see
# oom-neighbour.sh and doc/oom-safety.md).
OOM_NEIGHBOUR=stall-unix
. "${top_srcdir:-.}/tests/fault/oom-neighbour.sh"
