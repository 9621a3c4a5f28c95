#!/usr/bin/env bash
# tests/system/packages_test.sh - slurm-vm as a site installs it (issue 17): the Debian and RPM
# packages that packaging/build-packages made are split as documented (debian/control,
# packaging/rpm/slurm-vm.spec) and lintian-clean; the Debian ones install on this machine (the
# sandbox nodes' own root), a sandbox cluster comes up from the installed paths only
# (`sandbox up --installed`, the packaged /etc/slurm-vm as its site configuration, no build
# tree in PATH) and boots a virtual cluster; an admin's edit of a conffile survives a
# reinstall; removal leaves exactly the conffiles, and purge nothing.
#
# usage: packages_test.sh [REPO_ROOT]; needs root (exit 77 otherwise) and the packages in
# SLURM_VM_PACKAGES_DIR (default <build>/packages: scripts/test builds them with
# packaging/build-packages). Skipped when slurm-vm packages are already installed here: it
# installs and purges its own.
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
PKG=${SLURM_VM_PACKAGES_DIR:-${SLURM_VM_BUILD_DIR:-$ROOT/build/release}/packages}
if [[ ! -d $PKG/deb ]]; then
  echo "SKIP: no packages in $PKG: build them with 'packaging/build-packages $PKG'"
  exit 77
fi
PACKAGES=(slurm-vm-common slurm-vm-spank slurm-vm-node slurm-vm-client slurm-vm-pkeyd slurm-vm-doc)
installed_here() {
  local status
  status=$(dpkg-query -W -f='${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null)  # exit 1: one is unknown
  [[ $status =~ (^|$'\n').[ic] ]]
}
if installed_here; then
  echo "SKIP: slurm-vm packages are installed on this machine; this test installs and purges its own"
  exit 77
fi
if [[ -n $(ls -A /etc/slurm-vm 2>/dev/null) || -e /etc/slurm/plugstack.conf.d/slurm-vm.conf ]]; then
  echo "SKIP: /etc/slurm-vm or /etc/slurm/plugstack.conf.d/slurm-vm.conf holds files of no package; not touching them"
  exit 77
fi

TEST_NAME=packages_test
# Nothing from a build: `sandbox run` puts <build>/src/cli first in PATH when it exists.
export SLURM_VM_BUILD_DIR=/nonexistent/slurm-vm-build
# shellcheck source=../lib/sandbox_test_lib.sh
source "$ROOT/tests/lib/sandbox_test_lib.sh"
# Whatever happens, the machine ends without the packages. The sandbox goes first (its daemons
# use the installed plugin and helpers), after its logs are shown on a failure.
packages_cleanup() {
  local rc=$? f
  if ((fails > 0 || rc != 0)); then
    for f in "$STATE"/log/slurmd-node*.log; do [[ -f $f ]] && { echo "--- $f"; tail -n 15 "$f"; }; done
  fi
  "$SANDBOX" down >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive timeout 300 dpkg --purge "${PACKAGES[@]}" >/dev/null 2>&1
  (exit "$rc")
  sandbox_test_cleanup
}
trap packages_cleanup EXIT

arch=$(dpkg --print-architecture)
version=$(sed -n 's/^project(slurm-vm VERSION \([0-9.]*\) .*/\1/p' "$ROOT/CMakeLists.txt")
series=$("$ROOT/packaging/slurm-series") next=$("$ROOT/packaging/slurm-series" --next)
deb_of() { echo "$PKG/deb/${1}_${version}_$2.deb"; }
debs=()
for p in "${PACKAGES[@]}"; do
  a=$arch
  [[ $p == slurm-vm-common || $p == slurm-vm-doc ]] && a=all
  f=$(deb_of "$p" "$a")
  [[ -f $f ]] && debs+=("$f") || fail "no $f"
done
((${#debs[@]} == ${#PACKAGES[@]})) || exit 1

# --- 1. Lintian: no error or warning (info and pedantic tags are listed, not failed).
if [[ ! -s $PKG/lintian.txt ]]; then
  fail "no lintian report in $PKG/lintian.txt"
elif grep -qE '^[EW]: ' "$PKG/lintian.txt"; then
  fail "lintian errors or warnings:"; grep -E '^[EW]: ' "$PKG/lintian.txt" | sed 's/^/  /'
else
  pass "lintian: no error or warning ($(grep -cE '^[IP]: ' "$PKG/lintian.txt") info/pedantic tags)"
fi

# --- 2. What each package holds: the split of debian/control, file by file.
expected_deb_files() {
  local lib=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)
  case $1 in
    slurm-vm-common) printf '%s\n' /etc/slurm-vm/{networks,repos,resources,slurm-vm,templates}.yaml ;;
    slurm-vm-spank) printf '%s\n' /etc/slurm/plugstack.conf.d/slurm-vm.conf "$lib/slurm-wlm/spank_vm.so" ;;
    slurm-vm-node) printf '%s\n' /usr/libexec/slurm-vm/vm-{epilog,launch,node-restore,prolog} \
      /usr/share/man/man8/vm-prolog.8.gz /usr/share/lintian/overrides/slurm-vm-node ;;
    slurm-vm-client) printf '%s\n' /usr/bin/vm /usr/share/bash-completion/completions/vm \
      /usr/share/man/man1/vm.1.gz /usr/share/man/man5/slurm-vm-templates.yaml.5.gz ;;
    slurm-vm-pkeyd) printf '%s\n' /lib/systemd/system/vm-pkeyd.service /usr/sbin/vm-pkeyd /usr/share/man/man8/vm-pkeyd.8.gz \
      /usr/share/lintian/overrides/slurm-vm-pkeyd ;;
  esac
}
for f in "${debs[@]}"; do
  p=$(dpkg-deb -f "$f" Package)
  [[ $p == slurm-vm-doc ]] && continue
  got=$(dpkg-deb -c "$f" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' | grep -v "^/usr/share/doc/$p/" | sort)
  want=$(expected_deb_files "$p" | sort)
  [[ $got == "$want" ]] && pass "$p: its files" || { fail "$p holds:"; diff <(echo "$want") <(echo "$got") | sed 's/^/  /'; }
done
doc_files=$(dpkg-deb -c "$(deb_of slurm-vm-doc all)" | awk '{ print $6 }')
grep -q '/usr/share/doc/slurm-vm-doc/examples/networks.yaml$' <<<"$doc_files" &&
  grep -q '/usr/share/doc/slurm-vm-doc/install.md' <<<"$doc_files" &&
  pass "slurm-vm-doc: the documents and examples" || fail "slurm-vm-doc: $(echo $doc_files)"
spank_deps=$(dpkg-deb -f "$(deb_of slurm-vm-spank "$arch")" Depends Breaks)
[[ $spank_deps == *"slurm-wlm-basic-plugins (>= $series)"* && $spank_deps == *"slurm-wlm-basic-plugins (>= $next)"* ]] &&
  pass "slurm-vm-spank: depends on Slurm $series and breaks $next" || fail "slurm-vm-spank's relations: $spank_deps"

# --- 3. The RPMs: the same split, config files marked, the Slurm series required.
expected_rpm_files() {
  case $1 in
    slurm-vm-common) printf '%s\n' /etc/slurm-vm /etc/slurm-vm/{networks,repos,resources,slurm-vm,templates}.yaml ;;
    slurm-vm-spank) printf '%s\n' /etc/slurm/plugstack.conf.d/slurm-vm.conf /usr/lib64/slurm/spank_vm.so ;;
    slurm-vm-node) printf '%s\n' /usr/libexec/slurm-vm /usr/libexec/slurm-vm/vm-{epilog,launch,node-restore,prolog} \
      /usr/share/man/man8/vm-prolog.8.gz ;;
    slurm-vm-client) printf '%s\n' /usr/bin/vm /usr/share/bash-completion/completions/vm \
      /usr/share/man/man1/vm.1.gz /usr/share/man/man5/slurm-vm-templates.yaml.5.gz ;;
    slurm-vm-pkeyd) printf '%s\n' /usr/lib/systemd/system/vm-pkeyd.service /usr/sbin/vm-pkeyd /usr/share/man/man8/vm-pkeyd.8.gz ;;
  esac
}
rpm_arch=$(rpm --eval '%{_arch}')
for p in "${PACKAGES[@]}"; do
  a=$rpm_arch
  [[ $p == slurm-vm-common || $p == slurm-vm-doc ]] && a=noarch
  f=$PKG/rpm/RPMS/$a/$p-$version-1.$a.rpm
  [[ -f $f ]] || { fail "no $f"; continue; }
  [[ $p == slurm-vm-doc ]] && continue
  # Manual pages: compressed by the distribution's brp-compress, where it has one (not Debian's rpm).
  got=$(rpm -qlp "$f" 2>/dev/null | grep -v '^/usr/lib/\.build-id' | sed 's|^\(/usr/share/man/.*\)\.gz$|\1|' | sort)
  want=$(expected_rpm_files "$p" | sed 's|^\(/usr/share/man/.*\)\.gz$|\1|' | sort)
  [[ $got == "$want" ]] && pass "$p.rpm: its files" || { fail "$p.rpm holds:"; diff <(echo "$want") <(echo "$got") | sed 's/^/  /'; }
  case $p in
    slurm-vm-common | slurm-vm-spank)
      configs=$(rpm -qcp "$f" 2>/dev/null | sort)
      want=$(expected_rpm_files "$p" | grep '^/etc/.*\.\(yaml\|conf\)$' | sort)
      [[ $configs == "$want" ]] && pass "$p.rpm: /etc files are %config" || fail "$p.rpm config files: $configs" ;;
  esac
  if [[ $p == slurm-vm-spank ]]; then
    rel=$(rpm -qp --requires --conflicts "$f" 2>/dev/null | tr '\n' ' ')
    [[ $rel == *"slurm >= $series"* && $rel == *"slurm >= $next"* ]] &&
      pass "slurm-vm-spank.rpm: requires Slurm $series, conflicts with $next" || fail "slurm-vm-spank.rpm relations: $rel"
  fi
done

# --- 4. Install on this machine: every dependency is already here (scripts/install-deps).
OUT=$(DEBIAN_FRONTEND=noninteractive timeout 300 dpkg -i "${debs[@]}" 2>&1)
RC=$?
expect_rc "dpkg -i of the six packages" 0
for p in "${PACKAGES[@]}"; do
  s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
  [[ $s == "install ok installed" ]] || fail "$p is '$s' after dpkg -i"
done
conffiles=$(dpkg-query -W -f='${Conffiles}\n' "${PACKAGES[@]}" | awk 'NF { print $1 }' | sort)
conffiles_want=$(printf '%s\n' /etc/slurm-vm/{networks,repos,resources,slurm-vm,templates}.yaml /etc/slurm/plugstack.conf.d/slurm-vm.conf | sort)
[[ $conffiles == "$conffiles_want" ]] && pass "conffiles: /etc/slurm-vm/*.yaml and the plugstack.conf.d snippet" || fail "conffiles: $(echo $conffiles)"
owned=$(dpkg -L "${PACKAGES[@]}" 2>/dev/null | sort -u)

# An admin's edit survives a reinstall of the package that ships the file.
echo "# edited by the site" >>/etc/slurm-vm/networks.yaml
OUT=$(DEBIAN_FRONTEND=noninteractive timeout 300 dpkg -i "$(deb_of slurm-vm-common all)" 2>&1)
RC=$?
expect_rc "dpkg -i slurm-vm-common again" 0
[[ $(tail -n 1 /etc/slurm-vm/networks.yaml) == "# edited by the site" ]] &&
  pass "an admin's edit of /etc/slurm-vm/networks.yaml survives the reinstall" || fail "the reinstall overwrote /etc/slurm-vm/networks.yaml"
sed -i '$d' /etc/slurm-vm/networks.yaml

# --- 5. A sandbox cluster from the installed packages only, its site configuration the
# packaged /etc/slurm-vm (plus the sandbox's own tiny test template).
export SLURM_VM_SANDBOX_SYSCONF_SRC=/etc/slurm-vm
OUT=$("$SANDBOX" up --nodes 2 --installed 2>&1) || { fail "sandbox up --installed: $OUT"; exit 1; }
pass "sandbox up --installed"
grep -qx "Prolog=/usr/libexec/slurm-vm/vm-prolog" "$STATE/etc/slurm.conf" &&
  grep -qx "Epilog=/usr/libexec/slurm-vm/vm-epilog" "$STATE/etc/slurm.conf" &&
  grep -qx "include /etc/slurm/plugstack.conf.d/slurm-vm.conf" "$STATE/etc/plugstack.conf" &&
  pass "slurm.conf and plugstack.conf point at the installed helpers and snippet" ||
  fail "the sandbox's Slurm configuration: $(grep -E '^(Prolog|Epilog)=' "$STATE/etc/slurm.conf" | tr '\n' ' ') $(cat "$STATE/etc/plugstack.conf")"
as_user sh -c 'command -v vm'
[[ $OUT == /usr/bin/vm ]] && pass "the user's vm is /usr/bin/vm" || fail "the user's vm: $OUT"

cat >"$HOME_SRC/probe" <<'PROBE'
#!/bin/sh
set -e
vm list
vm ssh vm0 ping -c1 -W10 vm1
echo "vm1 says $(vm ssh vm1 hostname)"
# The programs this user runs now (same PID namespace as the nodes): the VMs' vm-launch and
# QEMU, this script's vm and salloc.
for p in /proc/[0-9]*; do readlink "$p/exe" 2>/dev/null || true; done | sort -u | sed 's/^/exe: /'
PROBE
chmod 755 "$HOME_SRC/probe"
as_user vm alloc -N 2 --timeout 300 -E ./probe tiny:2
expect_rc "vm alloc -N2 tiny:2 from the packages" 0
expect_out "vm1 answers ping from vm0 by name" "1 packets received"
expect_out "vm ssh vm1 hostname" "^vm1 says vm1$"
expect_out "the user runs /usr/bin/vm" "^exe: /usr/bin/vm$"
exes=$(sed -n 's/^exe: //p' <<<"$OUT")
if grep -q "^$ROOT/" <<<"$exes"; then
  fail "programs from the source tree ran: $(grep "^$ROOT/" <<<"$exes" | tr '\n' ' ')"
else
  pass "no program from the source or build tree ran ($(echo $exes))"
fi
check_nodes_clean "after the job"
OUT=$("$SANDBOX" down 2>&1) && pass "sandbox down" || fail "sandbox down: $OUT"

# --- 6. Removal keeps exactly the conffiles (unchanged); purge removes them too.
OUT=$(DEBIAN_FRONTEND=noninteractive timeout 300 dpkg -r "${PACKAGES[@]}" 2>&1)
RC=$?
expect_rc "dpkg -r of the six packages" 0
# The files the packages installed that still exist (directories aside: /usr/share and the like).
owned_left() {
  local f
  left=()
  while read -r f; do
    [[ -e $f && ! -d $f ]] && left+=("$f")
  done <<<"$owned"
}
owned_left
[[ $(printf '%s\n' "${left[@]}" | sort) == "$conffiles_want" ]] && pass "after dpkg -r only the conffiles remain" ||
  fail "after dpkg -r: $(echo "${left[@]}"), expected the conffiles $(echo $conffiles_want)"
[[ ! -d /usr/libexec/slurm-vm ]] && pass "/usr/libexec/slurm-vm is gone" || fail "/usr/libexec/slurm-vm remains: $(ls -A /usr/libexec/slurm-vm)"
OUT=$(DEBIAN_FRONTEND=noninteractive timeout 300 dpkg --purge "${PACKAGES[@]}" 2>&1)
RC=$?
expect_rc "dpkg --purge" 0
owned_left
((${#left[@]} == 0)) && pass "after purge nothing of the packages remains" || fail "after purge: ${left[*]}"
if installed_here; then fail "dpkg still lists slurm-vm packages: $(dpkg -l 'slurm-vm-*' | grep '^[ir]')"; fi
