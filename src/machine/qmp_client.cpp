#include "machine/qmp_client.hpp"

namespace mos::machine {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kQmpMessageLimit = 4 << 20;

}  // namespace

QmpClient::QmpClient(UniqueFd fd) : fd_(std::move(fd)), reader_(fd_.get(), kQmpMessageLimit) {}

Result<QmpClient> QmpClient::connect(const std::filesystem::path& socket,
                                     std::chrono::milliseconds timeout) {
  auto fd = connect_unix(socket);
  if (!fd)
    return fail("connecting to qemu's QMP socket {}: {}", socket.string(), fd.error().message);
  QmpClient client(std::move(*fd));
  auto greeting = client.reader_.next(Clock::now() + timeout);
  if (!greeting)
    return fail("qemu's QMP greeting on {}: {}", socket.string(), greeting.error().message);
  MOS_TRY_ASSIGN(auto hello, parse_json_strict(*greeting, "qemu's QMP greeting"));
  if (!hello.is_object() || !hello.contains("QMP"))
    return fail("{} does not speak QMP (its greeting has no \"QMP\")", socket.string());
  MOS_TRY(client.execute("qmp_capabilities", Json::object(), timeout));
  return client;
}

Result<Json> QmpClient::execute(const std::string& command, const Json& arguments,
                                std::chrono::milliseconds timeout) {
  Json request{{"execute", command}};
  if (!arguments.empty()) request["arguments"] = arguments;
  if (auto sent = send_all(fd_.get(), request.dump() + "\n"); !sent)
    return fail("sending {} to qemu: {}", command, sent.error().message);
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto line = reader_.next(deadline);
    if (!line) return fail("qemu's answer to {}: {}", command, line.error().message);
    MOS_TRY_ASSIGN(auto answer, parse_json_strict(*line, "a QMP message"));
    if (!answer.is_object() || answer.contains("event")) continue;
    if (answer.contains("return")) return answer["return"];
    if (answer.contains("error")) {
      const auto& error = answer["error"];
      auto text = error.is_object() ? error.value("desc", error.dump()) : error.dump();
      return fail("qemu refused {}: {}", command, text);
    }
  }
}

}  // namespace mos::machine
