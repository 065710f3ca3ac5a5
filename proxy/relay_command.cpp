#include "proxy/relay_command.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "config/audit_directory.hpp"
#include "config/load.hpp"
#include "proxy/audit_pipeline.hpp"
#include "proxy/relay_context.hpp"
#include "proxy/session.hpp"
#include "proxy/session_id.hpp"
#include <netinet/in.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

namespace hopscope {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

constexpr int exit_config = 2;
constexpr int exit_failure = 3;
// Pause after an accept error such as EMFILE, so a full descriptor table is not a busy loop:
// with no descriptor free, accept(2) fails at once, whether or not a connection waits (which
// stays in the listen queue).
constexpr auto accept_error_pause = std::chrono::milliseconds(100);
// While accept keeps failing, its warning is repeated at most this often.
constexpr auto accept_warning_every = std::chrono::seconds(10);
// How often the drain checks whether the sessions are gone.
constexpr auto drain_poll = std::chrono::milliseconds(50);
// After the drain period, how long closed sessions get to write their documents.
constexpr auto close_grace = std::chrono::seconds(5);

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("hopscope");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

// Each session needs two descriptors. Raise the soft limit to the hard one and warn when
// max_sessions still cannot fit.
void raise_descriptor_limit(std::uint32_t max_sessions) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return;
  }
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  const auto needed = static_cast<rlim_t>(max_sessions) * 2 + 64;
  if (limit.rlim_cur < needed) {
    // What happens at the limit: a sender accepted when no descriptor is left for its
    // upstream socket gets 421 4.3.2 (session.cpp); when none is left to accept with, the
    // connection waits in the listen queue until sessions end.
    spdlog::warn(
        "file descriptor limit {} is below the {} that max_sessions = {} needs; beyond that, "
        "senders get \"421 4.3.2 out of file descriptors\" and further connections wait in "
        "the listen queue, unanswered, until sessions end (raise LimitNOFILE or ulimit -n)",
        limit.rlim_cur, needed, max_sessions);
  }
}

// Accept errors (EMFILE when the descriptor table is full) repeat every accept_error_pause on
// each listener for as long as they last, and at the limit accept fails and works in turn as
// sessions end. One warning per accept_warning_every at most, the first at once, each later
// one with the number of failures not said; and, after a warning, one line when accept works
// again. Shared by the accept loops of every thread.
class AcceptErrorLog {
 public:
  void failed(const std::string& listener, const boost::system::error_code& ec) {
    const auto now = std::chrono::steady_clock::now();
    const std::lock_guard lock(mutex_);
    if (!failing_.load(std::memory_order_relaxed)) {
      failing_.store(true, std::memory_order_relaxed);
      since_ = now;
      failures_ = 0;
    }
    ++failures_;
    if (warned_ && now - last_warned_ < accept_warning_every) {
      ++unsaid_;
      return;
    }
    if (!warned_) {
      spdlog::warn(
          "accept on {}: {}; new connections wait in the listen queue; retrying every {} ms "
          "(this warning is repeated at most every {} s)",
          listener, ec.message(), accept_error_pause.count(), accept_warning_every.count());
    } else {
      spdlog::warn("accept on {}: {} ({} more failure{} not logged since the last line)", listener,
                   ec.message(), unsaid_, unsaid_ == 1 ? "" : "s");
    }
    warned_ = true;
    last_warned_ = now;
    unsaid_ = 0;
    said_since_working_ = true;
  }

  // After every successful accept: costs one relaxed load unless accept was failing.
  void succeeded(const std::string& listener) {
    if (!failing_.load(std::memory_order_relaxed)) {
      return;
    }
    const std::lock_guard lock(mutex_);
    if (!failing_.load(std::memory_order_relaxed)) {
      return;
    }
    failing_.store(false, std::memory_order_relaxed);
    if (!said_since_working_) {
      return;  // this failure was not said: neither is its end
    }
    said_since_working_ = false;
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - since_);
    spdlog::info("accept on {} works again after {}.{:03} s: {} failure{}, {} of them not logged",
                 listener, took.count() / 1000, took.count() % 1000, failures_,
                 failures_ == 1 ? "" : "s", unsaid_);
    unsaid_ = 0;
  }

 private:
  std::atomic<bool> failing_{false};
  std::mutex mutex_;                                   // guards the rest
  bool warned_ = false;                                // the first warning was said
  bool said_since_working_ = false;                    // a line was said since accept last worked
  std::chrono::steady_clock::time_point since_;        // accept began failing
  std::chrono::steady_clock::time_point last_warned_;  // the last warning line
  std::uint64_t failures_ = 0;                         // since accept began failing
  std::uint64_t unsaid_ = 0;                           // failures since the last line
};

// SO_REUSEPORT lets every socket of the same user join a listening group: a second hopscope
// on the same address would bind fine and take half of the mail. A plain bind first (no
// SO_REUSEPORT; SO_REUSEADDR only, so TIME_WAIT from a previous run does not count) fails
// with EADDRINUSE while anyone listens there. Returns 0 or the errno of that bind.
int address_in_use(const tcp::endpoint& endpoint) {
  if (endpoint.port() == 0) {
    return 0;  // the kernel picks a free port
  }
  const int fd = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return errno;
  }
  const int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (endpoint.address().is_v6()) {
    (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  const int error =
      ::bind(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size())) == 0 ? 0 : errno;
  ::close(fd);
  return error;
}

// One accept loop per listener and thread; sessions stay on the thread that accepted them
// (the kernel spreads connections over the SO_REUSEPORT listeners), so no session is handed
// between threads. The acceptor outlives the loop: run_relay owns it until the threads end.
io::Awaitable<void> accept_loop(io::Acceptor& acceptor, std::shared_ptr<RelayContext> context,
                                std::shared_ptr<AcceptErrorLog> errors) {
  boost::system::error_code listener_ec;
  auto listener = acceptor.local_endpoint(listener_ec);
  if (listener_ec) {
    listener = tcp::endpoint(tcp::v6(), 0);  // unspecified: each session asks its socket
  }
  const std::string listener_text = listener.address().to_string();
  for (;;) {
    tcp::endpoint peer;  // from accept(2) itself: no getpeername(2) per session
    auto [ec, socket] = co_await acceptor.async_accept(peer, io::use_tuple);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
      co_return;
    }
    if (ec) {
      errors->failed(listener_text, ec);
      io::Timer pause(acceptor.get_executor(), accept_error_pause);
      co_await pause.async_wait(io::use_tuple);
      continue;
    }
    errors->succeeded(listener_text);
    const std::string client_ip = peer.address().to_string();
    auto executor = socket.get_executor();
    const auto admission = context->limits.acquire(client_ip);
    if (admission != SessionLimits::Admission::admitted) {
      const std::string reason =
          admission == SessionLimits::Admission::too_many_sessions
              ? "too many sessions (max_sessions = " +
                    std::to_string(context->config->relay.max_sessions) + ")"
              : "too many sessions from " + client_ip + " (max_sessions_per_client = " +
                    std::to_string(context->config->relay.max_sessions_per_client) + ")";
      asio::co_spawn(executor, refuse_session(std::move(socket), peer, listener, context, reason),
                     [](const std::exception_ptr& e) {
                       if (e) {
                         spdlog::error("refusing a session failed unexpectedly");
                       }
                     });
      continue;
    }
    try {
      start_session(std::move(socket), peer, listener, client_ip, context);
    } catch (const std::exception& e) {
      context->limits.release(client_ip);  // the session never started: it holds no place
      spdlog::error("session from {} could not start: {}", client_ip, e.what());
    }
  }
}

// Until every session has ended, or `end`.
asio::awaitable<void> wait_for_sessions(asio::steady_timer& timer, const RelayContext& context,
                                        std::chrono::steady_clock::time_point end) {
  while (context.limits.active() > 0 && std::chrono::steady_clock::now() < end) {
    timer.expires_after(drain_poll);
    co_await timer.async_wait(use_tuple);
  }
}

// Waits for SIGTERM/SIGINT or the end of --duration, then drains: stop accepting, let the
// sessions finish within timeouts.drain, close the rest, and stop the threads.
// `signals` is set up before the first listener opens, so a SIGTERM that arrives while the
// threads start (sessions may already be accepted) is held for this coroutine instead of
// killing the process.
asio::awaitable<void> control(std::vector<std::unique_ptr<io::Acceptor>>& acceptors,
                              std::vector<std::unique_ptr<asio::io_context>>& contexts,
                              std::shared_ptr<RelayContext> context, asio::signal_set& signals,
                              std::optional<std::chrono::milliseconds> duration) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  if (duration) {
    timer.expires_after(*duration);
  } else {
    timer.expires_at(asio::steady_timer::time_point::max());
  }
  using namespace asio::experimental::awaitable_operators;  // NOLINT(google-build-using-namespace)
  auto which = co_await (signals.async_wait(use_tuple) || timer.async_wait(use_tuple));
  if (which.index() == 0) {
    spdlog::info(
        "signal {} received: draining (up to {} s)", std::get<1>(std::get<0>(which)),
        std::chrono::duration_cast<std::chrono::seconds>(context->config->relay.timeouts.drain)
            .count());
  } else {
    spdlog::info("--duration reached: draining");
  }
  for (auto& a : acceptors) {
    // Each acceptor belongs to its own thread's io_context: close it there.
    asio::post(a->get_executor(), [acceptor = a.get()] {
      boost::system::error_code ignored;
      acceptor->close(ignored);
    });
  }
  // A lingering close after our 421 (session.cpp) waits for the sender's close, not for
  // anything the drain is for: those end now, and no new one starts (draining is set first).
  context->draining = true;
  context->registry.close_all(SessionRegistry::CloseKind::lingering);
  const auto drain_end = std::chrono::steady_clock::now() + context->config->relay.timeouts.drain;
  // A second signal ends the drain early.
  signals.async_wait([context](const boost::system::error_code& ec, int signal_number) {
    if (!ec) {
      // Said, as the first signal was: sessions cut mid-message are the operator's doing.
      spdlog::warn(
          "signal {} received again: closing {} session{} now, without waiting for "
          "them (senders retry what was cut off)",
          signal_number, context->limits.active(), context->limits.active() == 1 ? "" : "s");
      context->cut_short = true;
      context->shutting_down = true;
      context->registry.close_all(SessionRegistry::CloseKind::now);
    }
  });
  while (context->limits.active() > 0 && std::chrono::steady_clock::now() < drain_end &&
         !context->shutting_down) {
    timer.expires_after(drain_poll);
    co_await timer.async_wait(use_tuple);
  }
  if (context->limits.active() > 0) {
    if (!context->cut_short) {
      // (After a second signal the sessions are already being closed, and stderr said so.)
      spdlog::info("drain period over: closing {} sessions", context->limits.active());
      context->shutting_down = true;
      context->registry.close_all(SessionRegistry::CloseKind::drain_over);
    }
    const auto closing_started = std::chrono::steady_clock::now();
    co_await wait_for_sessions(timer, *context, closing_started + close_grace);
    if (const auto waiting = context->limits.active(); waiting > 0) {
      // Sessions whose sender finished a message wait for upstream's reply to it (see
      // SessionRegistry::CloseKind), each within timeouts.data_end of its end of data.
      const auto data_end = context->config->relay.timeouts.data_end;
      spdlog::info(
          "{} session{} still open: waiting up to {} s (timeouts.data_end) for upstream's reply "
          "to a message the sender finished, so that it is not sent twice; a second signal "
          "closes them now",
          waiting, waiting == 1 ? " is" : "s are",
          std::chrono::duration_cast<std::chrono::seconds>(data_end).count());
      co_await wait_for_sessions(timer, *context, closing_started + data_end + close_grace);
    }
    if (const auto left = context->limits.active(); left > 0) {
      spdlog::warn(
          "{} sessions did not close within {} s of being told to; stopping without "
          "their audit documents",
          left, close_grace.count());
    }
  }
  signals.cancel();
  for (auto& c : contexts) {
    c->stop();
  }
}

}  // namespace

int run_relay(config::Config config, const RelayOptions& options) {
  setup_logging(config.log.level);
  if (config.relay.listen.empty()) {
    std::fprintf(stderr,
                 "hopscope relay: no listen address: give --listen host:port or relay.listen in "
                 "the configuration\n");
    return exit_config;
  }
  if (!config.relay.upstream) {
    std::fprintf(stderr,
                 "hopscope relay: no upstream: give --upstream host:port or relay.upstream in the "
                 "configuration\n");
    return exit_config;
  }
  if (config.relay.mode != config::Mode::passthrough) {
    std::fprintf(stderr,
                 "hopscope relay: mode \"inspect\" is not built yet in this version; use "
                 "passthrough\n");
    return exit_config;
  }
  if (config.relay.transparent != config::Transparent::off) {
    std::fprintf(stderr,
                 "hopscope relay: transparent interception is not built yet in this version; "
                 "set relay.transparent = \"off\"\n");
    return exit_config;
  }
  if (!config.hops.empty()) {
    spdlog::warn("{}", config::hops_not_built());
  }
  raise_descriptor_limit(config.relay.max_sessions);

  auto shared_config = std::make_shared<const config::Config>(std::move(config));
  std::shared_ptr<AuditPipeline> pipeline;
  try {
    pipeline = std::make_shared<AuditPipeline>(shared_config);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hopscope relay: %s\n", e.what());
    return exit_config;
  }
  // DESIGN.md §5 "a full disk never stops mail": an audit directory that cannot hold documents
  // is said loudly, before the listeners open, and the relay starts anyway.
  if (const auto problem = config::audit_directory_problem(shared_config->audit.directory,
                                                           config::DirectoryCheck::create);
      !problem.empty()) {
    spdlog::error("audit.directory {} {}; {}", shared_config->audit.directory, problem,
                  config::audit_directory_consequence());
  }
  auto context = std::make_shared<RelayContext>(shared_config, pipeline,
                                                std::make_shared<SessionIdGenerator>());

  const unsigned threads = std::max(1U, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  for (unsigned i = 0; i < threads; ++i) {
    // Every socket is used only by the thread that runs its io_context: sessions stay on the
    // thread that accepted them, and other threads post to it (force_close, the acceptors'
    // close). So the reactor needs no lock per descriptor operation; posting from other
    // threads and registering descriptors stay locked.
    contexts.push_back(std::make_unique<asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO));
  }
  auto& main_context = *contexts.front();
  asio::signal_set signals(main_context, SIGTERM, SIGINT);  // before anything is accepted

  std::vector<std::unique_ptr<io::Acceptor>> acceptors;
  for (const auto& listen : shared_config->relay.listen) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(listen.host, ec);
    if (ec) {
      std::fprintf(stderr, "hopscope relay: listen address %s: not an IP address\n",
                   listen.to_string().c_str());
      return exit_config;
    }
    tcp::endpoint endpoint(address, listen.port);
    if (const int busy = address_in_use(endpoint); busy != 0) {
      std::fprintf(stderr, "hopscope relay: cannot listen on %s: %s\n", listen.to_string().c_str(),
                   std::system_category().message(busy).c_str());
      return exit_failure;
    }
    for (auto& io : contexts) {
      auto acceptor = std::make_unique<io::Acceptor>(io->get_executor());
      acceptor->open(endpoint.protocol(), ec);
      if (!ec) {
        acceptor->set_option(io::Acceptor::reuse_address(true), ec);
      }
      if (!ec) {
        // SO_REUSEPORT: one listener per thread on the same address (Linux >= 3.9).
        const int one = 1;
        if (::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) !=
            0) {
          ec.assign(errno, boost::system::system_category());
        }
      }
      if (!ec && address.is_v6()) {
        acceptor->set_option(asio::ip::v6_only(true), ec);
      }
      if (!ec) {
        acceptor->bind(endpoint, ec);
      }
      if (!ec) {
        acceptor->listen(asio::socket_base::max_listen_connections, ec);
      }
      if (ec) {
        std::fprintf(stderr, "hopscope relay: cannot listen on %s: %s\n",
                     listen.to_string().c_str(), ec.message().c_str());
        return exit_failure;
      }
      // Port 0: the first listener picked the port; the others join it.
      endpoint = acceptor->local_endpoint();
      acceptors.push_back(std::move(acceptor));
    }
    spdlog::info("listening on {}{}{}:{}", address.is_v6() ? "[" : "",
                 endpoint.address().to_string(), address.is_v6() ? "]" : "", endpoint.port());
  }
  spdlog::info("relaying to {} in {} mode; audit log in {}",
               shared_config->relay.upstream->to_string(), "passthrough",
               shared_config->audit.directory);

  auto accept_errors = std::make_shared<AcceptErrorLog>();
  for (auto& acceptor : acceptors) {
    asio::co_spawn(acceptor->get_executor(), accept_loop(*acceptor, context, accept_errors),
                   [](const std::exception_ptr& e) {
                     if (e) {
                       spdlog::critical("accept loop failed unexpectedly");
                     }
                   });
  }
  std::atomic<bool> failed{false};
  asio::co_spawn(main_context, control(acceptors, contexts, context, signals, options.duration),
                 [&failed](const std::exception_ptr& e) {
                   if (e) {
                     failed = true;
                   }
                 });

  std::vector<std::thread> workers;
  for (unsigned i = 1; i < threads; ++i) {
    workers.emplace_back([&c = *contexts[i], i] {
      // Named so that top -H and perf tell the I/O threads from the audit worker.
      const auto name = "hopscope-io" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      auto guard = asio::make_work_guard(c);
      c.run();
    });
  }
  main_context.run();
  for (auto& c : contexts) {
    c->stop();
  }
  for (auto& w : workers) {
    w.join();
  }
  pipeline->finish();
  if (const auto lost = pipeline->lost(); lost == 0) {
    spdlog::info("stopped; every audit document was written");
  } else {
    spdlog::info("stopped; {} audit document{} could not be written", lost, lost == 1 ? "" : "s");
  }
  return failed ? exit_failure : 0;
}

}  // namespace hopscope
