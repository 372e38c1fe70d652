#include "http/api.hpp"

#include "actors/base/metrics.hpp"
#include "proto/position.hpp"

#include <caf/event_based_actor.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace cdc {

namespace {

constexpr const char* request_types = "create, delete, pause, resume, get, list, position, "
                                      "maintenance";

/// Deeper JSON than this is refused before parsing: no legitimate request nests past 10.
constexpr int max_json_depth = 64;

/// The default deadline of a supervisor request; create adds the target's connect_timeout.
constexpr auto supervisor_timeout = std::chrono::seconds{30};

std::string to_json(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer{buffer};
  value.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

/// {"code":200,"data":<data>}
http_reply ok_reply(rapidjson::Document& doc, rapidjson::Value& data) {
  rapidjson::Value envelope{rapidjson::kObjectType};
  envelope.AddMember("code", 200, doc.GetAllocator());
  envelope.AddMember("data", data, doc.GetAllocator());
  return {200, to_json(envelope)};
}

http_reply ok_empty() {
  return {200, R"({"code":200,"data":{}})"};
}

int status_of(const caf::error& err) {
  switch (code_of(err)) {
  case ec::invalid_argument:
  case ec::invalid_transition:
    return 400;
  case ec::task_not_found:
    return 404;
  default:
    return 500;
  }
}

http_reply reply_from(const caf::error& err) {
  if (err == caf::sec::request_timeout)
    return error_reply(500, "the server did not answer in time; the request may still complete");
  return error_reply(status_of(err), message_of(err));
}

/// True when brackets nest deeper than `limit` (strings are skipped). Checked before
/// parsing so that a hostile body costs one linear scan and no parser stack.
bool nests_deeper_than(const std::string& body, int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > limit)
        return true;
    } else if (c == '}' || c == ']')
      --depth;
  }
  return false;
}

/// The required string `task_id` of request_data, or an error reply.
std::optional<std::string> task_id_of(const rapidjson::Value* data, http_reply& error) {
  const rapidjson::Value* id = data != nullptr ? find_member(*data, "task_id") : nullptr;
  if (id == nullptr || id->IsNull()) {
    error = error_reply(400, "request_data.task_id is required");
    return std::nullopt;
  }
  if (!id->IsString() || id->GetStringLength() == 0) {
    error = error_reply(400, "request_data.task_id must be a non-empty string");
    return std::nullopt;
  }
  return std::string{id->GetString(), id->GetStringLength()};
}

rapidjson::Value task_value(const task_record& task, rapidjson::Document::AllocatorType& alloc) {
  rapidjson::Value out;
  write_task_object(task, out, alloc);
  return out;
}

/// Every position given at create must be a MsgPosition of the channel it is keyed by.
caf::error check_positions(const task_spec& spec) {
  for (const auto& [db, refs] : spec.db_collections)
    for (const auto& ref : refs)
      for (const auto& [vchannel, encoded] : ref.positions) {
        auto pos = milvus::decode_position(encoded);
        if (!pos)
          return make_error(ec::invalid_argument, "the position of " + vchannel + " (collection " +
                                                      ref.name + ") is not a base64 MsgPosition");
      }
  return {};
}

} // namespace

http_reply error_reply(int status, const std::string& message) {
  rapidjson::Document doc;
  doc.SetObject();
  doc.AddMember("code", status, doc.GetAllocator());
  doc.AddMember("message",
                rapidjson::Value{message.c_str(), static_cast<rapidjson::SizeType>(message.size()),
                                 doc.GetAllocator()},
                doc.GetAllocator());
  return {status, to_json(doc)};
}

control_api::control_api(caf::actor_system& system, supervisor_actor supervisor,
                         api_settings settings, std::shared_ptr<metrics::registry> metrics)
    : system_(system), supervisor_(std::move(supervisor)), settings_(settings),
      metrics_(std::move(metrics)) {
  metrics_->describe("cdc_http_requests_total", "counter",
                     "Control API requests by request type and response code.");
  metrics_->describe("cdc_tasks", "gauge", "CDC tasks by state.");
  metrics_->describe("cdc_channel_lag_ms", "gauge",
                     "Per task and source channel: now minus the source time of the last change "
                     "applied on the target (TimeTicks advance it on an idle channel).");
  metrics_->describe("cdc_channel_offset", "gauge",
                     "Per task and source channel: Kafka offset of the last applied record.");
  metrics_->describe("cdc_rows_applied_total", "counter",
                     "Rows written (insert, upsert) or deleted on the target, per task and kind.");
  metrics_->describe("cdc_bytes_applied_total", "counter",
                     "Bytes of requests applied on the target, per task.");
  metrics_->describe("cdc_target_errors_total", "counter",
                     "Target calls that failed after their retries, per task and RPC.");
  metrics_->describe("cdc_target_retries_total", "counter",
                     "Retried target calls (attempts beyond the first), per task.");
}

void control_api::count(const std::string& type, int status) const {
  metrics_->add("cdc_http_requests_total", {{"type", type}, {"code", std::to_string(status)}});
}

void control_api::disconnect() {
  supervisor_ = nullptr;
}

std::string control_api::metrics_text() const {
  return metrics_->render();
}

void control_api::handle(const std::string& body, reply_callback done_raw) {
  auto type = std::make_shared<std::string>("invalid");
  reply_callback done = [this, type, done_raw](http_reply reply) {
    count(*type, reply.status);
    if (reply.status >= 500)
      spdlog::warn("request {} failed: {}", *type, reply.body);
    done_raw(std::move(reply));
  };
  if (body.size() > settings_.max_body_bytes)
    return done(error_reply(400, "request body of " + std::to_string(body.size()) +
                                     " bytes is larger than the limit of " +
                                     std::to_string(settings_.max_body_bytes) +
                                     " bytes (http.max_body_bytes)"));
  if (nests_deeper_than(body, max_json_depth))
    return done(error_reply(400, "request body nests deeper than " +
                                     std::to_string(max_json_depth) + " levels"));
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(body.c_str(),
                                                                                    body.size());
  if (doc.HasParseError())
    return done(error_reply(400, "request body is not valid UTF-8 JSON (error at byte " +
                                     std::to_string(doc.GetErrorOffset()) + ")"));
  if (!doc.IsObject())
    return done(error_reply(400, "request body must be a JSON object: "
                                 "{\"request_type\": ..., \"request_data\": {...}}"));
  const auto* request_type = find_member(doc, "request_type");
  if (request_type == nullptr || !request_type->IsString())
    return done(
        error_reply(400, std::string{"request_type must be a string, one of: "} + request_types));
  const rapidjson::Value* data = find_member(doc, "request_data");
  if (data != nullptr && data->IsNull())
    data = nullptr;
  if (data != nullptr && !data->IsObject())
    return done(error_reply(400, "request_data must be a JSON object"));
  std::string name{request_type->GetString(), request_type->GetStringLength()};

  // Asks the supervisor from a short-lived actor; `on_ok` turns the answer into the reply.
  auto ask = [&](auto timeout, auto on_ok, auto... message) {
    auto sup = supervisor_;
    system_.spawn([=](caf::event_based_actor* self) {
      self->request(sup, timeout, message...).then(on_ok, [=](caf::error& err) {
        done(reply_from(err));
      });
    });
  };

  if (name == "create") {
    *type = name;
    if (data == nullptr)
      return done(error_reply(400, "create needs request_data with milvus_connect_param and "
                                   "collection_infos"));
    auto spec = parse_create_request(*data, settings_.limits);
    if (!spec)
      return done(reply_from(spec.error()));
    if (auto err = check_positions(*spec))
      return done(reply_from(err));
    auto timeout = supervisor_timeout + std::chrono::seconds{spec->target.connect_timeout_s};
    return ask(
        timeout,
        [=](std::string& id) {
          rapidjson::Document out;
          rapidjson::Value result{rapidjson::kObjectType};
          result.AddMember("task_id", rapidjson::Value{id.c_str(), out.GetAllocator()},
                           out.GetAllocator());
          done(ok_reply(out, result));
        },
        atom::create_v, std::move(*spec));
  }
  if (name == "list") {
    *type = name;
    return ask(
        supervisor_timeout,
        [=](std::vector<task_record>& tasks) {
          rapidjson::Document out;
          auto& alloc = out.GetAllocator();
          rapidjson::Value list{rapidjson::kArrayType};
          for (const auto& task : tasks)
            list.PushBack(task_value(task, alloc), alloc);
          rapidjson::Value result{rapidjson::kObjectType};
          result.AddMember("tasks", list, alloc);
          done(ok_reply(out, result));
        },
        atom::list_v);
  }
  if (name == "maintenance") {
    *type = name;
    const rapidjson::Value* operation = data ? find_member(*data, "operation") : nullptr;
    if (operation == nullptr || !operation->IsString() ||
        std::string_view{operation->GetString()} != "set_log_level")
      return done(error_reply(400, "maintenance needs request_data.operation "
                                   "\"set_log_level\" (the only operation)"));
    const rapidjson::Value* params = find_member(*data, "params");
    const rapidjson::Value* level = params ? find_member(*params, "log_level") : nullptr;
    static const char* levels = "trace, debug, info, warn, error";
    if (level == nullptr || !level->IsString())
      return done(error_reply(400, std::string{"maintenance needs request_data.params.log_level, "
                                               "one of: "} +
                                       levels));
    std::string value{level->GetString(), level->GetStringLength()};
    auto parsed = spdlog::level::from_str(value);
    if (value == "off" || (parsed == spdlog::level::off))
      return done(error_reply(400, "unknown log_level '" + value + "'; use one of: " + levels));
    spdlog::set_level(parsed);
    spdlog::warn("log level set to {} by request", value);
    rapidjson::Document out;
    rapidjson::Value result{rapidjson::kObjectType};
    auto state = "set log level to " + value;
    result.AddMember("State", rapidjson::Value{state.c_str(), out.GetAllocator()},
                     out.GetAllocator());
    return done(ok_reply(out, result));
  }
  bool per_task = name == "get" || name == "pause" || name == "resume" || name == "delete" ||
                  name == "position";
  if (!per_task)
    return done(
        error_reply(400, "unknown request_type '" + name + "'; valid types are: " + request_types));
  *type = name;
  http_reply bad;
  auto id = task_id_of(data, bad);
  if (!id)
    return done(bad);
  if (name == "get")
    return ask(
        supervisor_timeout,
        [=](task_record& task) {
          rapidjson::Document out;
          rapidjson::Value result{rapidjson::kObjectType};
          result.AddMember("Task", task_value(task, out.GetAllocator()), out.GetAllocator());
          done(ok_reply(out, result));
        },
        atom::get_v, *id);
  if (name == "pause")
    return ask(
        supervisor_timeout, [=]() { done(ok_empty()); }, atom::pause_v, *id);
  if (name == "resume")
    return ask(
        supervisor_timeout, [=]() { done(ok_empty()); }, atom::resume_v, *id);
  if (name == "delete") {
    bool ignore_not_found = false;
    if (const auto* ignore = find_member(*data, "ignore_not_found");
        ignore != nullptr && !ignore->IsNull()) {
      if (!ignore->IsBool())
        return done(error_reply(400, "request_data.ignore_not_found must be true or false"));
      ignore_not_found = ignore->GetBool();
    }
    return ask(
        supervisor_timeout, [=]() { done(ok_empty()); }, atom::remove_v, *id, ignore_not_found);
  }
  // position
  return ask(
      supervisor_timeout,
      [=](std::vector<checkpoint>& checkpoints) {
        rapidjson::Document out;
        auto& alloc = out.GetAllocator();
        rapidjson::Value list{rapidjson::kArrayType};
        for (const auto& cp : checkpoints) {
          rapidjson::Value item{rapidjson::kObjectType};
          item.AddMember("channel_name", rapidjson::Value{cp.channel.c_str(), alloc}, alloc);
          item.AddMember("time", static_cast<int64_t>(milvus::physical_ms(cp.timestamp)), alloc);
          auto msg_id = milvus::encode_position({cp.channel, cp.offset, cp.timestamp});
          item.AddMember("msg_id", rapidjson::Value{msg_id.c_str(), alloc}, alloc);
          list.PushBack(item, alloc);
        }
        rapidjson::Value result{rapidjson::kObjectType};
        result.AddMember("positions", list, alloc);
        done(ok_reply(out, result));
      },
      atom::position_v, *id);
}

void control_api::health(reply_callback done) {
  auto sup = supervisor_;
  system_.spawn([=](caf::event_based_actor* self) {
    self->request(sup, supervisor_timeout, atom::list_v)
        .then(
            [=](std::vector<task_record>& tasks) {
              std::map<task_state, int> counts{
                  {task_state::initial, 0}, {task_state::running, 0}, {task_state::paused, 0}};
              for (const auto& task : tasks)
                counts[task.state] += 1;
              rapidjson::Document out;
              out.SetObject();
              auto& alloc = out.GetAllocator();
              out.AddMember("status", "ok", alloc);
              rapidjson::Value states{rapidjson::kObjectType};
              for (const auto& [state, count] : counts)
                states.AddMember(rapidjson::StringRef(to_string(state)), count, alloc);
              out.AddMember("tasks", states, alloc);
              done({200, to_json(out)});
            },
            [=](caf::error& err) {
              done(error_reply(500, "the supervisor does not answer: " + message_of(err)));
            });
  });
}

} // namespace cdc
