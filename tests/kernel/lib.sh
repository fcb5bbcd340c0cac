# shellcheck shell=bash
# Shared helpers of the kernel test tier (sourced by build.sh and run.sh).
# Downloads and build products live in a cache outside the source tree:
# $BALLAST_VM_CACHE, else /var/cache/ballast-vm (root), else
# ${XDG_CACHE_HOME:-~/.cache}/ballast-vm.

kvm_log() { printf '[kvm %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
kvm_die() { printf '[kvm] error: %s\n' "$*" >&2; exit "${KVM_DIE_RC:-99}"; }

# Seconds since $1 (a `date +%s.%N` stamp), one decimal.
kvm_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

kvm_cache() {
	local c=${BALLAST_VM_CACHE:-}
	if [ -z "$c" ]; then
		if [ "$(id -u)" = 0 ]; then
			c=/var/cache/ballast-vm
		else
			c=${XDG_CACHE_HOME:-$HOME/.cache}/ballast-vm
		fi
	fi
	mkdir -p "$c" || kvm_die "cannot create cache directory $c"
	c=$(cd "$c" && pwd -P)
	# The cache holds ~500 MB of packages and kernels: never inside a work tree.
	if git -C "$c" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		kvm_die "cache directory $c is inside a git work tree; set BALLAST_VM_CACHE"
	fi
	printf '%s\n' "$c"
}

# Canonical guest path in the merged-/usr layout of the initramfs.
kvm_guest_path() {
	case $1 in
	/lib64/* | /lib/* | /bin/* | /sbin/*) printf '/usr%s\n' "$1" ;;
	*) printf '%s\n' "$1" ;;
	esac
}

# kvm_copy_elf STAGE SRC DEST [LIBPATH]
# Copy ELF file SRC to STAGE/DEST with every shared library `ldd` resolves
# for it (the dynamic loader included). LIBPATH is searched first (for
# libraries extracted from packages under $KVM_PKGROOT, which land at their
# path relative to it). Libraries listed in $KVM_BASE_LIST (paths already in
# the base initramfs) are skipped.
kvm_copy_elf() {
	local stage=$1 src=$2 dest libpath=${4:-} out lib gdest
	dest=$(kvm_guest_path "$3")
	[ -f "$src" ] || kvm_die "missing binary $src"
	mkdir -p "$stage$(dirname "$dest")"
	rm -f "$stage$dest"
	cp -L "$src" "$stage$dest"
	chmod u+w "$stage$dest"
	if ! out=$(LD_LIBRARY_PATH=$libpath ldd "$src" 2>&1); then
		case $out in
		*"not a dynamic executable"* | *"statically linked"*) return 0 ;;
		*) kvm_die "ldd $src failed: $out" ;;
		esac
	fi
	case $out in *"statically linked"*) return 0 ;; esac
	if printf '%s\n' "$out" | grep -q 'not found'; then
		kvm_die "unresolved libraries for $src: $(printf '%s\n' "$out" | grep 'not found' | tr '\n' ' ')"
	fi
	while read -r lib; do
		[ -n "$lib" ] || continue
		gdest=$lib
		if [ -n "${KVM_PKGROOT:-}" ] && [ "${lib#"$KVM_PKGROOT"/}" != "$lib" ]; then
			gdest=/${lib#"$KVM_PKGROOT"/}
		fi
		gdest=$(kvm_guest_path "$gdest")
		if [ -n "${KVM_BASE_LIST:-}" ] && grep -qxF ".$gdest" "$KVM_BASE_LIST"; then
			continue
		fi
		[ -e "$stage$gdest" ] && continue
		mkdir -p "$stage$(dirname "$gdest")"
		cp -L "$lib" "$stage$gdest"
	done < <(printf '%s\n' "$out" | awk '
		$2 == "=>" && $3 ~ /^\// { print $3; next }
		$1 ~ /^\// { print $1 }')
}

# Pack directory $1 into the newc cpio archive $2 (files owned by root),
# uncompressed: under TCG the guest's gunzip costs more than loading the
# bigger file (measured in doc/kernel-tier.md).
kvm_pack() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) \
		>"$2.tmp" && mv "$2.tmp" "$2"
}
