#!/bin/sh
# An ssh stand-in for `mpiexec -launcher ssh -launcher-exec launch/netns_exec.sh`: instead of
# logging into HOST, it runs COMMAND inside the network namespace named HOST (made by
# launch/netns_hosts.sh), with the host name set to HOST in a UTS namespace of its own.
#
# Called the way Hydra calls ssh:   netns_exec.sh [-x] [-q] [-o OPT] HOST COMMAND...
# Hydra quotes the words of COMMAND for a remote shell, so they are joined and run by sh.
set -eu

while [ $# -gt 0 ]; do
    case "$1" in
        -o|-p|-l|-i|-F) shift 2 ;;        # ssh options with a value: meaningless here
        -*) shift ;;                       # -x, -q, -T, ...
        *) break ;;
    esac
done
if [ $# -lt 2 ]; then
    echo "usage: $0 [ssh options] HOST COMMAND..." >&2
    exit 255                                # what ssh returns when it cannot connect
fi
host=$1
shift
if [ ! -e "/var/run/netns/$host" ]; then
    echo "$0: no network namespace named '$host' (start the hosts with: launch/netns_hosts.sh up)" >&2
    exit 255
fi
# $0 of the inner sh is the host name, $1 the command line to run.
exec ip netns exec "$host" unshare --uts sh -c 'hostname "$0" && exec sh -c "$1"' "$host" "$*"
