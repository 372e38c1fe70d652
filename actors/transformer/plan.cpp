#include "actors/transformer/plan.hpp"

#include <algorithm>
#include <map>
#include <unordered_set>

namespace cdc::transform {

namespace {

namespace mpb = ::milvus::proto::milvus;
namespace spb = ::milvus::proto::schema;

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

std::string where(const wal::event& ev) {
  return "topic " + ev.topic + " offset " + std::to_string(ev.offset);
}

caf::error fail_at(const wal::event& ev, const caf::error& err) {
  return make_error(code_of(err), where(ev) + ": " + message_of(err));
}

origin origin_of(const wal::event& ev) {
  return origin{ev.topic, ev.offset, ev.timestamp};
}

/// A set of primary keys (int or string).
struct key_set {
  std::unordered_set<int64_t> ints;
  std::unordered_set<std::string> strings;

  void add(const wal::primary_keys& keys) {
    ints.insert(keys.ints.begin(), keys.ints.end());
    strings.insert(keys.strings.begin(), keys.strings.end());
  }
  bool contains_all(const wal::primary_keys& keys) const {
    return std::all_of(keys.ints.begin(), keys.ints.end(),
                       [this](int64_t k) { return ints.count(k) != 0; }) &&
           std::all_of(keys.strings.begin(), keys.strings.end(),
                       [this](const std::string& k) { return strings.count(k) != 0; });
  }
  bool contains_any(const wal::primary_keys& keys) const {
    return std::any_of(keys.ints.begin(), keys.ints.end(),
                       [this](int64_t k) { return ints.count(k) != 0; }) ||
           std::any_of(keys.strings.begin(), keys.strings.end(),
                       [this](const std::string& k) { return strings.count(k) != 0; });
  }
  void clear() {
    ints.clear();
    strings.clear();
  }
};

bool intersects(const wal::primary_keys& a, const wal::primary_keys& b) {
  key_set set;
  set.add(a);
  return set.contains_any(b);
}

/// The keys of a request's primary key column.
template <class Request>
wal::primary_keys request_keys(const Request& req, const std::string& pk_field) {
  wal::primary_keys keys;
  for (const auto& column : req.fields_data()) {
    if (column.field_name() != pk_field || !column.has_scalars())
      continue;
    const auto& s = column.scalars();
    if (s.has_long_data())
      keys.ints.assign(s.long_data().data().begin(), s.long_data().data().end());
    else if (s.has_string_data())
      keys.strings.assign(s.string_data().data().begin(), s.string_data().data().end());
    break;
  }
  return keys;
}

/// Insert/Upsert requests of `a` and `b` can be one request: same names and columns.
template <class Request>
bool same_shape(const Request& a, const Request& b) {
  if (a.db_name() != b.db_name() || a.collection_name() != b.collection_name() ||
      a.partition_name() != b.partition_name() || a.fields_data_size() != b.fields_data_size())
    return false;
  for (int i = 0; i < a.fields_data_size(); ++i) {
    const auto& x = a.fields_data(i);
    const auto& y = b.fields_data(i);
    if (x.field_name() != y.field_name() || x.type() != y.type() ||
        x.is_dynamic() != y.is_dynamic() || x.field_case() != y.field_case() ||
        (x.valid_data_size() == 0) != (y.valid_data_size() == 0))
      return false;
    if (x.has_scalars() && x.scalars().data_case() != y.scalars().data_case())
      return false;
    if (x.has_vectors() &&
        (x.vectors().data_case() != y.vectors().data_case() ||
         (x.type() != spb::SparseFloatVector && x.vectors().dim() != y.vectors().dim())))
      return false;
  }
  return true;
}

template <class Request>
void append_request(Request& to, const Request& from) {
  for (int i = 0; i < to.fields_data_size(); ++i)
    append_rows(*to.mutable_fields_data(i), from.fields_data(i));
  to.set_num_rows(to.num_rows() + from.num_rows());
}

template <class Request>
Request slice_request(const Request& req, size_t begin, size_t end) {
  Request out;
  out.set_db_name(req.db_name());
  out.set_collection_name(req.collection_name());
  out.set_partition_name(req.partition_name());
  for (const auto& column : req.fields_data())
    *out.add_fields_data() = slice_rows(column, begin, end);
  out.set_num_rows(static_cast<uint32_t>(end - begin));
  return out;
}

/// Splits a rows operation larger than `max` into row ranges of at most `max` bytes (a
/// single row is never split). The origins go to the last part.
template <class Call>
void split_into(std::vector<op>& parts, op o, size_t max) {
  auto& call = std::get<Call>(o.call);
  const size_t rows = call.request.num_rows();
  if (o.bytes <= max || rows <= 1) {
    parts.push_back(std::move(o));
    return;
  }
  size_t begin = 0;
  while (begin < rows) {
    const size_t left = rows - begin;
    // a first guess from the average row size, then smaller until it fits
    size_t n = std::clamp<size_t>(
        static_cast<size_t>(static_cast<double>(rows) * static_cast<double>(max) /
                            static_cast<double>(o.bytes)),
        1, left);
    auto part = slice_request(call.request, begin, begin + n);
    size_t bytes = part.ByteSizeLong();
    while (bytes > max && n > 1) {
      n = std::max<size_t>(1,
                           static_cast<size_t>(static_cast<double>(n) * static_cast<double>(max) /
                                               static_cast<double>(bytes) * 0.95));
      part = slice_request(call.request, begin, begin + n);
      bytes = part.ByteSizeLong();
    }
    begin += n;
    auto piece = make_op(Call{std::move(part), call.pk_field});
    if (begin == rows) {
      piece.origins = std::move(o.origins);
      piece.note = std::move(o.note);
    }
    parts.push_back(std::move(piece));
  }
}

} // namespace

std::string op::kind() const {
  return std::visit(overloaded{
                        [](const insert_op&) { return std::string{"Insert"}; },
                        [](const upsert_op&) { return std::string{"Upsert"}; },
                        [](const delete_op&) { return std::string{"Delete"}; },
                        [](const ddl_op& d) { return wal::type_name(d.request.type); },
                        [](const no_op&) { return std::string{"None"}; },
                    },
                    call);
}

op make_op(insert_op call, std::vector<origin> origins) {
  op o;
  o.rows = call.request.num_rows();
  o.bytes = call.request.ByteSizeLong();
  o.call = std::move(call);
  o.origins = std::move(origins);
  return o;
}

op make_op(upsert_op call, std::vector<origin> origins) {
  op o;
  o.rows = call.request.num_rows();
  o.bytes = call.request.ByteSizeLong();
  o.call = std::move(call);
  o.origins = std::move(origins);
  return o;
}

op make_op(delete_op call, size_t keys, std::vector<origin> origins) {
  op o;
  o.rows = keys;
  o.bytes = call.request.ByteSizeLong();
  o.call = std::move(call);
  o.origins = std::move(origins);
  return o;
}

op make_op(ddl_op call, std::vector<origin> origins) {
  op o;
  o.bytes = call.request.request ? call.request.request->ByteSizeLong() : 0;
  o.call = std::move(call);
  o.origins = std::move(origins);
  return o;
}

op make_op(no_op call, std::vector<origin> origins) {
  op o;
  o.call = call;
  o.origins = std::move(origins);
  return o;
}

caf::expected<std::vector<op>> plan(std::span<const wal::event> events,
                                    const collection_info& collection, const name_mapper& names,
                                    const options& opts) {
  using namespace pb::common;
  const size_t n = events.size();
  const auto* pk = primary_key(collection.schema);
  const std::string pk_field = pk != nullptr ? pk->name() : std::string{};

  // 1. keys of the inserts and deletes; inserts by timestamp
  std::vector<wal::primary_keys> keys(n);
  std::map<uint64_t, std::vector<size_t>> inserts_at;
  for (size_t i = 0; i < n; ++i) {
    const auto& ev = events[i];
    if (ev.collection_id != 0 && collection.id != 0 && ev.collection_id != collection.id)
      return make_error(ec::invalid_argument,
                        where(ev) + ": " + wal::type_name(ev.type) + " of collection " +
                            std::to_string(ev.collection_id) + " planned with collection '" +
                            collection.name + "' (id " + std::to_string(collection.id) + ")");
    if (ev.type == Insert) {
      const auto* insert = ev.as<pb::msg::InsertRequest>();
      if (insert == nullptr)
        return make_error(ec::invalid_argument, where(ev) + ": Insert without its payload");
      auto k = wal::insert_keys(*insert, collection.schema);
      if (!k)
        return fail_at(ev, k.error());
      keys[i] = std::move(*k);
      inserts_at[ev.timestamp].push_back(i);
    } else if (ev.type == Delete) {
      const auto* del = ev.as<pb::msg::DeleteRequest>();
      if (del == nullptr)
        return make_error(ec::invalid_argument, where(ev) + ": Delete without its payload");
      keys[i] = wal::delete_keys(*del);
    }
  }

  // 2. pairing: a delete covered by the inserts of its timestamp makes them upserts; one
  // that is not goes before the first of them
  std::vector<bool> upsert(n, opts.inserts_as_upserts);
  std::vector<bool> absorbed(n, false);
  std::vector<std::vector<size_t>> deletes_before(n); // moved deletes, emitted before i
  std::vector<std::vector<size_t>> absorbed_into(n);  // deletes whose origin goes to i
  std::map<uint64_t, key_set> insert_keys_at;
  for (size_t i = 0; i < n; ++i) {
    if (events[i].type != Delete || keys[i].size() == 0)
      continue;
    auto it = inserts_at.find(events[i].timestamp);
    if (it == inserts_at.end())
      continue;
    auto& set = insert_keys_at[events[i].timestamp];
    if (set.ints.empty() && set.strings.empty())
      for (size_t j : it->second)
        set.add(keys[j]);
    if (set.contains_all(keys[i])) {
      absorbed[i] = true;
      size_t last = n;
      for (size_t j : it->second)
        if (intersects(keys[j], keys[i])) {
          upsert[j] = true;
          last = j;
        }
      absorbed_into[last].push_back(i);
    } else if (it->second.front() < i) {
      deletes_before[it->second.front()].push_back(i);
    }
  }
  std::vector<bool> moved(n, false);
  for (const auto& list : deletes_before)
    for (size_t i : list)
      moved[i] = true;

  // 3. conversion in order
  std::vector<op> ops;
  const bool own_partitions = opts.ignore_partition || has_partition_key(collection.schema);
  const size_t max_bytes = std::clamp<size_t>(opts.batch_bytes, 1, max_batch_bytes);
  auto emit_delete = [&](size_t i) -> caf::error {
    const auto& ev = events[i];
    if (keys[i].size() == 0) {
      ops.push_back(make_op(no_op{}, {origin_of(ev)}));
      return {};
    }
    auto req = delete_request(*ev.as<pb::msg::DeleteRequest>(), collection, names, opts);
    if (!req)
      return fail_at(ev, req.error());
    if (req->ByteSizeLong() <= max_bytes) {
      ops.push_back(make_op(delete_op{std::move(*req)}, keys[i].size(), {origin_of(ev)}));
      return {};
    }
    // too many keys for one request: several, the event complete with the last
    const size_t overhead = req->ByteSizeLong() - req->expr().size() + 16;
    auto groups =
        split_keys(pk_field, keys[i], max_bytes > overhead ? max_bytes - overhead : size_t{1});
    for (size_t g = 0; g < groups.size(); ++g) {
      auto part = *req;
      part.set_expr(key_expression(pk_field, groups[g]));
      std::vector<origin> origins;
      if (g + 1 == groups.size())
        origins.push_back(origin_of(ev));
      ops.push_back(make_op(delete_op{std::move(part)}, groups[g].size(), std::move(origins)));
    }
    return {};
  };
  for (size_t i = 0; i < n; ++i) {
    const auto& ev = events[i];
    for (size_t d : deletes_before[i])
      if (auto err = emit_delete(d))
        return err;
    switch (ev.type) {
    case Insert: {
      std::vector<size_t> sources{i};
      sources.insert(sources.end(), absorbed_into[i].begin(), absorbed_into[i].end());
      std::sort(sources.begin(), sources.end());
      std::vector<origin> origins;
      for (size_t s : sources)
        origins.push_back(origin_of(events[s]));
      const auto& insert = *ev.as<pb::msg::InsertRequest>();
      if (upsert[i]) {
        auto req = upsert_request(insert, collection, names, opts);
        if (!req)
          return fail_at(ev, req.error());
        ops.push_back(make_op(upsert_op{std::move(*req), pk_field}, std::move(origins)));
      } else {
        auto req = insert_request(insert, collection, names, opts);
        if (!req)
          return fail_at(ev, req.error());
        ops.push_back(make_op(insert_op{std::move(*req), pk_field}, std::move(origins)));
      }
      break;
    }
    case Delete:
      if (absorbed[i] || moved[i])
        break;
      if (auto err = emit_delete(i))
        return err;
      break;
    case TimeTick:
      ops.push_back(make_op(no_op{}, {origin_of(ev)}));
      break;
    case CreateCollection: {
      auto req = create_collection_request(collection, names, opts);
      if (!req)
        return fail_at(ev, req.error());
      auto o = make_op(ddl_op{ddl{CreateCollection, std::make_shared<mpb::CreateCollectionRequest>(
                                                        std::move(req->request))}},
                       {origin_of(ev)});
      o.note = std::move(req->note);
      ops.push_back(std::move(o));
      break;
    }
    case DropCollection:
      ops.push_back(make_op(ddl_op{drop_collection_request(collection, names)}, {origin_of(ev)}));
      break;
    case CreatePartition:
    case DropPartition: {
      std::string partition;
      if (const auto* create = ev.as<pb::msg::CreatePartitionRequest>())
        partition = create->partition_name();
      else if (const auto* drop = ev.as<pb::msg::DropPartitionRequest>())
        partition = drop->partition_name();
      if (own_partitions) {
        ops.push_back(make_op(no_op{}, {origin_of(ev)}));
        break;
      }
      if (partition.empty())
        return make_error(ec::undecodable_record,
                          where(ev) + ": " + wal::type_name(ev.type) + " without partition_name");
      if (ev.type == CreatePartition) {
        ops.push_back(make_op(ddl_op{create_partition_request(collection, partition, names)},
                              {origin_of(ev)}));
      } else {
        ops.push_back(make_op(ddl_op{release_partition_request(collection, partition, names)}));
        ops.push_back(
            make_op(ddl_op{drop_partition_request(collection, partition, names)}, {origin_of(ev)}));
      }
      break;
    }
    default: {
      auto req = ddl_request(ev, names);
      if (!req)
        return req.error();
      ops.push_back(make_op(ddl_op{std::move(*req)}, {origin_of(ev)}));
      break;
    }
    }
  }
  return batch(std::move(ops), opts.batch_bytes);
}

std::vector<op> batch(std::vector<op> ops, size_t max_bytes) {
  const size_t max = std::clamp<size_t>(max_bytes, 1, max_batch_bytes);
  std::vector<op> out;
  out.reserve(ops.size());
  key_set batch_keys; // the keys of out.back() when it is an upsert
  bool merged_any = false;
  std::vector<bool> merged; // out[i] was merged into: its bytes are an estimate

  auto try_merge = [&](op& next) {
    if (out.empty() || out.back().call.index() != next.call.index() ||
        out.back().bytes + next.bytes > max)
      return false;
    auto& last = out.back();
    if (auto* a = std::get_if<insert_op>(&last.call)) {
      auto& b = std::get<insert_op>(next.call);
      if (!same_shape(a->request, b.request))
        return false;
      append_request(a->request, b.request);
    } else if (auto* ua = std::get_if<upsert_op>(&last.call)) {
      auto& ub = std::get<upsert_op>(next.call);
      if (!same_shape(ua->request, ub.request))
        return false;
      auto next_keys = request_keys(ub.request, ub.pk_field);
      if (batch_keys.contains_any(next_keys))
        return false; // one upsert request must not hold a key twice
      append_request(ua->request, ub.request);
      batch_keys.add(next_keys);
    } else {
      return false;
    }
    last.rows += next.rows;
    last.bytes += next.bytes; // an upper bound: recomputed below
    last.origins.insert(last.origins.end(), std::make_move_iterator(next.origins.begin()),
                        std::make_move_iterator(next.origins.end()));
    if (!next.note.empty())
      last.note += (last.note.empty() ? "" : "; ") + next.note;
    merged.back() = true;
    merged_any = true;
    return true;
  };
  auto push = [&](op next) {
    if (try_merge(next))
      return;
    batch_keys.clear();
    if (auto* u = std::get_if<upsert_op>(&next.call))
      batch_keys.add(request_keys(u->request, u->pk_field));
    out.push_back(std::move(next));
    merged.push_back(false);
  };

  for (auto& o : ops) {
    if (std::holds_alternative<no_op>(o.call)) {
      if (!out.empty()) {
        auto& last = out.back();
        last.origins.insert(last.origins.end(), std::make_move_iterator(o.origins.begin()),
                            std::make_move_iterator(o.origins.end()));
      } else {
        out.push_back(std::move(o));
        merged.push_back(false);
      }
      continue;
    }
    std::vector<op> parts;
    if (std::holds_alternative<insert_op>(o.call))
      split_into<insert_op>(parts, std::move(o), max);
    else if (std::holds_alternative<upsert_op>(o.call))
      split_into<upsert_op>(parts, std::move(o), max);
    else
      parts.push_back(std::move(o));
    for (auto& part : parts)
      push(std::move(part));
  }
  if (merged_any)
    for (size_t i = 0; i < out.size(); ++i)
      if (merged[i])
        out[i].bytes = std::visit(overloaded{
                                      [](const insert_op& c) { return c.request.ByteSizeLong(); },
                                      [](const upsert_op& c) { return c.request.ByteSizeLong(); },
                                      [&](const auto&) { return out[i].bytes; },
                                  },
                                  out[i].call);
  return out;
}

} // namespace cdc::transform
