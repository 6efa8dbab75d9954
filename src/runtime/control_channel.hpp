#pragma once
// The control channel of a running `mosctl boot`: a unix stream socket in its run directory
// (mode 0600, root only). A client sends one JSON object on one line, {"command": ...}, and reads
// one JSON line back: {"ok": true, ...} or {"ok": false, "error": "..."}. One request per
// connection keeps both sides simple; requests are rare (status, activate, stop, reload).
#include <chrono>
#include <filesystem>

#include "core/json.hpp"
#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace mos::runtime {

inline constexpr std::size_t kControlMessageLimit = 1 << 20;

// The answer of the boot listening at socket, or why there is none. A missing or refusing socket
// says that no boot runs for root (named in the message).
Result<Json> ask_boot(const std::filesystem::path& socket, const Json& request,
                      const std::filesystem::path& root,
                      std::chrono::milliseconds timeout = std::chrono::minutes(2));

// True when a boot answers at socket.
bool boot_is_running(const std::filesystem::path& socket);

// Binds the socket (replacing a stale file left by a boot that died); refuses when a boot
// answers there.
Result<UniqueFd> listen_for_control(const std::filesystem::path& socket);

// Reads one request from an accepted connection (bounded in size and time).
Result<Json> read_request(int connection);
void send_answer(int connection, const Json& answer);

}  // namespace mos::runtime
