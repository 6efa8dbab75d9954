#pragma once
// Turns a push-style producer (a download writing into a BlobSink) into a pull-style BlobReader:
// the producer runs on its own thread and fills a small ring buffer; read() drains it. Memory is
// bounded by the buffer whatever the blob size. The producer starts at the first read(), so a
// reader never read (a blob the registry mounted instead) costs nothing. Destroying the reader
// early cancels the producer (its next write fails) and joins the thread.
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>

#include "oci/repository.hpp"

namespace mos::oci {

// producer(sink) must write all bytes into sink and return its status (a failed status, e.g. a
// digest mismatch, is returned by the reader's read() once the buffered bytes are drained).
// `verified`: the digest the producer checks the bytes against before it returns success (the
// reader then answers verifies() for it).
std::unique_ptr<BlobReader> make_blob_pipe(std::function<Status(BlobSink&)> producer,
                                           std::size_t buffer_bytes = 2 * 1024 * 1024,
                                           std::optional<Digest> verified = std::nullopt);

}  // namespace mos::oci
