#pragma once
// The part of an OCI image config a runtime needs ("config": Entrypoint, Cmd, Env, WorkingDir,
// User), as mosb writes it and as read back from any image: the other fields of the document
// (ExposedPorts, Labels, history, ...) are ignored, but the ones used must have their types.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace mos::image {

struct ImageConfigFields {
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::vector<std::string> env;  // K=V; a default PATH is added when none is given
  std::optional<std::string> workdir;
  std::optional<std::string> user;
  friend bool operator==(const ImageConfigFields&, const ImageConfigFields&) = default;
};

// Parses an image config document (untrusted bytes: size and depth limited, duplicate keys and
// wrong types refused).
Result<ImageConfigFields> parse_image_config(std::string_view bytes);

// What a container runs: Entrypoint followed by Cmd (OCI image spec); empty when neither is set.
std::vector<std::string> command_of(const ImageConfigFields& config);

}  // namespace mos::image
