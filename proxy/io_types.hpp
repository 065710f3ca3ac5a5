#pragma once
// The I/O object types of the relay's threads, named with the io_context's own executor type
// rather than asio::any_io_executor: the type-erased executor costs an indirect call and a
// copy of the executor per operation started and completed, a dozen times per session.
// Included only by the .cpp files that do the relay's I/O.

#include <chrono>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hopscope::io {

using Executor = boost::asio::io_context::executor_type;
using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;
using Acceptor = boost::asio::basic_socket_acceptor<boost::asio::ip::tcp, Executor>;
using Resolver = boost::asio::ip::basic_resolver<boost::asio::ip::tcp, Executor>;
using Timer = boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;
template <typename T>
using Awaitable = boost::asio::awaitable<T, Executor>;
// Completion token of the relay's coroutines: (error_code, result...) instead of exceptions.
constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable_t<Executor>{});

}  // namespace hopscope::io
