#include "actors/base/task_json.hpp"

#include "actors/base/error.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>

namespace cdc {

const rapidjson::Value* find_member(const rapidjson::Value& object, std::string_view key) {
  if (!object.IsObject())
    return nullptr;
  for (const auto& member : object.GetObject()) {
    std::string_view name{member.name.GetString(), member.name.GetStringLength()};
    if (name.size() != key.size())
      continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(name[i])) ==
             std::tolower(static_cast<unsigned char>(key[i]));
    if (same)
      return &member.value;
  }
  return nullptr;
}

bool is_virtual_channel_name(std::string_view name) {
  // <pchannel>_<collectionID>v<shardIndex>, e.g. by-dev-rootcoord-dml_3_453284834843284v0
  auto underscore = name.rfind('_');
  if (underscore == std::string_view::npos || underscore == 0)
    return false;
  auto suffix = name.substr(underscore + 1);
  auto v = suffix.find('v');
  if (v == std::string_view::npos || v == 0 || v + 1 == suffix.size())
    return false;
  auto digits = [](std::string_view s) {
    for (char c : s)
      if (!std::isdigit(static_cast<unsigned char>(c)))
        return false;
    return true;
  };
  return digits(suffix.substr(0, v)) && digits(suffix.substr(v + 1));
}

namespace {

/// Reads typed fields out of one JSON object and remembers the first error, naming the
/// field by its full path (e.g. "milvus_connect_param.connect_timeout").
class field_reader {
public:
  field_reader(const rapidjson::Value& object, std::string path)
      : object_(object), path_(std::move(path)) {}

  std::string path_of(std::string_view key) const {
    return path_.empty() ? std::string{key} : path_ + "." + std::string{key};
  }

  const rapidjson::Value* get(std::string_view key) const {
    auto* value = find_member(object_, key);
    return value != nullptr && !value->IsNull() ? value : nullptr;
  }

  bool read(std::string_view key, std::string& out, caf::error& err) const {
    auto* value = get(key);
    if (value == nullptr)
      return true;
    if (!value->IsString()) {
      err = make_error(ec::invalid_argument, path_of(key) + " must be a string");
      return false;
    }
    out.assign(value->GetString(), value->GetStringLength());
    return true;
  }

  bool read(std::string_view key, int64_t& out, caf::error& err) const {
    auto* value = get(key);
    if (value == nullptr)
      return true;
    if (!value->IsInt64()) {
      err = make_error(ec::invalid_argument, path_of(key) + " must be an integer");
      return false;
    }
    out = value->GetInt64();
    return true;
  }

  bool read(std::string_view key, bool& out, caf::error& err) const {
    auto* value = get(key);
    if (value == nullptr)
      return true;
    if (!value->IsBool()) {
      err = make_error(ec::invalid_argument, path_of(key) + " must be true or false");
      return false;
    }
    out = value->GetBool();
    return true;
  }

  /// Reads an object whose values are all strings.
  bool read(std::string_view key, std::map<std::string, std::string>& out, caf::error& err) const {
    auto* value = get(key);
    if (value == nullptr)
      return true;
    if (!value->IsObject()) {
      err = make_error(ec::invalid_argument, path_of(key) + " must be an object of strings");
      return false;
    }
    for (const auto& member : value->GetObject()) {
      if (!member.value.IsString()) {
        err = make_error(ec::invalid_argument,
                         path_of(key) + "." + member.name.GetString() + " must be a string");
        return false;
      }
      out.emplace(member.name.GetString(), member.value.GetString());
    }
    return true;
  }

  /// The object at `key`, or an error when it is something else; nullptr when absent.
  const rapidjson::Value* object(std::string_view key, caf::error& err) const {
    auto* value = get(key);
    if (value != nullptr && !value->IsObject()) {
      err = make_error(ec::invalid_argument, path_of(key) + " must be an object");
      return nullptr;
    }
    return value;
  }

private:
  const rapidjson::Value& object_;
  std::string path_;
};

caf::error check_name(const std::string& name, const std::string& path,
                      const validation_limits& limits) {
  if (name.empty())
    return make_error(ec::invalid_argument, path + " must not be empty");
  if (name.size() > limits.max_name_length)
    return make_error(ec::invalid_argument,
                      path + " is " + std::to_string(name.size()) + " characters long; at most " +
                          std::to_string(limits.max_name_length) + " are allowed");
  return {};
}

bool valid_task_id(const std::string& id) {
  if (id.empty() || id.size() > 64)
    return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
      return false;
  return true;
}

/// Checks `http(s)://host[:port]` and returns an error naming `path` otherwise.
caf::error check_uri(const std::string& uri, const std::string& path) {
  std::string_view rest{uri};
  if (rest.starts_with("http://"))
    rest.remove_prefix(7);
  else if (rest.starts_with("https://"))
    rest.remove_prefix(8);
  else
    return make_error(ec::invalid_argument,
                      path + " must start with http:// or https://, got '" + uri + "'");
  if (auto slash = rest.find('/'); slash != std::string_view::npos)
    rest = rest.substr(0, slash);
  auto colon = rest.rfind(':');
  auto host = colon == std::string_view::npos ? rest : rest.substr(0, colon);
  if (host.empty())
    return make_error(ec::invalid_argument, path + " has no host: '" + uri + "'");
  if (colon != std::string_view::npos) {
    auto port_text = rest.substr(colon + 1);
    int port = 0;
    auto [end, errc] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (errc != std::errc{} || end != port_text.data() + port_text.size() || port < 1 ||
        port > 65535)
      return make_error(ec::invalid_argument, path + " has an invalid port: '" + uri + "'");
  }
  return {};
}

caf::error parse_target(const rapidjson::Value& params, bool from_storage, target_params& out) {
  caf::error err;
  field_reader r{params, "milvus_connect_param"};
  std::string host, username, password;
  int64_t port = 0;
  bool enable_tls = false;
  if (!r.read("uri", out.uri, err) || !r.read("token", out.token, err) ||
      !r.read("connect_timeout", out.connect_timeout_s, err) ||
      !r.read("channel_num", out.channel_num, err) ||
      !r.read("ignore_partition", out.ignore_partition, err) || !r.read("host", host, err) ||
      !r.read("port", port, err) || !r.read("username", username, err) ||
      !r.read("password", password, err) || !r.read("enable_tls", enable_tls, err))
    return err;
  if (auto* dial = r.object("dial_config", err)) {
    field_reader d{*dial, "milvus_connect_param.dial_config"};
    if (!d.read("server_name", out.dial.server_name, err) ||
        !d.read("server_pem_path", out.dial.server_pem_path, err) ||
        !d.read("ca_pem_path", out.dial.ca_pem_path, err) ||
        !d.read("client_pem_path", out.dial.client_pem_path, err) ||
        !d.read("client_key_path", out.dial.client_key_path, err))
      return err;
  } else if (err) {
    return err;
  }
  if (out.connect_timeout_s < 0)
    return make_error(ec::invalid_argument,
                      "milvus_connect_param.connect_timeout must not be negative (seconds)");
  if (out.connect_timeout_s == 0)
    out.connect_timeout_s = 5;
  if (out.channel_num < 0)
    return make_error(ec::invalid_argument,
                      "milvus_connect_param.channel_num must not be negative");
  if (from_storage) {
    // The stored form keeps the legacy fields only to echo them back.
    if (!host.empty())
      out.legacy = legacy_address{host, port, username, enable_tls};
    return check_uri(out.uri, "milvus_connect_param.uri");
  }
  if (!out.uri.empty())
    return check_uri(out.uri, "milvus_connect_param.uri");
  // The legacy form: host, port, username, password, enable_tls.
  if (host.empty())
    return make_error(ec::invalid_argument, "milvus_connect_param needs the target address: uri "
                                            "(http://host:port) or the legacy host and port");
  if (port < 1 || port > 65535)
    return make_error(ec::invalid_argument,
                      "milvus_connect_param.port must be between 1 and 65535 with the legacy "
                      "host form");
  if (username.empty() != password.empty())
    return make_error(ec::invalid_argument,
                      username.empty() ? "milvus_connect_param.password is given without username"
                                       : "milvus_connect_param.username is given without password");
  out.uri = (enable_tls ? "https://" : "http://") + host + ":" + std::to_string(port);
  if (!username.empty())
    out.token = username + ":" + password;
  out.legacy = legacy_address{host, port, username, enable_tls};
  return check_uri(out.uri, "milvus_connect_param.host");
}

caf::error parse_collections(const rapidjson::Value& list, const std::string& path,
                             const validation_limits& limits, std::vector<collection_ref>& out) {
  if (!list.IsArray())
    return make_error(ec::invalid_argument, path + " must be an array of {\"name\": ...}");
  if (list.Empty())
    return make_error(ec::invalid_argument, path + " must name at least one collection");
  for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
    auto item_path = path + "[" + std::to_string(i) + "]";
    if (!list[i].IsObject())
      return make_error(ec::invalid_argument, item_path + " must be an object");
    field_reader r{list[i], item_path};
    collection_ref ref;
    caf::error err;
    if (!r.read("name", ref.name, err) || !r.read("positions", ref.positions, err) ||
        !r.read("use_start_position", ref.use_start_position, err))
      return err;
    if (auto name_err = check_name(ref.name, item_path + ".name", limits))
      return name_err;
    if (ref.name == "*" && !ref.positions.empty())
      return make_error(ec::invalid_argument,
                        item_path + ".positions cannot be given for the collection name *");
    if (ref.name == "*" && ref.use_start_position)
      return make_error(ec::invalid_argument, item_path +
                                                  ".use_start_position cannot be given for the "
                                                  "collection name *");
    for (const auto& [vchannel, position] : ref.positions)
      if (!is_virtual_channel_name(vchannel))
        return make_error(ec::invalid_argument, item_path + ".positions: '" + vchannel +
                                                    "' is not a virtual channel name "
                                                    "(<pchannel>_<collectionID>v<shard>, e.g. "
                                                    "by-dev-rootcoord-dml_3_453284834843284v0)");
    out.push_back(std::move(ref));
  }
  return {};
}

caf::error parse_name_mappings(const rapidjson::Value& list, const validation_limits& limits,
                               std::vector<name_mapping>& out) {
  if (!list.IsArray())
    return make_error(ec::invalid_argument, "name_mapping must be an array");
  for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
    auto path = "name_mapping[" + std::to_string(i) + "]";
    if (!list[i].IsObject())
      return make_error(ec::invalid_argument, path + " must be an object");
    field_reader r{list[i], path};
    name_mapping mapping;
    caf::error err;
    if (!r.read("source_db", mapping.source_db, err) ||
        !r.read("target_db", mapping.target_db, err) ||
        !r.read("collection_mapping", mapping.collection_mapping, err))
      return err;
    if (mapping.source_db.empty())
      mapping.source_db = std::string{default_database};
    if (mapping.target_db.empty())
      mapping.target_db = mapping.source_db;
    for (const auto* name : {&mapping.source_db, &mapping.target_db})
      if (auto name_err = check_name(*name, path, limits))
        return name_err;
    for (const auto& [from, to] : mapping.collection_mapping) {
      if (auto name_err = check_name(from, path + ".collection_mapping", limits))
        return name_err;
      if (auto name_err = check_name(to, path + ".collection_mapping." + from, limits))
        return name_err;
    }
    out.push_back(std::move(mapping));
  }
  return {};
}

caf::expected<task_spec> parse_spec(const rapidjson::Value& data, const validation_limits& limits,
                                    bool from_storage) {
  if (!data.IsObject())
    return make_error(ec::invalid_argument, "request_data must be a JSON object");
  task_spec spec;
  field_reader r{data, ""};
  caf::error err;
  std::string mode = "api";
  if (!r.read("task_id", spec.task_id, err) ||
      !r.read("disable_auto_start", spec.disable_auto_start, err) ||
      !r.read("target_mode", mode, err))
    return err;
  if (!spec.task_id.empty() && !valid_task_id(spec.task_id))
    return make_error(ec::invalid_argument,
                      "task_id must be 1 to 64 characters of letters, digits, '-' or '_'");
  if (mode == "api")
    spec.mode = target_mode::api;
  else if (mode == "replicate")
    spec.mode = target_mode::replicate;
  else
    return make_error(ec::invalid_argument,
                      "target_mode must be \"api\" or \"replicate\", got \"" + mode + "\"");

  auto* params = r.object("milvus_connect_param", err);
  if (err)
    return err;
  if (params == nullptr)
    return make_error(ec::invalid_argument,
                      "milvus_connect_param is required: the target Milvus (uri and token)");
  if (auto target_err = parse_target(*params, from_storage, spec.target))
    return target_err;

  auto* infos = r.get("collection_infos");
  auto* by_db = r.get("db_collections");
  if (infos != nullptr && by_db != nullptr)
    return make_error(ec::invalid_argument,
                      "give either collection_infos or db_collections, not both");
  if (infos == nullptr && by_db == nullptr)
    return make_error(ec::invalid_argument,
                      "no collections selected: give collection_infos (e.g. [{\"name\": \"*\"}]) "
                      "or db_collections (e.g. {\"*\": [{\"name\": \"*\"}]})");
  if (infos != nullptr) {
    auto& list = spec.db_collections[std::string{default_database}];
    if (auto list_err = parse_collections(*infos, "collection_infos", limits, list))
      return list_err;
  } else {
    spec.by_database = true;
    if (!by_db->IsObject())
      return make_error(ec::invalid_argument,
                        "db_collections must be an object: {\"<database>\": [{\"name\": ...}]}");
    if (by_db->MemberCount() != 1)
      return make_error(ec::invalid_argument,
                        "db_collections must name exactly one database (or \"*\"), got " +
                            std::to_string(by_db->MemberCount()));
    const auto& member = *by_db->MemberBegin();
    std::string db = member.name.GetString();
    if (auto name_err = check_name(db, "db_collections database name", limits))
      return name_err;
    auto& list = spec.db_collections[db];
    if (auto list_err = parse_collections(member.value, "db_collections." + db, limits, list))
      return list_err;
  }

  if (auto* mappings = r.get("name_mapping"))
    if (auto mapping_err = parse_name_mappings(*mappings, limits, spec.name_mappings))
      return mapping_err;
  if (auto* extra = r.object("extra_info", err)) {
    field_reader e{*extra, "extra_info"};
    if (!e.read("enable_user_role", spec.enable_user_role, err))
      return err;
  } else if (err) {
    return err;
  }
  return spec;
}

using allocator = rapidjson::Document::AllocatorType;

rapidjson::Value str(const std::string& s, allocator& alloc) {
  return rapidjson::Value{s.c_str(), static_cast<rapidjson::SizeType>(s.size()), alloc};
}

rapidjson::Value string_map(const std::map<std::string, std::string>& map, allocator& alloc) {
  rapidjson::Value out{rapidjson::kObjectType};
  for (const auto& [key, value] : map)
    out.AddMember(str(key, alloc), str(value, alloc), alloc);
  return out;
}

rapidjson::Value collection_list(const std::vector<collection_ref>& refs, allocator& alloc) {
  rapidjson::Value out{rapidjson::kArrayType};
  for (const auto& ref : refs) {
    rapidjson::Value item{rapidjson::kObjectType};
    item.AddMember("name", str(ref.name, alloc), alloc);
    if (!ref.positions.empty())
      item.AddMember("positions", string_map(ref.positions, alloc), alloc);
    if (ref.use_start_position)
      item.AddMember("use_start_position", true, alloc);
    out.PushBack(item, alloc);
  }
  return out;
}

void write_task(const task_record& task, bool with_secrets, rapidjson::Value& out,
                allocator& alloc) {
  const auto& spec = task.spec;
  const auto& target = spec.target;
  out.SetObject();
  out.AddMember("task_id", str(spec.task_id, alloc), alloc);

  rapidjson::Value params{rapidjson::kObjectType};
  params.AddMember("uri", str(target.uri, alloc), alloc);
  if (with_secrets && !target.token.empty())
    params.AddMember("token", str(target.token, alloc), alloc);
  params.AddMember("connect_timeout", target.connect_timeout_s, alloc);
  if (target.channel_num > 0)
    params.AddMember("channel_num", target.channel_num, alloc);
  params.AddMember("ignore_partition", target.ignore_partition, alloc);
  if (!target.legacy.host.empty()) {
    params.AddMember("host", str(target.legacy.host, alloc), alloc);
    params.AddMember("port", target.legacy.port, alloc);
    if (!target.legacy.username.empty())
      params.AddMember("username", str(target.legacy.username, alloc), alloc);
    params.AddMember("enable_tls", target.legacy.enable_tls, alloc);
  }
  const auto& dial = target.dial;
  if (dial != dial_config{}) {
    // Paths to key material are secrets of the CDC host: stored, never returned.
    rapidjson::Value d{rapidjson::kObjectType};
    if (!dial.server_name.empty())
      d.AddMember("server_name", str(dial.server_name, alloc), alloc);
    if (with_secrets) {
      d.AddMember("server_pem_path", str(dial.server_pem_path, alloc), alloc);
      d.AddMember("ca_pem_path", str(dial.ca_pem_path, alloc), alloc);
      d.AddMember("client_pem_path", str(dial.client_pem_path, alloc), alloc);
      d.AddMember("client_key_path", str(dial.client_key_path, alloc), alloc);
    }
    params.AddMember("dial_config", d, alloc);
  }
  out.AddMember("milvus_connect_param", params, alloc);

  if (spec.by_database) {
    rapidjson::Value dbs{rapidjson::kObjectType};
    for (const auto& [db, refs] : spec.db_collections)
      dbs.AddMember(str(db, alloc), collection_list(refs, alloc), alloc);
    out.AddMember("db_collections", dbs, alloc);
  } else {
    auto it = spec.db_collections.find(std::string{default_database});
    out.AddMember("collection_infos",
                  collection_list(it == spec.db_collections.end() ? std::vector<collection_ref>{}
                                                                  : it->second,
                                  alloc),
                  alloc);
  }
  if (!spec.name_mappings.empty()) {
    rapidjson::Value mappings{rapidjson::kArrayType};
    for (const auto& m : spec.name_mappings) {
      rapidjson::Value item{rapidjson::kObjectType};
      item.AddMember("source_db", str(m.source_db, alloc), alloc);
      item.AddMember("target_db", str(m.target_db, alloc), alloc);
      item.AddMember("collection_mapping", string_map(m.collection_mapping, alloc), alloc);
      mappings.PushBack(item, alloc);
    }
    out.AddMember("name_mapping", mappings, alloc);
  }
  rapidjson::Value extra{rapidjson::kObjectType};
  extra.AddMember("enable_user_role", spec.enable_user_role, alloc);
  out.AddMember("extra_info", extra, alloc);
  out.AddMember("target_mode", rapidjson::StringRef(to_string(spec.mode)), alloc);
  out.AddMember("disable_auto_start", spec.disable_auto_start, alloc);
  out.AddMember("state", rapidjson::StringRef(to_string(task.state)), alloc);
  if (task.state == task_state::paused || with_secrets)
    out.AddMember("reason", str(task.reason, alloc), alloc);
  if (!with_secrets && !task.progress.empty()) {
    // Extension: per source channel, the last applied position and how far behind it is.
    auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    rapidjson::Value progress{rapidjson::kObjectType};
    for (const auto& cp : task.progress) {
      rapidjson::Value channel{rapidjson::kObjectType};
      channel.AddMember("offset", cp.offset, alloc);
      if (cp.timestamp != 0) {
        auto ms = static_cast<int64_t>(cp.timestamp >> 18);
        channel.AddMember("applied_time_ms", ms, alloc);
        channel.AddMember("lag_ms", std::max<int64_t>(0, now_ms - ms), alloc);
      }
      progress.AddMember(str(cp.channel, alloc), channel, alloc);
    }
    out.AddMember("progress", progress, alloc);
  }
}

} // namespace

caf::expected<task_spec> parse_create_request(const rapidjson::Value& request_data,
                                              const validation_limits& limits) {
  return parse_spec(request_data, limits, false);
}

void write_task_object(const task_record& task, rapidjson::Value& out, allocator& alloc) {
  write_task(task, false, out, alloc);
}

std::string to_storage_json(const task_record& task) {
  rapidjson::Document doc;
  write_task(task, true, doc, doc.GetAllocator());
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer{buffer};
  doc.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

caf::expected<task_record> from_storage_json(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  if (doc.HasParseError() || !doc.IsObject())
    return make_error(ec::storage_failure, "a stored task is not valid JSON");
  // Names were validated when the task was created; a later, stricter limit must not make
  // a stored task unreadable.
  validation_limits no_limits{std::numeric_limits<size_t>::max()};
  auto spec = parse_spec(doc, no_limits, true);
  if (!spec)
    return make_error(ec::storage_failure, "a stored task is invalid: " + message_of(spec.error()));
  task_record task{std::move(*spec), task_state::initial, {}};
  field_reader r{doc, ""};
  std::string state, reason;
  caf::error err;
  if (!r.read("state", state, err) || !r.read("reason", task.reason, err))
    return make_error(ec::storage_failure, "a stored task is invalid: " + message_of(err));
  if (state == "Running")
    task.state = task_state::running;
  else if (state == "Paused")
    task.state = task_state::paused;
  else if (state == "Initial")
    task.state = task_state::initial;
  else
    return make_error(ec::storage_failure, "a stored task has the unknown state '" + state + "'");
  return task;
}

} // namespace cdc
