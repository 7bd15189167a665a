#!/usr/bin/env bash
# boot.sh KERNEL INITRD LOG NAME...: boots the test VM and judges its runs.
#
# qemu (q35, -cpu max, TCG with a thread per vCPU; no network card, no
# display, no reboot) boots KERNEL with INITRD and a serial console, which is
# streamed to LOG as it is and to stdout readably: the init's @@corral-vm
# lines become "vmtest:" lines, everything else (the tests' output) is shown
# as it comes. A run id on the kernel command line keeps test output from
# passing for the init's lines.
#
# NAME... are the test binaries expected to run, each as root and as uid
# 1000. Exit status: 0 when every one of them passed as both users; 1 when
# any failed or did not run; 2 when the VM did not finish (timeout, crash).
#
# Knobs: CORRAL_VM_MEM (MiB, 1536), CORRAL_VM_SMP (2), CORRAL_VM_TIMEOUT
# (seconds for the whole boot, 1500), CORRAL_VM_ACCEL (tcg, the default, or
# kvm), CORRAL_VM_CMDLINE (appended to the kernel command line).
set -uo pipefail
shopt -s extglob

if (($# < 4)); then
	echo "usage: boot.sh KERNEL INITRD LOG NAME..." >&2
	exit 2
fi
kernel=$1 initrd=$2 log=$3
shift 3
names=("$@")

mem=${CORRAL_VM_MEM:-1536}
smp=${CORRAL_VM_SMP:-2}
limit=${CORRAL_VM_TIMEOUT:-1500}
# TCG by default: a /dev/kvm that opens is no promise that KVM works (nested
# in some VMs, qemu aborts setting -cpu max's MSRs).
accel=${CORRAL_VM_ACCEL:-tcg}
[[ $accel == tcg ]] && accel=tcg,thread=multi
run=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
tag="@@corral-vm:$run"

echo "vmtest: booting (qemu ${accel%%,*}, $smp vCPUs, $mem MiB, timeout ${limit}s); console log: $log"
start=$(date +%s)
# show prints the console as it comes; marker lines are reworded.
show() {
	local line kind rest name user rc secs
	while IFS= read -r line; do
		line=${line%$'\r'}
		line=${line//$'\e'\[*([0-9;?])[a-zA-Z]/} # SeaBIOS's terminal resets
		line=${line//$'\e'c/}
		if [[ $line == ?*"$tag "* ]]; then # output without a final newline before a marker
			printf '%s\n' "${line%%"$tag "*}"
			line=$tag\ ${line#*"$tag "}
		fi
		if [[ $line != "$tag "* ]]; then
			case $line in
			"" | "SeaBIOS (version"* | "Booting from ROM"*) ;;
			*) printf '%s\n' "$line" ;;
			esac
			continue
		fi
		read -r kind rest <<<"${line#"$tag "}"
		case $kind in
		info) echo "vmtest: $rest" ;;
		warn) echo "vmtest: WARNING: $rest" ;;
		fatal) echo "vmtest: VM SET-UP FAILED: $rest" ;;
		start)
			read -r name user rest <<<"$rest"
			echo "=== $name as ${user/uid/uid } ($rest)"
			;;
		result)
			read -r name user rc secs <<<"$rest"
			if [[ $rc == 0 ]]; then
				echo "vmtest: PASS $name as ${user/uid/uid } (${secs}s)"
			else
				echo "vmtest: FAIL $name as ${user/uid/uid } (exit status $rc, ${secs}s)"
			fi
			;;
		esac
	done
}
timeout -k 10 "$limit" qemu-system-x86_64 -machine q35 -accel "$accel" -cpu max -smp "$smp" -m "$mem" \
	-nographic -no-reboot -nic none -kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init corral_vm.run=$run ${CORRAL_VM_CMDLINE:-}" \
	</dev/null 2>&1 | tee "$log" | show
qrc=${PIPESTATUS[0]}
secs=$(($(date +%s) - start))

# The verdict comes from the log, not from what was shown.
declare -A result
while read -r _ _ name user rc _; do
	result[$name.$user]=$rc
done < <(tr -d '\r' <"$log" | grep -o "$tag result .*")
done_line=$(tr -d '\r' <"$log" | grep -o "$tag done .*" | tail -n 1)

pass=0 fail=0 missing=0
echo "vmtest: results:"
for name in "${names[@]}"; do
	for user in root uid1000; do
		rc=${result[$name.$user]-}
		if [[ $rc == 0 ]]; then
			status=PASS
			pass=$((pass + 1))
		elif [[ -n $rc ]]; then
			status="FAIL (exit status $rc)"
			fail=$((fail + 1))
		else
			status="DID NOT RUN"
			missing=$((missing + 1))
		fi
		printf 'vmtest:   %-28s %-9s %s\n' "$name" "${user/uid/uid }" "$status"
	done
done
total=$((pass + fail + missing))
summary="$pass of $total runs passed ($fail failed, $missing did not run); VM ${secs}s"
# run.sh passes its start time, for the whole lane's wall time.
[[ -n ${CORRAL_VM_T0:-} ]] && summary+=", total $(($(date +%s) - CORRAL_VM_T0))s"
if [[ -z $done_line ]]; then
	if ((qrc == 124 || qrc == 137)); then
		echo "vmtest: FAIL: the VM did not finish within ${limit}s (CORRAL_VM_TIMEOUT): $summary"
	else
		echo "vmtest: FAIL: the VM stopped before its init finished (qemu exit status $qrc; see $log): $summary"
	fi
	exit 2
fi
if ((pass == total && total > 0)); then
	echo "vmtest: PASS: $summary"
	exit 0
fi
echo "vmtest: FAIL: $summary"
exit 1
