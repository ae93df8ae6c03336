"""VM nodes: QEMU guests that run `heaven agent`, and live vCPU hot-plug.

- guest.py builds the guest's boot files (kernel and a busybox initramfs that runs
  this machine's own Python over a read-only 9p share);
- qemu.py boots a guest and speaks QMP;
- providers.py is one interface for plugging vCPUs, with the qemu, libvirt and
  VirtualBox providers;
- scaler.py is the threshold loop: it reads a node's use from the controller, asks
  the pure rule in heaven.core.vcpus, and plugs or (after the node's agent released
  the CPU) unplugs.
"""
