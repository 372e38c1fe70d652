#include "http/server.hpp"

#include <restinio/all.hpp>
#include <spdlog/spdlog.h>

#include <stdexcept>

namespace cdc {

namespace {

using traits = restinio::default_traits_t;

void respond(const restinio::request_handle_t& req, restinio::http_status_line_t status,
             const char* content_type, std::string body) {
  req->create_response(status)
      .append_header(restinio::http_field::content_type, content_type)
      .set_body(std::move(body))
      .done();
}

restinio::http_status_line_t status_line(int status) {
  switch (status) {
  case 200:
    return restinio::status_ok();
  case 400:
    return restinio::status_bad_request();
  case 404:
    return restinio::status_not_found();
  case 405:
    return restinio::status_method_not_allowed();
  default:
    return restinio::status_internal_server_error();
  }
}

void respond_json(const restinio::request_handle_t& req, const http_reply& reply) {
  respond(req, status_line(reply.status), "application/json", reply.body);
}

restinio::request_handling_status_t route(const std::shared_ptr<control_api>& api,
                                          const restinio::request_handle_t& req) {
  const auto path = req->header().path();
  const auto method = req->header().method();
  if (path == "/cdc" || path == "/cdc/") {
    if (method != restinio::http_method_post()) {
      auto reply = error_reply(405, "use POST /cdc with a JSON body {\"request_type\": ...}");
      api->count("invalid", 405);
      respond_json(req, reply);
      return restinio::request_accepted();
    }
    api->handle(req->body(), [req](http_reply reply) { respond_json(req, reply); });
    return restinio::request_accepted();
  }
  if (method == restinio::http_method_get() && (path == "/metrics" || path == "/cdc/metrics")) {
    respond(req, restinio::status_ok(), "text/plain; version=0.0.4", api->metrics_text());
    return restinio::request_accepted();
  }
  if (method == restinio::http_method_get() && path == "/healthz") {
    api->health([req](http_reply reply) { respond_json(req, reply); });
    return restinio::request_accepted();
  }
  respond_json(req, error_reply(404, "no such endpoint; the control API is POST /cdc"));
  return restinio::request_accepted();
}

} // namespace

struct http_server::impl {
  restinio::running_server_handle_t<traits> server;
  bool stopped = false;
};

http_server::http_server(std::shared_ptr<control_api> api, const std::string& host, uint16_t port,
                         size_t threads)
    : impl_(std::make_unique<impl>()) {
  auto settings = restinio::server_settings_t<traits>{}.address(host).port(port).request_handler(
      [api](auto req) { return route(api, req); });
  try {
    impl_->server =
        restinio::run_async<traits>(restinio::own_io_context(), std::move(settings), threads);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                             e.what());
  }
}

http_server::~http_server() {
  stop();
}

void http_server::stop() {
  if (impl_->server && !impl_->stopped) {
    impl_->server->stop();
    impl_->server->wait();
    impl_->stopped = true;
    // The server (and its io_context) lives on until destruction: a request handle still
    // held by an actor that answered late must not outlive the io_context of its socket.
  }
}

} // namespace cdc
