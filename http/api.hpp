#pragma once

// The control API behind POST /cdc, without the HTTP server: turns a request body into a
// message to the supervisor and the supervisor's answer into the response of the contract
// (spec/http-api.md). Kept apart from RESTinio so it compiles fast and tests without sockets.

#include "actors/actors.hpp"
#include "actors/base/task_json.hpp"

#include <caf/actor_system.hpp>

#include <functional>
#include <memory>
#include <string>

namespace cdc {

namespace metrics {
class registry;
}

/// An HTTP answer: status and JSON body.
struct http_reply {
  int status = 200;
  std::string body;
};

/// Called exactly once per request, possibly from an actor's thread.
using reply_callback = std::function<void(http_reply)>;

struct api_settings {
  size_t max_body_bytes = 1 << 20;
  validation_limits limits;
};

/// Serves the control API for the HTTP layer.
class control_api {
public:
  control_api(caf::actor_system& system, supervisor_actor supervisor, api_settings settings,
              std::shared_ptr<metrics::registry> metrics);

  /// Handles the body of one POST /cdc. Never blocks: answers either right away (bad input)
  /// or from a short-lived actor that asks the supervisor.
  void handle(const std::string& body, reply_callback done);

  /// Answers GET /healthz: 200 and a summary of task states.
  void health(reply_callback done);

  /// The body of GET /metrics.
  std::string metrics_text() const;

  /// Counts a request in cdc_http_requests_total (also used for non-/cdc paths).
  void count(const std::string& type, int status) const;

  /// Drops the supervisor handle; called once the HTTP server stopped, before the actor
  /// system goes away (the API object itself may live longer, inside the HTTP server).
  void disconnect();

private:
  caf::actor_system& system_;
  supervisor_actor supervisor_;
  api_settings settings_;
  std::shared_ptr<metrics::registry> metrics_;
};

/// The error body of the contract: {"code": status, "message": message}.
http_reply error_reply(int status, const std::string& message);

} // namespace cdc
