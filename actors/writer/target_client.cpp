#include "actors/writer/target_client.hpp"

#include "milvus.grpc.pb.h"
#include "proto/position.hpp"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace cdc::milvus {

namespace {

std::string describe(const grpc::Status& status) {
  return std::string{"gRPC status "} + grpc_code_name(status.error_code()) + ": " +
         status.error_message();
}

bool read_file_into(const std::string& path, const char* what, std::string& out,
                    std::string& error) {
  if (path.empty())
    return true;
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    error = std::string{"cannot read dial_config."} + what + " '" + path + "'";
    return false;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  out = buffer.str();
  return true;
}

} // namespace

const char* grpc_code_name(int code) {
  switch (static_cast<grpc::StatusCode>(code)) {
  case grpc::StatusCode::OK:
    return "OK";
  case grpc::StatusCode::CANCELLED:
    return "CANCELLED";
  case grpc::StatusCode::UNKNOWN:
    return "UNKNOWN";
  case grpc::StatusCode::INVALID_ARGUMENT:
    return "INVALID_ARGUMENT";
  case grpc::StatusCode::DEADLINE_EXCEEDED:
    return "DEADLINE_EXCEEDED";
  case grpc::StatusCode::NOT_FOUND:
    return "NOT_FOUND";
  case grpc::StatusCode::ALREADY_EXISTS:
    return "ALREADY_EXISTS";
  case grpc::StatusCode::PERMISSION_DENIED:
    return "PERMISSION_DENIED";
  case grpc::StatusCode::UNAUTHENTICATED:
    return "UNAUTHENTICATED";
  case grpc::StatusCode::RESOURCE_EXHAUSTED:
    return "RESOURCE_EXHAUSTED";
  case grpc::StatusCode::FAILED_PRECONDITION:
    return "FAILED_PRECONDITION";
  case grpc::StatusCode::ABORTED:
    return "ABORTED";
  case grpc::StatusCode::OUT_OF_RANGE:
    return "OUT_OF_RANGE";
  case grpc::StatusCode::UNIMPLEMENTED:
    return "UNIMPLEMENTED";
  case grpc::StatusCode::INTERNAL:
    return "INTERNAL";
  case grpc::StatusCode::UNAVAILABLE:
    return "UNAVAILABLE";
  case grpc::StatusCode::DATA_LOSS:
    return "DATA_LOSS";
  default:
    return "UNRECOGNIZED";
  }
}

bool succeeded(const ::milvus::proto::common::Status& status) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  // error_code is deprecated but is the only field older servers fill.
  return status.code() == 0 && status.error_code() == ::milvus::proto::common::Success;
#pragma GCC diagnostic pop
}

endpoint parse_endpoint(const std::string& uri) {
  endpoint result;
  std::string_view rest{uri};
  if (rest.starts_with("https://")) {
    result.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos)
    rest = rest.substr(0, slash);
  result.address = std::string{rest};
  if (rest.find(':') == std::string_view::npos)
    result.address += ":19530";
  return result;
}

std::shared_ptr<grpc::Channel> open_channel(const target_params& params, std::string& error) {
  auto ep = parse_endpoint(params.uri);
  grpc::ChannelArguments args;
  // Batches of inserts are large; the target enforces its own limit (64 MB by default).
  args.SetMaxSendMessageSize(-1);
  args.SetMaxReceiveMessageSize(-1);
  if (!ep.tls)
    return grpc::CreateCustomChannel(ep.address, grpc::InsecureChannelCredentials(), args);
  grpc::SslCredentialsOptions ssl;
  const auto& dial = params.dial;
  auto ca_path = dial.ca_pem_path.empty() ? dial.server_pem_path : dial.ca_pem_path;
  if (!read_file_into(ca_path, dial.ca_pem_path.empty() ? "server_pem_path" : "ca_pem_path",
                      ssl.pem_root_certs, error) ||
      !read_file_into(dial.client_pem_path, "client_pem_path", ssl.pem_cert_chain, error) ||
      !read_file_into(dial.client_key_path, "client_key_path", ssl.pem_private_key, error))
    return nullptr;
  if (!dial.server_name.empty())
    args.SetSslTargetNameOverride(dial.server_name);
  return grpc::CreateCustomChannel(ep.address, grpc::SslCredentials(ssl), args);
}

void authorize(grpc::ClientContext& context, const target_params& params) {
  if (!params.token.empty())
    context.AddMetadata("authorization", base64_encode(params.token));
}

std::string check_target(const target_params& params) {
  std::string error;
  auto channel = open_channel(params, error);
  if (!channel)
    return error;
  auto stub = ::milvus::proto::milvus::MilvusService::NewStub(channel);
  auto deadline = std::chrono::system_clock::now() + std::chrono::seconds{params.connect_timeout_s};

  grpc::ClientContext context;
  context.set_deadline(deadline);
  authorize(context, params);
  ::milvus::proto::milvus::ConnectRequest request;
  request.mutable_client_info()->set_sdk_type("milvus-cdc-cpp");
  ::milvus::proto::milvus::ConnectResponse response;
  auto status = stub->Connect(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    // Servers older than 2.2.9 have no Connect; CheckHealth is as cheap.
    grpc::ClientContext retry;
    retry.set_deadline(deadline);
    authorize(retry, params);
    ::milvus::proto::milvus::CheckHealthResponse health;
    status = stub->CheckHealth(&retry, ::milvus::proto::milvus::CheckHealthRequest{}, &health);
    if (status.ok() && !succeeded(health.status()))
      return "the target " + params.uri + " refused the connection: " + health.status().reason();
  }
  if (!status.ok())
    return "cannot reach the target " + params.uri + " (connect_timeout " +
           std::to_string(params.connect_timeout_s) + " s): " + describe(status);
  if (!succeeded(response.status()))
    return "the target " + params.uri + " refused the connection (code " +
           std::to_string(response.status().code()) + "): " + response.status().reason();
  return {};
}

} // namespace cdc::milvus
