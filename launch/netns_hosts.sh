#!/bin/bash
# Several "hosts" on one Linux machine: network namespaces joined by veth pairs to a bridge,
# for trying multi-machine distgrad jobs (MPICH over TCP) without a cluster. Needs root.
#
#   launch/netns_hosts.sh up   [-n HOSTS]                 create dg-host1..N and dg-switch
#   launch/netns_hosts.sh run  [-n HOSTS] [--ppn RANKS] [--netmod ucx|ofi] [--keep] \
#                              -- [distgrad-run options] SCRIPT [ARGS...]
#   launch/netns_hosts.sh down                             delete them again
#   launch/netns_hosts.sh status
#
# Host i is the namespace <prefix>host<i> with address 10.200.0.<i>/24 on its eth0; every
# eth0 is one end of a veth pair whose other end sits on the bridge br0 inside the namespace
# <prefix>switch. Nothing is connected to the machine's own network: traffic stays between
# these namespaces. Each host resolves the others' names through /etc/netns/<ns>/hosts.
#
# `run` starts mpiexec inside host 1 (the "head node") through distgrad-run, with
# `-launcher ssh -launcher-exec launch/netns_exec.sh`, so Hydra starts its proxy on every
# other host inside that host's namespace. It forces the MPI traffic onto TCP over eth0
# (otherwise MPICH notices the shared machine and uses shared memory). Namespaces that
# `run` created are removed when it exits, unless --keep.
#
# Options: --prefix P (default $DG_NETNS_PREFIX or "dg-"), --python PATH (default $PYTHON
# or python3; the interpreter with distgrad installed).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${DG_NETNS_PREFIX:-dg-}
PYTHON=${PYTHON:-python3}
SUBNET=10.200.0
HOSTS=2
PPN=1
NETMOD=ucx
KEEP=0

die() { echo "netns_hosts.sh: $*" >&2; exit 1; }
host_ns() { echo "${PREFIX}host$1"; }
switch_ns() { echo "${PREFIX}switch"; }

require() {
    [ "$(id -u)" = 0 ] || die "needs root (network namespaces need CAP_NET_ADMIN)"
    command -v ip >/dev/null || die "'ip' not found: apt-get install -y iproute2"
    command -v unshare >/dev/null || die "'unshare' not found: apt-get install -y util-linux"
}

our_namespaces() {
    # Only names this script makes: <prefix>host<N> and <prefix>switch.
    ip netns list | awk '{print $1}' | grep -E "^${PREFIX//./\\.}(host[0-9]+|switch)\$" || true
}

is_up() { [ -e "/var/run/netns/$(switch_ns)" ]; }

up() {
    require
    [ "$HOSTS" -ge 1 ] && [ "$HOSTS" -le 254 ] || die "-n must be between 1 and 254, got $HOSTS"
    is_up && die "$(switch_ns) exists already: run '$0 down${PREFIX:+ --prefix $PREFIX}' first"
    local sw i ns
    sw=$(switch_ns)
    ip netns add "$sw"
    ip -n "$sw" link add br0 type bridge
    ip -n "$sw" link set br0 up
    for i in $(seq 1 "$HOSTS"); do
        ns=$(host_ns "$i")
        ip netns add "$ns"
        # Made inside the switch namespace and moved straight into the host's, so no
        # interface ever appears in the machine's own namespace.
        ip -n "$sw" link add "h$i" type veth peer name eth0 netns "$ns"
        ip -n "$sw" link set "h$i" master br0 up
        ip -n "$ns" addr add "$SUBNET.$i/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" link set lo up
        mkdir -p "/etc/netns/$ns"
        {
            echo "127.0.0.1 localhost"
            for j in $(seq 1 "$HOSTS"); do echo "$SUBNET.$j $(host_ns "$j")"; done
        } > "/etc/netns/$ns/hosts"
    done
    echo "up: $HOSTS hosts $(host_ns 1)..$(host_ns "$HOSTS") on $SUBNET.0/24 (bridge in $sw)"
}

down() {
    require
    local ns
    for ns in $(our_namespaces); do
        ip netns del "$ns"
        rm -rf "/etc/netns/$ns"
    done
}

status() {
    require
    local ns
    for ns in $(our_namespaces); do
        echo "$ns: $(ip -n "$ns" -brief addr show 2>/dev/null | awk '$1 ~ /^eth0/ {print $3}')"
    done
}

netmod_env() {
    # MPICH from PyPI has the ucx and ofi netmods; both work over TCP between namespaces.
    case "$NETMOD" in
        ucx) echo "-x MPIR_CVAR_CH4_NETMOD=ucx -x UCX_TLS=tcp,self -x UCX_NET_DEVICES=eth0" ;;
        ofi) echo "-x MPIR_CVAR_CH4_NETMOD=ofi -x FI_PROVIDER=tcp -x FI_TCP_IFACE=eth0" ;;
        *) die "--netmod must be ucx or ofi, got $NETMOD" ;;
    esac
}

run() {
    require
    [ $# -gt 0 ] || die "run: nothing to run (give: run [options] -- SCRIPT [ARGS...])"
    if ! is_up; then
        up
        [ "$KEEP" = 1 ] || trap 'down' EXIT
    fi
    local hosts="" i head
    for i in $(seq 1 "$HOSTS"); do hosts+="${hosts:+,}$(host_ns "$i"):$PPN"; done
    head=$(host_ns 1)
    # shellcheck disable=SC2046  # netmod_env is meant to split into words
    ip netns exec "$head" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$head" \
        "$PYTHON" -m distgrad.run -H "$hosts" \
        --mpi-args="-launcher ssh -launcher-exec '$HERE/netns_exec.sh'" \
        $(netmod_env) "$@"
}

[ $# -gt 0 ] || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
command=$1
shift
while [ $# -gt 0 ]; do
    case "$1" in
        -n) HOSTS=$2; shift 2 ;;
        --ppn) PPN=$2; shift 2 ;;
        --prefix) PREFIX=$2; shift 2 ;;
        --python) PYTHON=$2; shift 2 ;;
        --netmod) NETMOD=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --) shift; break ;;
        *) break ;;
    esac
done
case "$command" in
    up) up ;;
    down) down ;;
    status) status ;;
    run) run "$@" ;;
    *) die "unknown command '$command' (expected up, down, run or status)" ;;
esac
