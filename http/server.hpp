#pragma once

// The HTTP front end (RESTinio). It only parses HTTP and hands bodies to the control API,
// which talks to the supervisor; its threads never wait on an actor.

#include "http/api.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace cdc {

/// A running HTTP server; stops on `stop()` or destruction.
class http_server {
public:
  /// Binds HOST:PORT and serves on `threads` threads. Throws std::runtime_error naming the
  /// address when it cannot listen.
  http_server(std::shared_ptr<control_api> api, const std::string& host, uint16_t port,
              size_t threads = 2);
  ~http_server();

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Stops accepting and waits for the server threads to finish. The sockets' io_context
  /// is released only by the destructor: destroy the server after the actor system, whose
  /// actors may still hold request handles.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace cdc
