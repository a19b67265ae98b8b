#!/usr/bin/env bash
# The docker-compose lab without Docker: two upstream hosts, each in its own Linux network
# namespace with its own address and its own sshd, and the proxy routing to those addresses.
# Runs the end-to-end checks across them and exits 0 only if all pass. Everything it creates
# (namespaces, veth interfaces, processes, users' keys, files) is removed on exit, also when a
# check fails or the script is interrupted. Needs root.
#
#   docker/netns-lab.sh            (builds the debug binary if it is missing)
#   SWITCHBOARD_BIN=/path/to/switchboard docker/netns-lab.sh
set -uo pipefail

cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "netns-lab: needs root (network namespaces, sshd, lab users)" >&2; exit 2; }
for tool in ip sshd ssh scp sshpass tmux sha256sum; do
  command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || { echo "netns-lab: $tool is missing (scripts/install-deps.sh --test)" >&2; exit 2; }
done

bin=${SWITCHBOARD_BIN:-.build/debug/switchboard}
if [[ ! -x $bin ]]; then
  swift build --product switchboard >&2 || exit 2
fi

tag="sbl$$"                     # short: interface names are limited to 15 characters
work=$(mktemp -d /tmp/switchboard-netns-lab.XXXXXX)
hosts=(alice bob)
declare -A subnet=([alice]=10.231.1 [bob]=10.231.2)
proxy_pid=""

cleanup() {
  [[ -n $proxy_pid ]] && kill "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null
  tmux -L "$tag" kill-server 2>/dev/null
  for host in "${hosts[@]}"; do
    local ns="$tag-$host"
    if [[ -f $work/$host/sshd.pid ]]; then kill "$(cat "$work/$host/sshd.pid")" 2>/dev/null; fi
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
    ip link del "$tag-$host" 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
check() {
  local name=$1
  shift
  if "$@" >"$work/check.log" 2>&1; then
    echo "PASS $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    sed 's/^/     /' "$work/check.log"
    failed=$((failed + 1))
  fi
}

# Lab users, the same on both hosts (namespaces share /etc/passwd), named so they cannot clash.
for host in "${hosts[@]}"; do
  user="sblab-$host"
  id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
  echo "$user:$host-lab-password" | chpasswd
done

# scripts/sshd_config.template filled in: sshd_config PORT LISTEN HOST_KEY PID_FILE EXTRA_LINES
sshd_config() {
  local text
  text=$(<scripts/sshd_config.template) || return 1
  text=${text//"{port}"/"$1"}
  text=${text//"{listen}"/"$2"}
  text=${text//"{host_key}"/"$3"}
  text=${text//"{pid_file}"/"$4"}
  printf '%s\n' "${text//"{extra}"/"$5"}"
}

# One namespace per host: a veth pair, 10.231.N.1 on our side, 10.231.N.2 inside, its own sshd.
mkdir -p /run/sshd
for host in "${hosts[@]}"; do
  ns="$tag-$host"
  net=${subnet[$host]}
  mkdir -p "$work/$host"
  ip netns add "$ns" || exit 1
  ip link add "$tag-$host" type veth peer name eth0 netns "$ns" || exit 1
  ip addr add "$net.1/24" dev "$tag-$host"
  ip link set "$tag-$host" up
  ip -n "$ns" addr add "$net.2/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ssh-keygen -q -t ed25519 -N '' -f "$work/$host/host_key"
  sshd_config 22 "$net.2" "$work/$host/host_key" "$work/$host/sshd.pid" \
    "UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
SetEnv SWITCHBOARD_UPSTREAM=host-$host" >"$work/$host/sshd_config" || exit 1
  ip netns exec "$ns" /usr/sbin/sshd -f "$work/$host/sshd_config" -E "$work/$host/sshd.log" || exit 1
done

# The proxy in the root namespace, routing each login to its host's address.
port=$((20000 + $$ % 20000))
data="$work/proxy-data"
"$bin" route add alice "${subnet[alice]}.2:22" --upstream-user sblab-alice --data-dir "$data" >/dev/null || exit 1
"$bin" route add bob "${subnet[bob]}.2:22" --upstream-user sblab-bob --data-dir "$data" >/dev/null || exit 1
"$bin" serve --listen "127.0.0.1:$port" --data-dir "$data" --ban-after 0 2>"$work/proxy.log" &
proxy_pid=$!
for _ in $(seq 1 100); do
  grep -q "listening" "$work/proxy.log" 2>/dev/null && break
  sleep 0.1
done

common=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
        -o PreferredAuthentications=password -o PubkeyAuthentication=no -o NumberOfPasswordPrompts=1)
options=("${common[@]}" -p "$port")
scp_options=("${common[@]}" -P "$port")
lab_ssh() { local user=$1; shift; SSHPASS="$user-lab-password" sshpass -e ssh "${options[@]}" "$user@127.0.0.1" "$@"; }

expect_marker() {
  local user=$1 out
  out=$(lab_ssh "$user" 'echo "$SWITCHBOARD_UPSTREAM $(whoami) $SSH_CONNECTION"')
  echo "got: $out"
  [[ $out == "host-$user sblab-$user ${subnet[$user]}.1 "* ]]
}

expect_exit_code() {
  lab_ssh alice 'exit 42'
  [[ $? -eq 42 ]]
}

expect_streams_apart() {
  local out
  out=$(lab_ssh bob 'echo out; echo err >&2' 2>"$work/stderr.txt")
  [[ $out == out && $(cat "$work/stderr.txt") == err ]]
}

expect_scp_round_trip() {
  head -c $((8 * 1024 * 1024)) /dev/urandom >"$work/payload"
  SSHPASS=bob-lab-password sshpass -e scp "${scp_options[@]}" "$work/payload" "bob@127.0.0.1:/tmp/$tag.payload" || return 1
  SSHPASS=bob-lab-password sshpass -e scp "${scp_options[@]}" "bob@127.0.0.1:/tmp/$tag.payload" "$work/back" || return 1
  lab_ssh bob "rm -f /tmp/$tag.payload"
  [[ $(sha256sum <"$work/payload") == $(sha256sum <"$work/back") ]]
}

expect_pty() {
  local login="SSHPASS=alice-lab-password sshpass -e ssh ${options[*]} -t alice@127.0.0.1"
  tmux -L "$tag" new-session -d -s pty -x 90 -y 25 "$login; echo exit=\$? > $work/pty-exit" || return 1
  local screen=""
  for _ in $(seq 1 100); do
    screen=$(tmux -L "$tag" capture-pane -p -t pty)
    [[ $screen == *'$'* ]] && break
    sleep 0.1
  done
  tmux -L "$tag" send-keys -t pty 'echo size=$(stty size) tty=$(tty) at=$SWITCHBOARD_UPSTREAM' Enter
  for _ in $(seq 1 100); do
    screen=$(tmux -L "$tag" capture-pane -p -t pty)
    [[ $screen == *"size=25 90 tty=/dev/pts/"*"at=host-alice"* ]] && break
    sleep 0.1
  done
  echo "$screen"
  tmux -L "$tag" send-keys -t pty 'exit 5' Enter
  for _ in $(seq 1 100); do
    [[ -f $work/pty-exit ]] && break
    sleep 0.1
  done
  [[ $screen == *"size=25 90 tty=/dev/pts/"*"at=host-alice"* && $(cat "$work/pty-exit" 2>/dev/null) == exit=5 ]]
}

check "alice is routed to host-alice (${subnet[alice]}.2)" expect_marker alice
check "bob is routed to host-bob (${subnet[bob]}.2)" expect_marker bob
check "exit status 42 comes back" expect_exit_code
check "stdout and stderr stay apart" expect_streams_apart
check "scp 8 MiB up and down, same checksum" expect_scp_round_trip
check "interactive PTY through tmux: size, tty, exit status" expect_pty

echo "netns-lab: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
