#include "unit/boot/pe_test_support.hpp"

#include <sstream>

#include "core/process.hpp"

namespace mos::boot::test {

namespace fs = std::filesystem;

fs::path write_to(const fs::path& dir, std::string_view name, std::string_view bytes) {
  fs::path path = dir / name;
  auto written = write_file_atomic(path, bytes);
  EXPECT_TRUE(written) << (written ? "" : written.error().message);
  return path;
}

std::vector<ObjdumpSection> objdump_sections(const fs::path& file) {
  auto out = run_checked(ProcessRun{.argv = {"objdump", "-h", file.string()}});
  EXPECT_TRUE(out) << (out ? "" : out.error().message);
  if (!out) return {};
  std::vector<ObjdumpSection> sections;
  std::istringstream lines(*out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string index, name, size, vma, lma, offset;
    if (!(fields >> index >> name >> size >> vma >> lma >> offset)) continue;
    if (index.find_first_not_of("0123456789") != std::string::npos) continue;
    ObjdumpSection section{.name = name,
                           .size = std::stoull(size, nullptr, 16),
                           .vma = std::stoull(vma, nullptr, 16),
                           .file_offset = std::stoull(offset, nullptr, 16)};
    if (std::getline(lines, line)) section.flags = line.substr(line.find_first_not_of(' '));
    sections.push_back(std::move(section));
  }
  return sections;
}

std::uint64_t objdump_header_value(const fs::path& file, std::string_view field) {
  auto out = run_checked(ProcessRun{.argv = {"objdump", "-p", file.string()}});
  EXPECT_TRUE(out) << (out ? "" : out.error().message);
  if (!out) return 0;
  std::istringstream lines(*out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string name, value;
    if (fields >> name >> value && name == field) return std::stoull(value, nullptr, 16);
  }
  ADD_FAILURE() << "objdump -p " << file << " shows no " << field;
  return 0;
}

std::string objcopy_section(const fs::path& file, std::string_view name) {
  fs::path out = file.parent_path() / (file.filename().string() + ".section");
  auto dumped = run_checked(
      ProcessRun{.argv = {"objcopy", "--dump-section", fmt::format("{}={}", name, out.string()),
                          file.string(), (file.parent_path() / "objcopy-discard").string()}});
  EXPECT_TRUE(dumped) << (dumped ? "" : dumped.error().message);
  auto bytes = read_file(out);
  std::error_code ignored;
  fs::remove(out, ignored);
  return bytes ? *bytes : std::string();
}

SigningKey make_signing_key(const fs::path& dir, std::string_view common_name) {
  SigningKey key{.key = dir / "db.key", .cert = dir / "db.pem", .cert_der = dir / "db.der"};
  auto made = run_checked(
      ProcessRun{.argv = {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                          key.key.string(), "-out", key.cert.string(), "-days", "3650", "-subj",
                          fmt::format("/CN={}", common_name)}});
  EXPECT_TRUE(made) << (made ? "" : made.error().message);
  auto der = run_checked(ProcessRun{.argv = {"openssl", "x509", "-in", key.cert.string(),
                                             "-outform", "DER", "-out", key.cert_der.string()}});
  EXPECT_TRUE(der) << (der ? "" : der.error().message);
  return key;
}

Status sign_and_verify(const fs::path& image, const SigningKey& key) {
  fs::path signed_image = image.string() + ".signed";
  MOS_TRY(run_checked(
      ProcessRun{.argv = {"sbsign", "--key", key.key.string(), "--cert", key.cert.string(),
                          "--output", signed_image.string(), image.string()},
                 .merge_stderr = true}));
  MOS_TRY(run_checked(
      ProcessRun{.argv = {"sbverify", "--cert", key.cert.string(), signed_image.string()},
                 .merge_stderr = true}));
  return {};
}

std::uint32_t reference_pe_checksum(std::string_view image) {
  auto u32 = [&](std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(image[at + i]);
    return v;
  };
  std::size_t field = u32(0x3c) + 4 + 20 + 64;
  std::uint64_t sum = 0;
  std::string padded(image);
  if (padded.size() % 2) padded += '\0';
  for (std::size_t i = 0; i < padded.size(); i += 2) {
    if (i == field || i == field + 2) continue;
    sum += static_cast<unsigned char>(padded[i]) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(padded[i + 1])) << 8);
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint32_t>(sum + image.size());
}

std::string read_debian_file(std::string_view path) {
  if (!fs::exists(path)) return {};
  auto bytes = read_file(path);
  EXPECT_TRUE(bytes) << (bytes ? "" : bytes.error().message);
  return bytes ? *bytes : std::string();
}

}  // namespace mos::boot::test
