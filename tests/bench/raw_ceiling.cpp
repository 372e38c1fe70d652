// Benchmark (not a test): the raw ceiling of a target Milvus. One C++ client of ours (the
// writer of cdc-server, milvus::target_writer, one call after the other as a task's writer
// makes them) inserts batches straight into a collection of the target, and a second
// connection polls `count(*)` at consistency Eventually until every row is visible. No
// Kafka, no source, no decoding: what the CDC server could reach at best on this target.
//
//   raw_ceiling --uri URI --collection NAME --rows N --batch B --dim D
//               [--db NAME] [--token T] [--poll-ms MS] [--timeout S] [--seed S]
//
// The collection must exist with an int64 primary key `pk` (autoID off) and a float vector
// `vec` of D dimensions, indexed and loaded (tests/bench/cdc_bench.py makes it). Rows are
// uniform random floats in [-1, 1), primary keys 0..N-1; every request is built before the
// clock starts. Output, one `key=value` per line (tests/bench/cdc_bench.py parses it;
// times are CLOCK_MONOTONIC seconds, the clock of Python's time.monotonic()):
//   first_insert, last_ack, visible, rows, insert_s, e2e_s, rows_per_s, caught_up_after_s,
//   cpu_s, peak_rss_mb, and `sample=<t> <count>` for every poll whose count changed.

#include "milvus/target_client.hpp"
#include "milvus/target_writer.hpp"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/resource.h>
#include <time.h>

namespace {

namespace mpb = ::milvus::proto::milvus;
namespace cpb = ::milvus::proto::common;
namespace spb = ::milvus::proto::schema;

struct options {
  std::string uri;
  std::string db = "default";
  std::string collection;
  std::string token;
  int64_t rows = 0;
  int64_t batch = 0;
  int dim = 0;
  int poll_ms = 50;
  double timeout_s = 600;
  unsigned seed = 7;
};

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s --uri URI --collection NAME --rows N --batch B --dim D [--db NAME] "
               "[--token T] [--poll-ms MS] [--timeout S] [--seed S]\n",
               argv0);
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    auto is = [&](const char* name) { return std::strcmp(argv[i], name) == 0 && i + 1 < argc; };
    if (is("--uri"))
      o.uri = argv[++i];
    else if (is("--db"))
      o.db = argv[++i];
    else if (is("--collection"))
      o.collection = argv[++i];
    else if (is("--token"))
      o.token = argv[++i];
    else if (is("--rows"))
      o.rows = std::atoll(argv[++i]);
    else if (is("--batch"))
      o.batch = std::atoll(argv[++i]);
    else if (is("--dim"))
      o.dim = std::atoi(argv[++i]);
    else if (is("--poll-ms"))
      o.poll_ms = std::atoi(argv[++i]);
    else if (is("--timeout"))
      o.timeout_s = std::atof(argv[++i]);
    else if (is("--seed"))
      o.seed = static_cast<unsigned>(std::atoi(argv[++i]));
    else
      usage(argv[0]);
  }
  if (o.uri.empty() || o.collection.empty() || o.rows <= 0 || o.batch <= 0 || o.dim <= 0 ||
      o.poll_ms <= 0)
    usage(argv[0]);
  return o;
}

double monotonic_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0 / 1e6;
}

std::vector<mpb::InsertRequest> make_batches(const options& o) {
  std::mt19937 gen{o.seed};
  std::uniform_real_distribution<float> uniform{-1.0f, 1.0f};
  std::vector<mpb::InsertRequest> batches;
  for (int64_t first = 0; first < o.rows; first += o.batch) {
    auto count = std::min(o.batch, o.rows - first);
    mpb::InsertRequest request;
    request.set_db_name(o.db);
    request.set_collection_name(o.collection);
    auto* pk = request.add_fields_data();
    pk->set_field_name("pk");
    pk->set_type(spb::Int64);
    auto* keys = pk->mutable_scalars()->mutable_long_data()->mutable_data();
    keys->Reserve(static_cast<int>(count));
    for (int64_t k = first; k < first + count; ++k)
      keys->Add(k);
    auto* vec = request.add_fields_data();
    vec->set_field_name("vec");
    vec->set_type(spb::FloatVector);
    vec->mutable_vectors()->set_dim(o.dim);
    auto* data = vec->mutable_vectors()->mutable_float_vector()->mutable_data();
    data->Resize(static_cast<int>(count * o.dim), 0.0f);
    for (auto& v : *data)
      v = uniform(gen);
    request.set_num_rows(static_cast<uint32_t>(count));
    batches.push_back(std::move(request));
  }
  return batches;
}

/// count(*) of the collection at consistency Eventually; -1 when the query failed.
class counter {
public:
  explicit counter(const options& o) : o_(o) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    channel_ = grpc::CreateCustomChannel(cdc::milvus::parse_endpoint(o.uri).address,
                                         grpc::InsecureChannelCredentials(), args);
    stub_ = mpb::MilvusService::NewStub(channel_);
  }

  int64_t count(std::string& error) {
    mpb::QueryRequest request;
    request.set_db_name(o_.db);
    request.set_collection_name(o_.collection);
    request.set_expr("");
    request.add_output_fields("count(*)");
    request.set_consistency_level(cpb::Eventually);
    request.set_use_default_consistency(false);
    request.set_guarantee_timestamp(1); // what pymilvus sends for Eventually
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (o_.db != "default")
      context.AddMetadata("dbname", o_.db);
    mpb::QueryResults response;
    auto status = stub_->Query(&context, request, &response);
    if (!status.ok()) {
      error = "gRPC " + std::to_string(status.error_code()) + " " + status.error_message();
      return -1;
    }
    if (!cdc::milvus::succeeded(response.status())) {
      error =
          "Milvus " + std::to_string(response.status().code()) + " " + response.status().reason();
      return -1;
    }
    for (const auto& field : response.fields_data())
      if (field.scalars().long_data().data_size() > 0)
        return field.scalars().long_data().data(0);
    error = "no count(*) in the answer";
    return -1;
  }

private:
  const options& o_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<mpb::MilvusService::Stub> stub_;
};

} // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  auto batches = make_batches(o);

  cdc::target_params params;
  params.uri = o.uri;
  params.token = o.token;
  params.connect_timeout_s = 10;
  cdc::milvus::target_writer writer{params};
  counter poll{o};

  std::string error;
  if (auto before = poll.count(error); before != 0) {
    std::fprintf(stderr, "raw_ceiling: %s.%s must exist, be loaded and be empty (count %lld%s%s)\n",
                 o.db.c_str(), o.collection.c_str(), static_cast<long long>(before),
                 error.empty() ? "" : ": ", error.c_str());
    return 1;
  }

  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::vector<std::pair<double, int64_t>> samples;
  double visible = 0;
  std::string poll_error;
  auto cpu_start = process_cpu_seconds();
  auto first_insert = monotonic_now();
  std::thread poller{[&] {
    int64_t last = 0;
    while (true) {
      auto now = monotonic_now();
      std::string e;
      auto n = poll.count(e);
      if (n < 0) {
        std::lock_guard lock{mutex};
        poll_error = e; // transient errors happen while segments move; keep polling
      } else if (n != last) {
        last = n;
        std::lock_guard lock{mutex};
        samples.emplace_back(now, n);
        if (n >= o.rows) {
          visible = now;
          return;
        }
      }
      if (failed || now - first_insert > o.timeout_s)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(o.poll_ms));
    }
  }};

  for (const auto& request : batches) {
    auto result = writer.insert(request);
    if (!result.ok()) {
      std::fprintf(stderr, "raw_ceiling: Insert failed: %s\n", result.status.message.c_str());
      failed = true;
      poller.join();
      return 1;
    }
  }
  auto last_ack = monotonic_now();
  poller.join();
  auto cpu = process_cpu_seconds() - cpu_start;

  if (visible == 0) {
    std::fprintf(stderr, "raw_ceiling: not all %lld rows visible after %.0f s (last error: %s)\n",
                 static_cast<long long>(o.rows), o.timeout_s, poll_error.c_str());
    return 1;
  }
  std::printf("first_insert=%.6f\nlast_ack=%.6f\nvisible=%.6f\nrows=%lld\n", first_insert, last_ack,
              visible, static_cast<long long>(o.rows));
  std::printf("insert_s=%.3f\ne2e_s=%.3f\nrows_per_s=%.1f\ncaught_up_after_s=%.3f\n",
              last_ack - first_insert, visible - first_insert,
              static_cast<double>(o.rows) / (visible - first_insert),
              std::max(0.0, visible - last_ack));
  std::printf("cpu_s=%.3f\npeak_rss_mb=%.1f\n", cpu, peak_rss_mb());
  for (const auto& [t, n] : samples)
    std::printf("sample=%.6f %lld\n", t, static_cast<long long>(n));
  return 0;
}
