#pragma once
// Included before any Boost.Asio header in the registry: works around Boost 1.74's detection
// and warnings on the compilers we build with.
// GCC 12 flags Boost 1.74's coroutine frame allocator (operator new/delete pairs it cannot
// match up through the recycling allocator): a false positive in Boost's headers.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it
#if defined(__clang__)
// Boost 1.74 detects C++20 coroutines on GCC only; clang (the fuzz build) has them as well.
#include <coroutine>
#define BOOST_ASIO_HAS_CO_AWAIT 1
#define BOOST_ASIO_HAS_STD_COROUTINE 1
#endif

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace mos::registry {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

}  // namespace mos::registry
