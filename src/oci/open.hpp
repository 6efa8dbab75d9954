#pragma once
// Opens the content location a reference names: a registry repository (RegistryRepository,
// pinged so that connection and credential problems show up here) or an image layout
// directory (LayoutStore).
#include <memory>

#include "core/result.hpp"
#include "oci/reference.hpp"
#include "oci/registry_client.hpp"
#include "oci/repository.hpp"

namespace mos::oci {

struct OpenOptions {
  RegistryClientOptions registry;
  bool create = false;  // layouts: create the directory when missing
};

Result<std::unique_ptr<Repository>> open_repository(const Reference& reference,
                                                    const OpenOptions& options);

}  // namespace mos::oci
