#pragma once

// Reads the WAL records captured from a real Milvus 2.3.5 (tests/fixtures/wal-2.3.5/*.jsonl,
// see tests/fixtures/README.md) as raw records, in capture order (topic, offset).

#include "actors/reader/decode.hpp"
#include "proto/position.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace cdc::test {

inline std::filesystem::path wal_fixtures_dir() {
  return std::filesystem::path{CDC_FIXTURES_DIR} / "wal-2.3.5";
}

/// One captured record and the type Milvus wrote it as (`base.msg_type`, as the capture
/// script read it with pymilvus's protos).
struct captured_record {
  wal::raw_record record;
  int msg_type = 0;
};

/// Every captured record of every *.jsonl file, ordered by topic and offset.
inline std::vector<captured_record> load_wal_fixtures() {
  std::vector<captured_record> records;
  for (const auto& entry : std::filesystem::directory_iterator{wal_fixtures_dir()}) {
    if (entry.path().extension() != ".jsonl")
      continue;
    std::ifstream in{entry.path()};
    std::string line;
    while (std::getline(in, line)) {
      rapidjson::Document doc;
      doc.Parse(line.c_str(), line.size());
      if (doc.HasParseError() || !doc.IsObject())
        throw std::runtime_error("bad fixture line in " + entry.path().string());
      wal::raw_record record;
      record.topic = doc["topic"].GetString();
      record.offset = doc["offset"].GetInt64();
      auto value = milvus::base64_decode(doc["value"].GetString());
      if (!value)
        throw std::runtime_error("bad base64 value in " + entry.path().string());
      record.value = std::move(*value);
      if (doc.HasMember("headers") && doc["headers"].IsArray())
        for (const auto& header : doc["headers"].GetArray()) {
          // [name, base64 value]
          auto header_value = milvus::base64_decode(header[1].GetString());
          record.headers.emplace_back(header[0].GetString(),
                                      header_value ? *header_value : std::string{});
        }
      records.push_back({std::move(record), doc["msg_type"].GetInt()});
    }
  }
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return std::tie(a.record.topic, a.record.offset) < std::tie(b.record.topic, b.record.offset);
  });
  return records;
}

} // namespace cdc::test
