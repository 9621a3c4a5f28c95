#!/usr/bin/env bash
# tests/system/debian_test.sh - a real distribution: the `debian` system template (Debian with
# cloud-init and qemu-guest-agent, scripts/guest/build-debian, installed by `sandbox up
# --debian`) on a 1-node sandbox, as the sandbox user:
#   - cloud-init applies slurm-vm's seed: host name, the user's key for root, the published host
#     key (vm ssh checks it), the static address, /etc/hosts, the template's inline user-data;
#   - Debian's qemu-guest-agent runs `vm exec` (output and exit status);
#   - the home directory over 9p (template mount-points, mounted from bootcmd: cloud-init 22
#     ignores 9p tags in `mounts`) is readable and writable as the user's files;
#   - `vm save -d` (filesystems frozen by the agent), then a new job booted from the saved image
#     sees the file written before the save, and cloud-init's per-boot entries are not doubled;
#   after that, nothing remains on the node.
#
# usage: debian_test.sh [REPO_ROOT]; needs root (exit 77 otherwise) and a release build. The
# first run builds the image (debootstrap from the machine's apt sources, a few minutes).
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
TEST_NAME=debian_test
# shellcheck source=../lib/sandbox_test_lib.sh
source "$ROOT/tests/lib/sandbox_test_lib.sh"

SANDBOX_NODES=1
OUT=$("$SANDBOX" up --nodes "$SANDBOX_NODES" --debian 2>&1) || { fail "sandbox up --debian: $OUT"; exit 1; }
pass "sandbox up with the debian template"

install -d -o vmuser -g vmuser "$HOME_SRC/.config" "$HOME_SRC/.config/slurm-vm"
cat >"$HOME_SRC/.config/slurm-vm/templates.yaml" <<'EOF2'
deb-home:
  inherits: debian
  mount-points: {home: {path: "%{homedir}", type: virtio-9p}}
  user-data:
    write_files:
      - path: /etc/from-user-data
        content: "written by cloud-init from the template\n"
deb-saved:
  inherits: debian
  image: user:deb-saved
EOF2
chown vmuser: "$HOME_SRC/.config/slurm-vm/templates.yaml"
echo "marker-$$" >"$HOME_SRC/marker" && chown vmuser: "$HOME_SRC/marker"
rm -f "$HOME_SRC/from-debian.txt"
as_user vm image delete user:deb-saved >/dev/null 2>&1

# Under TCG on 2 cores a Debian boot with cloud-init takes 1.5-2 minutes.
script='vm ssh vm0 "echo host=\$(hostname); cat /etc/from-user-data; echo hosts=\$(grep -c \" vm0 # slurm-vm\$\" /etc/hosts); ip -4 -br addr show eth0"
vm ssh vm0 "cat $HOME/marker && echo written-in-debian >$HOME/from-debian.txt && echo mounts=\$(mount | grep -c \" $HOME type 9p\")"
vm exec vm0 -- cat /etc/debian_version
vm exec vm0 -- sh -c "echo on-stderr >&2; exit 3"; echo exec-rc=$?
vm ssh vm0 "echo saved-by-$SLURM_JOB_ID >/root/saved && sync"
vm save -d deb-saved vm0'
as_user vm alloc -N 1 --timeout 600 -E "$script" deb-home:1
expect_rc "a Debian VM: cloud-init, 9p, the agent, then vm save -d" 0
saver=$(sed -n 's/^salloc: Granted job allocation \([0-9]*\)$/\1/p' <<<"$OUT")
expect_out "cloud-init set the host name (and vm ssh accepted the published host key)" "^host=vm0$"
expect_out "the template's inline user-data ran (write_files)" "^written by cloud-init from the template$"
expect_out "/etc/hosts names the VMs (bootcmd)" "^hosts=1$"
expect_out "the static address of the seed's network-config" "^eth0 +UP +10\.251\.[0-9.]+/22"
expect_out "the VM reads the user's file over 9p" "^marker-$$\$"
expect_out "the home directory is a 9p mount at its own path" "^mounts=1\$"
[[ $(cat "$HOME_SRC/from-debian.txt" 2>/dev/null) == written-in-debian && $(stat -c %U "$HOME_SRC/from-debian.txt") == vmuser ]] &&
  pass "a file written in the Debian VM is the user's on the host" || fail "from-debian.txt: $(ls -l "$HOME_SRC/from-debian.txt" 2>&1)"
expect_out "vm exec through Debian's qemu-guest-agent" "^12\.[0-9]+$"
expect_out "vm exec passes the command's stderr" "^on-stderr$"
expect_out "vm exec returns the command's exit status" "^exec-rc=3$"
expect_out "vm save -d made a new image" "^vm0 disk saved to user:deb-saved revision 0$"

as_user vm alloc -N 1 --timeout 600 -E 'vm ssh vm0 "cat /root/saved; echo hosts=\$(grep -c \" # slurm-vm\$\" /etc/hosts); cloud-init query instance-id 2>/dev/null || cat /run/cloud-init/.instance-id"' deb-saved:1
expect_rc "a new job from the saved Debian image" 0
expect_out "it sees the file written before the save" "^saved-by-$saver$"
expect_out "the new job's /etc/hosts entries replaced the saved ones" "^hosts=1$"
expect_out "cloud-init ran again for the new instance" "^[0-9]+-vm0$"

as_user vm image delete user:deb-saved
expect_rc "vm image delete user:deb-saved" 0
rm -f "$HOME_SRC/.config/slurm-vm/templates.yaml" "$HOME_SRC/marker" "$HOME_SRC/from-debian.txt"
check_nodes_clean "after the Debian jobs"
