"""The guest's boot files: an uncompressed kernel and a small busybox initramfs.

The kernel comes from the Debian kernel package `make vm-deps` downloads (it is
not installed on this machine); the initramfs loads the virtio, 9p and network
modules from that package, mounts this machine's `/` read-only over 9p, a
writable 9p share (the work directory) at the same path as on the host, tmpfs on
/tmp, /run, /var/tmp and /dev/shm, and runs WORK/guest-run.sh chrooted into it.
So the guest runs the host's own Python and source tree, and writes only where
the host said it may. When the script ends, the guest powers off.

Built once per kernel package into a cache directory (a few seconds).
"""
from __future__ import annotations

import gzip
import io
import lzma
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

KERNEL_DIR = Path(os.environ.get("HEAVEN_VM_KERNEL_DIR", "/var/cache/heaven-vm"))
CACHE_DIR = Path(os.environ.get("HEAVEN_VM_CACHE", Path.home() / ".cache" / "heaven-vm"))
BUSYBOX = "/bin/busybox"  # busybox-static: the initramfs has no libc
MODULES = ("virtio_pci", "9pnet_virtio", "9p", "virtio_net")  # their dependencies come from modules.dep
GUEST_IP, HOST_IP, GUEST_CONTROLLER_IP = "10.0.2.15", "10.0.2.2", "10.0.2.100"

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /modules.load); do insmod /lib/modules/$m 2>/dev/null; done
arg() { for w in $(cat /proc/cmdline); do case "$w" in $1=*) echo "${w#*=}";; esac; done; }
WORK=$(arg heaven.work)
mkdir -p /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /newroot || poweroff -f
for d in proc sys dev; do mount --move /$d /newroot/$d; done
mount -t tmpfs tmpfs /newroot/tmp; mount -t tmpfs tmpfs /newroot/run; mount -t tmpfs tmpfs /newroot/var/tmp
mkdir -p /newroot/dev/shm /newroot/dev/pts; mount -t tmpfs tmpfs /newroot/dev/shm; mount -t devpts devpts /newroot/dev/pts
mkdir -p /newroot$WORK 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none work /newroot$WORK || poweroff -f
: > /empty; mount --bind /empty /newroot/etc/resolv.conf
ip link set lo up; ip link set eth0 up
ip addr add %(guest_ip)s/24 dev eth0; ip route add default via %(host_ip)s
echo heaven-guest-ready
chroot /newroot /bin/sh $WORK/guest-run.sh > /newroot$WORK/guest-run.log 2>&1
echo heaven-guest-done
sync; poweroff -f
""" % {"guest_ip": GUEST_IP, "host_ip": HOST_IP}


@dataclass(frozen=True)
class BootFiles:
    kernel: Path
    initrd: Path


def kernel_package(directory: Path = KERNEL_DIR) -> Path:
    found = sorted(directory.glob("linux-image-*.deb"))
    if not found:
        raise FileNotFoundError(f"no guest kernel package in {directory}: run `make vm-deps`")
    return found[-1]


def boot_files(package: Path | None = None, cache: Path = CACHE_DIR) -> BootFiles:
    """The kernel and initramfs for ``package``, built into ``cache`` unless already there."""
    package = package or kernel_package()
    target = cache / package.stem
    files = BootFiles(target / "vmlinux", target / "initramfs.gz")
    if files.kernel.exists() and files.initrd.exists():
        return files
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        unpacked = Path(scratch) / "deb"
        subprocess.run(["dpkg-deb", "-x", str(package), str(unpacked)], check=True)
        vmlinuz = next(unpacked.glob("boot/vmlinuz-*"))
        modules = next(unpacked.glob("lib/modules/*"))
        _write_atomically(files.kernel, decompress_kernel(vmlinuz.read_bytes()))
        _write_atomically(files.initrd, initramfs(modules, Path(scratch) / "root"))
    return files


def decompress_kernel(vmlinuz: bytes) -> bytes:
    """The uncompressed vmlinux inside a bzImage (xz-compressed, as Debian builds it):
    booting it skips the decompression, which is slow under software emulation."""
    start = vmlinuz.find(b"\xfd7zXZ\x00")
    if start < 0:
        raise ValueError("the kernel image is not xz-compressed")
    return lzma.LZMADecompressor().decompress(vmlinuz[start:])


def load_order(modules: Path, wanted=MODULES) -> list[str]:
    """Module files (relative to ``modules``) in an order insmod accepts: dependencies first.
    The package has no modules.dep (depmod writes it on install), so each module's own
    ``depends=`` field (in its .modinfo section) is read."""
    files = {p.name.split(".ko")[0].replace("-", "_"): p for p in modules.rglob("*.ko*")}
    order: list[str] = []

    def visit(name: str) -> None:
        path = files[name]
        data = path.read_bytes()
        if path.name.endswith(".xz"):
            data = lzma.decompress(data)
        at = data.find(b"depends=")
        deps = data[at + 8:data.index(b"\0", at)].decode().split(",") if at >= 0 else []
        for dep in filter(None, deps):
            visit(dep.replace("-", "_"))
        rel = str(path.relative_to(modules))
        if rel not in order:
            order.append(rel)
    for name in wanted:
        visit(name)
    return order


def initramfs(modules: Path, root: Path) -> bytes:
    order = load_order(modules)
    for sub in ("bin", "proc", "sys", "dev", "lib/modules"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    loads = []
    for rel in order:
        source = modules / rel
        data = source.read_bytes()
        if rel.endswith(".xz"):
            data, rel = lzma.decompress(data), rel[:-3]
        (root / "lib/modules" / Path(rel).name).write_bytes(data)
        loads.append(Path(rel).name)
    (root / "modules.load").write_text("\n".join(loads) + "\n")
    (root / "init").write_text(INIT)
    (root / "init").chmod(0o755)
    listing = subprocess.run(["find", "."], cwd=root, capture_output=True, check=True).stdout
    archive = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=listing,
                             capture_output=True, check=True).stdout
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as gz:
        gz.write(archive)
    return buffer.getvalue()


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(path)
