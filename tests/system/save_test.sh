#!/usr/bin/env bash
# tests/system/save_test.sh - images and `vm save` on a 1-node sandbox, as the sandbox user:
#   - `vm image import` puts the tiny guest's disk into the user's repository (repos.yaml);
#   - a file written in a VM booted from user:tiny is there in a new job after `vm save`
#     (revision 1), through the guest agent's freeze;
#   - two VMs saved at the same moment get two distinct revisions;
#   - `vm save -d` makes a new image, `--full` a standalone one; `vm image list/show/export/delete`
#     see and change them;
#   - an image with no template of its name can be named as one (pcocc's automatic templates);
#   - an L2-only VM (no SSH) is ready from its template's ready-marker and reached by vm exec,
#     and vm batch -b runs its script through the guest agent;
#   - `vm image copy`, `resize` (the guest sees the new size), `repo list`, and `delete` then
#     `repo gc` frees the space;
#   - --image and --mount override the template for one job; a VM booted from a file image
#     needs -d to be saved;
#   - a template's mount-points share the home directory over 9p: the VM reads the user's
#     files and what it writes there is the user's on the host;
#   after all that, nothing remains on the node.
#
# usage: save_test.sh [REPO_ROOT]; needs root (exit 77 otherwise) and a release build.
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
TEST_NAME=save_test
# shellcheck source=../lib/sandbox_test_lib.sh
source "$ROOT/tests/lib/sandbox_test_lib.sh"

SANDBOX_NODES=1
OUT=$("$SANDBOX" up --nodes "$SANDBOX_NODES" 2>&1) || { fail "sandbox up: $OUT"; exit 1; }
pass "sandbox up with slurm-vm"

as_user vm template show --json tiny
tiny_image=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(next(s["value"] for s in d["settings"] if s["key"]=="image"))' <<<"$OUT")
[[ -f $tiny_image ]] && pass "the tiny template's image is $tiny_image" || fail "no tiny image: $tiny_image"

as_user vm image import "$tiny_image" tiny
expect_rc "vm image import" 0
expect_out "imported as user:tiny revision 0" "as user:tiny revision 0"
install -d -o vmuser -g vmuser "$HOME_SRC/.config" "$HOME_SRC/.config/slurm-vm"
cat >"$HOME_SRC/.config/slurm-vm/templates.yaml" <<'EOF2'
tiny-repo:
  inherits: tiny
  image: user:tiny
tiny-home:
  inherits: tiny
  mount-points: {home: {path: "%{homedir}", type: virtio-9p}}
tiny-l2:
  inherits: tiny
  resource-set: l2-only
  ready-marker: "slurm-vm-tiny: ready"
EOF2
chown vmuser: "$HOME_SRC/.config/slurm-vm/templates.yaml"

as_user vm alloc -N 1 --timeout 300 -E 'vm ssh vm0 "echo saved-by-$SLURM_JOB_ID >/data/hello && sync" && vm save vm0' tiny-repo:1
expect_rc "write a file, then vm save vm0" 0
expect_out "saved as revision 1" "^vm0 disk saved to user:tiny revision 1$"
saver=$(sed -n 's/^salloc: Granted job allocation \([0-9]*\)$/\1/p' <<<"$OUT")
as_user vm alloc -N 1 --timeout 300 -E 'vm ssh vm0 cat /data/hello' tiny-repo:1
expect_rc "a new job from the saved image" 0
expect_out "it sees the file written before the save" "^saved-by-$saver$"

# Readiness without SSH: an L2-only VM has no reverse-NAT port; its template's ready-marker
# (a console line) says when it is up, and the guest agent reaches it.
as_user vm alloc -N 1 --timeout 120 -E 'vm exec vm0 -- cat /proc/sys/kernel/hostname' tiny-l2:1
expect_rc "an L2-only VM is reported ready from its console marker, not timed out" 0
expect_out "vm counted it ready" "1/1 VMs ready"
expect_out "and vm exec reached it through the agent" "^vm0$"
printf '#!/bin/sh\necho "l2 script in $(cat /proc/sys/kernel/hostname)"\nexit 3\n' >"$HOME_SRC/l2.sh"
chmod 755 "$HOME_SRC/l2.sh" && chown vmuser: "$HOME_SRC/l2.sh"
as_user vm batch --wait -o 'l2-%j.out' -b l2.sh tiny-l2:1
expect_rc "vm batch -b on a VM without SSH: the script's status, through the guest agent" 3
OUT=$(cat "$(ls -t "$HOME_SRC"/l2-*.out | head -n 1)")
expect_out "and its output" "^l2 script in vm0$"

as_user vm alloc -N 1 --timeout 300 -E 'vm save vm0 & vm save vm1 & wait' tiny-repo:2
expect_rc "two saves at once" 0
revs=$(grep -oE '^vm[01] disk saved to user:tiny revision [0-9]+$' <<<"$OUT" | awk '{ print $NF }' | sort -n | tr '\n' ' ')
[[ $revs == "2 3 " ]] && pass "two simultaneous saves took revisions 2 and 3" || fail "simultaneous saves: revisions '$revs': $OUT"

as_user vm alloc -N 1 --timeout 300 -E 'vm save -d tiny-copy vm0 && vm save --full -d tiny-full vm0' tiny-repo:1
expect_out "vm save -d makes a new image" "^vm0 disk saved to user:tiny-copy revision 0$"
expect_out "vm save --full -d makes a standalone one" "^vm0 disk saved to user:tiny-full revision 0 \(standalone\)$"
as_user vm image show tiny-full
expect_out "the standalone image is one layer" "^0 +[0-9.]+ MiB +1 "
# pcocc's automatic templates: an image with no template of its name is one, on the default
# resource set, for `vm template show` and for the SPANK plugin's check at submission.
as_user vm template show --json tiny-copy
expect_out "an image with no template of its name is a template (pcocc's automatic templates)" '"value": ?"user:tiny-copy"'
as_user salloc -N 1 --vm-template=tiny-copy:1 true
expect_rc "salloc --vm-template=IMAGE:1 passes the plugin's check with no template of that name" 0
# Overrides on the command line: the tiny template (a file image) boots revision 1 instead,
# with a mount-point it does not have; vm save then knows where the disk came from.
as_user vm alloc -N 1 --timeout 300 --image user:tiny@1 --mount "scratch=/home/vmuser,readonly=true" \
  -E 'vm ssh vm0 "cat /data/hello; mount | grep -c \" /home/vmuser type 9p .*ro\""' tiny:1
expect_rc "vm alloc --image user:tiny@1 --mount ... tiny:1" 0
expect_out "--image: the overridden image's file is there" "^saved-by-$saver$"
expect_out "--mount: the home directory is mounted read-only" "^1$"
as_user vm alloc -N 1 --image nosuch=user:tiny tiny:1
expect_rc "--image for a template the cluster does not use: usage error before anything is queued" 2
as_user vm alloc -N 1 --timeout 300 -E 'vm save vm0' tiny:1
expect_rc "vm save of a VM booted from a file, without -d: usage error" 2
expect_out "it says to give -d" "give -d \[REPO:\]NAME"

as_user vm image list
expect_out "image list: tiny at revision 3" "^tiny +3 +user +vmuser "
expect_out "image list: tiny-copy" "^tiny-copy +0 +user "
as_user vm image show tiny
[[ $(grep -cE '^[0-3] +[0-9.]+ MiB +[1-3] ' <<<"$OUT") == 4 ]] && pass "image show: revisions 0 to 3" || fail "image show: $OUT"
rm -f "$HOME_SRC/t1.qcow2"
as_user vm image export user:tiny@1 t1.qcow2
expect_rc "image export of revision 1" 0
qemu-img info "$HOME_SRC/t1.qcow2" 2>&1 | grep -q '^file format: qcow2' && ! qemu-img info "$HOME_SRC/t1.qcow2" | grep -q 'backing file' &&
  pass "the export is a standalone qcow2" || fail "export: $(qemu-img info "$HOME_SRC/t1.qcow2" 2>&1 | tr '\n' ' ')"
as_user vm image delete user:tiny@3
expect_out "image delete of one revision" "deleted 1 revision of user:tiny"
as_user vm image show tiny
grep -qE '^3 ' <<<"$OUT" && fail "revision 3 still listed" || pass "revision 3 is gone, the others stay"
as_user vm image import "$tiny_image" tiny
expect_rc "importing over an existing image is refused" 2
# The image lifecycle: copy, resize (the guest sees the new size), delete then gc (space back).
as_user vm image copy user:tiny@1 tiny-big
expect_out "image copy makes revision 0 of a new image" "^copied user:tiny revision 1 to user:tiny-big revision 0$"
as_user vm image resize tiny-big +96M
expect_out "image resize adds a revision" "^resized user:tiny-big revision 0 from .* as revision 1 "
old_sectors=$(( $(qemu-img info --output=json "$tiny_image" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])') / 512 ))
as_user vm alloc -N 1 --timeout 300 --image user:tiny-big -E 'vm ssh vm0 cat /sys/block/vda/size' tiny:1
expect_out "the guest sees the resized disk" "^$(( old_sectors + 96 * 2048 ))$"
as_user vm image repo list
expect_out "image repo list shows the repository" "^user +/home/vmuser/.local/share/slurm-vm/images +system +yes +[0-9]+"
blobs() { find "$HOME_SRC/.local/share/slurm-vm/images/data" -type f | wc -l; }
before=$(blobs)
as_user vm image delete tiny-big
expect_out "image delete of every revision" "deleted 2 revisions of user:tiny-big"
as_user vm image repo gc user
expect_out "repo gc frees the resize's own layer (the copy shares tiny's)" "^repository user: removed 1 unused layer and 0 leftover files, [0-9.]+ [KM]iB freed$"
(( $(blobs) == before - 1 )) && pass "one layer fewer on disk" || fail "layers: $before before, $(blobs) after"
as_user vm image repo gc nosuch
expect_rc "repo gc of an unknown repository: not found" 4
# The home directory over 9p, at the same path in the VM: the user's files, both ways.
echo "marker-$$" >"$HOME_SRC/marker" && chown vmuser: "$HOME_SRC/marker"
rm -f "$HOME_SRC/from-vm.txt"
as_user vm alloc -N 1 --timeout 300 -E 'vm ssh vm0 "cat $HOME/marker && echo written-in-vm >$HOME/from-vm.txt && mount | grep -c \" $HOME type 9p\""' tiny-home:1
expect_rc "a VM with the home directory mounted" 0
expect_out "the VM reads the user's file" "^marker-$$\$"
expect_out "it is a 9p mount at the home directory's path" "^1\$"
[[ $(cat "$HOME_SRC/from-vm.txt" 2>/dev/null) == written-in-vm && $(stat -c %U "$HOME_SRC/from-vm.txt") == vmuser ]] &&
  pass "a file written in the VM is the user's on the host" || fail "from-vm.txt: $(ls -l "$HOME_SRC/from-vm.txt" 2>&1)"
check_nodes_clean "after the saves"

# persistent-drives: the file itself, not an overlay. Written without sync: the data reaches
# the file only because `vm alloc` powers the VM down (ACPI) before stopping it. mmp: yes
# (the default) keeps a second VM from opening the drive.
rm -f "$HOME_SRC/pd.raw"
as_user truncate -s 16M /home/vmuser/pd.raw
cat >"$HOME_SRC/.config/slurm-vm/templates.yaml" <<'EOF2'
tiny-pd:
  inherits: tiny
  persistent-drives: ["%{homedir}/pd.raw"]
EOF2
chown vmuser: "$HOME_SRC/.config/slurm-vm/templates.yaml"
as_user vm alloc -N 1 --timeout 300 -E 'vm ssh vm0 "printf \"persisted-%s\\n\" $SLURM_JOB_ID >/dev/vdc"' tiny-pd:1
expect_rc "a VM writes to its persistent drive" 0
pd_job=$(sed -n 's/^salloc: Granted job allocation \([0-9]*\)$/\1/p' <<<"$OUT")
[[ $(head -c 64 "$HOME_SRC/pd.raw" | tr -d '\0' | head -n 1) == "persisted-$pd_job" ]] &&
  pass "what the guest wrote (no sync) is in the drive's file after the cluster stopped" ||
  fail "persistent drive: $(head -c 64 "$HOME_SRC/pd.raw" | od -c | head -3)"
grep -q 'slurm-vm-tiny: shutdown' "$HOME_SRC/.local/state/slurm-vm/job-$pd_job/vm0/console.log" &&
  pass "the VM was powered down (ACPI) before the step was stopped" || fail "no shutdown marker in vm0's console log"

as_user vm alloc -N 1 -c 1 --timeout 120 -E true tiny-pd:2
[[ $RC != 0 ]] && grep -q 'lock' <<<"$OUT" && pass "mmp: yes: the second VM cannot open the drive (QEMU's lock)" ||
  fail "two VMs on one mmp drive: rc $RC: $(tail -n 8 <<<"$OUT")"
# mmp: cluster: the VMs of one job share the drive, another job of the user is refused while
# the first runs (a lock file on the home, like pcocc's etcd key), and the lock is released.
as_user truncate -s 16M /home/vmuser/pdc.raw
cat >"$HOME_SRC/.config/slurm-vm/templates.yaml" <<'EOF2'
tiny-pdc:
  inherits: tiny
  persistent-drives: [{"%{homedir}/pdc.raw": {mmp: cluster}}]
EOF2
chown vmuser: "$HOME_SRC/.config/slurm-vm/templates.yaml"
lock=$HOME_SRC/.local/state/slurm-vm/mmp/%2Fhome%2Fvmuser%2Fpdc.raw
as_user vm alloc -N 1 -c 1 --timeout 300 -E true tiny-pdc:2
expect_rc "mmp: cluster: two VMs of one job share the drive" 0
[[ -f $lock && ! -s $lock ]] && pass "the job's drive lock is released when its cluster stops" || fail "lock: $(ls -l "$lock" 2>&1; cat "$lock" 2>&1)"
as_user_bg "$STATE/holder.log" vm alloc -N 1 -c 1 --timeout 300 -E 'sleep 120' tiny-pdc:1
lock_held() { [[ -s $lock ]]; }
if wait_for "another job holds the drive" 180 lock_held; then
  holder=$(cat "$lock")
  as_user vm alloc -N 1 -c 1 --timeout 120 -E true tiny-pdc:1
  [[ $RC != 0 ]] && grep -q "in use by your job $holder" <<<"$OUT" &&
    pass "mmp: cluster: a second job is refused while job $holder holds the drive" ||
    fail "second job on an mmp: cluster drive: rc $RC: $(tail -n 6 <<<"$OUT")"
  as_user scancel "$holder"
fi
wait "$BG_PID" 2>/dev/null
rm -f "$HOME_SRC/pd.raw" "$HOME_SRC/pdc.raw" "$HOME_SRC/.config/slurm-vm/templates.yaml"
check_nodes_clean "after the persistent drives"
