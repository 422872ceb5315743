#!/bin/busybox sh
# guest-init.sh - the first process of the VM run-in-vm.sh boots, in two
# stages, both as PID 1:
#
#   stage 1 (/init in the initramfs): load the kernel modules the VM needs,
#     make a tmpfs the real root, put busybox and the shared host /usr and
#     /etc in it, and switch_root into it. The tests need a real root:
#     pivot_root, which every container does, is impossible on the
#     initramfs, and a chroot over it would leave the initramfs reachable to
#     a container that escapes its own root.
#   stage 2 (/bb/init in the new root): mount the usual file systems, then
#     the shared checkout at its path on the host, and cgroup2 alone at
#     /sys/fs/cgroup with every controller enabled for children; run the
#     host's command from the control share with its output on the second
#     serial port, write its exit status to the control share and power off.
set -u
PATH=/bb/bin:/bin:/usr/sbin:/usr/bin:/sbin

if [ "${1:-}" != stage2 ]; then
	/bin/busybox mkdir -p /proc /sys /dev /newroot
	/bin/busybox mount -t proc proc /proc
	/bin/busybox mount -t devtmpfs dev /dev
	while read -r m; do
		/bin/busybox insmod "/modules/$m.ko" || echo "crate-vm: insmod $m failed" >/dev/console
	done </modules/order
	r=/newroot
	/bin/busybox mount -t tmpfs -o mode=755 root $r
	/bin/busybox mkdir -p $r/bb/bin $r/ctl $r/usr $r/proc $r/sys $r/dev $r/tmp $r/run $r/root $r/etc
	/bin/busybox cp /bin/busybox $r/bb/busybox
	/bin/busybox cp /init $r/bb/init
	/bin/busybox --install -s $r/bb/bin 2>/dev/null || true
	# busybox --install links to /bin/busybox: point them at the new copy.
	for l in $r/bb/bin/*; do /bin/busybox ln -sf /bb/busybox "$l"; done
	mount9p() { /bin/busybox mount -t 9p -o "trans=virtio,version=9p2000.L,msize=262144,$3" "$1" "$2"; }
	mount9p ctl $r/ctl cache=none || { echo "crate-vm: cannot mount the control share" >/dev/console; /bin/busybox poweroff -f; }
	mount9p usr $r/usr ro,cache=loose
	for d in bin sbin lib lib64 libx32 lib32; do
		[ -e $r/usr/$d ] && /bin/busybox ln -s usr/$d $r/$d
	done
	mount9p etc $r/etc ro,cache=loose
	/bin/busybox umount /proc /dev
	exec /bin/busybox switch_root $r /bb/init stage2
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t tmpfs -o mode=755 run /run
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
	echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
done
hostname crate-vm
ip link set lo up
stty -F /dev/ttyS1 raw -echo 115200 2>/dev/null
# The checkout last, over what is mounted above: a clone in /tmp or /run
# must not be hidden by their tmpfs.
. /ctl/config # dir=, the checkout's path on the host
if ! mkdir -p "$dir" || ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=mmap work "$dir"; then
	echo "crate-vm: cannot share the checkout at $dir in the VM (inside the host's /usr or /etc, shared read-only?)" >/dev/ttyS1
	echo 125 >/ctl/status
	poweroff -f
fi
# The host's shell if it has one: busybox's runs its own applets first,
# whatever PATH says.
shell=/bin/sh
[ -x $shell ] || shell=/bb/bin/sh
$shell /ctl/run.sh </dev/null >/dev/ttyS1 2>&1
echo $? >/ctl/status
sync
poweroff -f
