#include "machine/qemu_command.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "machine/firmware.hpp"
#include "machine/tpm_emulator.hpp"
#include "unit/support/test_support.hpp"

namespace mos::machine {
namespace {

using test::error_of;
using testing::ElementsAre;
using testing::HasSubstr;

MachineDefinition vm1() {
  MachineDefinition d;
  d.name = d.config.name = "vm1";
  d.config.cpus = 2;
  d.config.memory = 2048;
  return d;
}

QemuLaunch launch(Accel accel = Accel::tcg) {
  return QemuLaunch{.accel = accel,
                    .run_dir = "/r",
                    .qmp_socket = "/s/qmp.sock",
                    .console_socket = "/s/console.sock",
                    .console_log = "/r/console.log",
                    .pidfile = "/r/qemu.pid",
                    .uefi_code = "/fw/OVMF_CODE_4M.fd",
                    .uefi_vars = "/r/uefi-nvram.fd",
                    .tpm_socket = "/s/tpm.sock",
                    .cloud_init_dir = "/r/seed"};
}

std::string joined(const MachineDefinition& d, const QemuLaunch& l = launch()) {
  auto argv = qemu_argv(d, l);
  EXPECT_TRUE(argv) << (argv ? "" : argv.error().message);
  return argv ? fmt::format("{}", fmt::join(*argv, " ")) : std::string();
}

TEST(QemuArgv, SmallestMachineIsExactlyThis) {
  EXPECT_EQ(joined(vm1()),
            "qemu-system-x86_64 -name vm1,process=machine-vm1 -machine q35,smm=on,accel=tcg "
            "-cpu max -m 2048m -smp 2 -nodefaults -no-user-config -pidfile /r/qemu.pid "
            "-qmp unix:/s/qmp.sock,server=on,wait=off "
            "-chardev socket,id=console0,path=/s/console.sock,server=on,wait=off,"
            "logfile=/r/console.log,logappend=on -serial chardev:console0 -display none "
            "-global ICH9-LPC.disable_s3=1 "
            "-drive if=pflash,format=raw,unit=0,readonly=on,file=/fw/OVMF_CODE_4M.fd "
            "-drive if=pflash,format=raw,unit=1,file=/r/uefi-nvram.fd "
            "-object rng-random,id=rng0,filename=/dev/urandom -device virtio-rng-pci,rng=rng0");
}

TEST(QemuArgv, KvmUsesTheHostCpuAndZeroMeansTheOriginalsDefaults) {
  auto d = vm1();
  d.config.cpus = 0;
  d.config.memory = 0;
  auto line = joined(d, launch(Accel::kvm));
  EXPECT_THAT(line, HasSubstr("-machine q35,smm=on,accel=kvm -cpu host -m 4096m -smp 4 "));
}

TEST(QemuArgv, SecureBootTpmAndGui) {
  auto d = vm1();
  d.config.secure_boot = true;
  d.config.tpm = true;
  d.config.gui = true;
  auto line = joined(d);
  EXPECT_THAT(line, HasSubstr("-global driver=cfi.pflash01,property=secure,value=on"));
  EXPECT_THAT(line,
              HasSubstr("-chardev socket,id=chrtpm0,path=/s/tpm.sock "
                        "-tpmdev emulator,id=tpm0,chardev=chrtpm0 -device tpm-tis,tpmdev=tpm0"));
  EXPECT_THAT(line, HasSubstr("-vga std -vnc 127.0.0.1:0,to=99"));
  EXPECT_THAT(line, testing::Not(HasSubstr("-display none")));
}

TEST(QemuArgv, UserNicIsRestrictedWithForwardsBoundToLoopback) {
  auto d = vm1();
  Nic nic{.id = "nic0", .mac = "52:54:00:12:34:56", .bootindex = "off", .romfile = "off"};
  nic.ports.push_back({.protocol = "tcp", .host = {"", 22222}, .guest = {"", 22}});
  nic.ports.push_back({.protocol = "udp", .host = {"0.0.0.0", 5353}, .guest = {"", 53}});
  nic.guestfwds.push_back({.protocol = "tcp", .host = {"", 5000}, .guest = {"", 5000}});
  d.config.nics.push_back(nic);
  auto line = joined(d);
  EXPECT_THAT(line, HasSubstr("-netdev user,id=nic0,ipv4=on,restrict=on,host=10.0.2.254,"
                              "hostfwd=tcp:127.0.0.1:22222-:22,hostfwd=udp:0.0.0.0:5353-:53,"
                              "guestfwd=tcp:10.0.2.2:5000-cmd:socat - tcp:127.0.0.1:5000 "
                              "-device virtio-net-pci,netdev=nic0,mac=52:54:00:12:34:56,romfile="));
}

TEST(QemuArgv, CommasInPathsAreDoubled) {
  auto l = launch();
  l.uefi_vars = "/r/a,b.fd";
  EXPECT_THAT(joined(vm1(), l), HasSubstr("unit=1,file=/r/a,,b.fd"));
}

TEST(QemuArgv, DisksByAttachment) {
  auto d = vm1();
  d.config.disks = {
      {.file = "root.qcow2", .size = 1, .bootindex = "0"},
      {.file = "/data/big.img", .format = "raw", .attach = "scsi", .type = "hdd"},
      {.file = "n.qcow2", .attach = "nvme", .read_only = true},
      {.file = "i.qcow2", .attach = "ide", .blocksize = 4096},
  };
  auto line = joined(d);
  EXPECT_THAT(line, HasSubstr("-drive file=/r/root.qcow2,if=none,id=disk0,format=qcow2,"
                              "aio=threads,discard=unmap -device virtio-blk-pci,drive=disk0,"
                              "serial=ssd-root,bootindex=0"));
  EXPECT_THAT(line, HasSubstr("-drive file=/data/big.img,if=none,id=disk1,format=raw,aio=threads,"
                              "discard=unmap -device virtio-scsi-pci,id=scsi0 -device scsi-hd,"
                              "drive=disk1,bus=scsi0.0,serial=big,bootindex=1"));
  EXPECT_THAT(line, HasSubstr("id=disk2,format=qcow2,aio=threads,discard=unmap,readonly=on "
                              "-device nvme,drive=disk2,serial=ssd-n,bootindex=2"));
  EXPECT_THAT(line, HasSubstr("-device ide-hd,drive=disk3,bus=ide.0,serial=ssd-i,bootindex=3,"
                              "rotation_rate=1"));
}

TEST(QemuArgv, CdromAndCloudInit) {
  auto d = vm1();
  d.config.cdrom = "/iso/live.iso";
  d.config.boot = "cdrom";
  d.config.disks = {{.file = "root.qcow2", .size = 1}};
  d.config.cloud_init.user_data = "#cloud-config\n";
  auto line = joined(d);
  EXPECT_THAT(line, HasSubstr("-drive file=/iso/live.iso,if=none,id=cdrom0,format=raw,readonly=on,"
                              "media=cdrom -device ide-cd,drive=cdrom0,bus=ide.0,bootindex=0"));
  EXPECT_THAT(line, HasSubstr("serial=ssd-root,bootindex=1"));
  EXPECT_THAT(line, HasSubstr("-drive file=fat:16:/r/seed,if=none,id=cidata,format=vvfat,"
                              "readonly=on,label=cidata -device virtio-blk-pci,drive=cidata"));
}

TEST(BootIndices, ExplicitFirstThenDisksCdromNics) {
  MachineConfig c;
  c.disks = {{.file = "a", .bootindex = ""},
             {.file = "b", .bootindex = "5"},
             {.file = "c", .bootindex = "off"}};
  c.nics = {{.id = "n0"}, {.id = "n1", .bootindex = "off"}, {.id = "n2", .bootindex = "1"}};
  c.cdrom = "/x.iso";
  auto order = assign_boot_indices(c);
  ASSERT_TRUE(order);
  EXPECT_THAT(order->disks, ElementsAre(6, 5, std::nullopt));
  EXPECT_EQ(order->cdrom, 7);
  EXPECT_THAT(order->nics, ElementsAre(8, std::nullopt, 1));
}

TEST(BootIndices, BootFromCdromShiftsTheOthers) {
  MachineConfig c;
  c.boot = "cdrom";
  c.cdrom = "/x.iso";
  c.disks = {{.file = "a", .bootindex = "0"}};
  auto order = assign_boot_indices(c);
  ASSERT_TRUE(order);
  EXPECT_EQ(order->cdrom, 0);
  EXPECT_THAT(order->disks, ElementsAre(1));
}

TEST(BootIndices, ClashesAndGarbageAreRefused) {
  MachineConfig c;
  c.disks = {{.file = "a", .bootindex = "1"}};
  c.nics = {{.id = "n0", .bootindex = "1"}};
  EXPECT_THAT(error_of(assign_boot_indices(c)), HasSubstr("nics[0]: bootindex 1 is used twice"));
  c.nics[0].bootindex = "first";
  EXPECT_THAT(error_of(assign_boot_indices(c)), HasSubstr("not a number or 'off'"));
}

TEST(DiskSerial, PrefixOnceAndAtMostTwentyBytes) {
  EXPECT_EQ(disk_serial({.file = "/x/root.qcow2"}), "ssd-root");
  EXPECT_EQ(disk_serial({.file = "ssd-root.qcow2"}), "ssd-root");
  EXPECT_EQ(disk_serial({.file = "data.img", .type = "hdd"}), "data");
  EXPECT_EQ(disk_serial({.file = "a-very-long-disk-name-indeed.qcow2"}), "ssd-a-very-long-disk");
}

TEST(NicMac, StablePerMachineAndNic) {
  Nic nic{.id = "nic0"};
  auto a = nic_mac("vm1", nic);
  EXPECT_EQ(a, nic_mac("vm1", nic));
  EXPECT_NE(a, nic_mac("vm2", nic));
  EXPECT_THAT(a, testing::MatchesRegex("52:54:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}"));
  nic.mac = "52:54:00:aa:bb:cc";
  EXPECT_EQ(nic_mac("vm1", nic), "52:54:00:aa:bb:cc");
}

TEST(Firmware, PairsMustMakeOneFlash) {
  EXPECT_TRUE(firmware_pair_matches(3653632, 540672));  // Debian's 4M pair
  EXPECT_TRUE(firmware_pair_matches(1966080, 131072));  // its 2M pair
  EXPECT_FALSE(firmware_pair_matches(1966080, 540672));
  EXPECT_FALSE(firmware_pair_matches(3653632, 131072));
  EXPECT_FALSE(firmware_pair_matches(0, 4 << 20));
}

TEST(Firmware, MismatchedFilesAreRefusedByName) {
  auto dir = *TempDir::create();
  std::filesystem::path code = dir.path() / "code.fd", vars = dir.path() / "vars.fd";
  ASSERT_TRUE(write_file_atomic(code, std::string(1966080, 'c')));
  ASSERT_TRUE(write_file_atomic(vars, std::string(540672, 'v')));
  MachineConfig c;
  c.uefi_code = code.string();
  c.uefi_vars = "vars.fd";  // relative to the definition's folder
  auto error = error_of(select_firmware(c, dir.path(), {}));
  EXPECT_THAT(error, HasSubstr("(1966080 bytes) and uefi-vars"));
  EXPECT_THAT(error, HasSubstr("are not a matched pair"));
  c.uefi_vars = "missing.fd";
  EXPECT_THAT(error_of(select_firmware(c, dir.path(), {})), HasSubstr("missing.fd does not exist"));
}

TEST(Firmware, NvramIsCopiedOnceAndKept) {
  auto dir = *TempDir::create();
  std::filesystem::path code = dir.path() / "code.fd", vars = dir.path() / "vars.fd";
  ASSERT_TRUE(write_file_atomic(code, std::string(3653632, 'c')));
  ASSERT_TRUE(write_file_atomic(vars, std::string(540672, 'v')));
  Firmware f{.code = code, .vars_template = vars};
  auto nvram = dir.path() / "nvram.fd";
  ASSERT_TRUE(prepare_nvram(f, nvram));
  ASSERT_TRUE(write_file_atomic(nvram, std::string(540672, 'g')));  // the guest wrote its variables
  ASSERT_TRUE(prepare_nvram(f, nvram));
  EXPECT_EQ(test::read_text(nvram), std::string(540672, 'g'));
  ASSERT_TRUE(write_file_atomic(nvram, std::string(131072, 'g')));
  EXPECT_THAT(error_of(prepare_nvram(f, nvram)), HasSubstr("--reset-nvram"));
}

TEST(Tpm, SetupMakesATpm2WithCertificatesInItsOwnDirectory) {
  TpmFiles t{.state_dir = "/r/tpm",
             .socket = "/s/tpm.sock",
             .swtpm_socket = {},
             .pidfile = "/r/tpm/swtpm.pid"};
  EXPECT_EQ(fmt::format("{}", fmt::join(swtpm_setup_argv(t), " ")),
            "swtpm_setup --tpm2 --pcr-banks sha256 --tpmstate /r/tpm --config "
            "/r/tpm/swtpm_setup.conf --log "
            "/r/tpm/setup.log --createek --create-ek-cert --create-platform-cert --lock-nvram "
            "--not-overwrite --write-ek-cert-files /r/tpm");
  EXPECT_EQ(fmt::format("{}", fmt::join(swtpm_argv(t), " ")),
            "swtpm socket --tpm2 --tpmstate dir=/r/tpm --ctrl type=unixio,path=/s/tpm.sock --log "
            "file=/r/tpm/swtpm.log,level=1 --pid file=/r/tpm/swtpm.pid --terminate --daemon");
}

}  // namespace
}  // namespace mos::machine
