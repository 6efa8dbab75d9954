#pragma once
// Unix stream sockets for line-based protocols (mosctl boot's control channel, qemu's QMP):
// connecting by path, sending without SIGPIPE, and reading newline-terminated messages within a
// deadline and a size bound.
#include <sys/un.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace mos {

// The address of a socket path; refuses a path longer than sun_path holds.
Result<sockaddr_un> unix_address(const std::filesystem::path& socket);

// A connected stream socket (close-on-exec). The error is the bare errno text ("No such file or
// directory", "Connection refused"): callers know what the socket is for and say so.
Result<UniqueFd> connect_unix(const std::filesystem::path& socket);

// A listening stream socket (close-on-exec, non-blocking) at `socket`, replacing a stale one;
// bound under umask 077, so that only its owner may connect.
Result<UniqueFd> listen_unix(const std::filesystem::path& socket, int backlog);

Status send_all(int fd, std::string_view data);

// Sends data with a descriptor (SCM_RIGHTS) in one message: the receiver gets its own copy.
Status send_with_descriptor(int socket, std::string_view data, int descriptor);

// Reads newline-terminated lines from a stream, keeping what follows a line for the next call.
class LineReader {
 public:
  LineReader(int fd, std::size_t limit) : fd_(fd), limit_(limit) {}
  // The next line without its newline; an error on timeout, on a line over the limit, or when the
  // peer closes (after a last line without a newline, which is returned first).
  Result<std::string> next(std::chrono::steady_clock::time_point deadline);

 private:
  int fd_;
  std::size_t limit_;
  std::string buffer_;
  bool closed_ = false;
};

}  // namespace mos
