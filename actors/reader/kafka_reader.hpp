#pragma once

// Reads the source Milvus's WAL topics from Kafka: manual assignment of partition 0 of each
// channel (Milvus never uses other partitions, never commits offsets), batched polling, and
// watermark queries. Blocking: call it from a detached actor or a thread of its own.

#include "actors/reader/decode.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace RdKafka {
class KafkaConsumer;
}

namespace cdc::source {
class kafka_events;
}

namespace cdc::source {

/// How to reach the source's Kafka.
struct kafka_settings {
  /// Bootstrap servers, comma separated.
  std::string brokers;
  /// librdkafka options passed as they are (security.protocol, sasl.*, ssl.*, ...).
  std::map<std::string, std::string> options;
  /// Names the client in the broker's logs, e.g. "milvus-cdc-cpp-<task_id>".
  std::string client_id = "milvus-cdc-cpp";
};

/// Where to start reading one channel.
struct start_point {
  std::string topic;
  /// The first offset to read; `from_end` for "only what is written from now on",
  /// `from_beginning` for everything the topic still holds.
  int64_t offset = from_end;
  static constexpr int64_t from_end = -1;
  static constexpr int64_t from_beginning = -2;
};

/// What one poll brought.
struct poll_result {
  std::vector<wal::raw_record> records;
  /// Conditions that librdkafka recovers from by itself (broker down, topic not created
  /// yet); reported so that the operator sees them, never a reason to stop.
  std::vector<std::string> transient_errors;
};

class kafka_reader {
public:
  /// Creates the consumer; an error names the option librdkafka refused.
  static caf::expected<std::unique_ptr<kafka_reader>> open(const kafka_settings& settings);

  ~kafka_reader();
  kafka_reader(const kafka_reader&) = delete;
  kafka_reader& operator=(const kafka_reader&) = delete;

  /// Replaces the assignment: partition 0 of each topic, from its start point.
  caf::error assign(const std::vector<start_point>& channels);

  /// Waits up to `timeout` for the first record, then takes what is already fetched, up to
  /// `max_records` records or `max_bytes` of values.
  poll_result poll(std::chrono::milliseconds timeout, size_t max_records, size_t max_bytes);

  /// The offset the next record written to `topic` will get (the high watermark), asking
  /// the broker: 0 for a topic that does not exist yet; an error when the broker does not
  /// answer within `timeout`.
  caf::expected<int64_t> end_offset(const std::string& topic, std::chrono::milliseconds timeout);

private:
  kafka_reader(std::unique_ptr<kafka_events> events,
               std::unique_ptr<RdKafka::KafkaConsumer> consumer);

  /// librdkafka's errors and logs of this consumer (declared first: outlives the consumer).
  std::unique_ptr<kafka_events> events_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
};

} // namespace cdc::source
