#include "unit/support/test_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/file.hpp"
#include "registry/registry.hpp"
#include "registry/routes.hpp"

#ifndef MOS_SOURCE_DIR
#error "MOS_SOURCE_DIR must name the source tree (tests/CMakeLists.txt sets it)"
#endif

namespace mos::test {

int listen_on_loopback(int backlog, int& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(fd, backlog);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

void flip_byte(const fs::path& path, std::uint64_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  unsigned char c = 0;
  EXPECT_EQ(::pread(fd, &c, 1, static_cast<off_t>(offset)), 1) << path << " at " << offset;
  c ^= 0x01;
  EXPECT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(offset)), 1) << path << " at " << offset;
  ::close(fd);
}

std::string read_text(const fs::path& path) {
  auto text = read_file(path);
  EXPECT_TRUE(text) << (text ? "" : text.error().message);
  return text ? *text : std::string();
}

std::vector<std::string> dir_entries(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string replaced(std::string text, std::string_view from, std::string_view to) {
  auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "\"" << from << "\" is not in:\n" << text;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

oci::Descriptor descriptor_of(std::string_view bytes, std::string_view media_type) {
  oci::Descriptor d;
  d.media_type = std::string(media_type);
  d.digest = oci::digest_of(bytes);
  d.size = static_cast<std::int64_t>(bytes.size());
  return d;
}

Result<std::size_t> FakeBlobReader::read(std::span<std::byte> buffer) {
  if (offset_ == bytes_.size()) {
    if (at_end_) MOS_TRY(at_end_());
    return std::size_t{0};
  }
  std::size_t n = std::min(buffer.size(), bytes_.size() - offset_);
  std::memcpy(buffer.data(), bytes_.data() + offset_, n);
  offset_ += n;
  return n;
}

fs::path example_path(std::string_view name) {
  return fs::path(MOS_SOURCE_DIR) / "examples" / name;
}

std::string example(std::string_view name) {
  return read_text(example_path(name));
}

fs::path fixture_path(std::string_view name) {
  return fs::path(MOS_SOURCE_DIR) / "tests" / "fixtures" / name;
}

registry::HttpResponse registry_answer(registry::Registry& registry,
                                       const registry::HttpRequest& request, bool* streamed) {
  if (streamed) *streamed = false;
  auto route = registry::parse_route(request.target);
  if (!registry::Registry::streams_body(request.method, route))
    return registry.handle(request, route);
  auto begun = registry.begin_upload_body(request, route);
  if (auto* refused = std::get_if<registry::HttpResponse>(&begun)) return *refused;
  if (streamed) *streamed = true;
  auto& sink = *std::get<std::unique_ptr<registry::UploadBody>>(begun);
  EXPECT_TRUE(sink.write(std::as_bytes(std::span(request.body.data(), request.body.size()))));
  return registry.finish_upload_body(request, route, sink, true);
}

}  // namespace mos::test
