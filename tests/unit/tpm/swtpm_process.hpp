#pragma once
// A fresh swtpm for one test: TPM 2.0 on two free loopback ports (command, control), its state
// in a temp dir, already started (startup-clear), stopped by pid when the object goes.
#include <sys/types.h>

#include <optional>
#include <string>

#include "core/file.hpp"

namespace mos::tpm::testing {

class SwtpmProcess {
 public:
  // nullopt (with a test failure added) when swtpm cannot be started.
  static std::optional<SwtpmProcess> start();
  SwtpmProcess(SwtpmProcess&& other) noexcept;
  SwtpmProcess& operator=(SwtpmProcess&&) = delete;
  ~SwtpmProcess();

  // "swtpm:host=127.0.0.1,port=P"
  std::string tcti() const;
  int port() const { return port_; }

 private:
  SwtpmProcess(TempDir state, pid_t pid, int port)
      : state_(std::move(state)), pid_(pid), port_(port) {}
  TempDir state_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace mos::tpm::testing
