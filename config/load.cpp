#include "config/load.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <system_error>
#include <utility>

#include <toml++/toml.h>

#include "config/address.hpp"
#include "config/duration.hpp"
#include "config/value_checks.hpp"
#include "proxy/printable.hpp"

namespace hopscope::config {

namespace {

// DESIGN.md §6, in its order. policy/ keeps the catalogue; config cannot depend on policy
// (policy depends on config), so the published ids are repeated here.
constexpr std::array<std::string_view, 27> finding_ids = {
    "STARTTLS_NOT_OFFERED",
    "STARTTLS_MASKED",
    "BANNER_MASKED",
    "EHLO_REJECTED",
    "STARTTLS_REJECTED",
    "STARTTLS_NOT_USED",
    "STARTTLS_INJECTION",
    "SENDER_ABANDONED_AFTER_TLS",
    "AMBIGUOUS_END_OF_DATA",
    "TLS_HANDSHAKE_FAILED",
    "TLS_PROTOCOL_WEAK",
    "TLS_CIPHER_WEAK",
    "CERT_KEY_WEAK",
    "CERT_SIGNATURE_WEAK",
    "CERT_SELF_SIGNED",
    "CERT_UNTRUSTED",
    "CERT_NAME_MISMATCH",
    "CERT_PIN_MISMATCH",
    "CERT_EXPIRED",
    "CERT_NOT_YET_VALID",
    "CERT_EXPIRING_SOON",
    "CERT_DIFFERS_FROM_HOP",
    "CAPABILITIES_DIFFER_FROM_HOP",
    "CLIENT_CERT_MISSING",
    "CLIENT_CERT_NAME_MISMATCH",
    "REMOTE_TLS_ERROR",
    "UPSTREAM_UNREACHABLE",
};

constexpr std::array<std::string_view, 2> mode_names = {"passthrough", "inspect"};
constexpr std::array<std::string_view, 3> transparent_names = {"off", "redirect", "tproxy"};
constexpr std::array<std::string_view, 2> action_names = {"observe", "refuse"};
constexpr std::array<std::string_view, 3> severity_names = {"info", "warning", "critical"};
constexpr std::array<std::string_view, 7> log_levels = {"trace", "debug",    "info", "warn",
                                                        "error", "critical", "off"};
constexpr std::array<std::string_view, 4> tls_versions = {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"};

constexpr std::string_view duration_expected = "a duration like 30s, 5m, 250ms, 2h";
constexpr std::string_view endpoint_expected = "host:port with port 1-65535, IPv6 in brackets";
constexpr std::string_view listen_expected =
    R"(host:port with port 0-65535, IPv6 in brackets (e.g. "0.0.0.0:25", "[::1]:25"))";
constexpr std::int64_t max_sessions_limit = 1'000'000;
constexpr std::int64_t max_expiry_warning_days = 3650;
constexpr std::int64_t min_line_bytes = 512;  // RFC 5321 §4.5.3.1.4: command line length
constexpr std::int64_t max_line_bytes_limit = std::int64_t{16} * 1024 * 1024;
constexpr std::size_t max_found_bytes = 120;
constexpr std::size_t sha256_bytes = 32;

struct Position {
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

Position position_of(const toml::source_region& region) {
  return {region.begin.line, region.begin.column};
}

std::string quote(std::string_view text) {
  return "\"" + printable(text, max_found_bytes) + "\"";
}

std::string join_choices(std::span<const std::string_view> choices) {
  std::string out;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) {
      out += i + 1 == choices.size() ? " or " : ", ";
    }
    out += quote(choices[i]);
  }
  return out;
}

// What a node holds, for the "found" part of an error: strings quoted, others typed.
std::string describe(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return quote(node.as_string()->get());
    case toml::node_type::integer:
      return "integer " + std::to_string(node.as_integer()->get());
    case toml::node_type::floating_point: {
      std::ostringstream out;
      out << "floating-point number " << node.as_floating_point()->get();
      return out.str();
    }
    case toml::node_type::boolean:
      return std::string("boolean ") + (node.as_boolean()->get() ? "true" : "false");
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date or time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

bool is_bare_key(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
  });
}

std::string child_path(std::string_view parent, std::string_view key) {
  const std::string part = is_bare_key(key) ? std::string(key) : quote(key);
  return parent.empty() ? part : std::string(parent) + "." + part;
}

std::string index_path(std::string_view parent, std::size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

std::optional<std::size_t> index_of(std::string_view text,
                                    std::span<const std::string_view> choices) {
  const auto it = std::find(choices.begin(), choices.end(), text);
  if (it == choices.end()) {
    return std::nullopt;
  }
  return static_cast<std::size_t>(it - choices.begin());
}

class Loader {
 public:
  Loader(std::string file, Purpose purpose) : file_(std::move(file)), purpose_(purpose) {}

  LoadResult run(std::string_view text) {
    LoadResult result;
    toml::table root;
    try {
      root = toml::parse(text, std::string_view(file_));
    } catch (const toml::parse_error& e) {
      ConfigError error;
      error.file = file_;
      error.line = e.source().begin.line;
      error.column = e.source().begin.column;
      error.message = "TOML syntax error: " + std::string(e.description());
      result.errors.push_back(std::move(error));
      return result;
    }
    Config config;
    load_root(root, config);
    check_cross_keys(config);
    for (auto& error : check_required(config, purpose_, file_)) {
      if (has_error_under(error.key)) {
        continue;  // present but invalid: already reported, with its position
      }
      const bool in_relay = error.key.starts_with("relay.");
      const Position where = in_relay ? relay_position_ : Position{};
      error.line = where.line;
      error.column = where.column;
      errors_.push_back(std::move(error));
    }
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const ConfigError& a, const ConfigError& b) {
                       const auto rank = [](const ConfigError& e) {
                         return std::tuple(e.line == 0, e.line, e.column);
                       };
                       return rank(a) < rank(b);
                     });
    result.errors = std::move(errors_);
    for (const auto& [key, where] : seen_) {
      result.positions[key] = KeyPosition{where.line, where.column};
    }
    result.as_read = config;
    if (result.errors.empty()) {
      result.config = std::move(config);
    }
    return result;
  }

 private:
  using Handler = std::function<void(const toml::node&, const std::string& key)>;
  struct Field {
    std::string_view name;
    Handler handle;
  };

  void error(Position where, std::string key, std::string expected, std::string found,
             std::string message = {}) {
    errors_.push_back(ConfigError{file_, where.line, where.column, std::move(key),
                                  std::move(expected), std::move(found), std::move(message)});
  }

  void wrong(const toml::node& node, const std::string& key, std::string expected,
             std::string message = {}) {
    error(position_of(node.source()), key, std::move(expected), describe(node), std::move(message));
  }

  // Walks a table: every key must be one of `fields`; a key that is not is an error with
  // the closest known key as a hint.
  void walk(const toml::node& node, const std::string& path, const std::vector<Field>& fields,
            std::string_view unknown_expected = {}) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      wrong(node, path, "a table [" + path + "]");
      return;
    }
    std::vector<std::string_view> names;
    names.reserve(fields.size());
    for (const auto& field : fields) {
      names.push_back(field.name);
    }
    for (const auto& [key, value] : *table) {
      const std::string_view name = key.str();
      const std::string key_path = child_path(path, name);
      const auto it = std::find_if(fields.begin(), fields.end(),
                                   [name](const Field& f) { return f.name == name; });
      if (it != fields.end()) {
        seen_[key_path] = position_of(value.source());
        it->handle(value, key_path);
        continue;
      }
      std::string expected(unknown_expected);
      if (expected.empty()) {
        expected = path.empty() ? "a section: " : "a key of [" + path + "]: ";
        for (std::size_t i = 0; i < names.size(); ++i) {
          expected += (i == 0 ? "" : ", ") + std::string(names[i]);
        }
      }
      error(position_of(key.source()), key_path, std::move(expected), "an unknown key",
            suggestion(key.str(), names));
    }
  }

  // --- typed readers: each reports its own error and returns nullopt on a bad value ---

  std::optional<bool> read_bool(const toml::node& node, const std::string& key) {
    if (const auto* value = node.as_boolean()) {
      return value->get();
    }
    wrong(node, key, "true or false");
    return std::nullopt;
  }

  std::optional<std::string> read_string(const toml::node& node, const std::string& key,
                                         bool allow_empty = true) {
    const auto* value = node.as_string();
    if (value == nullptr) {
      wrong(node, key, allow_empty ? "a string" : "a non-empty string");
      return std::nullopt;
    }
    const std::string& text = value->get();
    if (!allow_empty && text.empty()) {
      wrong(node, key, "a non-empty string");
      return std::nullopt;
    }
    if (has_control_character(text)) {
      wrong(node, key, "a string without control characters");
      return std::nullopt;
    }
    return text;
  }

  std::optional<std::int64_t> read_integer(const toml::node& node, const std::string& key,
                                           std::int64_t min, std::int64_t max) {
    const auto* value = node.as_integer();
    if (value == nullptr || value->get() < min || value->get() > max) {
      wrong(node, key, "an integer from " + std::to_string(min) + " to " + std::to_string(max));
      return std::nullopt;
    }
    return value->get();
  }

  // A duration > 0: a zero timeout or interval would fire at once.
  std::optional<Duration> read_duration(const toml::node& node, const std::string& key) {
    if (const auto* value = node.as_string()) {
      const auto duration = parse_duration(value->get());
      if (duration && duration->count() > 0 && *duration <= max_duration) {
        return duration;
      }
      if (duration) {
        wrong(node, key,
              "a duration greater than zero and at most " + format_duration(max_duration));
        return std::nullopt;
      }
    }
    wrong(node, key, std::string(duration_expected));
    return std::nullopt;
  }

  std::optional<std::size_t> read_choice(const toml::node& node, const std::string& key,
                                         std::span<const std::string_view> choices) {
    if (const auto* value = node.as_string()) {
      if (auto index = index_of(value->get(), choices)) {
        return index;
      }
      wrong(node, key, "one of " + join_choices(choices), suggestion(value->get(), choices));
      return std::nullopt;
    }
    wrong(node, key, "one of " + join_choices(choices));
    return std::nullopt;
  }

  // `allow_empty`: "" means "not set" (relay.upstream, status.listen).
  std::optional<Endpoint> read_endpoint(const toml::node& node, const std::string& key,
                                        bool allow_port_zero, bool* empty = nullptr) {
    const std::string_view expected = allow_port_zero ? listen_expected : endpoint_expected;
    const auto* value = node.as_string();
    if (value == nullptr) {
      wrong(node, key, std::string(expected));
      return std::nullopt;
    }
    if (empty != nullptr && value->get().empty()) {
      *empty = true;
      return std::nullopt;
    }
    auto parsed = parse_endpoint_explained(value->get(), allow_port_zero);
    if (!parsed.endpoint) {
      wrong(node, key, std::string(expected), parsed.problem);
    }
    return parsed.endpoint;
  }

  // An array whose elements each go through `element`; errors name "key[i]".
  void read_array(const toml::node& node, const std::string& key, std::string_view what,
                  const std::function<void(const toml::node&, const std::string&)>& element) {
    const auto* array = node.as_array();
    if (array == nullptr) {
      wrong(node, key, "an array of " + std::string(what));
      return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      element(*array->get(i), index_path(key, i));
    }
  }

  std::vector<std::string> read_string_array(const toml::node& node, const std::string& key,
                                             std::string_view what) {
    std::vector<std::string> out;
    read_array(node, key, what, [&](const toml::node& element, const std::string& element_key) {
      if (auto text = read_string(element, element_key, /*allow_empty=*/false)) {
        out.push_back(std::move(*text));
      }
    });
    return out;
  }

  // --- sections ---

  void load_root(const toml::table& root, Config& config) {
    walk(
        root, "",
        {
            {"relay", [&](const toml::node& n, const std::string& k) { load_relay(n, k, config); }},
            {"tls", [&](const toml::node& n, const std::string& k) { load_tls(n, k, config.tls); }},
            {"policy",
             [&](const toml::node& n, const std::string& k) { load_policy(n, k, config.policy); }},
            {"hops", [&](const toml::node& n, const std::string& k) { load_hops(n, k, config); }},
            {"hops_probe", [&](const toml::node& n,
                               const std::string& k) { load_hops_probe(n, k, config.hops_probe); }},
            {"audit",
             [&](const toml::node& n, const std::string& k) { load_audit(n, k, config.audit); }},
            {"log", [&](const toml::node& n, const std::string& k) { load_log(n, k, config.log); }},
            {"status",
             [&](const toml::node& n, const std::string& k) { load_status(n, k, config.status); }},
        });
  }

  void load_relay(const toml::node& node, const std::string& path, Config& config) {
    relay_position_ = position_of(node.source());
    RelayConfig& relay = config.relay;
    walk(node, path,
         {
             {"listen",
              [&](const toml::node& n, const std::string& k) { load_listen(n, k, relay); }},
             {"upstream",
              [&](const toml::node& n, const std::string& k) {
                bool empty = false;
                if (auto endpoint = read_endpoint(n, k, /*allow_port_zero=*/false, &empty)) {
                  relay.upstream = std::move(*endpoint);
                }
              }},
             {"mode",
              [&](const toml::node& n, const std::string& k) {
                if (auto i = read_choice(n, k, mode_names)) {
                  relay.mode = *i == 0 ? Mode::passthrough : Mode::inspect;
                }
              }},
             {"transparent",
              [&](const toml::node& n, const std::string& k) {
                if (auto i = read_choice(n, k, transparent_names)) {
                  relay.transparent =
                      std::array{Transparent::off, Transparent::redirect, Transparent::tproxy}[*i];
                }
              }},
             {"proxy_protocol",
              [&](const toml::node& n, const std::string& k) {
                if (auto v = read_bool(n, k)) {
                  relay.proxy_protocol = *v;
                }
              }},
             {"max_sessions",
              [&](const toml::node& n, const std::string& k) {
                if (auto v = read_integer(n, k, 1, max_sessions_limit)) {
                  relay.max_sessions = static_cast<std::uint32_t>(*v);
                }
              }},
             {"max_sessions_per_client",
              [&](const toml::node& n, const std::string& k) {
                if (auto v = read_integer(n, k, 1, max_sessions_limit)) {
                  relay.max_sessions_per_client = static_cast<std::uint32_t>(*v);
                }
              }},
             {"user",
              [&](const toml::node& n, const std::string& k) {
                if (auto v = read_string(n, k)) {
                  relay.user = std::move(*v);
                }
              }},
             {"max_line_bytes",
              [&](const toml::node& n, const std::string& k) {
                if (auto v = read_integer(n, k, min_line_bytes, max_line_bytes_limit)) {
                  relay.max_line_bytes = static_cast<std::size_t>(*v);
                }
              }},
             {"timeouts", [&](const toml::node& n,
                              const std::string& k) { load_timeouts(n, k, relay.timeouts); }},
         });
  }

  void load_listen(const toml::node& node, const std::string& key, RelayConfig& relay) {
    const auto add = [&](const toml::node& element, const std::string& element_key) {
      auto read = read_endpoint(element, element_key, /*allow_port_zero=*/true);
      if (!read) {
        return;
      }
      auto endpoint = listen_endpoint(*read);
      if (!endpoint) {
        wrong(element, element_key, "an IP address and port (a host name cannot be listened on)");
        return;
      }
      if (std::find(relay.listen.begin(), relay.listen.end(), *endpoint) != relay.listen.end()) {
        wrong(element, element_key, "an address not listed twice");
        return;
      }
      relay.listen.push_back(std::move(*endpoint));
    };
    if (node.is_string()) {  // convenience: listen = "0.0.0.0:25"
      add(node, key);
      return;
    }
    read_array(node, key, listen_expected, add);
  }

  void load_timeouts(const toml::node& node, const std::string& path, Timeouts& timeouts) {
    const auto duration_field = [&](std::string_view name, Duration& out) {
      return Field{name, [this, &out](const toml::node& n, const std::string& k) {
                     if (auto v = read_duration(n, k)) {
                       out = *v;
                     }
                   }};
    };
    walk(node, path,
         {
             duration_field("connect", timeouts.connect),
             duration_field("greeting", timeouts.greeting),
             duration_field("command", timeouts.command),
             duration_field("data_block", timeouts.data_block),
             duration_field("data_end", timeouts.data_end),
             duration_field("tls_idle", timeouts.tls_idle),
             duration_field("drain", timeouts.drain),
         });
  }

  void load_tls(const toml::node& node, const std::string& path, TlsConfig& tls) {
    const auto string_field = [&](std::string_view name, std::string& out, bool allow_empty) {
      return Field{name, [this, &out, allow_empty](const toml::node& n, const std::string& k) {
                     if (auto v = read_string(n, k, allow_empty)) {
                       out = std::move(*v);
                     }
                   }};
    };
    walk(node, path,
         {
             string_field("certificate", tls.certificate, true),
             string_field("key", tls.key, true),
             {"request_client_certificate",
              [&](const toml::node& n, const std::string& k) {
                if (auto v = read_bool(n, k)) {
                  tls.request_client_certificate = *v;
                }
              }},
             string_field("trust", tls.trust, false),
             string_field("upstream_sni", tls.upstream_sni, true),
             string_field("upstream_client_certificate", tls.upstream_client_certificate, true),
             string_field("upstream_client_key", tls.upstream_client_key, true),
             string_field("keylog", tls.keylog, true),
         });
  }

  void load_policy(const toml::node& node, const std::string& path, PolicyConfig& policy) {
    walk(node, path,
         {
             {"expected_server_names",
              [&](const toml::node& n, const std::string& k) {
                policy.expected_server_names = read_string_array(n, k, "host names");
              }},
             {"expected_certificate",
              [&](const toml::node& n, const std::string& k) {
                auto v = read_string(n, k);
                if (!v) {
                  return;
                }
                const auto issuer = v->find("<I>");
                const auto subject = v->find("<S>");
                if (!v->empty() && (issuer == std::string::npos || subject == std::string::npos ||
                                    subject < issuer)) {
                  wrong(n, k,
                        "Exchange's TlsCertificateName \"<I>issuer<S>subject\", e.g. "
                        "\"<I>CN=R3, O=Let's Encrypt, C=US<S>CN=mail.contoso.com\"");
                  return;
                }
                policy.expected_certificate = std::move(*v);
              }},
             {"expected_thumbprints",
              [&](const toml::node& n, const std::string& k) {
                policy.expected_thumbprints.clear();
                read_array(n, k, "SHA-1 thumbprints",
                           [&](const toml::node& element, const std::string& element_key) {
                             load_thumbprint(element, element_key, policy);
                           });
              }},
             {"server_pins",
              [&](const toml::node& n, const std::string& k) {
                policy.server_pins.clear();
                read_array(n, k, "pins", [&](const toml::node& element, const std::string& ek) {
                  const auto* text = element.as_string();
                  constexpr std::string_view prefix = "sha256/";
                  if (text == nullptr || !text->get().starts_with(prefix) ||
                      !is_base64_of(std::string_view(text->get()).substr(prefix.size()),
                                    sha256_bytes)) {
                    wrong(element, ek,
                          "\"sha256/\" followed by the base64 of a 32-byte SPKI hash (44 "
                          "characters ending in '=')");
                    return;
                  }
                  policy.server_pins.push_back(text->get());
                });
              }},
             {"expected_client_names",
              [&](const toml::node& n, const std::string& k) {
                policy.expected_client_names = read_string_array(n, k, "host names");
              }},
             {"require_starttls",
              [&](const toml::node& n, const std::string& k) {
                if (auto v = read_bool(n, k)) {
                  policy.require_starttls = *v;
                }
              }},
             {"min_tls_version",
              [&](const toml::node& n, const std::string& k) {
                if (auto i = read_choice(n, k, tls_versions)) {
                  policy.min_tls_version = std::string(tls_versions.at(*i));
                }
              }},
             {"expiry_warning_days",
              [&](const toml::node& n, const std::string& k) {
                if (auto v = read_integer(n, k, 0, max_expiry_warning_days)) {
                  policy.expiry_warning_days = static_cast<std::uint32_t>(*v);
                }
              }},
             {"action",
              [&](const toml::node& n, const std::string& k) {
                if (auto i = read_choice(n, k, action_names)) {
                  policy.action = *i == 0 ? PolicyAction::observe : PolicyAction::refuse;
                }
              }},
             {"severity",
              [&](const toml::node& n, const std::string& k) { load_severity(n, k, policy); }},
         });
  }

  void load_thumbprint(const toml::node& node, const std::string& key, PolicyConfig& policy) {
    const auto* text = node.as_string();
    std::string thumbprint = text != nullptr ? normalise_thumbprint(text->get()) : std::string();
    if (text == nullptr || !is_sha1_thumbprint(thumbprint)) {
      wrong(node, key, "a SHA-1 thumbprint of 40 hex digits (spaces allowed)");
      return;
    }
    policy.expected_thumbprints.push_back(std::move(thumbprint));
  }

  void load_severity(const toml::node& node, const std::string& path, PolicyConfig& policy) {
    std::vector<Field> fields;
    fields.reserve(finding_ids.size());
    for (const auto id : finding_ids) {
      fields.push_back({id, [this, id, &policy](const toml::node& n, const std::string& k) {
                          if (auto i = read_choice(n, k, severity_names)) {
                            policy.severity[std::string(id)] = std::array{
                                Severity::info, Severity::warning, Severity::critical}[*i];
                          }
                        }});
    }
    walk(node, path, fields, "a finding id of DESIGN.md §6, e.g. STARTTLS_NOT_USED");
  }

  void load_hops(const toml::node& node, const std::string& path, Config& config) {
    const auto* array = node.as_array();
    if (array == nullptr) {
      wrong(node, path, "an array of tables [[hops]]");
      return;
    }
    std::map<std::string, Position> names;
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      const std::string key = index_path(path, i);
      HopConfig hop;
      bool has_name = false;
      bool has_address = false;
      walk(element, key,
           {
               {"name",
                [&](const toml::node& n, const std::string& k) {
                  has_name = true;
                  auto v = read_string(n, k, /*allow_empty=*/false);
                  if (!v) {
                    return;
                  }
                  const auto [it, inserted] = names.emplace(*v, position_of(n.source()));
                  if (!inserted) {
                    wrong(n, k,
                          "a name not used by another [[hops]] (first used on line " +
                              std::to_string(it->second.line) + ")");
                    return;
                  }
                  hop.name = std::move(*v);
                }},
               {"address",
                [&](const toml::node& n, const std::string& k) {
                  has_address = true;
                  if (auto endpoint = read_endpoint(n, k, /*allow_port_zero=*/false)) {
                    hop.address = std::move(*endpoint);
                  }
                }},
               {"sni",
                [&](const toml::node& n, const std::string& k) {
                  if (auto v = read_string(n, k)) {
                    hop.sni = std::move(*v);
                  }
                }},
           });
      if (!element.is_table()) {
        continue;
      }
      const Position where = position_of(element.source());
      if (!has_name) {
        error(where, key + ".name", "a name for this hop, e.g. name = \"exchange\"", "nothing",
              "required in every [[hops]]");
      }
      if (!has_address) {
        error(where, key + ".address", "host:port, e.g. address = \"10.0.0.5:25\"", "nothing",
              "required in every [[hops]]");
      }
      config.hops.push_back(std::move(hop));
    }
  }

  void load_hops_probe(const toml::node& node, const std::string& path, HopsProbeConfig& probe) {
    walk(node, path,
         {
             {"interval",
              [&](const toml::node& n, const std::string& k) {
                if (auto v = read_duration(n, k)) {
                  probe.interval = *v;
                }
              }},
             {"ehlo",
              [&](const toml::node& n, const std::string& k) {
                auto v = read_string(n, k, /*allow_empty=*/false);
                if (v && v->find(' ') != std::string::npos) {
                  wrong(n, k, "an EHLO name without spaces (RFC 5321 §4.1.1.1)");
                  return;
                }
                if (v) {
                  probe.ehlo = std::move(*v);
                }
              }},
         });
  }

  void load_audit(const toml::node& node, const std::string& path, AuditConfig& audit) {
    walk(node, path,
         {
             {"directory",
              [&](const toml::node& n, const std::string& k) {
                if (auto v = read_string(n, k, /*allow_empty=*/false)) {
                  audit.directory = std::move(*v);
                }
              }},
             {"record_envelope",
              [&](const toml::node& n, const std::string& k) {
                if (auto v = read_bool(n, k)) {
                  audit.record_envelope = *v;
                }
              }},
             {"transcript",
              [&](const toml::node& n, const std::string& k) {
                if (auto v = read_bool(n, k)) {
                  audit.transcript = *v;
                }
              }},
         });
  }

  void load_log(const toml::node& node, const std::string& path, LogConfig& log) {
    walk(node, path,
         {
             {"level",
              [&](const toml::node& n, const std::string& k) {
                if (auto i = read_choice(n, k, log_levels)) {
                  log.level = std::string(log_levels.at(*i));
                }
              }},
         });
  }

  void load_status(const toml::node& node, const std::string& path, StatusConfig& status) {
    walk(node, path,
         {
             {"listen",
              [&](const toml::node& n, const std::string& k) {
                bool empty = false;
                if (auto endpoint = read_endpoint(n, k, /*allow_port_zero=*/true, &empty)) {
                  status.listen = std::move(*endpoint);
                }
              }},
         });
  }

  // Rules between keys; the error points at the key the user set (the later one of the pair
  // when both are set) and names both.
  void check_cross_keys(const Config& config) {
    const auto& relay = config.relay;
    if (relay.timeouts.tls_idle < relay.timeouts.data_end &&
        !has_error_on({"relay.timeouts.tls_idle", "relay.timeouts.data_end"})) {
      // DESIGN.md §4: after STARTTLS in passthrough only an idle deadline is possible, and it
      // must not cut off a server still working on the reply after the final dot.
      const std::string idle = "relay.timeouts.tls_idle";
      const std::string end = "relay.timeouts.data_end";
      const bool idle_set = seen_.contains(idle);
      error(idle_set ? seen_[idle] : seen_[end], idle_set ? idle : end,
            idle_set
                ? "a duration >= " + end + " (" + format_duration(relay.timeouts.data_end) + ")"
                : "a duration <= " + idle + " (" + format_duration(relay.timeouts.tls_idle) + ")",
            quote(format_duration(idle_set ? relay.timeouts.tls_idle : relay.timeouts.data_end)),
            "relay.timeouts.tls_idle must be >= relay.timeouts.data_end");
    }
    if (relay.max_sessions_per_client > relay.max_sessions &&
        !has_error_on({"relay.max_sessions_per_client", "relay.max_sessions"})) {
      const std::string per_client = "relay.max_sessions_per_client";
      const std::string total = "relay.max_sessions";
      const bool per_client_set = seen_.contains(per_client);
      error(per_client_set ? seen_[per_client] : seen_[total], per_client_set ? per_client : total,
            per_client_set ? "an integer from 1 to relay.max_sessions (" +
                                 std::to_string(relay.max_sessions) + ")"
                           : "an integer >= relay.max_sessions_per_client (" +
                                 std::to_string(relay.max_sessions_per_client) + ")",
            "integer " +
                std::to_string(per_client_set ? relay.max_sessions_per_client : relay.max_sessions),
            "relay.max_sessions_per_client must be <= relay.max_sessions");
    }
  }

  // A key with a bad value keeps its default; comparing that default would be noise.
  bool has_error_on(std::initializer_list<std::string_view> keys) const {
    return std::any_of(errors_.begin(), errors_.end(), [&](const ConfigError& e) {
      return std::find(keys.begin(), keys.end(), e.key) != keys.end();
    });
  }

  bool has_error_under(std::string_view key) const {
    return std::any_of(errors_.begin(), errors_.end(), [&](const ConfigError& e) {
      return e.key == key ||
             (e.key.starts_with(key) && e.key.size() > key.size() && e.key[key.size()] == '[');
    });
  }

  std::string file_;
  Purpose purpose_;
  std::vector<ConfigError> errors_;
  std::map<std::string, Position> seen_;  // key path → position of its value
  Position relay_position_;
};

}  // namespace

namespace {

std::string format_diagnostic(const ConfigError& error, std::string_view label) {
  std::string out = error.file;
  if (error.line != 0) {
    out += ":" + std::to_string(error.line) + ":" + std::to_string(error.column);
  }
  out += ": ";
  out += label;
  std::string body;
  if (!error.key.empty()) {
    body += "key '" + error.key + "'";
  }
  if (!error.expected.empty()) {
    body += (body.empty() ? "expected " : ": expected ") + error.expected;
  }
  if (!error.found.empty()) {
    body += (body.empty() ? "found " : "; found ") + error.found;
  }
  if (!error.message.empty()) {
    body += (body.empty()                                    ? ""
             : error.expected.empty() && error.found.empty() ? ": "
                                                             : "; ") +
            error.message;
  }
  return out + body;
}

}  // namespace

std::string format_error(const ConfigError& error) {
  return format_diagnostic(error, "");
}

std::string format_warning(const ConfigError& warning) {
  return format_diagnostic(warning, "warning: ");
}

ConfigError error_at(const LoadResult& result, const std::string& file, const std::string& key,
                     std::string expected, std::string found, std::string message) {
  ConfigError error{file, 0, 0, key, std::move(expected), std::move(found), std::move(message)};
  if (const auto it = result.positions.find(key); it != result.positions.end()) {
    error.line = it->second.line;
    error.column = it->second.column;
  }
  return error;
}

std::string hops_not_built() {
  return "[[hops]] is valid, but hop probes are not built in this version: no hop is probed, no "
         "hops/ document is written and CERT_DIFFERS_FROM_HOP / CAPABILITIES_DIFFER_FROM_HOP "
         "are never raised; findings name the session's legs only";
}

std::vector<ConfigError> check_required(const Config& config, Purpose purpose,
                                        const std::string& source_name) {
  std::vector<ConfigError> errors;
  if (purpose != Purpose::relay) {
    return errors;
  }
  if (config.relay.listen.empty()) {
    errors.push_back({source_name, 0, 0, "relay.listen",
                      "at least one host:port to listen on, e.g. listen = [\"0.0.0.0:25\"]",
                      "nothing", "required by `hopscope relay` (or give --listen)"});
  }
  if (!config.relay.upstream && config.relay.transparent == Transparent::off) {
    errors.push_back({source_name, 0, 0, "relay.upstream",
                      "host:port of the next hop, e.g. upstream = \"10.0.0.5:25\"", "nothing",
                      "required by `hopscope relay` (or give --upstream) unless "
                      "relay.transparent is \"redirect\" or \"tproxy\""});
  }
  return errors;
}

std::span<const std::string_view> known_finding_ids() {
  return finding_ids;
}

LoadResult load_string(std::string_view toml_text, const std::string& source_name,
                       Purpose purpose) {
  return Loader(source_name, purpose).run(toml_text);
}

LoadResult load_file(const std::string& path, Purpose purpose) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    LoadResult result;
    result.errors.push_back({path, 0, 0, "", "", "", "cannot read: is a directory"});
    return result;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int saved = errno;
    LoadResult result;
    result.errors.push_back(
        {path, 0, 0, "", "", "", "cannot open: " + std::generic_category().message(saved)});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    LoadResult result;
    result.errors.push_back({path, 0, 0, "", "", "", "cannot read the file"});
    return result;
  }
  return load_string(text.str(), path, purpose);
}

}  // namespace hopscope::config
