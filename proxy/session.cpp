#include "proxy/session.hpp"

#include <array>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "proxy/audit_pipeline.hpp"
#include "proxy/facts_recorder.hpp"
#include "proxy/io_types.hpp"
#include "proxy/relay_context.hpp"
#include "proxy/session_id.hpp"
#include "proxy/smtp/ascii.hpp"
#include "proxy/smtp/conversation.hpp"
#include "proxy/smtp/reply_boundary.hpp"
#include "proxy/upstream_errors.hpp"
#include "tls/handshake_observer.hpp"
#include "tls/record_parser.hpp"
#include <sys/socket.h>

namespace hopscope {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;  // NOLINT(google-build-using-namespace)

using io::use_tuple;

// One read per direction at a time; 16 KiB like HAProxy's default tune.bufsize.
constexpr std::size_t read_buffer_bytes = std::size_t{16} * 1024;
// Each direction waits in an asynchronous read of this many bytes into the session's own
// buffer: enough for nearly every SMTP command and reply, small enough for an idle session.
// A full read continues into the thread's 16 KiB buffer in the same pass.
constexpr std::size_t first_read_bytes = 512;
// Transcript entries kept per session; beyond, they are counted in transcript_dropped.
constexpr std::size_t max_transcript_entries = 5000;
// How long a last word to the sender (our 421) may take before we close anyway.
constexpr auto farewell_write_limit = std::chrono::seconds(10);

// Lingering close after our own 421, as Apache (lingering_close) and Postfix do. A socket
// closed while bytes from the peer wait unread in it, or that receives bytes after the
// close, answers with RST instead of FIN (RFC 1122 §4.2.2.13; Linux does so). A sender that
// talked early (EHLO before the banner), pipelined, or sent a command while we timed out
// then sees "connection reset", and a stack that drops its receive buffer on RST (Windows
// does) never reads the 421 that would have made it retry. So after the 421: FIN at once
// (shutdown of our sending side), then what the sender still sends is read and dropped
// until it closes its side, and only then the socket is closed.
//
// Bounded in time: a sender that reads the 421 closes within a round trip or two; one that
// never closes holds the socket (and its max_sessions place) no longer than this.
constexpr auto linger_limit = std::chrono::seconds(2);
// Bounded in bytes: a sender that keeps streaming is not waited for; past this, close (its
// RST then is its own doing).
constexpr std::size_t linger_max_bytes = std::size_t{64} * 1024;
// A session refused for max_sessions or max_sessions_per_client holds no place in either
// limit, so nothing else bounds how many of them linger: a flood of refused connections must
// not pile up descriptors. They linger briefly, and only so many at once across the process
// (well inside the 64 descriptors relay_command.cpp allows beyond 2 per session); past that,
// or during shutdown, they close without waiting (Linger::at_once).
constexpr auto refusal_linger_limit = std::chrono::milliseconds(500);
constexpr int max_refusals_lingering = 16;
std::atomic<int> refusals_lingering{0};  // process-wide: sessions of every thread count

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "192.0.2.1:25" or "[2001:db8::1]:25". IPv4, nearly every session's peer, is written by
// hand: glibc's inet_ntop(3) formats it with sprintf, a measurable part of a short session.
std::string endpoint_string(const tcp::endpoint& ep) {
  const auto address = ep.address();
  std::array<char, 24> port{};
  auto* const port_end = std::to_chars(port.data(), port.data() + port.size(), ep.port()).ptr;
  if (address.is_v6()) {
    return "[" + address.to_string() + "]:" + std::string(port.data(), port_end);
  }
  std::string out;
  out.reserve(21);
  for (const auto byte : address.to_v4().to_bytes()) {
    std::array<char, 4> digits{};
    out.append(digits.data(), std::to_chars(digits.data(), digits.data() + digits.size(),
                                            static_cast<unsigned>(byte))
                                  .ptr);
    out += '.';
  }
  out.back() = ':';
  out.append(port.data(), port_end);
  return out;
}

std::string local_endpoint_string(const io::Socket& s) {
  boost::system::error_code ec;
  const auto ep = s.local_endpoint(ec);
  return ec ? std::string("unknown") : endpoint_string(ep);
}

std::string seconds_text(Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + "s";
}

bool is_own_probe(const std::string& helo_line, const std::string& probe_name) {
  // "EHLO hopscope-probe.invalid": compare the argument, case-insensitively.
  const auto space = helo_line.find(' ');
  return space != std::string::npos && !probe_name.empty() &&
         smtp::iequals(std::string_view(helo_line).substr(space + 1), probe_name);
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `listener` is the address the sender connected to when the listener is bound to one
  // (no getsockname(2) then); a wildcard listener's sessions ask their socket.
  Session(io::Socket client, const tcp::endpoint& peer, const tcp::endpoint& listener,
          std::shared_ptr<RelayContext> context)
      : context_(std::move(context)),
        config_(*context_->config),
        client_(std::move(client)),
        upstream_(client_.get_executor()),
        watchdog_(client_.get_executor()),
        start_(Clock::now()),
        conversation_(smtp::Limits{config_.relay.max_line_bytes}),
        recorder_(facts_, config_.relay.timeouts, start_, max_transcript_entries) {
    facts_.started_unix_ms = unix_ms_now();
    facts_.id = context_->ids->next(facts_.started_unix_ms);
    facts_.mode = "passthrough";
    facts_.downstream.peer = endpoint_string(peer);
    facts_.downstream.local = listener.address().is_unspecified() ? local_endpoint_string(client_)
                                                                  : endpoint_string(listener);
    if (config_.relay.upstream) {
      facts_.upstream.address = config_.relay.upstream->to_string();
    }
  }

  ~Session() {
    if (admitted_) {
      context_->limits.release(client_ip_);
    }
    if (counted_refusal_linger_) {
      refusals_lingering.fetch_sub(1);
    }
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  Session(Session&&) = delete;
  Session& operator=(Session&&) = delete;

  // Relays until both directions are done, the deadline passes, or shutdown closes it.
  // Three tasks share the session (one pump per direction and the watchdog), each a chain
  // of completion handlers of its own rather than coroutines joined with awaitable
  // operators: a parallel group per session costs more than the session's own relaying on
  // a short session. The last one to end writes the facts; the admission taken for the
  // sender is given back when the session object goes.
  void start(std::string client_ip) {
    client_ip_ = std::move(client_ip);
    admitted_ = true;
    std::optional<tcp::endpoint> literal;
    try {
      literal = literal_upstream();
      if (!literal) {
        spawn_task([](Session& s) { return s.run(); });
      }
    } catch (...) {
      admitted_ = false;  // never started: the caller gives the place back
      throw;
    }
    if (literal) {
      connect_literal(*literal);  // never throws: a failure ends the session's task
    }
  }

  io::Awaitable<void> refuse(std::string reason) {
    facts_.end.reason = EndReason::limit;
    facts_.end.detail = reason;
    const std::string line = "421 4.3.2 hopscope: " + reason + "; try again later\r\n";
    recorder_.said_to_sender(line, Clock::now());
    co_await say_goodbye(line, Linger::refusal);
    finish_without_upstream();
  }

 private:
  enum class Side { client, server };
  // How long the sender's socket stays open after our 421 (see linger_limit).
  enum class Linger {
    full,     // linger_limit: the session holds its max_sessions place meanwhile
    refusal,  // refusal_linger_limit, within max_refusals_lingering; else at_once
    at_once,  // drop what has arrived, then close: out of descriptors, or draining
  };

  template <typename Task>
  void spawn_task(Task task) {
    ++tasks_running_;
    try {
      auto self = shared_from_this();
      asio::co_spawn(
          client_.get_executor(), [self, task]() { return task(*self); },
          [self](const std::exception_ptr& e) { self->task_ended(e); });
    } catch (...) {
      --tasks_running_;  // it never started: it must not hold the session open
      throw;
    }
  }

  void task_ended(const std::exception_ptr& e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("session {} from {}: internal error: {}", facts_.id, client_ip_, ex.what());
      } catch (...) {
        spdlog::error("session {} from {}: unknown internal error", facts_.id, client_ip_);
      }
      io_error_ = io_error_.value_or("internal error in hopscope");
      close_both();
    }
    if (--tasks_running_ == 0) {
      finish();
    }
  }

  io::Awaitable<void> run() {
    register_for_shutdown();
    boost::system::error_code ignored;
    client_.set_option(tcp::no_delay(true), ignored);
    if (co_await connect_upstream()) {
      start_pump(Side::server);
      start_watchdog();
      start_pump(Side::client);
    }
  }

  void register_for_shutdown() {
    std::weak_ptr<Session> weak = weak_from_this();
    // The session's own thread runs its io_context (one per thread, relay_command.cpp).
    auto& io = static_cast<asio::io_context&>(client_.get_executor().context());
    registry_id_ = context_->registry.add([weak, &io](SessionRegistry::CloseKind kind) {
      asio::post(io, [weak, kind] {
        if (auto self = weak.lock()) {
          self->force_close(kind);
        }
      });
    });
  }

  // The drain is over (or a second signal came): RFC 5321 §3.8, a server that shuts down
  // SHOULD say 421 first. Only between whole replies in clear text, as on a timeout (see
  // watchdog), and only what the socket takes at once: nothing waits for it any more.
  // At the end of the drain, a sender that has finished a message first gets upstream's
  // reply to it: a 421 in its place would make it send the message again although upstream
  // may have taken it (RFC 1047). The server pump closes after that reply; the watchdog
  // bounds the wait by timeouts.data_end. (Inside TLS hopscope cannot tell: it closes.)
  void force_close(SessionRegistry::CloseKind kind) {
    // UNSAFE_IO (relay_command.cpp): a session's sockets are only touched on its own thread.
    assert(client_.get_executor().running_in_this_thread());
    if (kind == SessionRegistry::CloseKind::lingering) {
      // The drain began: no lingering close holds it. One already under way (the document
      // is written) ends now; one about to start (our 421 is out, the document not yet
      // written) does not start: complete() closes the socket.
      if (linger_until_) {
        linger_until_.reset();
        if (document_written_) {
          close_both();  // wakes linger(), which ends it (end_linger)
        }
      }
      return;
    }
    forced_ = true;
    linger_until_.reset();  // a 421 already said gets no lingering close: we are stopping
    if (kind == SessionRegistry::CloseKind::drain_over && !observer_ && !closed_by_us_ &&
        final_reply_due()) {
      close_after_final_reply_ = true;
      return;
    }
    if (!closing_ && !closed_by_us_ && !writing_to_client_ && !observer_ && !client_send_shut_ &&
        server_replies_.at_reply_end()) {
      static constexpr std::string_view line =
          "421 4.3.2 hopscope: shutting down; try again later\r\n";
      const auto sent =
          ::send(client_.native_handle(), line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (sent == static_cast<ssize_t>(line.size())) {
        recorder_.said_to_sender(line, Clock::now());
        begin_lingering_close(Linger::at_once);  // FIN, not RST, for what has arrived
      }
    }
    close_both();
  }

  // Every close hopscope makes (timeout, shutdown, limit, error, the other side's failure)
  // goes through here: from then on, reads and writes that end say nothing about who hung up.
  // After our 421, the sender's socket is only cancelled (its pump's read ends): it stays open
  // for the lingering close once the document is written (complete, linger).
  void close_both() {
    assert(client_.get_executor().running_in_this_thread());  // as in force_close
    closed_by_us_ = true;
    boost::system::error_code ignored;
    if (linger_until_) {
      client_.cancel(ignored);
    } else {
      client_.close(ignored);
    }
    upstream_.close(ignored);
    watchdog_.cancel();
  }

  // The upstream as an address literal, which needs no resolver (that would cost a thread
  // hop per session); nullopt for a host name, or when no upstream is configured.
  [[nodiscard]] std::optional<tcp::endpoint> literal_upstream() const {
    if (!config_.relay.upstream) {
      return std::nullopt;
    }
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(config_.relay.upstream->host, ec);
    if (ec) {
      return std::nullopt;
    }
    return tcp::endpoint(address, config_.relay.upstream->port);
  }

  // connect_upstream for an address literal, the common case, with completion handlers
  // instead of the run() coroutine: a coroutine spawned per session cost more than the
  // connect's own bookkeeping. A failure, rare, says its 421 in a task of its own. Counts as
  // the session's first task until the pumps (or that refusal) take over.
  void connect_literal(const tcp::endpoint& endpoint) noexcept {
    ++tasks_running_;
    try {
      register_for_shutdown();
      boost::system::error_code ignored;
      client_.set_option(tcp::no_delay(true), ignored);
      const auto& target = *config_.relay.upstream;
      watchdog_.expires_after(config_.relay.timeouts.connect);
      // socket(2) on its own first: failing there for want of descriptors or memory is
      // hopscope's own limit, and upstream has not been tried. (Any other failure to open
      // is reported by the connect, which opens again.)
      boost::system::error_code open_ec;
      upstream_.open(endpoint.protocol(), open_ec);
      if (auto shortage = resource_shortage(
              open_ec, [&] { return "opening a socket to upstream " + target.to_string(); })) {
        refuse_in_task(std::move(*shortage));
        return;
      }
      // The deadline closes the socket, which ends the connect (no parallel group).
      connecting_ = true;
      watchdog_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec && self->connecting_) {
          self->connect_timed_out_ = true;
          boost::system::error_code ignored_close;
          self->upstream_.close(ignored_close);
        }
      });
      upstream_.async_connect(
          endpoint, [self = shared_from_this(), endpoint](const boost::system::error_code& ec) {
            self->on_connected(endpoint, ec);
          });
    } catch (...) {
      end_task(std::current_exception());
    }
  }

  void on_connected(const tcp::endpoint& endpoint, const boost::system::error_code& cec) noexcept {
    try {
      connecting_ = false;
      watchdog_.cancel();
      const auto& target = *config_.relay.upstream;
      if (connect_timed_out_) {
        facts_.upstream.connect_error = "connect to " + target.to_string() + " timed out after " +
                                        seconds_text(config_.relay.timeouts.connect);
      } else if (auto shortage = resource_shortage(
                     cec, [&] { return "connecting to upstream " + target.to_string(); })) {
        // No local port free (EADDRNOTAVAIL): no SYN left this host.
        refuse_in_task(std::move(*shortage));
        return;
      } else if (cec) {
        facts_.upstream.connect_error = "connect to " + target.to_string() + ": " + cec.message();
      } else {
        upstream_ready(endpoint);
        start_pump(Side::server);
        start_watchdog();
        start_pump(Side::client);
        end_task(nullptr);
        return;
      }
      refuse_in_task(std::nullopt);
    } catch (...) {
      end_task(std::current_exception());
    }
  }

  // The connect's refusal (refuse_for_shortage, or refuse_unreachable when `shortage` is
  // empty) as a task of its own, then the connect's task ends.
  void refuse_in_task(std::optional<Shortage> shortage) {
    spawn_task([shortage = std::move(shortage)](Session& s) { return s.refusal(shortage); });
    end_task(nullptr);
  }
  io::Awaitable<void> refusal(std::optional<Shortage> shortage) {
    if (shortage) {
      co_await refuse_for_shortage(std::move(*shortage));
    } else {
      co_await refuse_unreachable();
    }
  }

  // A task that is not a coroutine ends (an exception says why it ended early).
  void end_task(const std::exception_ptr& e) noexcept {
    try {
      task_ended(e);
    } catch (...) {
      // Out of memory while saying so: nothing is left to try here, and an exception
      // must not leave the io_context's thread (it would stop every session on it).
    }
  }

  // Connects to the configured upstream, a host name (an address literal takes
  // connect_literal), within timeouts.connect. On failure the sender gets "421 4.4.0" with
  // the reason and retries later; nothing was relayed, so nothing is lost. When hopscope
  // itself has no descriptor for the socket, it is "421 4.3.2" and end.reason limit instead
  // (refuse_for_shortage): upstream was never tried.
  io::Awaitable<bool> connect_upstream() {
    if (!config_.relay.upstream) {
      facts_.upstream.connect_error = "no upstream configured";
    } else {
      const auto& target = *config_.relay.upstream;
      watchdog_.expires_after(config_.relay.timeouts.connect);
      auto resolution = co_await resolve_upstream(target);
      if (!resolution) {
        facts_.upstream.connect_error = "resolving " + target.host + " timed out after " +
                                        seconds_text(config_.relay.timeouts.connect);
      } else if (auto& [rec, results] = *resolution; rec) {
        // getaddrinfo(3) needs descriptors too (EAI_SYSTEM with errno EMFILE).
        if (auto shortage = resource_shortage(rec, [&] { return "resolving " + target.host; })) {
          co_return co_await refuse_for_shortage(std::move(*shortage));
        }
        facts_.upstream.connect_error = "cannot resolve " + target.host + ": " + rec.message();
      } else {
        // async_connect tries the addresses in turn and reports only the last one's error;
        // the condition, called before each attempt with the previous attempt's error, keeps
        // them all (one refused address is upstream's failure whatever the last one said).
        TriedAddresses tried;
        auto connected =
            co_await (asio::async_connect(upstream_, results, ConnectRecorder{&tried}, use_tuple) ||
                      watchdog_.async_wait(use_tuple));
        if (connected.index() == 1) {
          // Name what each address did before the deadline, and the one left unanswered (one
          // MX address refusing, the next firewalled): with none failed, as for one address.
          std::optional<std::string> pending;
          if (tried.current) {
            pending = endpoint_string(*tried.current);
          }
          facts_.upstream.connect_error =
              connect_timeout_text(attempts_of(tried), pending, target.to_string(),
                                   seconds_text(config_.relay.timeouts.connect));
        } else if (auto& [cec, endpoint] = std::get<0>(connected); cec) {
          if (tried.current) {
            tried.failed.emplace_back(*tried.current, cec);
          } else {
            tried.failed.emplace_back(tcp::endpoint(), cec);  // no address was tried at all
          }
          // async_connect opens a socket per address: EMFILE and the like come from there;
          // EADDRNOTAVAIL from its connect.
          auto outcome = classify_connect_failure(attempts_of(tried), target.to_string());
          if (auto* shortage = std::get_if<Shortage>(&outcome)) {
            co_return co_await refuse_for_shortage(std::move(*shortage));
          }
          facts_.upstream.connect_error = std::move(std::get<std::string>(outcome));
        } else {
          co_return upstream_ready(endpoint);
        }
      }
    }
    co_return co_await refuse_unreachable();
  }

  // Resolves the upstream's host name within the deadline already set on the watchdog;
  // nullopt when it passed. getaddrinfo(3) runs on Asio's resolver thread and cannot be
  // cancelled: waiting for the cancelled lookup, as a parallel group does, would hold the
  // session (no banner, no 421) for as long as a hung DNS server takes. So the lookup is
  // left to finish on its own; its late result is dropped.
  using Resolution = std::pair<boost::system::error_code, tcp::resolver::results_type>;
  io::Awaitable<std::optional<Resolution>> resolve_upstream(const config::Endpoint& target) {
    struct Lookup {
      explicit Lookup(const io::Executor& executor) : resolver(executor) {}
      io::Resolver resolver;
      std::optional<Resolution> result;
    };
    auto lookup = std::make_shared<Lookup>(client_.get_executor());
    resolving_ = true;
    lookup->resolver.async_resolve(
        target.host, std::to_string(target.port),
        [lookup, weak = weak_from_this()](const boost::system::error_code& ec,
                                          tcp::resolver::results_type results) {
          lookup->result.emplace(ec, std::move(results));
          if (auto self = weak.lock(); self && self->resolving_) {
            self->watchdog_.cancel();  // wakes the wait below
          }
        });
    while (!lookup->result) {
      auto [ec] = co_await watchdog_.async_wait(use_tuple);
      if (!ec || closed_by_us_) {
        break;  // the deadline passed first, or the drain closed the session
      }
    }
    resolving_ = false;
    co_return std::move(lookup->result);
  }

  // A shortage on this host (upstream_errors.hpp): only errno values count, not Asio's own
  // errors nor the resolver's (host not found). `what()` names the step; it is only called
  // on an error, so a session that connects builds no text.
  template <typename What>
  static std::optional<Shortage> resource_shortage(const boost::system::error_code& ec,
                                                   const What& what) {
    if (!ec || ec.category() != boost::system::system_category()) {
      return std::nullopt;
    }
    return hopscope::resource_shortage(ec.value(), what());
  }

  // The addresses of a host name that async_connect tried, and how each failed.
  struct TriedAddresses {
    std::optional<tcp::endpoint> current;  // being tried: its outcome comes next
    std::vector<std::pair<tcp::endpoint, boost::system::error_code>> failed;
  };
  // async_connect's connect condition: called before each address is tried, with the error
  // of the one before (none before the first). Copied into the operation: holds a pointer.
  struct ConnectRecorder {
    TriedAddresses* tried;
    bool operator()(const boost::system::error_code& ec, const tcp::endpoint& next) const {
      if (ec && tried->current) {
        tried->failed.emplace_back(*tried->current, ec);
      }
      tried->current = next;
      return true;
    }
  };
  // Only errno values (system category) can be a shortage (see resource_shortage above).
  static std::vector<ConnectAttempt> attempts_of(const TriedAddresses& tried) {
    std::vector<ConnectAttempt> attempts;
    attempts.reserve(tried.failed.size());
    for (const auto& [ep, ec] : tried.failed) {
      const bool is_errno = ec.category() == boost::system::system_category();
      attempts.push_back({endpoint_string(ep), is_errno ? ec.value() : 0, ec.message()});
    }
    return attempts;
  }

  // RFC 5321 §4.3.2 / RFC 3463 X.3.2 "system not accepting network messages": like a
  // max_sessions refusal (refuse), the sender retries later; upstream facts stay untouched.
  io::Awaitable<bool> refuse_for_shortage(Shortage shortage) {
    if (forced_) {
      co_return co_await refuse_unreachable();  // shutdown while resolving: says so
    }
    facts_.end.reason = EndReason::limit;
    facts_.end.detail = std::move(shortage.detail);
    const std::string line = "421 4.3.2 hopscope: " + shortage.said + "; try again later\r\n";
    recorder_.said_to_sender(line, Clock::now());
    // Out of descriptors: holding the sender's one any longer is what cannot be afforded.
    co_await say_goodbye(line, Linger::at_once);
    unreachable_ = true;  // finish() writes the document without upstream's side
    co_return false;
  }

  io::Awaitable<bool> refuse_unreachable() {
    if (forced_) {
      // Shutdown closed the sockets while connecting: not an outage of the upstream.
      facts_.end.reason = EndReason::shutdown;
      facts_.end.detail = context_->cut_short
                              ? "closed by a second signal during the drain, before upstream "
                                "answered"
                              : "closed at the end of the drain period, before upstream answered";
      facts_.upstream.connect_error.reset();  // the connect was cut short, it did not fail
      unreachable_ = true;
      co_return false;
    }
    facts_.end.reason = EndReason::upstream_unreachable;
    facts_.end.detail = facts_.upstream.connect_error;
    const std::string line = "421 4.4.0 hopscope: upstream unreachable (" +
                             *facts_.upstream.connect_error + "); try again later\r\n";
    recorder_.said_to_sender(line, Clock::now());
    co_await say_goodbye(line, Linger::full);
    unreachable_ = true;
    co_return false;
  }

  bool upstream_ready(const tcp::endpoint& connected_to) {
    facts_.upstream.address = endpoint_string(connected_to);
    facts_.upstream.local = local_endpoint_string(upstream_);
    boost::system::error_code ignored;
    upstream_.set_option(tcp::no_delay(true), ignored);
    return true;
  }

  // Our own last word to the sender (a 421), bounded in time; then the lingering close
  // (linger_limit): the FIN follows the 421 at once, the socket closes after the document.
  io::Awaitable<void> say_goodbye(const std::string& line, Linger linger) {
    closing_ = true;  // a shutdown meanwhile must not say a second 421
    watchdog_.expires_after(farewell_write_limit);
    auto written = co_await (asio::async_write(client_, asio::buffer(line), use_tuple) ||
                             watchdog_.async_wait(use_tuple));
    if (written.index() == 0 && !std::get<0>(std::get<0>(written))) {
      begin_lingering_close(linger);
    } else {
      // Not taken within the limit (the sender does not read), or the sender is gone.
      boost::system::error_code ignored;
      client_.close(ignored);
    }
  }

  // Our 421 is in the socket: FIN after it, and drop what the sender has already sent (a
  // close now would be a FIN, not a RST). Then either the socket stays open until
  // linger_until_ (linger, after the document), or it is closed now.
  void begin_lingering_close(Linger kind) {
    boost::system::error_code ec;
    client_.shutdown(io::Socket::shutdown_send, ec);
    if (!ec && drop_from_sender() && kind != Linger::at_once && !context_->draining) {
      if (kind == Linger::full) {
        linger_until_ = Clock::now() + linger_limit;
        return;
      }
      if (refusals_lingering.fetch_add(1) < max_refusals_lingering) {
        counted_refusal_linger_ = true;  // given back by the destructor
        linger_until_ = Clock::now() + refusal_linger_limit;
        return;
      }
      refusals_lingering.fetch_sub(1);  // too many refused sessions linger already
    }
    boost::system::error_code ignored;
    client_.close(ignored);
  }

  // Reads and drops what the sender has sent, without waiting. False once there is nothing
  // more to wait for: its end of input, an error, or more than linger_max_bytes in all.
  bool drop_from_sender() {
    std::array<char, std::size_t{8} * 1024> sink{};  // on the thread's stack, not the frame
    for (;;) {
      const auto n = ::recv(client_.native_handle(), sink.data(), sink.size(), MSG_DONTWAIT);
      if (n > 0) {
        lingered_bytes_ += static_cast<std::size_t>(n);
        if (lingered_bytes_ > linger_max_bytes) {
          return false;
        }
        continue;
      }
      if (n < 0 && errno == EINTR) {
        continue;
      }
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }

  // The document is written; the sender's socket, shut for sending, stays open until the
  // sender closes its side or linger_until_. Holds the session (its max_sessions place, so
  // that max_sessions still bounds the descriptors held; its registration) until then. The
  // drain does not wait for it: when the drain begins, the registry closes it at once
  // (CloseKind::lingering), and none starts during the drain (begin_lingering_close).
  void start_linger() {
    auto self = shared_from_this();
    // By value: a shutdown may reset linger_until_ before the coroutine first runs (it then
    // finds the socket closed).
    const auto until = *linger_until_;
    try {
      asio::co_spawn(
          client_.get_executor(), [self, until]() { return self->linger(until); },
          [self](const std::exception_ptr&) { self->end_linger(); });
    } catch (...) {
      end_linger();  // no memory for it: close now
    }
  }

  io::Awaitable<void> linger(Clock::time_point until) {
    watchdog_.expires_at(until);
    for (;;) {
      auto woke = co_await (client_.async_wait(io::Socket::wait_read, use_tuple) ||
                            watchdog_.async_wait(use_tuple));
      // The deadline passed (or a shutdown cancelled it), the socket failed or was closed, or
      // the sender closed its side or sent too much.
      if (woke.index() == 1 || std::get<0>(std::get<0>(woke)) || !drop_from_sender()) {
        co_return;
      }
    }
  }

  void end_linger() {
    linger_until_.reset();
    boost::system::error_code ignored;
    client_.close(ignored);
    context_->registry.remove(registry_id_);
  }

  // Relays one direction. The asynchronous read is small and the session's own (an
  // asynchronous read, unlike a readiness wait, costs no epoll_ctl(2) per wait); a read that
  // fills it takes the rest in the same pass into a buffer that belongs to the thread, and
  // the direction reads into a 16 KiB buffer of its own until a small read says the bulk is
  // over. So an idle session holds 2 x 512 bytes of buffer, and a message body is read in
  // chunks of up to 16 KiB. The common case relays a read with one non-blocking write and
  // no copy; only what the receiver cannot take at once is copied and written
  // asynchronously.
  //
  // A pump is a chain of completion handlers (read, relay, maybe write, read again), not a
  // coroutine: a short session is a dozen reads per direction, and a coroutine's await
  // costs more per read than the relaying it does. Each pending handler holds the session.
  // A pump counts as one of the session's tasks; end_pump is its one way out.
  using Chunk = std::array<char, read_buffer_bytes>;
  struct Pump {
    std::string rest;             // bytes the receiver could not take at once
    std::unique_ptr<Chunk> bulk;  // while the sender streams: see above
    // An error the extra recv(2) met after reading bytes: it is the next read's outcome (a
    // reset read there would otherwise turn into a plain end of input).
    boost::system::error_code deferred;
  };
  enum class PumpStep { read_again, writing, ended };

  Pump& pump_of(Side from_side) { return pumps_[from_side == Side::client ? 0 : 1]; }
  bool& writing_to(Side to_side) {
    return to_side == Side::client ? writing_to_client_ : writing_to_upstream_;
  }

  void start_pump(Side from_side) {
    ++tasks_running_;
    ++pumps_running_;
    read_next(from_side);
  }

  // Starts the direction's next read, or ends the pump if that throws (no memory).
  void read_next(Side from_side) noexcept {
    try {
      auto& p = pump_of(from_side);
      if (p.deferred) {
        const auto ec = std::exchange(p.deferred, {});
        on_read(from_side, ec, 0);
        return;
      }
      auto& from = from_side == Side::client ? client_ : upstream_;
      const asio::mutable_buffer into =
          p.bulk ? asio::buffer(*p.bulk)
                 : asio::buffer(from_side == Side::client ? from_client_ : from_server_);
      from.async_read_some(into, [self = shared_from_this(), from_side](
                                     const boost::system::error_code& ec, std::size_t n) {
        self->on_read(from_side, ec, n);
      });
    } catch (...) {
      end_pump(from_side, std::current_exception());
    }
  }

  void on_read(Side from_side, const boost::system::error_code& ec, std::size_t n) noexcept {
    try {
      switch (relay_read(from_side, ec, n)) {
        case PumpStep::read_again:
          read_next(from_side);
          return;
        case PumpStep::writing:
          return;
        case PumpStep::ended:
          break;
      }
      end_pump(from_side, nullptr);
    } catch (...) {
      end_pump(from_side, std::current_exception());
    }
  }

  // What one read brought: relay it, and observe it.
  PumpStep relay_read(Side from_side, boost::system::error_code ec, std::size_t n) {
    auto& p = pump_of(from_side);
    auto& from = from_side == Side::client ? client_ : upstream_;
    auto& to = from_side == Side::client ? upstream_ : client_;
    auto& first = from_side == Side::client ? from_client_ : from_server_;
    const Side to_side = from_side == Side::client ? Side::server : Side::client;
    static thread_local std::array<char, read_buffer_bytes> buffer;
    static_assert(read_buffer_bytes > first_read_bytes);
    const char* data = p.bulk ? p.bulk->data() : first.data();
    if (!ec && !p.bulk && n == first.size()) {
      // More may be waiting: take it now into the thread's buffer, and read the next
      // chunks (a message body) straight into a full-size buffer of this direction's own.
      std::memcpy(buffer.data(), first.data(), n);
      const auto more =
          ::recv(from.native_handle(), buffer.data() + n, buffer.size() - n, MSG_DONTWAIT);
      if (more > 0) {
        n += static_cast<std::size_t>(more);
      } else if (more < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        p.deferred.assign(errno, boost::system::system_category());
      }
      data = buffer.data();
      p.bulk = std::make_unique_for_overwrite<Chunk>();
    } else if (p.bulk && n < first.size()) {
      // Back to commands and replies: give the memory back (an idle session holds none).
      std::memcpy(buffer.data(), p.bulk->data(), n);
      data = buffer.data();
      p.bulk.reset();
    }
    if (ec) {
      note_end_of_input(from_side, ec);
      boost::system::error_code ignored;
      to.shutdown(io::Socket::shutdown_send, ignored);  // propagate the half-close
      if (to_side == Side::client) {
        client_send_shut_ = true;
        if (recorder_.quit_acknowledged()) {
          // RFC 5321 §4.1.1.10: after 221 the session is over. Upstream has closed; a
          // sender that does not close its side would hold the session (and a slot of
          // max_sessions) until the command timeout.
          close_both();
        }
      } else if (facts_.bytes_server_to_client == 0 && !closed_by_us_ &&
                 recorder_.sender_closed_before_greeting(Clock::now(),
                                                         config_.relay.timeouts.connect)) {
        // The sender closed its side before upstream said a word: most often it gave up
        // (an upstream whose listen queue is full never greets), but a script that
        // pipelines and half-closes still reads the replies. So the greeting is awaited for
        // timeouts.connect at most, not the whole greeting deadline that would hold the
        // session and its max_sessions_per_client slot; if it comes, a sender that is gone
        // resets the write and the session ends then.
        sender_left_before_greeting_ = true;
        rearm_watchdog_if_sooner();
      }
      return PumpStep::ended;
    }
    if (from_side == Side::client && closing_) {
      return PumpStep::ended;  // our 421 is on its way to the sender: nothing more goes upstream
    }
    const std::string_view bytes(data, n);
    if (from_side == Side::client) {
      recorder_.client_activity(Clock::now());
      facts_.bytes_client_to_server += n;
    } else {
      recorder_.server_activity(Clock::now());
      facts_.bytes_server_to_client += n;
      if (!observer_) {
        server_replies_.feed(bytes);
      }
      observe_server(bytes);
      if (closing_) {
        return PumpStep::ended;  // the watchdog is saying goodbye to the sender
      }
    }
    const std::size_t written = send_now(to, bytes, ec);
    // The conversation is what upstream was sent: bytes that did not reach our socket to
    // it (the send failed, or upstream had already gone) are no command and no final dot,
    // so a message cut off there stays incomplete. No handler runs between the send and
    // here, so no reply can be read before the command it answers is known.
    const bool observing = from_side == Side::client && !ec && first_close_ != Side::server;
    if (observing) {
      observe_client(bytes.substr(0, written));
    }
    rearm_watchdog_if_sooner();
    if (!ec && written < n) {
      p.rest.assign(bytes.substr(written));
      // Only this direction's flag: the other direction may be writing too.
      writing_to(to_side) = true;
      asio::async_write(to, asio::buffer(p.rest),
                        [self = shared_from_this(), from_side, observing](
                            const boost::system::error_code& wec, std::size_t /*written*/) {
                          self->on_written(from_side, observing, wec);
                        });
      return PumpStep::writing;
    }
    return after_relay(to_side, ec);
  }

  // The rest of a read is written (or the write failed).
  void on_written(Side from_side, bool observing, const boost::system::error_code& ec) noexcept {
    try {
      auto& p = pump_of(from_side);
      writing_to(from_side == Side::client ? Side::server : Side::client) = false;
      if (observing && !ec && first_close_ != Side::server) {
        observe_client(p.rest);  // the rest, once upstream's socket took it
        rearm_watchdog_if_sooner();
      }
      std::string().swap(p.rest);  // do not keep the memory while idle
      if (after_relay(from_side == Side::client ? Side::server : Side::client, ec) ==
          PumpStep::read_again) {
        read_next(from_side);
        return;
      }
      end_pump(from_side, nullptr);
    } catch (...) {
      end_pump(from_side, std::current_exception());
    }
  }

  // After a read was relayed to `to_side`: go on reading, or end the pump.
  PumpStep after_relay(Side to_side, const boost::system::error_code& ec) {
    if (!ec && to_side == Side::client && close_after_final_reply_ && !final_reply_due() &&
        server_replies_.at_reply_end()) {
      if (recorder_.quit_acknowledged()) {
        // The reply the drain waited for came with the 221 to a pipelined QUIT: the session
        // is over as the sender meant it (quit), and a 421 after the 221 would be noise.
        forced_ = false;
        close_both();
      } else {
        force_close(SessionRegistry::CloseKind::now);  // the reply is out: the drain is over
      }
      return PumpStep::ended;
    }
    if (ec) {
      if (to_side == Side::server && peer_ended(ec) &&
          (ec == asio::error::broken_pipe || ec == asio::error::connection_reset)) {
        // Upstream went away while we wrote to it, but what it said before (a 554 to an
        // oversized message, say) may still wait unread on its socket, and the epoll
        // reactor completes this write before that read. Closing both now would drop the
        // refusal, and the sender would retry a message refused for good. The server pump
        // relays it, then reads upstream's end and half-closes the sender.
        if (!first_close_) {
          note_first_close(Side::server, ec == asio::error::connection_reset);
        }
        return PumpStep::ended;
      }
      note_write_failure(to_side, ec);
      return PumpStep::ended;
    }
    return PumpStep::read_again;
  }

  // One non-blocking send(2): what the receiver takes now. Asio's own write_some would need
  // the socket in user non-blocking mode, an ioctl(2) per socket.
  static std::size_t send_now(io::Socket& to, std::string_view bytes,
                              boost::system::error_code& ec) {
    for (;;) {
      const auto sent =
          ::send(to.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (sent >= 0) {
        return static_cast<std::size_t>(sent);
      }
      if (errno == EINTR) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec.assign(errno, boost::system::system_category());
      }
      return 0;
    }
  }

  // A pump is over, whichever way: its buffers go (a session lingering after our 421 must
  // not hold them). The last one out wakes the watchdog, which then ends too; then the
  // pump's task ends (an exception says why it ended early).
  void end_pump(Side from_side, const std::exception_ptr& e) noexcept {
    auto& p = pump_of(from_side);
    p.bulk.reset();
    std::string().swap(p.rest);
    writing_to(from_side == Side::client ? Side::server : Side::client) = false;
    try {
      if (--pumps_running_ == 0) {
        watchdog_.cancel();
      }
    } catch (...) {
      // Cannot fail on a valid timer; the watchdog then ends at its deadline.
    }
    end_task(e);
  }

  // New bytes can bring the deadline forward (the greeting's 5 minutes give way to a
  // command's limit); wake the watchdog when it would otherwise fire more than twice as late
  // as the new limit allows. Firing late is lenient, never premature, and skipping the
  // re-arm in the common case (data_block after command) saves a timer update per message.
  void rearm_watchdog_if_sooner() {
    const auto deadline = recorder_.deadline();
    if (deadline < armed_deadline_ && armed_deadline_ - deadline > deadline - Clock::now()) {
      armed_deadline_ = deadline;
      watchdog_.expires_at(armed_deadline_);  // cancels the wait; the watchdog re-arms
    }
  }

  // One deadline for the whole session state (FactsRecorder::deadline): it moves only when
  // bytes arrive, never per read of a slow sender (no slowloris reset). The watchdog counts
  // as one of the session's tasks. It waits with a plain completion handler, not a
  // coroutine of its own: most sessions end without it firing, and a coroutine per session
  // for that costs more than the wait. Only a deadline that passes starts one (time_out).
  // Armed before the sender's pump runs: the pumps cancel it when the last one ends.
  void start_watchdog() {
    ++tasks_running_;
    try {
      arm_watchdog();
    } catch (...) {
      --tasks_running_;  // it never started: it must not hold the session open
      throw;
    }
  }

  void arm_watchdog() {
    armed_deadline_ = recorder_.deadline();
    watchdog_.expires_at(armed_deadline_);
    watchdog_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      self->on_watchdog(ec);
    });
  }

  void on_watchdog(const boost::system::error_code& ec) noexcept {
    try {
      if (pumps_running_ == 0) {
        task_ended(nullptr);  // both directions are done: the session is ending
        return;
      }
      if (ec || Clock::now() < recorder_.deadline()) {
        arm_watchdog();  // re-armed for an earlier deadline, or the deadline moved on
        return;
      }
      // The deadline passed: the goodbye awaits a write, so it runs as a task of its own,
      // counted before this one ends.
      spawn_task([](Session& s) { return s.time_out(); });
      task_ended(nullptr);
    } catch (...) {
      try {
        task_ended(std::current_exception());  // as a coroutine's exception would end it
      } catch (...) {
        // Out of memory while saying so: nothing is left to try here, and an exception
        // must not leave the io_context's thread (it would stop every session on it).
      }
    }
  }

  // The deadline passed (on_watchdog): say so, and close.
  io::Awaitable<void> time_out() {
    timed_out_ = true;
    // What hopscope waited on. A relay stuck writing is waiting for a receiver that
    // stopped reading, whatever the conversation's state says the other side owes.
    const std::string waited_for =
        writing_to_upstream_ ? "upstream to accept the data the sender sent (upstream stopped "
                               "reading)"
        : writing_to_client_ ? "the sender to accept upstream's data (the sender stopped reading)"
                             : recorder_.waiting_for();
    facts_.end.detail = "timed out waiting for " + waited_for;
    // Our 421 only between whole replies in clear text: glued to half a reply it could
    // complete a success the upstream never sent; inside TLS it would be garbage. Else
    // the sender sees the connection drop, and retries.
    if (!writing_to_client_ && !observer_ && !client_send_shut_ && server_replies_.at_reply_end()) {
      closing_ = true;
      const std::string line =
          "421 4.4.2 hopscope: timeout waiting for " + waited_for + "; closing connection\r\n";
      recorder_.said_to_sender(line, Clock::now());
      watchdog_.expires_after(farewell_write_limit);
      auto written = co_await (asio::async_write(client_, asio::buffer(line), use_tuple) ||
                               watchdog_.async_wait(use_tuple));
      if (written.index() == 0 && !std::get<0>(std::get<0>(written)) && !closed_by_us_) {
        begin_lingering_close(Linger::full);  // a command sent meanwhile must not reset it
      }
    }
    close_both();
  }

  // A read cut short by hopscope's own close (operation_aborted, bad_descriptor, or any end
  // after close_both or after our 421 on timeout) is not that side closing:
  // SENDER_ABANDONED_AFTER_TLS reads closed_first.
  [[nodiscard]] bool peer_ended(const boost::system::error_code& ec) const {
    return !closed_by_us_ && !closing_ && ec != asio::error::operation_aborted &&
           ec != asio::error::bad_descriptor;
  }

  // The side ended first: for upstream, say when (DESIGN.md §5 end.detail).
  void note_first_close(Side side, bool reset) {
    first_close_ = side;
    if (observer_) {
      alert_before_first_close_ = observer_->observation().facts.first_encrypted_alert;
    }
    if (side == Side::server && !recorder_.quit_acknowledged()) {
      // After 221 the session ends as "quit", which needs no detail (the common case).
      upstream_end_detail_ = upstream_end_detail(reset);
    }
  }

  void note_end_of_input(Side side, const boost::system::error_code& ec) {
    if (!first_close_ && peer_ended(ec)) {
      note_first_close(side, ec == asio::error::connection_reset);
    }
    if (ec != asio::error::eof && ec != asio::error::operation_aborted &&
        ec != asio::error::bad_descriptor && ec != asio::error::connection_reset && !io_error_) {
      io_error_ = std::string(side == Side::client ? "reading from the sender: "
                                                   : "reading from upstream: ") +
                  ec.message();
    }
  }

  void note_write_failure(Side to, const boost::system::error_code& ec) {
    if (!first_close_ && peer_ended(ec)) {
      // A failed write means that side went away first.
      note_first_close(to, ec == asio::error::connection_reset);
    }
    if (ec != asio::error::broken_pipe && ec != asio::error::connection_reset &&
        ec != asio::error::operation_aborted && ec != asio::error::bad_descriptor && !io_error_) {
      io_error_ =
          std::string(to == Side::client ? "writing to the sender: " : "writing to upstream: ") +
          ec.message();
    }
    close_both();
  }

  void observe_client(std::string_view bytes) {
    if (observer_) {
      observer_->feed_client(bytes);
      return;
    }
    conversation_.feed_client(bytes);
    drain_events();
  }

  void observe_server(std::string_view bytes) {
    if (observer_) {
      observer_->feed_server(bytes);
      return;
    }
    conversation_.feed_server(bytes);
    drain_events();
  }

  void drain_events() {
    const auto now = Clock::now();
    // Read in place (none of these calls touches the conversation), then dropped.
    while (const auto* event = conversation_.peek()) {
      if (const auto* start = std::get_if<smtp::StartTls>(event)) {
        start_tls(*start, now);
      } else {
        follow_message(*event);
        recorder_.record(*event, now);
      }
      conversation_.drop_front();
    }
  }

  // Keeps track of the message the sender is transferring, for end.detail should upstream go
  // away in the middle of it. A message is over with its final reply (RFC 5321 §4.1.1.4;
  // RFC 3030 §2 for BDAT LAST), a DATA refused, or a command that starts afresh.
  void follow_message(const smtp::Event& event) {
    using K = smtp::CommandKind;
    if (const auto* c = std::get_if<smtp::ClientCommand>(&event)) {
      switch (c->command.kind) {
        case K::data:
          message_ = MessageInProgress{"DATA", 0, false};
          break;
        case K::bdat:
        case K::bdat_last:
          if (!message_ || message_->transfer != "BDAT") {
            message_ = MessageInProgress{"BDAT", 0, false};
          }
          break;
        case K::mail:
        case K::rset:
        case K::helo:
        case K::ehlo:
          message_.reset();
          break;
        default:
          break;
      }
    } else if (const auto* content = std::get_if<smtp::MessageContent>(&event)) {
      if (message_) {
        message_->content_bytes += content->bytes.size();
      }
    } else if (std::holds_alternative<smtp::MessageEnd>(event)) {
      if (message_) {
        message_->ended = true;
      }
    } else if (const auto* r = std::get_if<smtp::ServerReply>(&event); r && r->in_reply_to) {
      const auto kind = r->in_reply_to->kind;
      // A final reply ends its own message only: a DATA pipelined after the dot has begun
      // the next one (RFC 2920 §3.1), which the reply must not wipe.
      const bool final_reply = (kind == K::data && r->after_content) || kind == K::bdat_last;
      const bool data_refused =
          kind == K::data && !r->after_content && !smtp::is_positive_intermediate(r->reply.code);
      if (data_refused || (final_reply && message_ && message_->ended)) {
        message_.reset();
      }
    }
  }

  // The sender finished a message (final dot, or BDAT LAST's chunk) and its reply from
  // upstream has not come yet.
  [[nodiscard]] bool final_reply_due() const { return recorder_.final_reply_pending(); }

  // "upstream closed the connection during DATA after 20 bytes of content from the sender,
  // while waiting for the reply after the end of data from upstream": the state when
  // upstream's end was seen. Orderly close (FIN) and reset (RST) are told apart here only.
  [[nodiscard]] std::string upstream_end_detail(bool reset) const {
    std::string detail =
        std::string("upstream ") + (reset ? "reset" : "closed") + " the connection";
    if (observer_) {
      return detail + (observer_->handshake_complete()
                           ? " inside TLS, after the handshake"
                           : " after STARTTLS, before the TLS handshake completed");
    }
    if (message_) {
      detail += " during " + message_->transfer + " after " +
                std::to_string(message_->content_bytes) + " bytes of content from the sender, ";
      if (!recorder_.reply_due()) {
        return detail +
               (message_->transfer == "DATA" ? "before the final dot" : "before BDAT LAST");
      }
    } else {
      detail += " ";
    }
    return detail + "while waiting for " + recorder_.waiting_for();
  }

  // RFC 3207: the server said 2xx to STARTTLS. From here on both directions are a spliced
  // byte pipe and only the passive observer looks at them. Bytes the sender pipelined
  // after STARTTLS that are not a TLS record are the CVE-2011-0411-class evidence.
  void start_tls(const smtp::StartTls& start, Clock::time_point now) {
    recorder_.record(smtp::Event{start}, now);
    recorder_.enter_tls();
    facts_.downstream.tls_end_to_end = true;
    observer_ = std::make_unique<tls::HandshakeObserver>();
    if (!start.client_bytes_after_command.empty() &&
        tls::sniff_record(start.client_bytes_after_command) != tls::Sniff::not_tls) {
      // An eager client's ClientHello, not plaintext: hand it to the observer.
      facts_.downstream.starttls.client_plaintext_after_starttls.reset();
      facts_.upstream.starttls.client_plaintext_after_starttls.reset();
      observer_->feed_client(start.client_bytes_after_command);
    }
    if (!start.server_bytes_after_reply.empty()) {
      observer_->feed_server(start.server_bytes_after_reply);
    }
  }

  void finish_tls_facts(FinishedSession& done) {
    if (!observer_) {
      return;
    }
    const auto& observation = observer_->observation();
    facts_.upstream.tls = observation.facts;
    done.server_chain_der = observation.server_chain_der;
    done.client_chain_der = observation.client_chain_der;
    done.server_chain_cut = observation.server_chain_cut;
    auto& st = facts_.upstream.starttls;
    if (observation.client_plaintext && !st.client_plaintext_after_starttls) {
      st.client_plaintext_after_starttls = observation.client_plaintext;
      facts_.downstream.starttls.client_plaintext_after_starttls = observation.client_plaintext;
    }
    if (observation.server_plaintext) {
      st.server_plaintext_after_220 = observation.server_plaintext;
    }
    const auto& tls = observation.facts;
    if (tls.alert && tls::alert_ends_handshake(*tls.alert)) {
      st.handshake = "failed";
    } else if (observer_->handshake_complete()) {
      st.handshake = "ok";
    } else {
      st.handshake = "incomplete";
    }
    facts_.downstream.starttls.handshake = st.handshake;
  }

  // Who ended the session. Inside TLS, a side whose encrypted alert (close_notify) came before
  // any close: a server answers close_notify and closes at once, so its FIN can overtake that
  // of a sender who waits for the server's close_notify. An alert after a close answers it
  // (a server's close_notify to the sender's FIN): then the first close decides.
  [[nodiscard]] std::optional<Side> closer() const {
    if (!alert_before_first_close_.empty()) {
      return alert_before_first_close_ == "c>s" ? Side::client : Side::server;
    }
    return first_close_;
  }

  void decide_end_reason() {
    if (forced_ || (context_->shutting_down && !timed_out_ && !recorder_.quit_acknowledged())) {
      facts_.end.reason = EndReason::shutdown;
      facts_.end.detail = context_->cut_short ? "closed by a second signal during the drain"
                                              : "closed at the end of the drain period";
    } else if (timed_out_) {
      facts_.end.reason = EndReason::timeout;
    } else if (recorder_.quit_acknowledged()) {
      facts_.end.reason = EndReason::quit;
    } else if (io_error_) {
      facts_.end.reason = EndReason::error;
      facts_.end.detail = io_error_;
    } else if (closer() == Side::server) {
      facts_.end.reason = EndReason::upstream_closed;
      facts_.end.detail = first_close_ == Side::server
                              ? upstream_end_detail_
                              : "upstream ended TLS first (an encrypted alert, as close_notify), "
                                "after the handshake";
    } else {
      facts_.end.reason = EndReason::client_closed;
      if (sender_left_before_greeting_) {
        facts_.end.detail = "the sender closed its side before upstream's greeting";
      }
    }
  }

  void finish() {
    if (unreachable_) {
      finish_without_upstream();
      return;
    }
    FinishedSession done;
    finish_tls_facts(done);
    decide_end_reason();
    facts_.downstream.closed_first = closer() == Side::client;
    complete(std::move(done));
  }

  void finish_without_upstream() {
    FinishedSession done;
    complete(std::move(done));
  }

  // The session has ended: its document goes now; a lingering close after our 421 (linger)
  // comes after it and changes nothing in it.
  void complete(FinishedSession done) {
    close_both();
    recorder_.session_ended();  // a message cut off keeps the size seen, and says so
    const bool lingering = linger_until_ && client_.is_open();
    document_written_ = true;
    if (!lingering) {
      context_->registry.remove(registry_id_);
    }
    facts_.ended_unix_ms = unix_ms_now();
    facts_.own_probe = is_own_probe(facts_.downstream.helo, config_.hops_probe.ehlo);
    done.facts = std::move(facts_);
    context_->audit->submit(std::move(done));
    if (lingering) {
      start_linger();
    }
  }

  std::shared_ptr<RelayContext> context_;
  const config::Config& config_;
  io::Socket client_;
  io::Socket upstream_;
  io::Timer watchdog_;
  Clock::time_point start_;
  SessionFacts facts_;
  smtp::Conversation conversation_;
  FactsRecorder recorder_;
  // Only after STARTTLS, on the heap: 1.2 KB that a session in clear text does not hold.
  std::unique_ptr<tls::HandshakeObserver> observer_;
  smtp::ReplyBoundary server_replies_;  // what the sender has been given of upstream's replies
  std::uint64_t registry_id_ = SessionRegistry::none;  // a refused session never registers
  std::optional<Side> first_close_;
  bool sender_left_before_greeting_ = false;
  std::string alert_before_first_close_;  // first_encrypted_alert when first_close_ was noted
  std::optional<std::string> upstream_end_detail_;  // set when upstream ended first
  // The message being transferred (follow_message), for upstream_end_detail.
  struct MessageInProgress {
    std::string transfer;  // "DATA" | "BDAT"
    std::uint64_t content_bytes = 0;
    bool ended = false;  // its content is complete (the dot, or BDAT LAST's chunk)
  };
  std::optional<MessageInProgress> message_;
  bool closed_by_us_ = false;  // close_both ran: later ends are ours, not a peer's
  std::optional<std::string> io_error_;
  bool timed_out_ = false;
  bool forced_ = false;
  // The drain is over, but the sender waits for upstream's reply to a message it finished:
  // close once that reply is relayed (force_close).
  bool close_after_final_reply_ = false;
  bool client_send_shut_ = false;  // upstream's end was passed on: nothing more reaches the sender
  bool unreachable_ = false;
  bool closing_ = false;
  bool writing_to_client_ = false;
  bool writing_to_upstream_ = false;  // the sender->upstream pump waits for upstream to read
  bool resolving_ = false;            // resolve_upstream waits on the watchdog for the lookup
  int pumps_running_ = 0;
  int tasks_running_ = 0;
  bool admitted_ = false;  // holds a place in context_->limits for client_ip_
  std::string client_ip_;
  bool connecting_ = false;
  bool connect_timed_out_ = false;
  // Our 421 is out and the sender's socket stays open until then (begin_lingering_close).
  std::optional<Clock::time_point> linger_until_;
  std::size_t lingered_bytes_ = 0;       // dropped from the sender since our 421
  bool counted_refusal_linger_ = false;  // holds one of max_refusals_lingering
  bool document_written_ = false;        // complete() ran: only a lingering close may be left
  std::array<Pump, 2> pumps_;            // pump_of(): the sender's direction, then upstream's
  std::array<char, first_read_bytes> from_client_{};
  std::array<char, first_read_bytes> from_server_{};
  Clock::time_point armed_deadline_ = Clock::time_point::max();
};

}  // namespace

void start_session(io::Socket client, const tcp::endpoint& peer, const tcp::endpoint& listener,
                   std::string client_ip, std::shared_ptr<RelayContext> context) {
  auto session = std::make_shared<Session>(std::move(client), peer, listener, std::move(context));
  session->start(std::move(client_ip));
}

io::Awaitable<void> refuse_session(io::Socket client, tcp::endpoint peer, tcp::endpoint listener,
                                   std::shared_ptr<RelayContext> context, std::string reason) {
  auto session = std::make_shared<Session>(std::move(client), peer, listener, std::move(context));
  co_await session->refuse(std::move(reason));
}

}  // namespace hopscope
