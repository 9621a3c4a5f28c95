// QEMU's command line (qemu_argv.hpp).
#include "launch/qemu_argv.hpp"

#include <sys/un.h>

#include <algorithm>

#include <fmt/format.h>

namespace slurmvm::launch {

std::string default_cpu_model(bool kvm) { return kvm ? "host" : "max"; }

std::string nic_device(std::string_view model) {
  if (model == "virtio-net" || model == "virtio") return "virtio-net-pci";
  return std::string(model);
}

std::string qemu_opt_escape(std::string_view value) {
  std::string out;
  for (const char c : value) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

std::string socket_path_for_qemu(const std::filesystem::path& socket) {
  const std::string abs = socket.string();
  if (abs.size() < sizeof(sockaddr_un{}.sun_path)) return abs;
  return socket.filename().string();
}

std::vector<std::string> build_qemu_argv(const VmSpec& s) {
  using config::DiskModel;
  std::vector<std::string> a;
  auto add = [&a](std::initializer_list<std::string> words) { a.insert(a.end(), words); };

  a.push_back(s.qemu_bin.string());
  // Thread names ("CPU 0/TCG", "CPU 0/KVM") let pinning be checked with ps/top.
  add({"-name", fmt::format("{},debug-threads=on", s.name)});
  add({"-machine", s.machine_type});
  add({"-accel", s.kvm ? std::string("kvm") : fmt::format("tcg,tb-size={}", kTcgTbSizeMiB)});
  add({"-cpu", s.cpu_model});
  add({"-smp", std::to_string(s.vcpus)});
  add({"-m", std::to_string(s.memory_mib)});
  // Only the devices listed here: no default NIC, CD-ROM, floppy, parallel port or monitor.
  add({"-nodefaults", "-no-user-config", "-display", "none", "-vga", "none"});
  // Paused until the pinning helper has placed the vCPU threads and sends `cont`.
  a.push_back("-S");

  add({"-qmp", fmt::format("unix:{},server=on,wait=off", qemu_opt_escape(s.qmp_socket))});
  // The serial console: a socket for `vm console`, and everything the guest writes also
  // appended to console.log (QEMU's logfile is written whether or not a client is attached).
  add({"-chardev", fmt::format("socket,id=console,path={},server=on,wait=off,logfile={},logappend=on",
                               qemu_opt_escape(s.console_socket), qemu_opt_escape(s.console_log))});
  add({"-serial", "chardev:console"});
  // qemu-guest-agent's channel (filesystem freeze for `vm save`).
  add({"-chardev", fmt::format("socket,id=qga0,path={},server=on,wait=off", qemu_opt_escape(s.agent_socket))});
  add({"-device", "virtio-serial-pci,id=vserial0"});
  add({"-device", "virtserialport,bus=vserial0.0,chardev=qga0,name=org.qemu.guest_agent.0"});
  // Entropy for the guest's first boot (SSH keys, cloud-init) without waiting on interrupts.
  add({"-object", "rng-random,id=rng0,filename=/dev/urandom"});
  add({"-device", "virtio-rng-pci,rng=rng0"});

  if (s.disk_model == DiskModel::virtio_scsi) add({"-device", "virtio-scsi-pci,id=scsi0"});
  if (s.disk_fds) {
    add({"-add-fd", fmt::format("fd={},set=1,opaque=disk-rw", s.disk_fds->first)});
    add({"-add-fd", fmt::format("fd={},set=1,opaque=disk-ro", s.disk_fds->second)});
  }
  if (s.disk) {
    const std::string drive = fmt::format("file={},format=qcow2,cache={},discard=unmap",
                                          qemu_opt_escape(s.disk->string()), to_string(s.disk_cache));
    switch (s.disk_model) {
      case DiskModel::virtio:
        // Explicit devices, not if=virtio: QEMU creates if=virtio drives' devices after the
        // -device ones, so a persistent drive would take the first PCI slot and become vda.
        // Devices in command-line order are vda (image), vdb (seed), vdc... (persistent).
        add({"-drive", drive + ",if=none,id=disk0"});
        add({"-device", "virtio-blk-pci,drive=disk0"});
        break;
      case DiskModel::virtio_scsi:
        add({"-drive", drive + ",if=none,id=disk0"});
        add({"-device", "scsi-hd,bus=scsi0.0,drive=disk0,bootindex=0"});
        break;
      case DiskModel::ide:
        add({"-drive", drive + ",if=ide,index=0,media=disk"});
        break;
    }
  }
  // The seed on the same kind of bus as the disk, so a guest that can read its disk can read
  // its seed; cloud-init finds it by its label (cidata), whatever the device.
  const std::string seed = fmt::format("file={},format=raw,readonly=on", qemu_opt_escape(s.seed_iso.string()));
  switch (s.disk_model) {
    case DiskModel::virtio:
      add({"-drive", seed + ",if=none,id=seed0"});
      add({"-device", "virtio-blk-pci,drive=seed0"});
      break;
    case DiskModel::virtio_scsi:
      add({"-drive", seed + ",if=none,id=seed0"});
      add({"-device", "scsi-cd,bus=scsi0.0,drive=seed0"});
      break;
    case DiskModel::ide:
      add({"-drive", seed + ",if=ide,index=2,media=cdrom"});
      break;
  }

  // Persistent drives, found in the guest as /dev/disk/by-id/*-persistentN whatever the bus.
  for (std::size_t i = 0; i < s.drives.size(); ++i) {
    const DriveSpec& d = s.drives[i];
    add({"-drive", fmt::format("file={},format={},cache={},if=none,id=pdrive{},file.locking={}",
                               qemu_opt_escape(d.path), d.format, to_string(d.cache), i, d.locked ? "on" : "off")});
    const std::string share = d.locked ? "" : ",share-rw=on";
    switch (s.disk_model) {
      case DiskModel::virtio:
        add({"-device", fmt::format("virtio-blk-pci,drive=pdrive{},serial=persistent{}{}", i, i, share)});
        break;
      case DiskModel::virtio_scsi:
        add({"-device", fmt::format("scsi-hd,bus=scsi0.0,drive=pdrive{},serial=persistent{}{}", i, i, share)});
        break;
      case DiskModel::ide:
        // The two IDE places the image (ide.0 unit 0) and the seed (ide.1 unit 0) leave.
        add({"-device", fmt::format("ide-hd,drive=pdrive{},bus=ide.{},unit=1,serial=persistent{}{}", i, i, i, share)});
        break;
    }
  }

  // In order: the guest enumerates them as eth0, eth1, ... (ascending PCI slots).
  for (std::size_t i = 0; i < s.nics.size(); ++i) {
    const NicSpec& nic = s.nics[i];
    add({"-netdev", fmt::format("tap,id=n{},ifname={},script=no,downscript=no", i, nic.tap)});
    const std::string device = nic_device(nic.model);
    std::string opts = fmt::format("{},id=nic{},netdev=n{},mac={}", device, i, i, nic.mac);
    // Checksum offload off: on an Open vSwitch userspace (netdev) datapath, partial checksums
    // and oversized GSO frames from the guest are forwarded as they are and TCP breaks
    // (docs/design.md §7.6). Sites on the kernel
    // datapath lose a little throughput; this should become a site setting.
    if (device == "virtio-net-pci") opts += ",csum=off,guest_csum=off";
    add({"-device", opts});
  }

  // VFIO pins the whole guest RAM for the device's DMA (counted against RLIMIT_MEMLOCK:
  // memlock.hpp checks it before QEMU starts).
  for (std::size_t i = 0; i < s.pci_devices.size(); ++i) {
    add({"-device", fmt::format("vfio-pci,host={},id=hostpci{}", s.pci_devices[i], i)});
  }

  for (std::size_t i = 0; i < s.mounts.size(); ++i) {
    const MountSpec& m = s.mounts[i];
    add({"-fsdev", fmt::format("local,id=fs{},path={},security_model=none{}", i, qemu_opt_escape(m.path),
                               m.readonly ? ",readonly=on" : "")});
    add({"-device", fmt::format("virtio-9p-pci,fsdev=fs{},mount_tag={}", i, m.tag)});
  }

  if (s.kernel) {
    add({"-kernel", *s.kernel});
    // pcocc's default command line for direct kernel boot, unless custom-args give one.
    if (std::find(s.custom_args.begin(), s.custom_args.end(), "-append") == s.custom_args.end()) {
      add({"-append", std::string(kDefaultKernelAppend)});
    }
  }
  a.insert(a.end(), s.custom_args.begin(), s.custom_args.end());
  // Last: with -S, the pinning helper's `cont` lets the guest run once the stream is read.
  if (s.incoming_fd) add({"-incoming", fmt::format("fd:{}", *s.incoming_fd)});
  return a;
}

}  // namespace slurmvm::launch
