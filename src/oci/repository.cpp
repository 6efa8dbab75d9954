#include "oci/repository.hpp"

namespace mos::oci {

Status StringSink::write(std::span<const std::byte> bytes) {
  if (data_.size() + bytes.size() > limit_)
    return fail("blob is larger than the limit of {} bytes", limit_);
  data_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return {};
}

Result<std::string> fetch_small_blob(Repository& repository, const Descriptor& blob,
                                     std::size_t limit) {
  if (blob.size < 0 || static_cast<std::size_t>(blob.size) > limit)
    return fail("blob {} in {} is {} bytes, more than the limit of {} bytes", blob.digest.str(),
                repository.describe(), blob.size, limit);
  StringSink sink(limit);
  if (auto ok = repository.fetch_blob(blob, sink); !ok)
    return fail("fetching blob {} from {}: {}", blob.digest.str(), repository.describe(),
                ok.error().message);
  return std::move(sink.data());
}

}  // namespace mos::oci
