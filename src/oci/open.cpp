#include "oci/open.hpp"

#include "oci/layout_store.hpp"
#include "oci/registry_repository.hpp"

namespace mos::oci {

Result<std::unique_ptr<Repository>> open_repository(const Reference& reference,
                                                    const OpenOptions& options) {
  if (reference.is_layout()) {
    auto store = LayoutStore::open(reference.layout_dir, options.create);
    if (!store)
      return context(fmt::format("opening layout {}", reference.location()), store.error());
    return std::unique_ptr<Repository>(std::move(*store));
  }
  MOS_TRY_ASSIGN(auto client, RegistryClient::create(reference.registry, options.registry));
  MOS_TRY(client->ping());
  return std::unique_ptr<Repository>(
      std::make_unique<RegistryRepository>(std::move(client), reference.repository));
}

}  // namespace mos::oci
