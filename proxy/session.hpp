#pragma once
// One relayed SMTP session (DESIGN.md §2 passthrough): a coroutine that owns the sender's
// socket and the upstream socket, relays bytes unmodified in both directions, lets the SMTP
// codec and the TLS observer watch copies, and hands the facts to the audit pipeline when
// it ends. Never throws; every wait has a deadline (FactsRecorder::deadline()).

#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace hopscope {

struct RelayContext;

// Relays the session until both sides are done, the deadline passes, or shutdown closes it.
// `peer` is the sender's address as accept(2) gave it.
boost::asio::awaitable<void> relay_session(boost::asio::ip::tcp::socket client,
                                           boost::asio::ip::tcp::endpoint peer,
                                           std::shared_ptr<RelayContext> context);

// Answers "421 4.3.2 <reason>" and closes: a session over max_sessions or
// max_sessions_per_client. Recorded with end.reason "limit".
boost::asio::awaitable<void> refuse_session(boost::asio::ip::tcp::socket client,
                                            boost::asio::ip::tcp::endpoint peer,
                                            std::shared_ptr<RelayContext> context,
                                            std::string reason);

}  // namespace hopscope
