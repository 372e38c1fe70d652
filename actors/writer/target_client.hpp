#pragma once

// The gRPC connection to a target Milvus (MilvusService).

#include "actors/base/task_spec.hpp"

#include <memory>
#include <string>

namespace grpc {
class Channel;
class ClientContext;
} // namespace grpc

namespace milvus::proto::common {
class Status;
}

namespace cdc::milvus {

/// True when a Milvus response status says success: `code == 0`, and on servers older
/// than 2.3 (which only fill the deprecated `error_code`) also `error_code == Success`.
bool succeeded(const ::milvus::proto::common::Status& status);

/// The name of a gRPC status code ("UNAVAILABLE", ...), for messages.
const char* grpc_code_name(int code);

/// Where and how to dial, derived from a task's `milvus_connect_param`.
struct endpoint {
  /// host:port for gRPC.
  std::string address;
  bool tls = false;
};

/// Splits http(s)://host[:port] (port 19530 when absent).
endpoint parse_endpoint(const std::string& uri);

/// Opens a channel to the target with TLS as configured; an error message when the TLS
/// files cannot be read.
std::shared_ptr<grpc::Channel> open_channel(const target_params& params, std::string& error);

/// Adds the `authorization` metadata (base64 of the token) when the task has a token.
void authorize(grpc::ClientContext& context, const target_params& params);

/// Dials the target within its connect_timeout and calls `Connect`, a cheap public RPC
/// that also checks the credentials. Returns an empty string when the target answered,
/// otherwise what failed, with the gRPC status.
std::string check_target(const target_params& params);

} // namespace cdc::milvus
